/**
 * The segmenter against DynamoDB Local: profiles written by the real store reach it through the
 * profiles table's real stream; membership rows, ledger and counts must equal evaluating every
 * definition over every member from scratch, after any cut of the stream into batches, replays,
 * definition edits between batches, and identity merges (a merged id leaves every segment).
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
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
import { backfillView } from '../../shared/domain/segments/backfill-state.ts';
import { evaluateSegments } from '../../shared/domain/segments/evaluate-segment.ts';
import { membersAsOfPage, wasInBefore } from '../../shared/domain/segments/ledger.ts';
import { segmentInputOf } from '../../shared/domain/segments/member-input.ts';
import type { SegmentDefinition } from '../../shared/domain/segments/segment-definition.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { foldEvents } from '../../shared/domain/tags/fold.ts';
import { emptyProfile } from '../../shared/domain/tags/profile.ts';
import { advanceBackfill, type BackfillJobDeps } from '../../shared/jobs/backfill-job.ts';
import { stepMember } from '../../shared/jobs/membership-step.ts';
import { activeSegmentSet, activeSegmentVersions } from '../../shared/jobs/segment-set.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';

const catalogue = defaultRuleCatalogue();
const zone = 'Asia/Shanghai';
const NOW = Date.parse('2026-11-20T04:00:00Z');
const DAY = 86_400_000;

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

/** Fresh tables for one scenario (the profiles stream starts empty). */
async function freshTables() {
  const prefix = uniquePrefix('segmenter');
  const names = {
    profiles: `${prefix}-profiles`,
    segments: `${prefix}-segments`,
    memberships: `${prefix}-memberships`,
  };
  for (const [declaration, name] of [
    [profilesDeclaration, names.profiles],
    [segmentsDeclaration, names.segments],
    [membershipsDeclaration, names.memberships],
  ] as const) {
    await clients.dynamo.send(new CreateTableCommand(createTableInput(declaration, name)));
    await waitUntilTableExists(
      { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
      { TableName: name },
    );
  }
  // The ledger's clock: the test moves it between deliveries, so each has its own instants.
  const clock = { ms: NOW };
  return {
    names,
    clock,
    profiles: new ProfileStore(clients.documents, names.profiles),
    segments: new SegmentStore(clients.documents, names.segments),
    memberships: new MembershipStore(clients.documents, names.memberships, {
      now: () => clock.ms,
      settleMs: 0,
    }),
  };
}

type Tables = Awaited<ReturnType<typeof freshTables>>;

const labels = { 'zh-CN': '测试', en: 'Test' };
const definitions: Record<string, SegmentDefinition> = {
  buyers: {
    id: 'buyers',
    labels,
    purpose: 'marketing',
    expression: { aggregate: 'orders_365d', op: '>=', value: 2 },
  },
  car_fans: {
    id: 'car_fans',
    labels,
    purpose: 'marketing',
    expression: { tag: 'car_purchase_intent' },
  },
  any_buyer: {
    id: 'any_buyer',
    labels,
    purpose: 'marketing',
    expression: { aggregate: 'orders_365d', op: '>=', value: 1 },
  },
  beijing_buyers: {
    id: 'beijing_buyers',
    labels,
    purpose: 'analytics',
    expression: { all: [{ segment: 'buyers' }, { trait: 'city', op: '=', value: '北京' }] },
  },
} as unknown as Record<string, SegmentDefinition>;

function segmenter(t: Tables) {
  return makeSegmenterHandler({
    segmentSet: async () => activeSegmentSet(await t.segments.heads(), catalogue, silentLogger),
    member: (key) => t.memberships.member(key),
    transition: (move) => t.memberships.transition(move),
    saveMember: (previous, next) => t.memberships.saveMember(previous, next),
    catalogue,
    zone,
    now: () => NOW,
    logger: silentLogger,
  });
}

/** A member's next events: orders, consultations, a city, or consent granted or withdrawn. */
function events(memberKey: string, step: number, kind: number) {
  const timestamp = new Date(NOW - (step % 5) * DAY).toISOString();
  const base = { userId: memberKey.slice(2), timestamp, receivedAt: timestamp, sourceId: 't' };
  const id = `${memberKey}-${step}`;
  const granted = Math.floor(kind / 5) % 2 === 0;
  switch (kind % 5) {
    case 3:
    case 4:
      // Consent to marketing (buyers, car_fans) or analytics (beijing_buyers), said three ways.
      return [
        [
          {
            ...base,
            type: 'track' as const,
            event: 'Consent Updated',
            messageId: id,
            properties: { categoryPreferences: { marketing: granted } },
          },
        ],
        [
          {
            ...base,
            type: 'identify' as const,
            messageId: id,
            traits: { consent: { analytics: granted } },
          },
        ],
        [
          {
            ...base,
            type: 'track' as const,
            event: 'Order Completed',
            messageId: id,
            properties: { orderId: id, revenue: 10, currency: 'CNY' },
            context: { consent: { categoryPreferences: { Advertising: granted } } },
          },
        ],
      ][Math.floor(kind / 10) % 3] as PortraitEvent[];
    case 0:
      return [
        {
          ...base,
          type: 'track' as const,
          event: 'Order Completed',
          messageId: id,
          properties: { orderId: id, revenue: 10, currency: 'CNY' },
        },
      ];
    case 1:
      return [0, 1, 2].map((n) => ({
        ...base,
        type: 'track' as const,
        event: 'Consultation',
        messageId: `${id}-${n}`,
        properties: { topic: 'car' },
      }));
    default:
      return [
        {
          ...base,
          type: 'identify' as const,
          messageId: id,
          traits: { city: step % 2 === 0 ? '北京' : '上海' },
        },
      ];
  }
}

/**
 * What every segment serves and withholds when evaluated from scratch over every stored member:
 * the definition holds, then the member's consent to the segment's purpose (as folded from its
 * events, default granted) decides.
 */
async function fromScratch(t: Tables, members: readonly string[]) {
  const set = activeSegmentSet(await t.segments.heads(), catalogue, silentLogger);
  const expected = new Map<string, string[]>(set.ordered.map((s) => [s.id, []]));
  const withheld = new Map<string, string[]>(set.ordered.map((s) => [s.id, []]));
  for (const key of members) {
    const resolved = await t.profiles.resolve(key);
    if (resolved.memberKey !== key || !resolved.profile) continue;
    const state = resolved.profile.state;
    const input = segmentInputOf(state, catalogue, zone, NOW);
    for (const [id, result] of evaluateSegments(set.ordered, input)) {
      if (!result.in) continue;
      const purpose = set.byId.get(id)?.definition.purpose ?? 'marketing';
      const refused = state.consent?.get(purpose)?.granted === false;
      (refused ? withheld : expected).get(id)?.push(key);
    }
  }
  for (const list of [...expected.values(), ...withheld.values()]) list.sort();
  return { expected, withheld };
}

describe('segmenter', () => {
  it('keeps membership, counts and ledger equal to full evaluation under cuts, replays and definition edits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat()), {
          minLength: 1,
          maxLength: 14,
        }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        fc.array(fc.constantFrom('none', 'edit', 'delete', 'create'), { maxLength: 5 }),
        async (writes, cuts, edits) => {
          const t = await freshTables();
          for (const definition of Object.values(definitions)) {
            await t.segments.save(undefined, definition, 'active', 'test', new Date(NOW));
          }
          const members = ['u#m0', 'u#m1', 'u#m2', 'u#m3'];
          const handler = segmenter(t);
          let delivered = 0;
          // Who was in each segment between deliveries, to check `asOf` answers at the end.
          const snapshots: { at: number; holders: Map<string, string[]> }[] = [];
          for (const [step, [member, kind]] of writes.entries()) {
            const key = members[member] as string;
            await t.profiles.apply(key, (current) => {
              const folded = foldEvents(
                current?.state ?? emptyProfile(catalogue, zone),
                events(key, step, kind),
                catalogue,
                zone,
              ).state;
              return { state: folded, tags: {}, appliedSeq: {}, nextChangeAt: undefined };
            });
            const cut = cuts[step % cuts.length] as number;
            if (cut % 3 !== 0 && step < writes.length - 1) continue;
            const records = (await readAllStreamRecords(
              clients.dynamo,
              streams,
              t.names.profiles,
            )) as DynamoDBRecord[];
            t.clock.ms += 1_000;
            expect(
              (await handler({ Records: records.slice(delivered) })).batchItemFailures,
            ).toEqual([]);
            // A replay from an earlier record changes nothing.
            const from = cut % (records.length + 1);
            expect((await handler({ Records: records.slice(from) })).batchItemFailures).toEqual([]);
            delivered = records.length;
            // Rows, counts and member states agree after every delivery.
            for (const id of Object.keys(definitions)) {
              const holders: string[] = [];
              const withholders: string[] = [];
              for (const key of members) {
                const state = await t.memberships.member(key);
                if (state?.segments.has(id)) holders.push(key);
                if (state?.withheld?.has(id)) withholders.push(key);
              }
              expect(await t.memberships.members(id), `${id} rows`).toEqual(holders);
              expect(await t.memberships.withheldMembers(id), `${id} withheld`).toEqual(
                withholders,
              );
              expect(await t.memberships.counts(id), `${id} counts`).toEqual({
                count: holders.length,
                withheld: withholders.length,
              });
            }
            const snapshot = new Map<string, string[]>();
            for (const id of Object.keys(definitions)) {
              snapshot.set(id, await t.memberships.members(id));
            }
            snapshots.push({ at: t.clock.ms + 500, holders: snapshot });

            const edit = edits[step % Math.max(1, edits.length)];
            const buyers = await t.segments.head('buyers');
            if (edit === 'edit' && buyers?.status === 'active') {
              const threshold = 1 + (step % 3);
              await t.segments.save(
                buyers,
                {
                  ...buyers.definition,
                  expression: { aggregate: 'orders_365d', op: '>=', value: threshold },
                } as SegmentDefinition,
                'active',
                'test',
                new Date(NOW),
              );
            }
          }
          // Final delivery: every member written once more so each meets the current set.
          for (const key of members) {
            const current = await t.profiles.get(key);
            if (current)
              await t.profiles.apply(key, () => ({ ...current, nextChangeAt: undefined }));
          }
          const records = (await readAllStreamRecords(
            clients.dynamo,
            streams,
            t.names.profiles,
          )) as DynamoDBRecord[];
          t.clock.ms += 1_000;
          expect((await handler({ Records: records.slice(delivered) })).batchItemFailures).toEqual(
            [],
          );

          const { expected, withheld } = await fromScratch(t, members);
          for (const [id, want] of expected) {
            expect(await t.memberships.members(id), id).toEqual(want);
            expect(await t.memberships.withheldMembers(id), `${id} withheld`).toEqual(
              withheld.get(id),
            );
            expect(await t.memberships.counts(id), `${id} counts`).toEqual({
              count: want.length,
              withheld: withheld.get(id)?.length,
            });
            // The ledger replayed from empty gives the membership.
            const replayed = new Set<string>();
            for (const entry of await t.memberships.ledger(id)) {
              if (entry.change === 'enter') {
                expect(replayed.has(entry.memberKey), `${id} double enter`).toBe(false);
                replayed.add(entry.memberKey);
              } else {
                expect(replayed.delete(entry.memberKey), `${id} exit while out`).toBe(true);
              }
            }
            expect([...replayed].sort()).toEqual(want);
            // Who was in it at each earlier instant: today's members corrected by the ledger
            // since, paged two at a time, equals what the rows held then.
            for (const { at, holders } of snapshots) {
              const wasIn = wasInBefore(await t.memberships.changesAfter(id, at, 1_000));
              const then: string[] = [];
              let after: string | undefined;
              do {
                const page = await membersAsOfPage(
                  (n, from) => t.memberships.page(id, n, from),
                  wasIn,
                  2,
                  after,
                );
                then.push(...page.members);
                after = page.next;
              } while (after !== undefined);
              expect(then, `${id} as of ${at}`).toEqual(holders.get(id));
            }
          }
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 8) },
    );
  }, 300_000);

  it('takes a merged id out of every segment it was in', async () => {
    const t = await freshTables();
    await t.segments.save(
      undefined,
      definitions.car_fans as SegmentDefinition,
      'active',
      't',
      new Date(NOW),
    );
    const consult = events('a#visitor', 1, 1);
    await t.profiles.apply('a#visitor', () => ({
      state: foldEvents(emptyProfile(catalogue, zone), consult, catalogue, zone).state,
      tags: {},
      appliedSeq: {},
      nextChangeAt: undefined,
    }));
    const handler = segmenter(t);
    let records = (await readAllStreamRecords(
      clients.dynamo,
      streams,
      t.names.profiles,
    )) as DynamoDBRecord[];
    await handler({ Records: records });
    expect(await t.memberships.members('car_fans')).toEqual(['a#visitor']);

    await t.profiles.merge('a#visitor', 'u#owner', (_member, source) => ({
      kind: 'merge',
      change: {
        state: source?.state ?? emptyProfile(catalogue, zone),
        tags: {},
        appliedSeq: {},
        nextChangeAt: undefined,
        ids: ['a#visitor'],
      },
    }));
    const seen = records.length;
    records = (await readAllStreamRecords(
      clients.dynamo,
      streams,
      t.names.profiles,
    )) as DynamoDBRecord[];
    expect((await handler({ Records: records.slice(seen) })).batchItemFailures).toEqual([]);
    expect(await t.memberships.members('car_fans')).toEqual(['u#owner']);
    expect(await t.memberships.count('car_fans')).toBe(1);
    const ledger = await t.memberships.ledger('car_fans');
    expect(ledger.map((e) => `${e.change} ${e.memberKey}`).sort()).toEqual(
      ['enter a#visitor', 'enter u#owner', 'exit a#visitor'].sort(),
    );
  });

  it('leaves rows agreeing with the saved state when an older step loses the race to a newer one', async () => {
    const t = await freshTables();
    await t.segments.save(
      undefined,
      {
        id: 'beijing',
        labels,
        purpose: 'marketing',
        expression: { trait: 'city', op: '=', value: '北京' },
      } as unknown as SegmentDefinition,
      'active',
      't',
      new Date(NOW),
    );
    const set = activeSegmentSet(await t.segments.heads(), catalogue, silentLogger);
    // The identify of an even step says 北京, of an odd step 上海.
    const profile = (version: number) => ({
      memberKey: 'u#racer',
      state: foldEvents(
        emptyProfile(catalogue, zone),
        events('u#racer', version, 2),
        catalogue,
        zone,
      ).state,
      tags: {},
      appliedSeq: {},
      nextChangeAt: undefined,
      ids: [],
      version,
    });
    const older = profile(2); // in Beijing
    const newer = profile(3); // moved to Shanghai
    let newerDone: () => void = () => {};
    const newerSaved = new Promise<void>((resolve) => {
      newerDone = resolve;
    });
    const base = {
      member: (key: string) => t.memberships.member(key),
      transition: (move: Parameters<typeof t.memberships.transition>[0]) =>
        t.memberships.transition(move),
      catalogue,
      zone,
    };
    const slow = stepMember({ kind: 'profile', memberKey: 'u#racer', profile: older }, set, NOW, {
      ...base,
      // The older step enters its row, then saves only after the newer step has saved.
      saveMember: async (previous, next) => {
        await newerSaved;
        await t.memberships.saveMember(previous, next);
      },
    });
    await new Promise((r) => setTimeout(r, 200));
    await stepMember({ kind: 'profile', memberKey: 'u#racer', profile: newer }, set, NOW, {
      ...base,
      saveMember: async (previous, next) => {
        await t.memberships.saveMember(previous, next);
        newerDone();
      },
    });
    await slow;
    expect((await t.memberships.member('u#racer'))?.segments.has('beijing')).toBe(false);
    expect(await t.memberships.members('beijing')).toEqual([]);
    expect(await t.memberships.count('beijing')).toBe(0);
  });

  it('backfills across runs of any length to full evaluation, and starts over when the set changes mid-job', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Orders, consultations, a city, or consent granted or refused one of three ways.
        fc.array(fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constantFrom(3, 8, 13, 18, 23, 28)), {
          minLength: 1,
          maxLength: 10,
        }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        async (kinds, pagesPerRun, editAfterRun) => {
          const t = await freshTables();
          const save = (definition: SegmentDefinition | undefined) =>
            t.segments.save(
              undefined,
              definition as SegmentDefinition,
              'active',
              't',
              new Date(NOW),
            );
          await save(definitions.buyers);
          // Members written before any segment is backfilled: only the backfill brings them in.
          const members = kinds.map((_, i) => `u#b${i}`);
          for (const [i, kind] of kinds.entries()) {
            const key = members[i] as string;
            await t.profiles.apply(key, () => ({
              state: foldEvents(
                emptyProfile(catalogue, zone),
                [...events(key, 2 * i, kind), ...events(key, 2 * i + 1, 0)],
                catalogue,
                zone,
              ).state,
              tags: {},
              appliedSeq: {},
              nextChangeAt: undefined,
            }));
          }
          // The real profile scan, served two keys a page, so a job spans runs.
          const scanAll = async (part: number, total: number) => {
            const keys: string[] = [];
            let start: Record<string, unknown> | undefined;
            do {
              const page = await t.profiles.scanMembers(part, total, start);
              keys.push(...page.memberKeys);
              start = page.next;
            } while (start);
            return keys.sort();
          };
          const deps: BackfillJobDeps = {
            segmentSet: async () => {
              const heads = await t.segments.heads();
              return {
                set: activeSegmentSet(heads, catalogue, silentLogger),
                versions: activeSegmentVersions(heads),
              };
            },
            loadJob: () => t.segments.backfillJob(),
            saveJob: (job, rev) => t.segments.saveBackfillJob(job, rev),
            scanMembers: async (part, total, start) => {
              const keys = await scanAll(part, total);
              const offset = Number(start?.offset ?? 0);
              return {
                memberKeys: keys.slice(offset, offset + 2),
                next: offset + 2 < keys.length ? { offset: offset + 2 } : undefined,
              };
            },
            resolveProfile: (key) => t.profiles.resolve(key),
            member: (key) => t.memberships.member(key),
            transition: (move) => t.memberships.transition(move),
            saveMember: (previous, next) => t.memberships.saveMember(previous, next),
            catalogue,
            zone,
            now: () => NOW,
            parts: 3,
          };
          let edited = false;
          // Segments saved since the last job that finished: they wait for their members.
          const waiting = new Set(['buyers']);
          for (let run = 0; run < 100; run += 1) {
            const editedBefore = edited;
            let pages = 0;
            // Each part checks before each page: `pagesPerRun` checks pass per run.
            const result = await advanceBackfill(deps, () => pages++ < pagesPerRun);
            const job = await t.segments.backfillJob();
            if (result.state === 'finished') waiting.clear();
            if (result.state === 'running') {
              // Segments waiting for this job show its progress; the others are kept already.
              for (const head of await t.segments.heads()) {
                expect(backfillView(job, head.id, head.version).state, head.id).toBe(
                  waiting.has(head.id) ? 'backfilling' : 'incremental',
                );
              }
            }
            if (run === editAfterRun && !edited) {
              // A new segment mid-job: the job starts over; an unfinished one still waits.
              edited = true;
              await save(definitions.car_fans);
              waiting.add('car_fans');
            }
            if (result.state === 'idle' && editedBefore) break;
          }
          const job = await t.segments.backfillJob();
          expect(job?.finishedAt).toBeDefined();
          for (const head of await t.segments.heads()) {
            expect(backfillView(job, head.id, head.version)).toEqual({ state: 'incremental' });
          }
          // Backfilled members are served or withheld as a from-scratch evaluation says.
          const { expected, withheld } = await fromScratch(t, members);
          for (const [id, want] of expected) {
            expect(await t.memberships.members(id), id).toEqual(want);
            expect(await t.memberships.withheldMembers(id), `${id} withheld`).toEqual(
              withheld.get(id),
            );
            expect(await t.memberships.counts(id), `${id} counts`).toEqual({
              count: want.length,
              withheld: withheld.get(id)?.length,
            });
          }
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 6) },
    );
  });
});
