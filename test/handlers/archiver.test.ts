import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeArchiverHandler } from '../../functions/archiver/archiver.ts';
import { makeCompactorHandler } from '../../functions/compactor/compactor.ts';
import { eventsTable as eventsTableDeclaration } from '../../infra/declarations/tables.ts';
import { toLambdaRecord } from '../../infra/local/stream-poller.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { EventStore, memberKeyOf } from '../../shared/adapters/event-store.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import type { RfmRow } from '../../shared/domain/analytics/contracts.ts';
import { lakeRowOf } from '../../shared/domain/analytics/lake-row.ts';
import { compactLakeDay } from '../../shared/jobs/compact-lake.ts';
import { readRfmRows, runRfmLocal } from '../../shared/jobs/rfm-job.ts';
import { type Logger, silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { lakeDays, readLakeFiles } from '../support/lake.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';
import { insertRecord, type StreamedEvent, stream } from '../support/tagger-stream.ts';

let clients: TestClients;
let table: string;
let scratch: string;
let lakeNo = 0;

beforeAll(async () => {
  clients = testClients();
  table = `${uniquePrefix('archiver')}-events`;
  await clients.dynamo.send(
    new CreateTableCommand(createTableInput(eventsTableDeclaration, table)),
  );
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: table },
  );
  scratch = await mkdtemp(join(tmpdir(), 'archiver-'));
});
afterAll(async () => {
  clients.destroy();
  await rm(scratch, { recursive: true, force: true });
});

function newLake(): FolderLakeStore {
  lakeNo += 1;
  return new FolderLakeStore(join(scratch, `lake-${lakeNo}`));
}

function order(
  messageId: string,
  userId: string,
  timestamp: string,
  revenue: number | string,
): PortraitEvent {
  return {
    messageId,
    type: 'track',
    event: 'Order Completed',
    userId,
    timestamp,
    receivedAt: timestamp,
    sourceId: 'test',
    properties: {
      orderId: `o-${messageId}`,
      revenue,
      currency: 'CNY',
      products: [
        { sku: 'sku-1', category: '美妆', price: '9.90', quantity: 2 },
        { sku: 'sku-2', price: 0.1 },
        { sku: 'sku-1', quantity: 1 },
      ],
    },
  };
}

/** Records the archiver logged at error level, to check bad input is reported, not dropped. */
function recordingLogger(): { logger: Logger; errors: Record<string, unknown>[] } {
  const errors: Record<string, unknown>[] = [];
  return {
    errors,
    logger: { ...silentLogger, error: (_message, fields) => errors.push(fields ?? {}) },
  };
}

