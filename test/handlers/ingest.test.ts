import { DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeIngestHandler } from '../../functions/ingest/ingest.ts';
import { sqsLimits } from '../../infra/declarations/queues.ts';
import { eventsTable as eventsTableDeclaration } from '../../infra/declarations/tables.ts';
import { ensureTables } from '../../infra/local/tables.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { EventStore, eventFromItem, memberKeyOf } from '../../shared/adapters/event-store.ts';
import { MIN_DEDUP_DAYS } from '../../shared/config/environments.ts';
import { packMessages } from '../../shared/domain/ingest/pack-messages.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';

const DAY_MS = 86_400_000;
const DAY_SECONDS = 86_400;

let clients: TestClients;
let eventsTable: string;
let erasuresTableName: string;

beforeAll(async () => {
  clients = testClients();
  const tables = await ensureTables(clients.dynamo, uniquePrefix('ingest'));
  eventsTable = tables.events;
  erasuresTableName = tables.erasures;
});
afterAll(() => clients.destroy());

function event(run: string, n: number, member: number): PortraitEvent {
  return {
    messageId: `${run}-m${n}`,
    type: 'track',
    event: 'Order Completed',
    userId: `${run}-user-${member}`,
    properties: { orderId: `o-${n}`, revenue: 10 + n, currency: 'CNY', note: '北京 🍢' },
    timestamp: new Date(Date.UTC(2026, 10, 1, 0, n)).toISOString(),
    receivedAt: new Date().toISOString(),
    sourceId: 'test',
  };
}

let sqsSeq = 0;
function sqsEvent(bodies: string[]): SQSEvent {
  return {
    Records: bodies.map(
      (body): SQSRecord => ({
        messageId: `sqs-${++sqsSeq}`,
        receiptHandle: `rh-${sqsSeq}`,
        body,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'test',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:portrait-events',
        awsRegion: 'us-east-1',
      }),
    ),
  };
}

async function storedItems(memberKeys: string[]): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (const pk of memberKeys) {
    const page = await clients.documents.send(
      new QueryCommand({
        TableName: eventsTable,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      }),
    );
    items.push(...(page.Items ?? []));
  }
  return items;
}

describe('ingest handler against DynamoDB Local', () => {
  it('stores each event once and keeps the whole event, Unicode included', async () => {
    const store = new EventStore(clients.documents, eventsTable, 400);
    const handler = makeIngestHandler({ putEvents: (e) => store.putAll(e), logger: silentLogger });
    const events = [event('single', 1, 1), event('single', 2, 1)];
    const bodies = packMessages(events, sqsLimits).flat();
    const response = await handler(sqsEvent(bodies));
    expect(response.batchItemFailures).toEqual([]);
    const items = await storedItems([memberKeyOf(events[0] as PortraitEvent)]);
    expect(items.map(eventFromItem).sort((a, b) => a.messageId.localeCompare(b.messageId))).toEqual(
      events,
    );
    expect(items.every((item) => typeof item.expiresAt === 'number')).toBe(true);
  });

  it('reports a malformed message as a batch item failure and stores its siblings', async () => {
    const store = new EventStore(clients.documents, eventsTable, 400);
    const handler = makeIngestHandler({ putEvents: (e) => store.putAll(e), logger: silentLogger });
    const good = event('poison', 1, 1);
    const request = sqsEvent([
      '{"not":"a portrait message"}',
      ...packMessages([good], sqsLimits).flat(),
    ]);
    const response = await handler(request);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: request.Records[0]?.messageId }]);
    expect(await storedItems([memberKeyOf(good)])).toHaveLength(1);
  });

  it('reports only the messages whose events failed to store, so SQS retries just those', async () => {
    const store = new EventStore(clients.documents, eventsTable, 400);
    const failing = new Set(['fail-m2']);
    const handler = makeIngestHandler({
      // Simulates a throttled write for one event; the rest go to the real table.
      putEvents: async (events) => {
        const outcomes = await store.putAll(events.filter((e) => !failing.has(e.messageId)));
        let i = 0;
        return events.map((e) =>
          failing.has(e.messageId)
            ? { status: 'failed' as const, error: new Error('throttled') }
            : (outcomes[i++] ?? { status: 'stored' as const, writeUnits: 1 }),
        );
      },
      logger: silentLogger,
    });
    const first = packMessages([event('fail', 1, 1)], sqsLimits).flat();
    const second = packMessages([event('fail', 2, 1)], sqsLimits).flat();
    const request = sqsEvent([...first, ...second]);
    const response = await handler(request);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: request.Records[1]?.messageId }]);
  });

  it('stores exactly one item and one stream INSERT per messageId under any duplication, reordering and replay', async () => {
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 0, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.infiniteStream(fc.nat()),
        async (eventCount, memberCount, extraDeliveries, batchCount, randomness) => {
          const run = `prop${Date.now().toString(36)}${runNo++}`;
          const events = Array.from({ length: eventCount }, (_, n) =>
            event(run, n, n % memberCount),
          );
          // Deliveries: every event at least once, plus duplicates; then shuffled and cut into batches.
          const deliveries = [
            ...events,
            ...extraDeliveries.map(([i]) => events[i % eventCount] as PortraitEvent),
          ];
          const rng = randomness[Symbol.iterator]();
          const next = () => rng.next().value as number;
          for (let i = deliveries.length - 1; i > 0; i -= 1) {
            const j = next() % (i + 1);
            [deliveries[i], deliveries[j]] = [
              deliveries[j] as PortraitEvent,
              deliveries[i] as PortraitEvent,
            ];
          }
          const size = Math.ceil(deliveries.length / batchCount);
          const batches: SQSEvent[] = [];
          for (let i = 0; i < deliveries.length; i += size) {
            batches.push(sqsEvent(packMessages(deliveries.slice(i, i + size), sqsLimits).flat()));
          }
          // Whole batches replayed, as an SQS redelivery would.
          for (const [, k] of extraDeliveries.slice(0, 5))
            batches.push(batches[k % batches.length] as SQSEvent);

          const store = new EventStore(clients.documents, eventsTable, 400);
          const handler = makeIngestHandler({
            putEvents: (e) => store.putAll(e),
            logger: silentLogger,
          });
          // Some batches concurrently, as parallel Lambda invocations would.
          await Promise.all(batches.map((batch) => handler(batch)));

          const keys = [...new Set(events.map((e) => memberKeyOf(e)))];
          const items = await storedItems(keys);
          const ids = items.map((item) => String(item.sk));
          expect(ids.sort()).toEqual(events.map((e) => e.messageId).sort());

          const records = (
            await readAllStreamRecords(clients.dynamo, clients.streams, eventsTable)
          ).filter((r) => String(r.dynamodb?.Keys?.sk?.S ?? '').startsWith(`${run}-`));
          expect(records.every((r) => r.eventName === 'INSERT')).toBe(true);
          expect(records.map((r) => r.dynamodb?.Keys?.sk?.S).sort()).toEqual(
            events.map((e) => e.messageId).sort(),
          );
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 25) },
    );
  });
});

