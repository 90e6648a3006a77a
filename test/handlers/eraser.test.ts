/**
 * The eraser handler against DynamoDB Local (stores real; SQS's ChangeMessageVisibility is the
 * one thing recorded instead of sent, since the handler is called here as the event source
 * would): a first sweep that removed something is followed by another after the settle time, a
 * clean sweep ends the receipt, a receipt already ended is left alone, an error is retried and
 * on the last receive fails the receipt, and a malformed message is dropped; a withheld row and
 * its kept count go with the member. The lake step is
 * the real one over a temporary lake folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { type EraserDeps, lakeNotWired, makeEraserHandler } from '../../functions/eraser/eraser.ts';
import { ensureTables } from '../../infra/local/tables.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { EventStore } from '../../shared/adapters/event-store.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import { MemberEraser } from '../../shared/adapters/member-eraser.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { encodeLakeRows, lakeRowOf } from '../../shared/domain/analytics/lake-row.ts';
import { newReceiptId, noCounts } from '../../shared/domain/privacy/erasure.ts';
import { eraseLakeRows } from '../../shared/jobs/erase-lake-rows.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { countMentions, lakeSnapshot, withoutMentions } from '../support/lake-scan.ts';

let clients: TestClients;
let store: ErasureStore;
let events: EventStore;
let eraser: MemberEraser;
let memberships: MembershipStore;
let membershipsTable: string;

beforeAll(async () => {
  clients = testClients();
  const tables = await ensureTables(clients.dynamo, uniquePrefix('eraser'));
  store = new ErasureStore(clients.documents, tables.erasures);
  events = new EventStore(clients.documents, tables.events, 400);
  memberships = new MembershipStore(clients.documents, tables.memberships, { settleMs: 0 });
  membershipsTable = tables.memberships;
  eraser = new MemberEraser(
    clients.documents,
    { events: tables.events, profiles: tables.profiles, memberships: tables.memberships },
    new ProfileStore(clients.documents, tables.profiles),
    store,
  );
});
afterAll(() => clients.destroy());

const putOffs: Array<[string, number]> = [];

function handler(overrides: Partial<EraserDeps> = {}) {
  return makeEraserHandler({
    receipt: (id) => store.receipt(id),
    target: (id) => eraser.target(id),
    start: (id, keys, found, at) => store.start(id, keys, found, at),
    suppress: (keys, receiptId, at) => store.suppress(keys, receiptId, at),
    sweep: (receiptId, keys, now) => eraser.sweep(receiptId, keys, now),
    eraseLakeRows: lakeNotWired,
    sweepDone: (id, lakeRows) => store.sweepDone(id, lakeRows),
    finish: (id, status, at, error) => store.finish(id, status, at, error),
    putOff: async (handle, seconds) => {
      putOffs.push([handle, seconds]);
    },
    settleSeconds: 7,
    maxReceiveCount: 3,
    now: Date.now,
    logger: silentLogger,
    ...overrides,
  });
}

function message(body: string, receiveCount = 1): SQSEvent {
  return {
    Records: [
      {
        messageId: `m-${body.length}-${receiveCount}`,
        receiptHandle: `rh-${receiveCount}`,
        body,
        attributes: {
          ApproximateReceiveCount: String(receiveCount),
          SentTimestamp: '0',
          SenderId: 'test',
          ApproximateFirstReceiveTimestamp: '0',
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:portrait-erasures',
        awsRegion: 'us-east-1',
      },
    ],
  };
}

async function newReceipt(): Promise<string> {
  const id = newReceiptId();
  await store.createReceipt({
    id,
    status: 'pending',
    memberHash: 'h',
    requestedAt: Date.now(),
    previouslyErased: false,
    sweeps: 0,
    counts: noCounts,
    lakeRows: 0,
    suppressedKeys: 0,
  });
  return id;
}

const shared = (userId: string, n: number): PortraitEvent => ({
  messageId: `${userId}-${n}`,
  type: 'track',
  event: 'Shared',
  userId,
  timestamp: new Date().toISOString(),
  receivedAt: new Date().toISOString(),
  sourceId: 'test',
});

describe('eraser handler', () => {
  it('sweeps again after the settle time when a sweep removed something, and ends on a clean one', async () => {
    await events.putAll([shared('er-h1', 1), shared('er-h1', 2)]);
    const receipt = await newReceipt();
    const body = JSON.stringify({ receipt, id: 'er-h1' });
    putOffs.length = 0;
    expect(await handler()(message(body, 1))).toEqual({
      batchItemFailures: [{ itemIdentifier: message(body, 1).Records[0]?.messageId }],
    });
    expect(putOffs).toEqual([['rh-1', 7]]);
    const running = await store.receipt(receipt);
    expect(running).toMatchObject({ status: 'running', sweeps: 1, found: true, keys: ['u#er-h1'] });
    expect(running?.counts.events).toBe(2);

    // An event that landed meanwhile (accepted before the suppression) is swept too.
    await events.putAll([shared('er-h1', 3)]);
    expect(await handler()(message(body, 2))).toMatchObject({ batchItemFailures: [{}] });
    expect((await store.receipt(receipt))?.counts.events).toBe(3);
    expect(await handler()(message(body, 3))).toEqual({ batchItemFailures: [] });
    const done = await store.receipt(receipt);
    expect(done).toMatchObject({ status: 'done', sweeps: 3, keys: [] });
    expect(done?.counts.events).toBe(3);
    expect(await store.suppressedAmong(['u#er-h1', 'a#er-h1'])).toEqual(new Set(['u#er-h1']));

    // A redelivered message of an ended erasure changes nothing.
    expect(await handler()(message(body, 4))).toEqual({ batchItemFailures: [] });
    expect((await store.receipt(receipt))?.sweeps).toBe(3);
  });

  it('rewrites the lake in every sweep, counts its rows on the receipt, ends on a clean sweep', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'eraser-lake-'));
    try {
      const lake = new FolderLakeStore(folder);
      const file = (events: PortraitEvent[]) =>
        new Uint8Array(
          gzipSync(encodeLakeRows(events.map((e) => lakeRowOf(e, `u#${e.userId ?? ''}`)))),
        );
      await lake.put(
        'events/dt=2026-11-20/part-1-a.ndjson.gz',
        file([shared('er-lake1', 1), shared('er-keep1', 1), shared('er-lake1', 2)]),
      );
      await lake.put('events/dt=2026-11-21/part-2-b.ndjson.gz', file([shared('er-keep1', 2)]));
      await lake.put(
        'analytics/runs/r1/rfm/part-00000.ndjson.gz',
        new Uint8Array(gzipSync('{"memberId":"er-lake1","r":5}\n{"memberId":"er-keep1","r":1}\n')),
      );
      const ids = ['er-lake1'];
      const before = await lakeSnapshot(lake);
      expect(countMentions(before, ids)).toBe(3);
      const withLake = handler({
        eraseLakeRows: async (keys) => (await eraseLakeRows({ lake }, keys)).rows,
      });
      const receipt = await newReceipt();
      const body = JSON.stringify({ receipt, id: 'er-lake1' });
      expect((await withLake(message(body, 1))).batchItemFailures).toHaveLength(1);
      expect(await store.receipt(receipt)).toMatchObject({ status: 'running', lakeRows: 3 });

      // A row archived meanwhile (a stream record in flight) is removed by the next sweep.
      const late = file([shared('er-lake1', 3), shared('er-keep1', 3)]);
      await lake.put('events/dt=2026-11-22/part-3-c.ndjson.gz', late);
      const lateFile = await lakeSnapshot(lake);
      expect((await withLake(message(body, 2))).batchItemFailures).toHaveLength(1);
      expect(await withLake(message(body, 3))).toEqual({ batchItemFailures: [] });
      const done = await store.receipt(receipt);
      expect(done).toMatchObject({ status: 'done', sweeps: 3, lakeRows: 4 });
      const after = await lakeSnapshot(lake);
      expect(countMentions(after, ids)).toBe(0);
      expect(after).toEqual(withoutMentions(lateFile, ids));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('retries a failing erasure and fails its receipt on the last receive', async () => {
    const receipt = await newReceipt();
    const body = JSON.stringify({ receipt, id: 'er-fail' });
    const failing = handler({
      sweep: async () => {
        throw new Error('DynamoDB is down');
      },
    });
    expect((await failing(message(body, 1))).batchItemFailures).toHaveLength(1);
    expect((await store.receipt(receipt))?.status).toBe('running');
    expect((await failing(message(body, 3))).batchItemFailures).toHaveLength(1);
    expect(await store.receipt(receipt)).toMatchObject({
      status: 'failed',
      error: 'erasure_failed',
      keys: [],
    });
  });

  it('drops a malformed message or one whose receipt is unknown, without failing the batch', async () => {
    expect(await handler()(message('not json'))).toEqual({ batchItemFailures: [] });
    expect(await handler()(message(JSON.stringify({ receipt: 1 })))).toEqual({
      batchItemFailures: [],
    });
    expect(await handler()(message(JSON.stringify({ receipt: newReceiptId(), id: 'x' })))).toEqual({
      batchItemFailures: [],
    });
  });
});

describe('member eraser, memberships', () => {
  it('removes a withheld row and its kept count, and a served row with an exit, leaving others', async () => {
    const cause = { kind: 'profile', profileVersion: 1 } as const;
    // er-w1 is served in seg-a and withheld (refused the purpose) from seg-b; er-w2 is served in both.
    await memberships.transition({
      segmentId: 'seg-a',
      memberKey: 'u#er-w1',
      from: 'out',
      to: 'in',
      seq: 1,
      cause,
    });
    await memberships.transition({
      segmentId: 'seg-b',
      memberKey: 'u#er-w1',
      from: 'out',
      to: 'withheld',
      seq: 1,
      cause,
    });
    await memberships.transition({
      segmentId: 'seg-a',
      memberKey: 'u#er-w2',
      from: 'out',
      to: 'in',
      seq: 1,
      cause,
    });
    await memberships.transition({
      segmentId: 'seg-b',
      memberKey: 'u#er-w2',
      from: 'out',
      to: 'in',
      seq: 1,
      cause,
    });
    for (const [memberKey, segments, withheld] of [
      ['u#er-w1', ['seg-a'], ['seg-b']],
      ['u#er-w2', ['seg-a', 'seg-b'], []],
    ] as const) {
      await memberships.saveMember(undefined, {
        memberKey,
        segments: new Set(segments),
        withheld: new Set(withheld),
        setTag: 'tag',
        input: undefined,
        profileVersion: 1,
      });
    }
    expect(await memberships.counts('seg-b')).toEqual({ count: 1, withheld: 1 });

    const receipt = await newReceipt();
    const counts = await eraser.sweep(receipt, ['u#er-w1'], Date.now());
    expect(counts.memberships).toBe(2);

    const { Items = [] } = await clients.documents.send(
      new ScanCommand({ TableName: membershipsTable }),
    );
    expect(Items.filter((item) => JSON.stringify(item).includes('er-w1'))).toEqual([]);
    expect(await memberships.withheldMembers('seg-b')).toEqual([]);
    expect(await memberships.counts('seg-a')).toEqual({ count: 1, withheld: 0 });
    expect(await memberships.counts('seg-b')).toEqual({ count: 1, withheld: 0 });
    expect((await memberships.member('u#er-w2'))?.segments).toEqual(new Set(['seg-a', 'seg-b']));
  });
});
