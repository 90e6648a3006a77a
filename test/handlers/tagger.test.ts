import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, PortraitEvent } from '../../events/envelope.ts';
import { makeTaggerHandler, type TaggerDeps } from '../../functions/tagger/tagger.ts';
import { profilesTable as profilesTableDeclaration } from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { memberKeyOf } from '../../shared/adapters/event-store.ts';
import {
  type ApplyOutcome,
  ProfileStore,
  ProfileWriteConflictError,
} from '../../shared/adapters/profile-store.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { evaluateTags } from '../../shared/domain/tags/evaluate.ts';
import { foldEvents, trimProfile } from '../../shared/domain/tags/fold.ts';
import { emptyProfile, profileToJson } from '../../shared/domain/tags/profile.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import {
  batch,
  insertRecord,
  nextSequenceNumber,
  type StreamedEvent,
  stream,
} from '../support/tagger-stream.ts';

const zone = 'Asia/Shanghai';
const catalogue = defaultRuleCatalogue();
const NOW = Date.UTC(2026, 10, 20, 4, 0, 0);
const DAY = 86_400_000;

let clients: TestClients;
let profilesTable: string;

beforeAll(async () => {
  clients = testClients();
  profilesTable = `${uniquePrefix('tagger')}-profiles`;
  await clients.dynamo.send(
    new CreateTableCommand(createTableInput(profilesTableDeclaration, profilesTable)),
  );
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: profilesTable },
  );
});
afterAll(() => clients.destroy());

let runNo = 0;
/** A run id no other test (or earlier run against the same emulator) uses for its members. */
function newRun(name: string): string {
  runNo += 1;
  return `${name}-${Date.now().toString(36)}-${runNo}`;
}

const categories = ['tech', 'beauty', 'food', 'travel', '数码'];
const topics = ['car', 'house', '汽车'];

/** The n-th event of a member: a mix that moves most of the default catalogue's aggregates. */
function memberEvent(userId: string, n: number, daysAgo: number): PortraitEvent {
  const timestamp = new Date(NOW - daysAgo * DAY - (n % 7) * 3_600_000).toISOString();
  const base = { messageId: `${userId}-e${n}`, userId, timestamp, receivedAt: timestamp };
  const category = categories[n % categories.length] as string;
  switch (n % 6) {
    case 0:
      return {
        ...base,
        type: 'identify',
        traits: { gender: n % 12 === 0 ? 'female' : 'male', birthday: '1990-03-01', city: '上海' },
        sourceId: 'test',
      };
    case 1:
    case 2: {
      const properties: JsonObject = {
        orderId: `o-${n}`,
        revenue: n % 5 === 0 ? 'abc' : 100 + n * 37.5,
        currency: 'CNY',
        store: `store-${n % 3}`,
        products: [{ category }, { category: categories[(n + 1) % categories.length] as string }],
      };
      if (n % 4 === 1) properties.coupon = 'SAVE10';
      return { ...base, type: 'track', event: 'Order Completed', properties, sourceId: 'test' };
    }
    case 3:
      return {
        ...base,
        type: 'track',
        event: 'Consultation',
        properties: { topic: topics[n % topics.length] as string },
        sourceId: 'test',
      };
    case 4:
      return {
        ...base,
        type: 'track',
        event: n % 8 === 4 ? 'Content Liked' : 'Product Viewed',
        properties: { category },
        sourceId: 'test',
      };
    default:
      return { ...base, type: 'page', name: 'Home', properties: {}, sourceId: 'test' };
  }
}

function taggerDeps(store: ProfileStore, overrides: Partial<TaggerDeps> = {}): TaggerDeps {
  return {
    applyProfile: (memberKey, update) => store.apply(memberKey, update),
    mergeIdentity: (sourceKey, intoKey, combine) => store.merge(sourceKey, intoKey, combine),
    catalogue,
    zone,
    now: () => NOW,
    logger: silentLogger,
    ...overrides,
  };
}

/** What a member's profile must be: every event folded at once from nothing, evaluated at NOW. */
function expected(events: readonly PortraitEvent[]) {
  const folded = foldEvents(emptyProfile(catalogue, zone), events, catalogue, zone).state;
  const evaluation = evaluateTags(folded, catalogue, NOW, zone);
  return {
    tags: evaluation.tags,
    nextChangeAt: evaluation.nextChangeAt,
    state: profileToJson(trimProfile(folded, catalogue, NOW, zone)),
  };
}