describe('archiver on DynamoDB Local stream records', () => {
  it('writes every INSERT to the lake under the UTC day of its timestamp, with exact money', async () => {
    const run = uniquePrefix('day');
    const events = [
      // 23:30 UTC on the 24th is the 25th in Shanghai: the partition is the UTC day.
      order(`${run}-1`, `${run}-a`, '2026-11-24T23:30:00.000Z', '1234.50'),
      order(`${run}-2`, `${run}-a`, '2026-11-25T01:00:00.000Z', 0.1),
      order(`${run}-3`, `${run}-b`, '2026-11-25T12:00:00.000Z', '0.0000005'),
      {
        messageId: `${run}-4`,
        type: 'identify',
        anonymousId: `${run}-device`,
        traits: { city: '上海' },
        timestamp: '2026-11-25T12:00:00.000Z',
        receivedAt: '2026-11-25T12:00:01.000Z',
        sourceId: 'test',
      } satisfies PortraitEvent,
    ];
    const store = new EventStore(clients.documents, table, 4000);
    expect((await store.putAll(events)).map((o) => o.status)).toEqual(events.map(() => 'stored'));
    const records = (await readAllStreamRecords(clients.dynamo, clients.streams, table))
      .filter((r) => String(r.dynamodb?.Keys?.sk?.S).startsWith(run))
      .map((r) => toLambdaRecord(r, 'arn:aws:dynamodb:local:000000000000:table/events/stream/x'));
    expect(records).toHaveLength(4);

    const lake = newLake();
    const handler = makeArchiverHandler({ lake, logger: silentLogger });
    expect(await handler({ Records: records })).toEqual({ batchItemFailures: [] });

    expect(await lakeDays(lake)).toEqual(['2026-11-24', '2026-11-25']);
    const files = await readLakeFiles(lake);
    const byDay = (day: string) =>
      files
        .filter((f) => f.key.startsWith(`events/dt=${day}/`))
        .flatMap((f) => f.rows.map((row) => row.messageId))
        .sort();
    expect(byDay('2026-11-24')).toEqual([`${run}-1`]);
    expect(byDay('2026-11-25')).toEqual([`${run}-2`, `${run}-3`, `${run}-4`]);
    const rows = new Map(files.flatMap((f) => f.rows).map((row) => [row.messageId, row]));
    for (const event of events) {
      expect(rows.get(event.messageId)).toEqual(lakeRowOf(event, memberKeyOf(event)));
    }
    const first = rows.get(`${run}-1`);
    expect(first?.revenue).toBe('1234.5');
    expect(first?.eventKey).toBe('order_completed');
    expect(first?.skus).toEqual(['sku-1', 'sku-2']);
    expect(first?.products[0]).toEqual({
      sku: 'sku-1',
      category: '美妆',
      price: '9.9',
      quantity: 2,
    });
    // properties without products (they are in `products`), everything else as sent.
    expect(JSON.parse(first?.properties ?? 'null')).toEqual({
      orderId: `o-${run}-1`,
      revenue: '1234.50',
      currency: 'CNY',
    });
    expect(rows.get(`${run}-4`)?.traits).toBe(JSON.stringify({ city: '上海' }));
    expect(rows.get(`${run}-2`)?.revenue).toBe('0.1');
    // Quantised to 1e-6, half away from zero, as the tag engine reads money.
    expect(rows.get(`${run}-3`)?.revenue).toBe('0.000001');
    expect(rows.get(`${run}-4`)?.memberKey).toBe(`a#${run}-device`);

    // The same batch again rewrites the same files: nothing new appears.
    const keysBefore = files.map((f) => f.key);
    expect(await handler({ Records: records })).toEqual({ batchItemFailures: [] });
    expect((await readLakeFiles(lake)).map((f) => f.key)).toEqual(keysBefore);
  });

  it('reports the first sequence number of a day it could not write, and a retry completes it', async () => {
    const run = uniquePrefix('fail');
    const streamed = stream([
      order(`${run}-1`, `${run}-a`, '2026-11-20T10:00:00.000Z', '1'),
      order(`${run}-2`, `${run}-a`, '2026-11-21T10:00:00.000Z', '2'),
      order(`${run}-3`, `${run}-b`, '2026-11-20T11:00:00.000Z', '3'),
      order(`${run}-4`, `${run}-b`, '2026-11-21T11:00:00.000Z', '4'),
    ]);
    const lake = newLake();
    // Fault injection around the real folder store: writes of one day fail once.
    let failuresLeft = 1;
    const flaky = {
      put: async (key: string, body: Uint8Array) => {
        if (key.includes('dt=2026-11-21') && failuresLeft > 0) {
          failuresLeft -= 1;
          throw new Error('disk full');
        }
        await lake.put(key, body);
      },
      get: (key: string) => lake.get(key),
      list: (prefix: string) => lake.list(prefix),
      delete: (keys: readonly string[]) => lake.delete(keys),
    };
    const { logger, errors } = recordingLogger();
    const handler = makeArchiverHandler({ lake: flaky, logger });
    const records = streamed.map(insertRecord);
    const response = await handler({ Records: records });
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: (streamed[1] as StreamedEvent).sequenceNumber },
    ]);
    expect(errors).toHaveLength(1);
    // Lambda retries from the reported record on: the rest of the batch.
    const retry = await handler({ Records: records.slice(1) });
    expect(retry.batchItemFailures).toEqual([]);
    for (const day of await lakeDays(lake)) await compactLakeDay({ lake }, day);
    const ids = (await readLakeFiles(lake)).flatMap((f) => f.rows.map((r) => r.messageId));
    expect(ids.sort()).toEqual([1, 2, 3, 4].map((n) => `${run}-${n}`));
  });

  it('skips REMOVE records and reports, by code, records it cannot read', async () => {
    const run = uniquePrefix('bad');
    const [good, removed, broken] = stream([
      order(`${run}-1`, `${run}-a`, '2026-11-20T10:00:00.000Z', '1'),
      order(`${run}-2`, `${run}-a`, '2026-11-20T10:00:00.000Z', '1'),
      order(`${run}-3`, `${run}-a`, '2026-11-20T10:00:00.000Z', '1'),
    ]) as [StreamedEvent, StreamedEvent, StreamedEvent];
    const removal: DynamoDBRecord = { ...insertRecord(removed), eventName: 'REMOVE' };
    const unreadable = insertRecord(broken);
    const image = unreadable.dynamodb?.NewImage;
    if (image) image.body = { S: '{"not":"an event"' };
    const noSequence = insertRecord(good);
    if (noSequence.dynamodb) noSequence.dynamodb.SequenceNumber = 'abc';
    const { logger, errors } = recordingLogger();
    const lake = newLake();
    const handler = makeArchiverHandler({ lake, logger });
    const event: DynamoDBStreamEvent = {
      Records: [insertRecord(good), removal, unreadable, noSequence],
    };
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    const ids = (await readLakeFiles(lake)).flatMap((f) => f.rows.map((r) => r.messageId));
    expect(ids).toEqual([`${run}-1`]);
    expect(errors.map((e) => e.code).sort()).toEqual(['invalid_stream_record', 'unreadable_event']);
  });
});

