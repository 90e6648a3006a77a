/**
 * The nightly write-back against DynamoDB Local: results land on exactly the members whose stored
 * results differ, a rerun of the same run writes nothing and changes nothing, members no longer in
 * the RFM output are cleared, and the segmenter — reading the profiles table's real stream — puts
 * a member into a segment on `rfm.segment` once its results are written back.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSegmenterHandler } from '../../functions/segmenter/segmenter.ts';
import {
  membershipsTable as membershipsDeclaration,
  profilesTable as profilesDeclaration,
  segmentsTable as segmentsDeclaration,
} from '../../infra/declarations/tables.ts';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import type { MemberAnalytics } from '../../shared/domain/analytics/member-results.ts';
import type { SegmentDefinition } from '../../shared/domain/segments/segment-definition.ts';
import { rfmSegmentNames, valueTiers } from '../../shared/domain/segments/segment-definition.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { emptyProfile } from '../../shared/domain/tags/profile.ts';
import { activeSegmentSet } from '../../shared/jobs/segment-set.ts';
import {
  profileStoreWriteBack,
  type WriteBackDeps,
  writeBackShard,
} from '../../shared/jobs/write-back.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';

const catalogue = defaultRuleCatalogue();
const zone = 'Asia/Shanghai';
const NOW = Date.parse('2026-11-20T04:00:00Z');
const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 10);

let clients: TestClients;
let streams: DynamoDBStreamsClient;

beforeAll(() => {
  clients = testClients();
  streams = new DynamoDBStreamsClient(localAwsClientConfig(clients.endpoint));
});
afterAll(() => {
  streams.destroy();
  clients.destroy();
});

async function createTable(declaration: Parameters<typeof createTableInput>[0], name: string) {
  await clients.dynamo.send(new CreateTableCommand(createTableInput(declaration, name)));
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: name },
  );
}

async function freshProfiles() {
  const name = `${uniquePrefix('writeback')}-profiles`;
  await createTable(profilesDeclaration, name);
  return { name, store: new ProfileStore(clients.documents, name) };
}

function writeBackDeps(store: ProfileStore): WriteBackDeps {
  return { ...profileStoreWriteBack(store), concurrency: 4 };
}

async function storeMember(store: ProfileStore, memberKey: string) {
  await store.apply(memberKey, () => ({
    state: emptyProfile(catalogue, zone),
    tags: {},
    appliedSeq: {},
    nextChangeAt: undefined,
  }));
}

/** Writes back every shard, summing the counts. */
async function writeBackAll(
  deps: WriteBackDeps,
  results: ReadonlyMap<string, MemberAnalytics>,
  shards: number,
) {
  const total = { scanned: 0, written: 0, cleared: 0, unchanged: 0 };
  for (let shard = 0; shard < shards; shard += 1) {
    const counts = await writeBackShard(deps, { shard, shards, results });
    total.scanned += counts.scanned;
    total.written += counts.written;
    total.cleared += counts.cleared;
    total.unchanged += counts.unchanged;
  }
  return total;
}

const resultsArbitrary: fc.Arbitrary<RawResults> = fc.record({
  lastOrderDate: fc.constantFrom('2026-10-01', '2026-11-01', '2026-11-19'),
  frequency: fc.integer({ min: 1, max: 4 }),
  monetary: fc.constantFrom('10.00', '99.50', '1200.00'),
  r: fc.integer({ min: 1, max: 5 }),
  f: fc.integer({ min: 1, max: 5 }),
  m: fc.integer({ min: 1, max: 5 }),
  segment: fc.constantFrom(...rfmSegmentNames),
  class8: fc.constantFrom('重要价值客户', '一般挽留客户'),
  valueTier: fc.constantFrom(...valueTiers),
  cluster: fc.constantFrom('c1', 'c2', null),
});

type RawResults = Omit<MemberAnalytics, 'runId' | 'asOf' | 'score' | 'persona'>;

function stamp(raw: RawResults, runId: string): MemberAnalytics {
  return {
    ...raw,
    score: `${raw.r}${raw.f}${raw.m}`,
    runId,
    asOf: '2026-11-20',
    persona: raw.cluster ? { 'zh-CN': `群体${raw.cluster}`, en: `Group ${raw.cluster}` } : null,
  };
}

/** The results as stored, without the run stamp, for comparing what a member holds. */
function held(analytics: MemberAnalytics | undefined) {
  if (!analytics) return undefined;
  const { runId: _runId, asOf: _asOf, ...rest } = analytics;
  return rest;
}