function history(userId: string, count: number): PortraitEvent[] {
  // Days ago spread over 400 days, not monotonic: late events arrive after newer ones.
  return Array.from({ length: count }, (_, n) => memberEvent(userId, n, (n * 53) % 400));
}

function interleave(...histories: PortraitEvent[][]): PortraitEvent[] {
  const out: PortraitEvent[] = [];
  const longest = Math.max(...histories.map((h) => h.length));
  for (let i = 0; i < longest; i += 1) {
    for (const h of histories) if (h[i]) out.push(h[i] as PortraitEvent);
  }
  return out;
}

async function rawItem(memberKey: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await clients.documents.send(
    new GetCommand({
      TableName: profilesTable,
      Key: { pk: `m#${memberKey}`, sk: 'profile' },
      ConsistentRead: true,
    }),
  );
  return Item;
}

describe('tagger handler against DynamoDB Local', () => {
  it('stores for each member the tags, state and nextChangeAt of folding all its events at once', async () => {
    const run = newRun('exact');
    const alice = history(`${run}-alice`, 60);
    const bob = history(`${run}-bob`, 25);
    const store = new ProfileStore(clients.documents, profilesTable);
    const handler = makeTaggerHandler(taggerDeps(store));

    const response = await handler(batch(stream(interleave(alice, bob))));

    expect(response.batchItemFailures).toEqual([]);
    for (const events of [alice, bob]) {
      const key = memberKeyOf(events[0] as PortraitEvent);
      const stored = await store.get(key);
      const want = expected(events);
      expect(stored?.tags).toEqual(want.tags);
      expect(Object.keys(stored?.tags ?? {}).length).toBeGreaterThan(5);
      expect(stored?.nextChangeAt).toBe(want.nextChangeAt);
      expect(profileToJson(stored?.state ?? emptyProfile(catalogue, zone))).toEqual(want.state);
      expect(stored?.version).toBe(1);
      expect((await rawItem(key))?.nextChangeAt).toBe(want.nextChangeAt);
    }
  });

  it('changes nothing when the same batch is delivered again', async () => {
    const run = newRun('replay');
    const events = history(`${run}-carol`, 30);
    const key = memberKeyOf(events[0] as PortraitEvent);
    const store = new ProfileStore(clients.documents, profilesTable);
    const handler = makeTaggerHandler(taggerDeps(store));
    const delivered = batch(stream(events));

    await handler(delivered);
    const before = await rawItem(key);
    const again = await handler(delivered);

    expect(again.batchItemFailures).toEqual([]);
    expect(before?.version).toBe(1);
    expect(await rawItem(key)).toEqual(before);
  });

  it('gives the same profile however the stream is cut into batches, replayed or retried', async () => {
    const run = newRun('split');
    const members = ['dan', 'erin', 'frank'].map((name) => history(`${run}-${name}`, 40));
    const streamed = stream(interleave(...members));
    const keys = members.map((events) => memberKeyOf(events[0] as PortraitEvent));
    const want = members.map(expected);
    let trial = 0;

    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: streamed.length - 1 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        async (cutPoints, replays) => {
          trial += 1;
          const prefix = `t${trial}`;
          // Each trial writes under its own member keys, so it starts from empty profiles.
          const store = new ProfileStore(clients.documents, profilesTable);
          const prefixed = (memberKey: string) => `${prefix}:${memberKey}`;
          const handler = makeTaggerHandler(
            taggerDeps(store, {
              applyProfile: (memberKey, update) => store.apply(prefixed(memberKey), update),
            }),
          );
          const cuts = [0, ...[...cutPoints].sort((a, b) => a - b), streamed.length];
          const batches = cuts.slice(1).map((end, i) => streamed.slice(cuts[i], end));
          const writes = new Map<string, number>();
          const deliver = async (items: StreamedEvent[]) => {
            const response = await handler(batch(items));
            expect(response.batchItemFailures).toEqual([]);
            return new Set(items.map((item) => memberKeyOf(item.event)));
          };
          for (const [i, items] of batches.entries()) {
            for (const key of await deliver(items)) {
              writes.set(key, (writes.get(key) ?? 0) + 1);
            }
            // Redelivery of everything from a random earlier record to the end of this batch, as a
            // retry after a partial failure or a replayed stream batch would bring.
            const replay = replays[i];
            if (replay !== undefined) {
              const from = streamed.indexOf(items[0] as StreamedEvent);
              await deliver(streamed.slice(replay % (from + 1), from + items.length));
            }
          }
          for (const [m, key] of keys.entries()) {
            const stored = await store.get(prefixed(key));
            const w = want[m] as ReturnType<typeof expected>;
            expect(stored?.tags).toEqual(w.tags);
            expect(profileToJson(stored?.state ?? emptyProfile(catalogue, zone))).toEqual(w.state);
            // One write per batch that carried new records of the member, none for replays.
            expect(stored?.version).toBe(writes.get(key));
          }
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 15) },
    );
  });

  it('writes each member once per batch however many of its events the batch holds', async () => {
    const run = newRun('once');
    const gina = history(`${run}-gina`, 50);
    const hal = history(`${run}-hal`, 3);
    const store = new ProfileStore(clients.documents, profilesTable);
    const calls = new Map<string, number>();
    const handler = makeTaggerHandler(
      taggerDeps(store, {
        applyProfile: (memberKey, update) => {
          calls.set(memberKey, (calls.get(memberKey) ?? 0) + 1);
          return store.apply(memberKey, update);
        },
      }),
    );
    const streamed = stream(interleave(gina, hal));

    await handler(batch(streamed.slice(0, 30)));
    await handler(batch(streamed.slice(30)));

    const ginaKey = memberKeyOf(gina[0] as PortraitEvent);
    const halKey = memberKeyOf(hal[0] as PortraitEvent);
    expect((await store.get(ginaKey))?.version).toBe(2);
    // Hal's three events all fall in the first batch: the second does not touch his profile.
    expect((await store.get(halKey))?.version).toBe(1);
    expect(calls.get(ginaKey)).toBe(2);
  });

  it('reports a member whose write failed by its first record, and the retry completes it exactly', async () => {
    const run = newRun('partial');
    const ivy = history(`${run}-ivy`, 20);
    const jack = history(`${run}-jack`, 20);
    const ivyKey = memberKeyOf(ivy[0] as PortraitEvent);
    const jackKey = memberKeyOf(jack[0] as PortraitEvent);
    const store = new ProfileStore(clients.documents, profilesTable);
    let failJack = true;
    const handler = makeTaggerHandler(
      taggerDeps(store, {
        // A throttled write for one member; the other goes to the real table.
        applyProfile: async (memberKey, update): Promise<ApplyOutcome> => {
          if (memberKey === jackKey && failJack) throw new Error('ProvisionedThroughputExceeded');
          return store.apply(memberKey, update);
        },
      }),
    );
    const streamed = stream(interleave(ivy, jack));
    const jackFirst = streamed.find((item) => memberKeyOf(item.event) === jackKey);

    const response = await handler(batch(streamed));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: jackFirst?.sequenceNumber }]);
    expect(await store.get(jackKey)).toBeUndefined();

    // The event source retries from the lowest failed sequence number, Ivy's later records too.
    failJack = false;
    const retry = await handler(
      batch(streamed.slice(streamed.indexOf(jackFirst as StreamedEvent))),
    );
    expect(retry.batchItemFailures).toEqual([]);
    expect((await store.get(ivyKey))?.version).toBe(1);
    expect((await store.get(jackKey))?.tags).toEqual(expected(jack).tags);
    expect((await store.get(ivyKey))?.tags).toEqual(expected(ivy).tags);
  });

  it('ignores REMOVE and MODIFY records and skips an unreadable body without failing the batch', async () => {
    const run = newRun('noise');
    const events = history(`${run}-kim`, 12);
    const key = memberKeyOf(events[0] as PortraitEvent);
    const store = new ProfileStore(clients.documents, profilesTable);
    const handler = makeTaggerHandler(taggerDeps(store));
    const streamed = stream([...events, memberEvent(`${run}-kim`, 99, 1)]);
    const records = streamed.map(insertRecord);
    const broken = records[records.length - 1] as DynamoDBRecord;
    const newImage = broken.dynamodb?.NewImage;
    if (newImage) newImage.body = { S: '{not json' };
    const removal: DynamoDBRecord = {
      ...(records[0] as DynamoDBRecord),
      eventName: 'REMOVE',
      dynamodb: { ...records[0]?.dynamodb, SequenceNumber: nextSequenceNumber() },
    };
    const modify: DynamoDBRecord = {
      ...(records[1] as DynamoDBRecord),
      eventName: 'MODIFY',
      dynamodb: { ...records[1]?.dynamodb, SequenceNumber: nextSequenceNumber() },
    };

    const response = await handler({ Records: [...records, removal, modify] });

    expect(response.batchItemFailures).toEqual([]);
    const stored = await store.get(key);
    expect(stored?.tags).toEqual(expected(events).tags);
    expect(stored?.state.events).toBe(events.length);
    expect(stored?.appliedSeq[key]).toBe(streamed[streamed.length - 1]?.sequenceNumber);
  });

  it('reports a member whose stored state is corrupt instead of overwriting it', async () => {
    const run = newRun('corrupt');
    const events = history(`${run}-lee`, 5);
    const key = memberKeyOf(events[0] as PortraitEvent);
    await clients.documents.send(
      new PutCommand({
        TableName: profilesTable,
        Item: {
          pk: `m#${key}`,
          sk: 'profile',
          state: '{"v":99}',
          tags: {},
          appliedSeq: {},
          version: 3,
        },
      }),
    );
    const store = new ProfileStore(clients.documents, profilesTable);
    const handler = makeTaggerHandler(taggerDeps(store));
    const streamed = stream(events);

    const response = await handler(batch(streamed));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: streamed[0]?.sequenceNumber }]);
    expect((await rawItem(key))?.version).toBe(3);
  });
});

