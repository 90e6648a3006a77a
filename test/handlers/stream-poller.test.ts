import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type CheckpointStore,
  FileCheckpointStore,
  InMemoryCheckpointStore,
  type StreamBatchFailure,
  StreamPoller,
  type StreamPollerOptions,
  toLambdaRecord,
} from '../../infra/local/stream-poller.ts';
import { ensureTables } from '../../infra/local/tables.ts';
import { testClients, uniquePrefix } from '../support/dynamo.ts';

const clients = testClients();
const pollers: StreamPoller[] = [];

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});
afterAll(() => clients.destroy());

/** A fresh events table (with its own stream) per test, so tests never see each other's records. */
async function freshEventsTable(name: string): Promise<string> {
  const tables = await ensureTables(clients.dynamo, uniquePrefix(`poller-${name}`));
  return tables.events;
}

async function putEvents(
  table: string,
  keys: readonly { pk: string; sk: string }[],
): Promise<void> {
  // Sequential on purpose: the stream order is the write order.
  for (const key of keys) {
    await clients.documents.send(new PutCommand({ TableName: table, Item: { ...key, n: 1 } }));
  }
}

function eventKeys(count: number, members = 3, from = 0): { pk: string; sk: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    pk: `u#${(from + i) % members}`,
    sk: `m-${String(from + i).padStart(4, '0')}`,
  }));
}

type Handler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;

function startPoller(
  table: string,
  handler: Handler,
  overrides: Partial<StreamPollerOptions> = {},
): { poller: StreamPoller; failures: StreamBatchFailure[] } {
  const failures: StreamBatchFailure[] = [];
  const poller = new StreamPoller({
    streamsClient: clients.streams,
    dynamoClient: clients.dynamo,
    tableName: table,
    handler,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    retryAttempts: 2,
    bisectBatchOnError: false,
    reportBatchItemFailures: true,
    startingPosition: 'TRIM_HORIZON',
    onFailure: async (failure) => {
      failures.push(failure);
    },
    pollIntervalMs: 50,
    retryBaseDelayMs: 10,
    ...overrides,
  });
  pollers.push(poller);
  poller.start();
  return { poller, failures };
}

const sk = (record: DynamoDBRecord): string | undefined => record.dynamodb?.Keys?.sk?.S;
const pk = (record: DynamoDBRecord): string | undefined => record.dynamodb?.Keys?.pk?.S;
const seq = (record: DynamoDBRecord): bigint => BigInt(record.dynamodb?.SequenceNumber ?? '-1');

/** Checkpoints as they are set, to see what the poller acknowledged and when. */
class RecordingCheckpointStore implements CheckpointStore {
  readonly sets: string[] = [];
  private readonly inner = new InMemoryCheckpointStore();
  get(shardId: string): Promise<string | undefined> {
    return this.inner.get(shardId);
  }
  async set(shardId: string, sequenceNumber: string): Promise<void> {
    this.sets.push(sequenceNumber);
    await this.inner.set(shardId, sequenceNumber);
  }
}

