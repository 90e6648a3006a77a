import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestLimits, type PortraitEvent } from '../../events/envelope.ts';
import { makeCollectHandler } from '../../functions/collect/collect.ts';
import { functions } from '../../infra/declarations/functions.ts';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import { localLambdaContext } from '../../infra/local/lambda-invoke.ts';
import { type LocalSqs, startLocalSqs } from '../../infra/local/queue/sqs-server.ts';
import { ensureTables } from '../../infra/local/tables.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { SqsEventQueue } from '../../shared/adapters/event-queue.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { unpackMessage } from '../../shared/domain/ingest/pack-messages.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';

// collect against the real stand-ins: write keys in DynamoDB Local, the durable local SQS.
let clients: TestClients;
let sqsDir: string;
let sqs: LocalSqs;
let sqsClient: SQSClient;
let key: string;
let keys: WriteKeyStore;
let erasures: ErasureStore;
let erasuresTableName: string;
const logs: string[] = [];

beforeAll(async () => {
  clients = testClients();
  const tables = await ensureTables(clients.dynamo, uniquePrefix('collect'));
  keys = new WriteKeyStore(clients.documents, tables['write-keys']);
  erasuresTableName = tables.erasures;
  erasures = new ErasureStore(clients.documents, tables.erasures);
  key = generateWriteKey('test');
  await keys.create(key, { sourceId: 'shop', name: 'Shop', scopes: ['events:write'] });
  sqsDir = mkdtempSync(join(tmpdir(), 'portrait-collect-'));
  sqs = await startLocalSqs({
    dir: sqsDir,
    queues: [{ name: 'events', visibilityTimeoutSeconds: 30 }],
  });
  sqsClient = new SQSClient({ ...localAwsClientConfig(sqs.endpoint), maxAttempts: 1 });
});
afterAll(async () => {
  clients.destroy();
  sqsClient.destroy();
  await sqs.stop().catch(() => {});
  rmSync(sqsDir, { recursive: true, force: true });
});

function handler(withSuppression = false) {
  return makeCollectHandler({
    ...(withSuppression
      ? { suppressedAmong: (memberKeys: readonly string[]) => erasures.suppressedAmong(memberKeys) }
      : {}),
    lookupKey: (raw) => keys.lookup(raw),
    queue: new SqsEventQueue(sqsClient, sqs.queueUrl('events'), 2),
    logger: createLogger({ write: (line) => logs.push(line) }),
    maxFutureSkewSeconds: 86_400,
    eventRetentionDays: 400,
  });
}

