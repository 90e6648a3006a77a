/**
 * Identity merges in the tagger, against DynamoDB Local: an identify carrying an anonymousId and
 * a userId, or an alias, moves the anonymous history into the member exactly once, however the
 * stream is cut, replayed or interleaved, and later anonymous events follow the link.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeHistorianHandler } from '../../functions/historian/historian.ts';
import { makeTaggerHandler, type TaggerDeps } from '../../functions/tagger/tagger.ts';
import { profilesTable as profilesTableDeclaration } from '../../infra/declarations/tables.ts';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { MAX_IDS_PER_MEMBER } from '../../shared/domain/tags/advance.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { evaluateTags } from '../../shared/domain/tags/evaluate.ts';
import { foldEvents } from '../../shared/domain/tags/fold.ts';
import { emptyProfile, profileToJson } from '../../shared/domain/tags/profile.ts';
import { DAY_MS } from '../../shared/domain/tags/zone-calendar.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';
import { batch, type StreamedEvent, stream } from '../support/tagger-stream.ts';

const catalogue = defaultRuleCatalogue();
const zone = 'Asia/Shanghai';
const NOW = Date.parse('2026-11-20T04:00:00Z');

let clients: TestClients;
let streams: DynamoDBStreamsClient;
let table: string;
let store: ProfileStore;

beforeAll(async () => {
  clients = testClients();
  streams = new DynamoDBStreamsClient(localAwsClientConfig(clients.endpoint));
  table = `${uniquePrefix('identity')}-profiles`;
  await clients.dynamo.send(
    new CreateTableCommand(createTableInput(profilesTableDeclaration, table)),
  );
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: table },
  );
  store = new ProfileStore(clients.documents, table);
});
afterAll(() => {
  streams.destroy();
  clients.destroy();
});

function deps(overrides: Partial<TaggerDeps> = {}): TaggerDeps {
  return {
    applyProfile: (key, update) => store.apply(key, update),
    mergeIdentity: (sourceKey, intoKey, combine) => store.merge(sourceKey, intoKey, combine),
    catalogue,
    zone,
    now: () => NOW,
    logger: silentLogger,
    ...overrides,
  };
}

let runs = 0;
function newRun(name: string): string {
  runs += 1;
  return `${name}-${Date.now().toString(36)}-${runs}`;
}

/** The n-th event of a visitor or member: views and likes, orders, consultations, pages. */
function event(ids: { userId?: string; anonymousId?: string }, n: number): PortraitEvent {
  const timestamp = new Date(NOW - (n % 40) * DAY_MS - n * 60_000).toISOString();
  const id = ids.userId ?? ids.anonymousId;
  const base = {
    ...ids,
    sourceId: 'test',
    messageId: `${id}-e${n}`,
    timestamp,
    receivedAt: timestamp,
  };
  const category = ['tech', 'beauty', 'food'][n % 3] as string;
  switch (n % 4) {
    case 0:
      return { ...base, type: 'track', event: 'Product Viewed', properties: { category } };
    case 1:
      return {
        ...base,
        type: 'track',
        event: 'Order Completed',
        properties: { orderId: `o${n}`, revenue: 50 + n, currency: 'CNY', coupon: 'X' },
      };
    case 2:
      return { ...base, type: 'track', event: 'Consultation', properties: { topic: 'car' } };
    default:
      return { ...base, type: 'page', name: 'Home', properties: {} };
  }
}

function identify(userId: string, anonymousId: string): PortraitEvent {
  const timestamp = new Date(NOW - DAY_MS).toISOString();
  return {
    type: 'identify',
    userId,
    anonymousId,
    sourceId: 'test',
    messageId: `${userId}-identify-${anonymousId}`,
    timestamp,
    receivedAt: timestamp,
    traits: { gender: 'female', city: '杭州' },
  };
}

function fromScratch(events: readonly PortraitEvent[]) {
  const state = foldEvents(emptyProfile(catalogue, zone), events, catalogue, zone).state;
  return { state: profileToJson(state), tags: evaluateTags(state, catalogue, NOW, zone).tags };
}