describe('ingest and suppression', () => {
  it('drops the queued events of members erased after collect accepted them, and stores the rest', async () => {
    const erasures = new ErasureStore(clients.documents, erasuresTableName);
    const store = new EventStore(clients.documents, eventsTable, 400);
    const handler = makeIngestHandler({
      putEvents: (events) => store.putAll(events),
      logger: silentLogger,
      suppressedAmong: (keys) => erasures.suppressedAmong(keys),
    });
    const events = [event('sup', 1, 1), event('sup', 2, 2), event('sup', 3, 1)];
    const bodies = packMessages(events, sqsLimits).flat();
    await erasures.suppress([memberKeyOf(event('sup', 0, 1))], 'er_test', Date.now());
    expect(await handler(sqsEvent(bodies))).toEqual({ batchItemFailures: [] });
    expect(await storedItems([memberKeyOf(event('sup', 0, 1))])).toEqual([]);
    expect((await storedItems([memberKeyOf(event('sup', 0, 2))])).map((item) => item.sk)).toEqual([
      'sup-m2',
    ]);
  });
});

describe('ingest and retention', () => {
  it('stores expiresAt as the event time plus the retention, and DynamoDB Local TTL deletes the expired event', async () => {
    // Prepare: the events table as the runtime sets it up (TTL from the declaration), a
    // retention of 40 days, and three events ingested through the handler.
    const { TimeToLiveDescription: ttl } = await clients.dynamo.send(
      new DescribeTimeToLiveCommand({ TableName: eventsTable }),
    );
    expect(ttl).toEqual({
      TimeToLiveStatus: 'ENABLED',
      AttributeName: eventsTableDeclaration.timeToLiveAttribute,
    });
    const retentionDays = 40;
    const store = new EventStore(clients.documents, eventsTable, retentionDays);
    const handler = makeIngestHandler({ putEvents: (e) => store.putAll(e), logger: silentLogger });
    const now = Date.now();
    const at = (days: number) => new Date(now - days * DAY_MS).toISOString();
    const aged = (n: number, happenedDaysAgo: number, receivedDaysAgo: number) => ({
      ...event('ttl', n, n),
      timestamp: at(happenedDaysAgo),
      receivedAt: at(receivedDaysAgo),
    });
    // Happened 100 days ago and received the next day (a message held that long, or a clock
    // moved on): its retention has run out.
    const expired = aged(1, 100, 99);
    const current = aged(2, 1, 0);
    // Happened 100 days ago but received now: kept for the dedup horizon after receipt.
    const late = aged(3, 100, 0);
    const events = [expired, current, late];
    expect(await handler(sqsEvent(packMessages(events, sqsLimits).flat()))).toEqual({
      batchItemFailures: [],
    });

    // Assess: the stored expiry, in epoch seconds.
    const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
    const stored = await storedItems(events.map((e) => memberKeyOf(e)));
    const expiryOf = (e: PortraitEvent) =>
      stored.find((item) => item.sk === e.messageId)?.expiresAt;
    expect(expiryOf(expired)).toBe(seconds(expired.timestamp) + retentionDays * DAY_SECONDS);
    expect(expiryOf(current)).toBe(seconds(current.timestamp) + retentionDays * DAY_SECONDS);
    expect(expiryOf(late)).toBe(seconds(late.receivedAt) + MIN_DEDUP_DAYS * DAY_SECONDS);
    expect(Number(expiryOf(expired))).toBeLessThan(now / 1000);

    // DynamoDB Local's TTL sweep removes the expired item (no time promised: poll).
    const deadline = Date.now() + 150_000;
    let left = await storedItems(events.map((e) => memberKeyOf(e)));
    while (left.some((item) => item.sk === expired.messageId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      left = await storedItems(events.map((e) => memberKeyOf(e)));
    }
    expect(left.map((item) => item.sk).sort()).toEqual([current.messageId, late.messageId].sort());
    // Its stream carries the removal, as on AWS.
    const removals = (
      await readAllStreamRecords(clients.dynamo, clients.streams, eventsTable)
    ).filter((record) => record.eventName === 'REMOVE');
    expect(
      removals
        .map((record) => String(record.dynamodb?.Keys?.sk?.S))
        .filter((sk) => sk.startsWith('ttl-')),
    ).toEqual([expired.messageId]);
  }, 180_000);
});