/** JSON with keys sorted, so two equal documents read back in any key order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1)))
      : inner,
  );
}

describe('nightly write-back', () => {
  it('writes exactly the members whose results changed, and a rerun of the run writes nothing', async () => {
    const { store } = await freshProfiles();
    const deps = writeBackDeps(store);
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(resultsArbitrary, { nil: undefined }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.option(resultsArbitrary, { nil: undefined }), {
          minLength: 8,
          maxLength: 8,
        }),
        fc.integer({ min: 1, max: 4 }),
        async (first, second, shards) => {
          round += 1;
          const members = first.map((_, i) => `u#r${round}-m${i}`);
          for (const key of members) await storeMember(store, key);
          const toMap = (list: typeof first, runId: string) =>
            new Map(
              list.flatMap((raw, i) =>
                raw ? [[members[i] as string, stamp(raw, runId)] as const] : [],
              ),
            );
          // Night 1, from nothing stored.
          const night1 = toMap(first, `run-${round}-1`);
          await writeBackAll(deps, night1, shards);
          // Night 2: some members change, some keep their results, some leave the output.
          const night2 = toMap(second.slice(0, members.length), `run-${round}-2`);
          const before = new Map<string, { version: number; analytics: unknown }>();
          for (const key of members) {
            const profile = await store.get(key);
            before.set(key, {
              version: profile?.version ?? 0,
              analytics: held(profile?.analytics),
            });
          }
          const expectChanged = members.filter(
            (key) => canonical(before.get(key)?.analytics) !== canonical(held(night2.get(key))),
          );
          const counts = await writeBackAll(deps, night2, shards);
          // Only this round's members matter; earlier rounds' are in the table too, unchanged.
          const changedNow: string[] = [];
          for (const key of members) {
            const profile = await store.get(key);
            expect(held(profile?.analytics)).toEqual(held(night2.get(key)));
            if (profile?.version !== before.get(key)?.version) changedNow.push(key);
          }
          expect(changedNow).toEqual(expectChanged);
          expect(counts.written + counts.cleared).toBe(expectChanged.length);
          expect(counts.cleared).toBe(expectChanged.filter((key) => !night2.has(key)).length);
          // The same run again: nothing written, no version moves.
          const again = await writeBackAll(deps, night2, shards);
          expect(again.written + again.cleared).toBe(0);
          for (const key of members) {
            expect((await store.get(key))?.version).toBe(
              before.get(key)?.version === undefined
                ? undefined
                : changedNow.includes(key)
                  ? (before.get(key)?.version as number) + 1
                  : before.get(key)?.version,
            );
          }
        },
      ),
      { numRuns: runs },
    );
  });

  it('keeps the write-back results through a later tagger write', async () => {
    const { store } = await freshProfiles();
    await storeMember(store, 'u#keep');
    const results = new Map([
      [
        'u#keep',
        stamp(
          {
            lastOrderDate: '2026-11-01',
            frequency: 2,
            monetary: '99.50',
            r: 5,
            f: 4,
            m: 3,
            segment: 'champions',
            class8: '重要价值客户',
            valueTier: 'high',
            cluster: 'c1',
          },
          'run-keep',
        ),
      ],
    ]);
    await writeBackAll(writeBackDeps(store), results, 1);
    const stored = await store.get('u#keep');
    await store.apply('u#keep', (current) => ({
      state: current?.state ?? emptyProfile(catalogue, zone),
      tags: { city: '上海' },
      appliedSeq: {},
      nextChangeAt: undefined,
    }));
    const after = await store.get('u#keep');
    expect(after?.tags).toEqual({ city: '上海' });
    expect(after?.analytics).toEqual(stored?.analytics);
  });

  it('puts a member into a segment on rfm.segment = champions once written back, with a ledger entry', async () => {
    const prefix = uniquePrefix('writeback-seg');
    const names = {
      profiles: `${prefix}-profiles`,
      segments: `${prefix}-segments`,
      memberships: `${prefix}-memberships`,
    };
    await createTable(profilesDeclaration, names.profiles);
    await createTable(segmentsDeclaration, names.segments);
    await createTable(membershipsDeclaration, names.memberships);
    const profiles = new ProfileStore(clients.documents, names.profiles);
    const segments = new SegmentStore(clients.documents, names.segments);
    const memberships = new MembershipStore(clients.documents, names.memberships, {
      now: () => NOW,
      settleMs: 0,
    });
    await segments.save(
      undefined,
      {
        id: 'champions',
        labels: { 'zh-CN': '冠军客户', en: 'Champions' },
        purpose: 'marketing',
        expression: { rfm: 'segment', op: '=', value: 'champions' },
      } as unknown as SegmentDefinition,
      'active',
      'test',
      new Date(NOW),
    );
    const segmenter = makeSegmenterHandler({
      segmentSet: async () => activeSegmentSet(await segments.heads(), catalogue, silentLogger),
      member: (key) => memberships.member(key),
      transition: (move) => memberships.transition(move),
      saveMember: (previous, next) => memberships.saveMember(previous, next),
      catalogue,
      zone,
      now: () => NOW,
      logger: silentLogger,
    });
    await storeMember(profiles, 'u#champ');
    await storeMember(profiles, 'u#other');
    const deliver = async (from: number) => {
      const records = (await readAllStreamRecords(
        clients.dynamo,
        streams,
        names.profiles,
      )) as DynamoDBRecord[];
      expect((await segmenter({ Records: records.slice(from) })).batchItemFailures).toEqual([]);
      return records.length;
    };
    let delivered = await deliver(0);
    expect(await memberships.members('champions')).toEqual([]);

    const base = {
      lastOrderDate: '2026-11-18',
      frequency: 6,
      monetary: '1200.00',
      r: 5,
      f: 5,
      m: 5,
      class8: '重要价值客户',
      valueTier: 'high' as const,
      cluster: 'c1',
    };
    const results = new Map([
      ['u#champ', stamp({ ...base, segment: 'champions' }, 'run-1')],
      ['u#other', stamp({ ...base, segment: 'at_risk', r: 1 }, 'run-1')],
    ]);
    await writeBackAll(writeBackDeps(profiles), results, 2);
    delivered = await deliver(delivered);
    expect(await memberships.members('champions')).toEqual(['u#champ']);
    const ledger = await memberships.ledger('champions');
    expect(ledger.map((entry) => [entry.memberKey, entry.change])).toEqual([['u#champ', 'enter']]);

    // The next night the member is no longer in the RFM output: cleared, and it leaves.
    await writeBackAll(
      writeBackDeps(profiles),
      new Map([['u#other', results.get('u#other') as MemberAnalytics]]),
      2,
    );
    await deliver(delivered);
    expect(await memberships.members('champions')).toEqual([]);
    expect((await memberships.ledger('champions')).map((entry) => entry.change)).toEqual([
      'enter',
      'exit',
    ]);
    expect((await profiles.get('u#champ'))?.analytics).toBeUndefined();
  });
});