describe('identity merges in the tagger', () => {
  it('merges the anonymous history into the member exactly once, however the stream is cut, replayed or interleaved', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.nat(), { minLength: 20, maxLength: 20 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 19 }), { maxLength: 6 }),
        fc.array(fc.option(fc.nat(), { nil: undefined }), { maxLength: 8 }),
        async (anonBefore, userCount, anonAfter, order, cutPoints, replays) => {
          const run = newRun('merge');
          const userId = `${run}-u`;
          const anonymousId = `${run}-a`;
          const anon = Array.from({ length: anonBefore + anonAfter }, (_, n) =>
            event({ anonymousId }, n),
          );
          const user = Array.from({ length: userCount }, (_, n) => event({ userId }, 100 + n));
          const link = identify(userId, anonymousId);
          // One stream order: each partition's events in order, partitions interleaved at random;
          // anonymous events may come before or after the identify.
          const queues = [[...anon], [...user, link]];
          const ordered: PortraitEvent[] = [];
          for (let i = 0; queues.some((q) => q.length > 0); i += 1) {
            const open = queues.filter((q) => q.length > 0);
            ordered.push(
              (
                open[(order[i % order.length] ?? 0) % open.length] as PortraitEvent[]
              ).shift() as PortraitEvent,
            );
          }
          const streamed = stream(ordered);
          const cuts = [
            0,
            ...cutPoints.filter((c) => c < streamed.length).sort((a, b) => a - b),
            streamed.length,
          ];
          const handler = makeTaggerHandler(deps());
          for (let i = 1; i < cuts.length; i += 1) {
            const items = streamed.slice(cuts[i - 1], cuts[i]);
            if (items.length === 0) continue;
            expect((await handler(batch(items))).batchItemFailures).toEqual([]);
            const replay = replays[i - 1];
            if (replay !== undefined) {
              const end = cuts[i] as number;
              const again: StreamedEvent[] = streamed.slice(replay % end, end);
              expect((await handler(batch(again))).batchItemFailures).toEqual([]);
            }
          }

          const member = await store.get(`u#${userId}`);
          const want = fromScratch([...anon, ...user, link]);
          expect(member?.memberKey).toBe(`u#${userId}`);
          expect(profileToJson(member?.state ?? emptyProfile(catalogue, zone))).toEqual(want.state);
          expect(member?.tags).toEqual(want.tags);
          expect(member?.ids).toEqual([`a#${anonymousId}`]);
          // The anonymous id now reads as the member.
          expect((await store.resolve(`a#${anonymousId}`)).memberKey).toBe(`u#${userId}`);
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 15) },
    );
  });

  it('links an alias previousId, and records the merge as the cause in history', async () => {
    const run = newRun('alias');
    const before = [0, 1, 2].map((n) => event({ anonymousId: `${run}-old` }, n));
    const handler = makeTaggerHandler(deps());
    await handler(batch(stream(before)));
    const timestamp = new Date(NOW).toISOString();
    const alias: PortraitEvent = {
      type: 'alias',
      userId: `${run}-new`,
      previousId: `${run}-old`,
      sourceId: 'test',
      messageId: `${run}-alias`,
      timestamp,
      receivedAt: timestamp,
    };
    expect((await handler(batch(stream([alias])))).batchItemFailures).toEqual([]);
    const member = await store.get(`u#${run}-new`);
    expect(profileToJson(member?.state ?? emptyProfile(catalogue, zone))).toEqual(
      fromScratch([...before, alias]).state,
    );
    // The changes ride in the profile writes; the historian copies them from the stream.
    const records = (await readAllStreamRecords(clients.dynamo, streams, table)).filter(
      (record) => record.dynamodb?.Keys?.pk?.S === `m#u#${run}-new`,
    ) as DynamoDBRecord[];
    const historian = makeHistorianHandler({
      recordHistory: (key, version, entries) => store.recordHistory(key, version, entries),
      logger: silentLogger,
    });
    expect((await historian({ Records: records })).batchItemFailures).toEqual([]);
    const page = await store.history(`u#${run}-new`, 10);
    expect(page.entries[0]?.cause).toEqual({
      kind: 'merge',
      from: `a#${run}-old`,
      messageIds: [`${run}-alias`],
    });
  });

  it('leaves an id with the member it first joined, and refuses merges past the id limit', async () => {
    const run = newRun('guard');
    const handler = makeTaggerHandler(deps());
    await handler(batch(stream([event({ anonymousId: `${run}-device` }, 1)])));
    await handler(batch(stream([identify(`${run}-first`, `${run}-device`)])));
    await handler(batch(stream([identify(`${run}-second`, `${run}-device`)])));
    expect((await store.resolve(`a#${run}-device`)).memberKey).toBe(`u#${run}-first`);
    expect((await store.get(`u#${run}-second`))?.ids).toEqual([]);
    expect((await store.get(`u#${run}-first`))?.state.events).toBe(2);

    const links = Array.from({ length: MAX_IDS_PER_MEMBER + 3 }, (_, n) =>
      identify(`${run}-hub`, `${run}-visitor-${n}`),
    );
    expect((await handler(batch(stream(links)))).batchItemFailures).toEqual([]);
    const hub = await store.get(`u#${run}-hub`);
    expect(hub?.ids).toHaveLength(MAX_IDS_PER_MEMBER);
    const unlinked = (await store.resolve(`a#${run}-visitor-${MAX_IDS_PER_MEMBER + 2}`)).memberKey;
    expect(unlinked).toBe(`a#${run}-visitor-${MAX_IDS_PER_MEMBER + 2}`);
  });

  it('ignores identity links with placeholder ids', async () => {
    const run = newRun('placeholder');
    const handler = makeTaggerHandler(deps());
    await handler(
      batch(stream([identify(`${run}-u`, 'null'), identify(`${run}-u`, ' Undefined ')])),
    );
    expect((await store.get(`u#${run}-u`))?.ids).toEqual([]);
    expect((await store.resolve('a#null')).memberKey).toBe('a#null');
  });
});