function request(
  path: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): APIGatewayProxyEventV2 {
  const binary = Buffer.isBuffer(body);
  return {
    version: '2.0',
    routeKey: `POST ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
      ...headers,
    },
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'test',
      domainPrefix: 'test',
      http: {
        method: 'POST',
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: `req-${Math.random()}`,
      routeKey: `POST ${path}`,
      stage: '$default',
      time: '',
      timeEpoch: Date.now(),
    },
    body: binary ? body.toString('base64') : body,
    isBase64Encoded: binary,
  };
}

const invoke = (event: APIGatewayProxyEventV2) =>
  handler()(event, localLambdaContext(functions.collect, Date.now() + 10_000));

async function drainQueue(): Promise<PortraitEvent[]> {
  const events: PortraitEvent[] = [];
  for (;;) {
    const page = await sqsClient.send(
      new ReceiveMessageCommand({
        QueueUrl: sqs.queueUrl('events'),
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    if (!page.Messages?.length) return events;
    for (const message of page.Messages) events.push(...unpackMessage(message.Body ?? ''));
  }
}

describe('collect handler with local SQS and DynamoDB Local', () => {
  it('rejects the events of suppressed (erased) members with member_suppressed and queues the rest', async () => {
    const suppressing = (event: APIGatewayProxyEventV2) =>
      handler(true)(event, localLambdaContext(functions.collect, Date.now() + 10_000));
    const one = JSON.stringify({ userId: 'sup-1', event: 'Shared', messageId: 'sup-before' });
    // Before any erasure no pseudonym key exists: nothing is suppressed, and reading makes none.
    expect((await suppressing(request('/v1/track', one))).statusCode).toBe(200);
    await drainQueue();
    const scanned = await clients.documents.send(new ScanCommand({ TableName: erasuresTableName }));
    expect(scanned.Items).toEqual([]);

    await erasures.suppress(['u#sup-1', 'a#sup-anon'], 'er_test', Date.now());
    const alone = await suppressing(request('/v1/track', one));
    expect(alone.statusCode).toBe(403);
    expect(JSON.parse(String(alone.body))).toMatchObject({
      success: false,
      code: 'member_suppressed',
    });
    const batch = [
      { type: 'track', messageId: 's-0', userId: 'sup-1', event: 'Shared' },
      { type: 'track', messageId: 's-1', userId: 'ok-1', event: 'Shared' },
      { type: 'identify', messageId: 's-2', userId: 'new-1', anonymousId: 'sup-anon' },
      { type: 'alias', messageId: 's-3', userId: 'ok-2', previousId: 'sup-1' },
      { type: 'page', messageId: 's-4', anonymousId: 'ok-anon', name: 'Home' },
    ];
    const mixed = await suppressing(request('/v1/batch', JSON.stringify({ batch })));
    expect(mixed.statusCode).toBe(207);
    const body = JSON.parse(String(mixed.body)) as {
      results: { index: number; status: string; code?: string }[];
    };
    expect(body.results.map((r) => [r.index, r.status, r.code])).toEqual([
      [0, 'rejected', 'member_suppressed'],
      [1, 'accepted', undefined],
      [2, 'rejected', 'member_suppressed'],
      [3, 'rejected', 'member_suppressed'],
      [4, 'accepted', undefined],
    ]);
    expect((await drainQueue()).map((e) => e.messageId).sort()).toEqual(['s-1', 's-4']);
    expect(await erasures.unsuppress(['u#sup-1', 'a#sup-1'])).toBe(1);
    expect((await suppressing(request('/v1/track', one))).statusCode).toBe(200);
    await drainQueue();
  });

  it('queues every valid event of a batch, stamped with the key source, and only those', async () => {
    const batch = Array.from({ length: 300 }, (_, i) => ({
      type: 'track',
      messageId: `c-${i}`,
      userId: `m-${i % 9}`,
      event: 'Product Viewed',
      properties: { sku: `s-${i}`, note: '烤串'.repeat(50) },
    }));
    batch.push({ type: 'track', messageId: 'c-bad', event: 'Shared' } as never);
    const response = await invoke(request('/v1/batch', JSON.stringify({ batch })));
    expect(response.statusCode).toBe(207);
    const queued = await drainQueue();
    expect(queued.map((e) => e.messageId).sort()).toEqual(
      batch
        .slice(0, 300)
        .map((e) => e.messageId)
        .sort(),
    );
    expect(queued.every((e) => e.sourceId === 'shop')).toBe(true);
  });

  it('inflates gzip bodies and refuses ones that inflate past the limit with 413', async () => {
    const ok = await invoke(
      request('/v1/track', gzipSync(JSON.stringify({ userId: 'gz', event: 'Shared' })), {
        'content-encoding': 'gzip',
        'content-type': 'application/x-www-form-urlencoded',
      }),
    );
    expect(ok.statusCode).toBe(200);
    const bomb = gzipSync(Buffer.alloc(ingestLimits.maxBatchBytes + 10, 0x20));
    expect(bomb.byteLength).toBeLessThan(20_000);
    const refused = await invoke(request('/v1/batch', bomb, { 'content-encoding': 'gzip' }));
    expect(refused.statusCode).toBe(413);
    expect(JSON.parse(String(refused.body))).toMatchObject({ code: 'payload_too_large' });
    const notGzip = await invoke(
      request('/v1/track', Buffer.from('not gzip'), { 'content-encoding': 'gzip' }),
    );
    expect(notGzip.statusCode).toBe(400);
    expect(JSON.parse(String(notGzip.body))).toMatchObject({ code: 'invalid_body' });
    await drainQueue();
  });

  it('answers 503 and acknowledges nothing when the queue is down, keeping its error in the log only', async () => {
    await sqs.stop();
    logs.length = 0;
    const response = await invoke(
      request('/v1/track', JSON.stringify({ userId: 'down', event: 'Shared' })),
    );
    expect(response.statusCode).toBe(503);
    const body = JSON.parse(String(response.body)) as Record<string, unknown>;
    expect(body).toMatchObject({ success: false, code: 'queue_unavailable' });
    expect(Object.keys(body).sort()).toEqual(['code', 'message', 'requestId', 'success']);
    const logged = logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(
      logged.some((entry) => entry.code === 'queue_unavailable' && typeof entry.cause === 'string'),
    ).toBe(true);
  });
});