/**
 * A document client through which another writer (the sweeper, say) updates the member between
 * each of the store's reads and its conditional write, `races` times.
 */
function racingClient(races: { left: number }): DynamoDBDocumentClient {
  const send = async (command: unknown) => {
    const item =
      command instanceof PutCommand
        ? command.input.Item
        : command instanceof TransactWriteCommand
          ? command.input.TransactItems?.[0]?.Put?.Item
          : undefined;
    if (item && races.left > 0) {
      races.left -= 1;
      await clients.documents.send(
        new UpdateCommand({
          TableName: profilesTable,
          Key: { pk: item.pk, sk: item.sk },
          UpdateExpression: 'SET #version = #version + :one, #tags.#other = :sweeper',
          ExpressionAttributeNames: { '#version': 'version', '#tags': 'tags', '#other': 'other' },
          ExpressionAttributeValues: { ':one': 1, ':sweeper': 'sweeper' },
        }),
      );
    }
    // biome-ignore lint/suspicious/noExplicitAny: forwards whichever command the store sent
    return clients.documents.send(command as any);
  };
  return { send } as unknown as DynamoDBDocumentClient;
}

describe('ProfileStore', () => {
  const state = () => emptyProfile(catalogue, zone);

  it('retries a write that lost a race and applies the update to what the other writer stored', async () => {
    const key = `u#${newRun('conflict')}`;
    const races = { left: 0 };
    const store = new ProfileStore(racingClient(races), profilesTable);
    await store.apply(key, () => ({
      state: state(),
      tags: {},
      appliedSeq: {},
      nextChangeAt: undefined,
    }));
    races.left = 1;

    const outcome = await store.apply(key, (current) => ({
      state: state(),
      tags: { ...current?.tags, seen: String(current?.version) },
      appliedSeq: {},
      nextChangeAt: undefined,
    }));

    expect(outcome.status === 'written' && outcome.attempts).toBe(2);
    const stored = await store.get(key);
    expect(stored?.version).toBe(3);
    expect(stored?.tags).toEqual({ other: 'sweeper', seen: '2' });
  });

  it('gives up with ProfileWriteConflictError after its bounded attempts', async () => {
    const key = `u#${newRun('hopeless')}`;
    const races = { left: 0 };
    const store = new ProfileStore(racingClient(races), profilesTable, 3);
    await store.apply(key, () => ({
      state: state(),
      tags: {},
      appliedSeq: {},
      nextChangeAt: undefined,
    }));
    races.left = Number.POSITIVE_INFINITY;
    let attempts = 0;

    await expect(
      store.apply(key, () => {
        attempts += 1;
        return { state: state(), tags: {}, appliedSeq: {}, nextChangeAt: undefined };
      }),
    ).rejects.toBeInstanceOf(ProfileWriteConflictError);
    expect(attempts).toBe(3);
  });

  it('writes nothing when the update returns undefined', async () => {
    const key = `u#${newRun('noop')}`;
    const store = new ProfileStore(clients.documents, profilesTable);
    expect(await store.apply(key, () => undefined)).toEqual({
      status: 'unchanged',
      profile: undefined,
    });
    expect(await rawItem(key)).toBeUndefined();
  });
});