describe('compactor', () => {
  it('refuses a day that is not a date with a stable code, before touching the lake', async () => {
    const handler = makeCompactorHandler({ lake: newLake(), logger: silentLogger });
    for (const input of [{ day: '2026-02-30' }, { day: 20261125 }, { days: [] }, {}, null]) {
      await expect(handler(input as never)).rejects.toMatchObject({ code: 'invalid_day' });
    }
  });

  it('refuses a day holding a line that is not a lake row, naming the file and line, and deletes nothing', async () => {
    const lake = newLake();
    const run = uniquePrefix('bad-row');
    await makeArchiverHandler({ lake, logger: silentLogger })({
      Records: stream([order(`${run}-1`, `${run}-a`, '2026-11-20T10:00:00.000Z', '1')]).map(
        insertRecord,
      ),
    });
    const broken = 'events/dt=2026-11-20/part-broken.ndjson.gz';
    await lake.put(
      broken,
      gzipSync('{"messageId":"x","memberKey":"u#x","timestamp":"t"}\n{"no":1}\n'),
    );
    const before = await lake.list('events/');
    await expect(compactLakeDay({ lake }, '2026-11-20')).rejects.toMatchObject({
      code: 'invalid_lake_row',
      source: broken,
      line: 2,
    });
    expect(await lake.list('events/')).toEqual(before);
    expect(await lake.list('events-parquet/')).toEqual([]);
  });

  it('splits a large day into files of about the target size and leaves a compacted day alone', async () => {
    const lake = newLake();
    const run = uniquePrefix('split');
    const events = Array.from({ length: 60 }, (_, i) =>
      order(
        `${run}-${i}`,
        `${run}-m${i % 7}`,
        `2026-11-20T${String(i % 24).padStart(2, '0')}:00:00.000Z`,
        i,
      ),
    );
    const archiver = makeArchiverHandler({ lake, logger: silentLogger });
    const streamed = stream(events);
    for (let i = 0; i < streamed.length; i += 9) {
      await archiver({ Records: streamed.slice(i, i + 9).map(insertRecord) });
    }
    const handler = makeCompactorHandler({ lake, logger: silentLogger, targetFileBytes: 1_000 });
    const first = await handler({ days: ['2026-11-20'] });
    const result = first.days[0];
    expect(result?.inputs).toBe(7);
    expect(result?.rows).toBe(60);
    expect(result?.outputs.length).toBeGreaterThan(1);
    const files = await readLakeFiles(lake);
    expect(files.map((f) => f.key)).toEqual(result?.outputs);
    expect(result?.outputs.every((key) => key.startsWith('events-parquet/dt=2026-11-20/'))).toBe(
      true,
    );
    expect(await lake.list('events/')).toEqual([]);
    // Files in name order hold the rows in (timestamp, member key, messageId) order.
    const sequence = files
      .flatMap((f) => f.rows)
      .map((r) => [r.timestamp, r.memberKey, r.messageId]);
    expect(sequence).toEqual(
      [...sequence].sort((a, b) => (a.join('\u0000') < b.join('\u0000') ? -1 : 1)),
    );
    expect(
      files
        .flatMap((f) => f.rows)
        .map((r) => r.messageId)
        .sort(),
    ).toEqual(events.map((e) => e.messageId).sort());
    const again = await handler({ day: '2026-11-20' });
    expect(again.days[0]?.unchanged).toBe(true);
    expect((await readLakeFiles(lake)).map((f) => f.key)).toEqual(result?.outputs);
  });
});

/** The RFM rows the SQL computes over a lake (the events are all within the window). */
async function rfmOf(lake: FolderLakeStore, runId: string): Promise<RfmRow[]> {
  const output = await runRfmLocal(
    { lake },
    { runId, asOf: '2026-11-23', windowDays: 30, zone: 'Asia/Shanghai' },
  );
  return readRfmRows(lake, output.rowKeys);
}