describe('StreamPoller', () => {
  it('delivers every insert once, in write order per member, in batches of at most batchSize', async () => {
    const table = await freshEventsTable('order');
    const written = eventKeys(23);
    await putEvents(table, written);
    const batches: DynamoDBRecord[][] = [];

    const { poller } = startPoller(
      table,
      async (event) => {
        batches.push(event.Records);
        return undefined;
      },
      { batchSize: 5 },
    );
    await poller.drained();

    expect(batches.every((batch) => batch.length >= 1 && batch.length <= 5)).toBe(true);
    const delivered = batches.flat();
    expect(delivered.map(sk)).toEqual(written.map((key) => key.sk));
    expect(delivered.every((record) => record.eventName === 'INSERT')).toBe(true);
    for (let i = 1; i < delivered.length; i++) {
      expect(seq(delivered[i] as DynamoDBRecord)).toBeGreaterThan(
        seq(delivered[i - 1] as DynamoDBRecord),
      );
    }
    for (const member of ['u#0', 'u#1', 'u#2']) {
      expect(delivered.filter((r) => pk(r) === member).map(sk)).toEqual(
        written.filter((key) => key.pk === member).map((key) => key.sk),
      );
    }
  });

  it('gathers records arriving within maxBatchingWindowSeconds into one batch', async () => {
    const table = await freshEventsTable('window');
    const batches: string[][] = [];
    const { poller } = startPoller(
      table,
      async (event) => {
        batches.push(event.Records.map((r) => sk(r) ?? ''));
        return undefined;
      },
      { batchSize: 100, maxBatchingWindowSeconds: 3 },
    );
    await poller.drained();

    for (const key of eventKeys(4)) {
      await putEvents(table, [key]);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await poller.drained();

    expect(batches).toEqual([['m-0000', 'm-0001', 'm-0002', 'm-0003']]);
  });

  it('retries from the lowest failed record of a partial batch failure and never redelivers earlier records', async () => {
    const table = await freshEventsTable('partial');
    await putEvents(table, eventKeys(10));
    const checkpoints = new RecordingCheckpointStore();
    const invocations: string[][] = [];

    const { poller, failures } = startPoller(
      table,
      async (event) => {
        invocations.push(event.Records.map((r) => sk(r) ?? ''));
        if (invocations.length > 1) return { batchItemFailures: [] };
        // Two failures: the lowest sequence number (m-0004) is where the retry starts.
        const at = (i: number) => event.Records[i]?.dynamodb?.SequenceNumber ?? '';
        return { batchItemFailures: [{ itemIdentifier: at(7) }, { itemIdentifier: at(4) }] };
      },
      { checkpoint: checkpoints },
    );
    await poller.drained();

    expect(invocations).toEqual([
      [
        'm-0000',
        'm-0001',
        'm-0002',
        'm-0003',
        'm-0004',
        'm-0005',
        'm-0006',
        'm-0007',
        'm-0008',
        'm-0009',
      ],
      ['m-0004', 'm-0005', 'm-0006', 'm-0007', 'm-0008', 'm-0009'],
    ]);
    expect(failures).toEqual([]);
    // Checkpointed just before the failure, then at the end of the retried batch.
    expect(checkpoints.sets).toHaveLength(2);
    expect(BigInt(checkpoints.sets[0] ?? '')).toBeLessThan(BigInt(checkpoints.sets[1] ?? ''));
  });

  it('treats an unknown itemIdentifier as a failure of the whole batch', async () => {
    const table = await freshEventsTable('bad-identifier');
    await putEvents(table, eventKeys(3));
    const invocations: number[] = [];

    const { poller } = startPoller(table, async (event) => {
      invocations.push(event.Records.length);
      return invocations.length === 1
        ? { batchItemFailures: [{ itemIdentifier: 'not-a-sequence-number' }] }
        : undefined;
    });
    await poller.drained();

    expect(invocations).toEqual([3, 3]);
  });

  it('sends a poison record to onFailure after retryAttempts and still delivers the records after it', async () => {
    const table = await freshEventsTable('poison');
    const written = eventKeys(12);
    await putEvents(table, written);
    const poison = 'm-0005';
    const succeeded: string[] = [];
    const poisonAlone: number[] = [];

    const { poller, failures } = startPoller(
      table,
      async (event) => {
        const keys = event.Records.map((r) => sk(r) ?? '');
        if (keys.includes(poison)) {
          if (keys.length === 1) poisonAlone.push(1);
          throw new Error('cannot fold this event');
        }
        succeeded.push(...keys);
        return undefined;
      },
      { batchSize: 12, retryAttempts: 2, bisectBatchOnError: true, reportBatchItemFailures: false },
    );
    await poller.drained();

    expect(failures).toHaveLength(1);
    expect(failures[0]?.records.map(sk)).toEqual([poison]);
    expect(failures[0]?.attempts).toBe(3);
    expect(failures[0]?.reason).toContain('cannot fold this event');
    expect(poisonAlone).toHaveLength(3); // first try + retryAttempts
    expect(succeeded).toEqual(written.map((key) => key.sk).filter((key) => key !== poison));
  });

  it('sends the whole failing batch to onFailure when bisection is off, then moves on', async () => {
    const table = await freshEventsTable('no-bisect');
    await putEvents(table, eventKeys(6));
    const calls: string[][] = [];

    const { poller, failures } = startPoller(
      table,
      async (event) => {
        const keys = event.Records.map((r) => sk(r) ?? '');
        calls.push(keys);
        if (keys.includes('m-0001')) throw new Error('boom');
        return undefined;
      },
      { batchSize: 3, retryAttempts: 1, bisectBatchOnError: false, reportBatchItemFailures: false },
    );
    await poller.drained();

    expect(failures.map((f) => f.records.map(sk))).toEqual([['m-0000', 'm-0001', 'm-0002']]);
    expect(calls).toEqual([
      ['m-0000', 'm-0001', 'm-0002'],
      ['m-0000', 'm-0001', 'm-0002'],
      ['m-0003', 'm-0004', 'm-0005'],
    ]);
  });

  it('resumes from its checkpoint file after a restart and delivers nothing twice', async () => {
    const table = await freshEventsTable('resume');
    const folder = await mkdtemp(join(tmpdir(), 'portrait-checkpoints-'));
    const path = join(folder, 'nested', 'events-tagger.json');
    try {
      const delivered: string[] = [];
      const handler: Handler = async (event) => {
        delivered.push(...event.Records.map((r) => sk(r) ?? ''));
        return undefined;
      };
      await putEvents(table, eventKeys(5));
      const first = startPoller(table, handler, { checkpoint: new FileCheckpointStore(path) });
      await first.poller.drained();
      await first.poller.stop();

      await putEvents(table, eventKeys(4, 3, 5));
      const second = startPoller(table, handler, { checkpoint: new FileCheckpointStore(path) });
      await second.poller.drained();

      expect(delivered).toEqual(eventKeys(9).map((key) => key.sk));
      const saved = JSON.parse(await readFile(path, 'utf8')) as { shards: Record<string, string> };
      expect(Object.values(saved.shards)).toHaveLength(1);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('waits for the in-flight batch when stopped, and does not redeliver it after a restart', async () => {
    const table = await freshEventsTable('stop');
    await putEvents(table, eventKeys(2));
    const checkpoint = new InMemoryCheckpointStore();
    const delivered: string[] = [];
    let release: () => void = () => undefined;
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });

    const { poller } = startPoller(
      table,
      async (event) => {
        entered();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        delivered.push(...event.Records.map((r) => sk(r) ?? ''));
        return undefined;
      },
      { checkpoint },
    );
    await inHandler;
    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(delivered).toEqual(['m-0000', 'm-0001']);

    const again: string[] = [];
    const restarted = startPoller(
      table,
      async (event) => {
        again.push(...event.Records.map((r) => sk(r) ?? ''));
        return undefined;
      },
      { checkpoint },
    );
    await restarted.poller.drained();
    expect(again).toEqual([]);
  });

  it('starts after the records already in the stream with LATEST', async () => {
    const table = await freshEventsTable('latest');
    await putEvents(table, eventKeys(3));
    const delivered: string[] = [];

    const { poller } = startPoller(
      table,
      async (event) => {
        delivered.push(...event.Records.map((r) => sk(r) ?? ''));
        return undefined;
      },
      { startingPosition: 'LATEST' },
    );
    await poller.drained();
    await putEvents(table, eventKeys(2, 3, 3));
    await poller.drained();

    expect(delivered).toEqual(['m-0003', 'm-0004']);
  });

  it('passes records in the Lambda event shape', async () => {
    const table = await freshEventsTable('shape');
    const key = { pk: 'u#张三', sk: 'm-1' };
    await clients.documents.send(
      new PutCommand({
        TableName: table,
        Item: {
          ...key,
          label: '高价值客户',
          revenue: 1299,
          bytes: new Uint8Array([1, 2, 3]),
          vip: true,
          nothing: null,
          products: [{ sku: 'A1', quantity: 2 }],
          tags: new Set(['tech', 'cars']),
        },
      }),
    );
    await clients.documents.send(
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'SET revenue = :r',
        ExpressionAttributeValues: { ':r': 1300 },
      }),
    );
    await clients.documents.send(new DeleteCommand({ TableName: table, Key: key }));
    const { Table: description } = await clients.dynamo.send(
      new DescribeTableCommand({ TableName: table }),
    );
    const records: DynamoDBRecord[] = [];

    const { poller } = startPoller(table, async (event) => {
      records.push(...event.Records);
      return undefined;
    });
    await poller.drained();

    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    const [insert, modify, remove] = records;
    const nowSeconds = Date.now() / 1000;
    for (const record of records) {
      expect(record).toMatchObject({
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        eventSourceARN: description?.LatestStreamArn,
        awsRegion: expect.any(String),
        eventID: expect.any(String),
      });
      expect(record.dynamodb?.Keys).toEqual({ pk: { S: 'u#张三' }, sk: { S: 'm-1' } });
      expect(record.dynamodb?.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
      expect(record.dynamodb?.SequenceNumber).toMatch(/^\d+$/);
      expect(record.dynamodb?.SizeBytes).toBeGreaterThan(0);
      // DynamoDB Local rounds the creation time down to the minute.
      expect(record.dynamodb?.ApproximateCreationDateTime).toBeTypeOf('number');
      expect(record.dynamodb?.ApproximateCreationDateTime).toBeGreaterThan(nowSeconds - 180);
      expect(record.dynamodb?.ApproximateCreationDateTime).toBeLessThanOrEqual(nowSeconds);
      // Plain JSON, as Lambda delivers it: no Dates, no Uint8Arrays.
      expect(JSON.parse(JSON.stringify(record))).toEqual(record);
    }
    expect(insert?.dynamodb?.NewImage).toEqual({
      pk: { S: 'u#张三' },
      sk: { S: 'm-1' },
      label: { S: '高价值客户' },
      revenue: { N: '1299' },
      bytes: { B: 'AQID' },
      vip: { BOOL: true },
      nothing: { NULL: true },
      products: { L: [{ M: { sku: { S: 'A1' }, quantity: { N: '2' } } }] },
      tags: { SS: expect.arrayContaining(['tech', 'cars']) },
    });
    expect(insert?.dynamodb?.OldImage).toBeUndefined();
    expect(modify?.dynamodb?.OldImage?.revenue).toEqual({ N: '1299' });
    expect(modify?.dynamodb?.NewImage?.revenue).toEqual({ N: '1300' });
    expect(remove?.dynamodb?.NewImage).toBeUndefined();
    expect(remove?.dynamodb?.OldImage?.revenue).toEqual({ N: '1300' });
    expect(records.some((r) => 'userIdentity' in r)).toBe(false);
  });

  it('carries the TTL service identity of a TTL delete as Lambda does', () => {
    // DynamoDB Local never expires items, so this shape is checked on a record as AWS emits it.
    const record = toLambdaRecord(
      {
        eventID: 'e1',
        eventName: 'REMOVE',
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: 'us-east-1',
        dynamodb: {
          ApproximateCreationDateTime: new Date(1_700_000_000_000),
          Keys: { pk: { S: 'u#1' }, sk: { S: 'm-1' } },
          OldImage: { pk: { S: 'u#1' }, sk: { S: 'm-1' }, raw: { BS: [new Uint8Array([255])] } },
          SequenceNumber: '42',
          SizeBytes: 20,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
        userIdentity: { Type: 'Service', PrincipalId: 'dynamodb.amazonaws.com' },
      },
      'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-01-01T00:00:00.000',
    );

    expect(record.userIdentity).toEqual({ type: 'Service', principalId: 'dynamodb.amazonaws.com' });
    expect(record.dynamodb?.ApproximateCreationDateTime).toBe(1_700_000_000);
    expect(record.dynamodb?.OldImage?.raw).toEqual({ BS: ['/w=='] });
  });
});