describe('replays and compaction (property)', () => {
  const eventArbitrary = fc.record({
    member: fc.integer({ min: 0, max: 5 }),
    // Three UTC days, any second of them.
    second: fc.integer({ min: 0, max: 3 * 86_400 - 1 }),
    revenue: fc.integer({ min: 0, max: 100_000 }),
  });

  it('leaves exactly one row per event, and the SQL counts each once, after any replay, re-split or reorder of batches, half-compacted days and crashed compactions', async () => {
    let caseNo = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArbitrary, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 10 }),
        fc.array(
          fc.record({
            from: fc.nat(),
            sizes: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }),
            compactBefore: fc.boolean(),
          }),
          { maxLength: 4 },
        ),
        // What happens to each day before the final compaction: left raw, compacted, or a
        // compaction that dies after writing its Parquet outputs, before deleting its inputs.
        fc.array(fc.constantFrom('raw', 'compacted', 'crashed'), { minLength: 1, maxLength: 3 }),
        async (specs, splits, replays, dayStates) => {
          caseNo += 1;
          const run = `${uniquePrefix('prop')}-${caseNo}`;
          const base = Date.parse('2026-11-20T00:00:00.000Z');
          const events = specs.map((spec, i) =>
            order(
              `${run}-${i}`,
              `${run}-m${spec.member}`,
              new Date(base + spec.second * 1000).toISOString(),
              spec.revenue / 100,
            ),
          );
          const records = stream(events).map(insertRecord);
          // The same events archived once, in one pass: what any replayed lake must read as.
          const cleanLake = newLake();
          await makeArchiverHandler({ lake: cleanLake, logger: silentLogger })({
            Records: records,
          });
          const clean = await rfmOf(cleanLake, `clean-${caseNo}`);
          expect(clean.length).toBeGreaterThan(0);
          const lake = newLake();
          const archiver = makeArchiverHandler({ lake, logger: silentLogger });
          const cut = (from: number, sizes: readonly number[]): DynamoDBRecord[][] => {
            const batches: DynamoDBRecord[][] = [];
            let at = from;
            let i = 0;
            while (at < records.length) {
              const size = sizes[i % sizes.length] as number;
              batches.push(records.slice(at, at + size));
              at += size;
              i += 1;
            }
            return batches;
          };
          const compactAll = async () => {
            for (const day of await lakeDays(lake)) await compactLakeDay({ lake }, day);
          };
          for (const b of cut(0, splits)) await archiver({ Records: b });
          for (const replay of replays) {
            if (replay.compactBefore) await compactAll();
            // A retry from some record on, split differently, its batches delivered in reverse.
            const batches = cut(replay.from % records.length, replay.sizes).reverse();
            for (const b of batches) await archiver({ Records: b });
          }
          const crashing = {
            put: (key: string, body: Uint8Array) => lake.put(key, body),
            get: (key: string) => lake.get(key),
            list: (prefix: string) => lake.list(prefix),
            delete: async (keys: readonly string[]) => {
              if (keys.length > 0) throw new Error('crash');
            },
          };
          for (const [i, day] of (await lakeDays(lake)).entries()) {
            const state = dayStates[i % dayStates.length];
            if (state === 'compacted') await compactLakeDay({ lake }, day);
            if (state === 'crashed') {
              const hadRaw = (await lake.list(`events/dt=${day}/`)).length > 0;
              const outcome = await compactLakeDay({ lake: crashing }, day).catch(
                (error: Error) => error,
              );
              if (outcome instanceof Error) {
                expect(outcome.message).toBe('crash');
                // Half-compacted: the day is in both halves of the lake at once.
                expect((await lake.list(`events/dt=${day}/`)).length > 0).toBe(hadRaw);
                expect((await lake.list(`events-parquet/dt=${day}/`)).length).toBeGreaterThan(0);
              } else {
                // Only a day that is one compaction's output already has nothing to delete.
                expect(outcome.unchanged).toBe(true);
              }
            }
          }
          // Whatever state each day is in, the SQL counts every event once.
          expect(await rfmOf(lake, `mid-${caseNo}`)).toEqual(clean);
          await compactAll();

          const rows = (await readLakeFiles(lake)).flatMap((f) => f.rows);
          expect(rows.map((r) => r.messageId).sort()).toEqual(
            events.map((e) => e.messageId).sort(),
          );
          const byId = new Map(rows.map((row) => [row.messageId, row]));
          for (const event of events) {
            expect(byId.get(event.messageId)).toEqual(lakeRowOf(event, memberKeyOf(event)));
          }
          // A compacted day is one file here (all far below the target size).
          const files = await readLakeFiles(lake);
          expect(files.length).toBe((await lakeDays(lake)).length);
          expect(files.every((f) => f.key.startsWith('events-parquet/'))).toBe(true);
          expect(await rfmOf(lake, `end-${caseNo}`)).toEqual(clean);
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 15) },
    );
    // Every case opens DuckDB a dozen times (compactions and three RFM runs).
  }, 300_000);
});
