/**
 * Segment webhooks against DynamoDB Local, the local SQS stand-in and a real HTTP receiver:
 * the subscriptions API; ledger entries written by the real membership store reach the notifier
 * through the memberships table's real stream; the deliverer posts signed deliveries, backs off
 * on failures, dead-letters after the receive limit, drops deliveries of deleted subscriptions;
 * the redrive job brings dead letters back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeDelivererHandler, postWithFetch } from '../../functions/deliverer/deliverer.ts';
import { makeNotifierHandler } from '../../functions/notifier/notifier.ts';
import { makeWebhooksHandler } from '../../functions/webhooks/webhooks.ts';
import { webhooksQueue } from '../../infra/declarations/queues.ts';
import type { Scope } from '../../infra/declarations/routes.ts';
import {
  erasuresTable,
  membershipsTable as membershipsDeclaration,
  segmentsTable as segmentsDeclaration,
  writeKeysTable as writeKeysDeclaration,
} from '../../infra/declarations/tables.ts';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import { SqsEventSource } from '../../infra/local/queue/sqs-event-source.ts';
import { startLocalSqs } from '../../infra/local/queue/sqs-server.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { SqsEventQueue } from '../../shared/adapters/event-queue.ts';
import { type LedgerEntry, MembershipStore } from '../../shared/adapters/membership-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import {
  newWebhookId,
  newWebhookSecret,
  WebhookStore,
} from '../../shared/adapters/webhook-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import type { SegmentDefinition } from '../../shared/domain/segments/segment-definition.ts';
import { verifySignature } from '../../shared/domain/webhooks/signature.ts';
import { redriveWebhooks } from '../../shared/jobs/redrive-webhooks.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';

let clients: TestClients;
let streams: DynamoDBStreamsClient;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  clients = testClients();
  streams = new DynamoDBStreamsClient(localAwsClientConfig(clients.endpoint));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  streams.destroy();
  clients.destroy();
});

const MAX_RECEIVES = webhooksQueue.maxReceiveCount;

/** Fresh tables, a local SQS with the webhook queue and its DLQ, and the stores. */
async function setUp() {
  const prefix = uniquePrefix('webhooks');
  const names = {
    segments: `${prefix}-segments`,
    memberships: `${prefix}-memberships`,
    keys: `${prefix}-keys`,
  };
  for (const [declaration, name] of [
    [segmentsDeclaration, names.segments],
    [membershipsDeclaration, names.memberships],
    [writeKeysDeclaration, names.keys],
  ] as const) {
    await clients.dynamo.send(new CreateTableCommand(createTableInput(declaration, name)));
    await waitUntilTableExists(
      { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
      { TableName: name },
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'portrait-webhooks-'));
  const server = await startLocalSqs({
    dir,
    queues: [
      { name: 'webhooks-dlq', visibilityTimeoutSeconds: 30 },
      {
        name: 'webhooks',
        visibilityTimeoutSeconds: 30,
        maxReceiveCount: MAX_RECEIVES,
        deadLetterQueueName: 'webhooks-dlq',
      },
    ],
  });
  const sqs = new SQSClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  cleanups.push(async () => {
    sqs.destroy();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const queueUrl = server.queueUrl('webhooks');
  const dlqUrl = server.queueUrl('webhooks-dlq');
  const segments = new SegmentStore(clients.documents, names.segments);
  const hooks = new WebhookStore(clients.documents, names.segments);
  const memberships = new MembershipStore(clients.documents, names.memberships);
  const keys = new WriteKeyStore(clients.documents, names.keys);

  const depth = async (url: string) => {
    const { Attributes: a = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
    );
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  };

  /** The deliverer behind a local SQS event source, as the runtime wires it. */
  const startDeliverer = (
    retryBaseSeconds: number,
    suppressedAmong?: (keys: readonly string[]) => Promise<ReadonlySet<string>>,
  ) => {
    const source = new SqsEventSource({
      sqs,
      queueUrl,
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:webhooks',
      handler: makeDelivererHandler({
        subscription: (segmentId, hookId) => hooks.get(segmentId, hookId),
        post: postWithFetch,
        putOff: async (receiptHandle, seconds) => {
          await sqs.send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: queueUrl,
              ReceiptHandle: receiptHandle,
              VisibilityTimeout: seconds,
            }),
          );
        },
        retryBaseSeconds,
        maxReceiveCount: MAX_RECEIVES,
        now: Date.now,
        logger: silentLogger,
        timeoutMs: 5_000,
        ...(suppressedAmong ? { suppressedAmong } : {}),
      }),
      batchSize: webhooksQueue.consumer.batchSize,
      maxBatchingWindowSeconds: 0,
      maxConcurrency: 2,
      reportBatchItemFailures: true,
      waitTimeSeconds: 1,
    });
    source.start();
    cleanups.push(() => source.stop());
    return source;
  };

  const notifier = makeNotifierHandler({
    subscriptionsOf: async (segmentId) => (await hooks.list(segmentId)).map((hook) => hook.id),
    sendBatches: (batches) => new SqsEventQueue(sqs, queueUrl).sendBatches(batches),
    now: Date.now,
    logger: silentLogger,
    cacheSeconds: 0,
  });

  /** Every record of the memberships stream so far, through the notifier (one batch). */
  let seen = 0;
  const notify = async () => {
    const records = await readAllStreamRecords(clients.dynamo, streams, names.memberships);
    const event: DynamoDBStreamEvent = {
      Records: records.slice(seen) as DynamoDBStreamEvent['Records'],
    };
    seen = records.length;
    return notifier(event);
  };

  return {
    names,
    sqs,
    queueUrl,
    dlqUrl,
    segments,
    hooks,
    memberships,
    keys,
    depth,
    startDeliverer,
    notify,
  };
}

const definition = (id: string): SegmentDefinition =>
  ({
    id,
    labels: { 'zh-CN': '测试', en: 'Test' },
    purpose: 'marketing',
    expression: { aggregate: 'orders_365d', op: '>=', value: 2 },
  }) as unknown as SegmentDefinition;

let instant = Date.parse('2026-11-25T08:00:00Z');
const entry = (segmentId: string, memberKey: string, change: 'enter' | 'exit'): LedgerEntry => {
  instant += 1000;
  return {
    segmentId,
    memberKey,
    change,
    at: instant,
    seq: 1,
    cause: { kind: 'profile', profileVersion: 1 },
  };
};

async function subscribe(
  t: Awaited<ReturnType<typeof setUp>>,
  segmentId: string,
  url: string,
): Promise<{ id: string; secret: string }> {
  const id = newWebhookId();
  const secret = newWebhookSecret();
  await t.hooks.create({
    id,
    segmentId,
    url,
    secret,
    createdAt: new Date().toISOString(),
    createdBy: 'test',
  });
  return { id, secret };
}

function apiEvent(
  method: string,
  route: string,
  path: string,
  params: Record<string, string>,
  key: string,
  body?: unknown,
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `${method} ${route}`,
    rawPath: path,
    rawQueryString: '',
    headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    pathParameters: params,
    requestContext: { requestId: 'req-1' },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  } as unknown as APIGatewayProxyEventV2;
}

const context = { awsRequestId: 'aws-req-1' } as Context;

describe('the webhook subscriptions API', () => {
  async function api(allowLoopbackHttp: boolean) {
    const t = await setUp();
    await t.segments.save(undefined, definition('vip'), 'active', 'test', new Date());
    const keyWith = async (scopes: Scope[]) => {
      const raw = generateWriteKey('dev');
      await t.keys.create(raw, { sourceId: 'crm', name: 'CRM', scopes });
      return raw;
    };
    const handler = makeWebhooksHandler({
      lookupKey: (raw) => t.keys.lookup(raw),
      head: (id) => t.segments.head(id),
      list: (id) => t.hooks.list(id),
      create: (subscription) => t.hooks.create(subscription),
      remove: (id, hookId) => t.hooks.delete(id, hookId),
      newId: newWebhookId,
      newSecret: newWebhookSecret,
      allowLoopbackHttp,
      now: Date.now,
      logger: silentLogger,
    });
    const call = async (event: APIGatewayProxyEventV2) => {
      const answer = await handler(event, context);
      const result = typeof answer === 'string' ? { statusCode: 200, body: answer } : answer;
      return {
        status: result.statusCode,
        body: JSON.parse(String(result.body)) as Record<string, unknown>,
      };
    };
    return {
      t,
      call,
      writer: await keyWith(['segments:write', 'segments:read']),
      reader: await keyWith(['segments:read']),
    };
  }
  const hooksPath = (id: string) => `/v1/segments/${id}/webhooks`;

  it('subscribes with a generated secret shown once, lists without secrets, unsubscribes', async () => {
    const { call, writer, reader } = await api(false);
    const created = await call(
      apiEvent('POST', '/v1/segments/{id}/webhooks', hooksPath('vip'), { id: 'vip' }, writer, {
        url: 'https://hooks.example.com/portrait',
        description: '会员同步',
      }),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      segment: 'vip',
      url: 'https://hooks.example.com/portrait',
      description: '会员同步',
      createdBy: 'crm',
    });
    expect(created.body.id).toMatch(/^wh_[A-Za-z0-9_-]{16}$/);
    expect(created.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const given = await call(
      apiEvent('POST', '/v1/segments/{id}/webhooks', hooksPath('vip'), { id: 'vip' }, writer, {
        url: 'https://b.example.com/',
        secret: 'my-own-secret-of-some-length',
      }),
    );
    expect(given.body.secret).toBe('my-own-secret-of-some-length');

    const listed = await call(
      apiEvent('GET', '/v1/segments/{id}/webhooks', hooksPath('vip'), { id: 'vip' }, reader),
    );
    expect(listed.status).toBe(200);
    const webhooks = listed.body.webhooks as Record<string, unknown>[];
    expect(webhooks.map((hook) => hook.id).sort()).toEqual([created.body.id, given.body.id].sort());
    expect(webhooks.every((hook) => !('secret' in hook))).toBe(true);
    expect(JSON.stringify(listed.body)).not.toContain(String(created.body.secret));

    const hookId = String(created.body.id);
    const route = '/v1/segments/{id}/webhooks/{hookId}';
    const deleted = await call(
      apiEvent('DELETE', route, `${hooksPath('vip')}/${hookId}`, { id: 'vip', hookId }, writer),
    );
    expect(deleted).toEqual({ status: 200, body: { id: hookId, segment: 'vip', deleted: true } });
    const again = await call(
      apiEvent('DELETE', route, `${hooksPath('vip')}/${hookId}`, { id: 'vip', hookId }, writer),
    );
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('webhook_not_found');
  });

  it('refuses unknown segments, bad URLs and fields, and keys without the scope', async () => {
    const { call, writer, reader } = await api(false);
    const post = (id: string, key: string, body: unknown) =>
      call(apiEvent('POST', '/v1/segments/{id}/webhooks', hooksPath(id), { id }, key, body));
    const unknown = await post('nope', writer, { url: 'https://a.example.com/' });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'segment_not_found']);
    const listUnknown = await call(
      apiEvent('GET', '/v1/segments/{id}/webhooks', hooksPath('nope'), { id: 'nope' }, reader),
    );
    expect([listUnknown.status, listUnknown.body.code]).toEqual([404, 'segment_not_found']);

    const insecure = await post('vip', writer, {
      url: 'http://127.0.0.1:9000/x',
      secret: 'short',
      extra: 1,
    });
    expect(insecure.status).toBe(400);
    expect(insecure.body.code).toBe('invalid_webhook');
    expect(
      (insecure.body.issues as { pointer: string }[]).map((issue) => issue.pointer).sort(),
    ).toEqual(['/extra', '/secret', '/url']);
    const notJson = await post('vip', writer, '{');
    expect([notJson.status, notJson.body.code]).toEqual([400, 'invalid_body']);

    const readOnly = await post('vip', reader, { url: 'https://a.example.com/' });
    expect([readOnly.status, readOnly.body.code]).toEqual([403, 'insufficient_scope']);
  });

  it('accepts http to loopback hosts only where the runtime allows it', async () => {
    const { call, writer } = await api(true);
    const local = await call(
      apiEvent('POST', '/v1/segments/{id}/webhooks', hooksPath('vip'), { id: 'vip' }, writer, {
        url: 'http://127.0.0.1:9000/x',
      }),
    );
    expect(local.status).toBe(201);
    const remote = await call(
      apiEvent('POST', '/v1/segments/{id}/webhooks', hooksPath('vip'), { id: 'vip' }, writer, {
        url: 'http://example.com/x',
      }),
    );
    expect(remote.status).toBe(400);
  });
});

describe('webhook delivery', () => {
  it('delivers ledger entries from the stream, batched per subscription and signed', async () => {
    const t = await setUp();
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    const hook = await subscribe(t, 'vip', receiver.url);
    await t.memberships.change(entry('vip', 'u#会员-1', 'enter'));
    await t.memberships.change(entry('vip', 'a#anon-9', 'enter'));
    await t.memberships.change(entry('lapsed', 'u#x', 'enter')); // no subscription: nothing sent
    await t.memberships.change(entry('vip', 'u#会员-1', 'exit'));
    expect(await t.notify()).toEqual({ batchItemFailures: [] });

    const source = t.startDeliverer(1);
    const [request] = await receiver.waitFor(1);
    await source.idle();
    expect(receiver.received).toHaveLength(1);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(
      verifySignature(
        hook.secret,
        request?.headers['portrait-signature'],
        request?.body ?? '',
        300,
      ),
    ).toBe(true);
    expect(
      verifySignature(
        'another-secret-000',
        request?.headers['portrait-signature'],
        request?.body ?? '',
        300,
      ),
    ).toBe(false);
    const payload = JSON.parse(request?.body ?? '{}') as Record<string, unknown>;
    expect(request?.headers['portrait-delivery']).toBe(payload.id);
    expect(payload).toMatchObject({
      segment: 'vip',
      subscription: hook.id,
      events: [
        {
          type: 'segment.entered',
          memberId: { userId: '会员-1' },
          cause: { kind: 'profile', profileVersion: 1 },
        },
        { type: 'segment.entered', memberId: { anonymousId: 'anon-9' } },
        { type: 'segment.exited', memberId: { userId: '会员-1' } },
      ],
    });
    expect(await t.depth(t.dlqUrl)).toBe(0);
  });

  it('retries a receiver that answers 500 twice with growing delays, and succeeds on the third attempt', async () => {
    const t = await setUp();
    const receiver = await startWebhookReceiver((n) => (n <= 2 ? 500 : 200));
    cleanups.push(() => receiver.close());
    const hook = await subscribe(t, 'vip', receiver.url);
    await t.memberships.change(entry('vip', 'u#retry-1', 'enter'));
    await t.notify();

    const source = t.startDeliverer(1);
    const attempts = await receiver.waitFor(3);
    await source.idle();
    expect(receiver.received).toHaveLength(3);
    // One delivery, three attempts: the same id and body, each freshly signed.
    expect(new Set(attempts.map((a) => a.headers['portrait-delivery'])).size).toBe(1);
    expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
    for (const attempt of attempts) {
      expect(
        verifySignature(hook.secret, attempt.headers['portrait-signature'], attempt.body, 300),
      ).toBe(true);
    }
    // Backoff of 1 s, then 2 s (base 1 s, doubling); SQS visibility is whole seconds.
    const [first, second, third] = attempts.map((a) => a.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(900);
    expect(third - second).toBeGreaterThanOrEqual(1900);
    expect(await t.depth(t.queueUrl)).toBe(0);
    expect(await t.depth(t.dlqUrl)).toBe(0);
  });

  it(`dead-letters a delivery after ${MAX_RECEIVES} failed attempts, and redrive brings it back`, async () => {
    const t = await setUp();
    const receiver = await startWebhookReceiver(() => 500);
    cleanups.push(() => receiver.close());
    await subscribe(t, 'vip', receiver.url);
    await subscribe(t, 'lapsed', receiver.url);
    await t.memberships.change(entry('vip', 'u#dead-1', 'enter'));
    await t.memberships.change(entry('lapsed', 'u#dead-2', 'enter'));
    await t.notify();

    const source = t.startDeliverer(0);
    await receiver.waitFor(2 * MAX_RECEIVES);
    await source.idle();
    expect(receiver.received).toHaveLength(2 * MAX_RECEIVES);
    expect(await t.depth(t.queueUrl)).toBe(0);
    expect(await t.depth(t.dlqUrl)).toBe(2);

    receiver.setAnswer(() => 200);
    const onlyVip = await redriveWebhooks({
      sqs: t.sqs,
      deadLetterQueueUrl: t.dlqUrl,
      queueUrl: t.queueUrl,
      segment: 'vip',
      holdSeconds: 5,
    });
    expect(onlyVip).toEqual({ moved: 1, skipped: 1, unreadable: 0 });
    await receiver.waitFor(2 * MAX_RECEIVES + 1);
    await source.idle();
    const redelivered = receiver.received.at(-1);
    expect(JSON.parse(redelivered?.body ?? '{}')).toMatchObject({ segment: 'vip' });
    expect(await t.depth(t.dlqUrl)).toBe(1);

    const rest = await redriveWebhooks({
      sqs: t.sqs,
      deadLetterQueueUrl: t.dlqUrl,
      queueUrl: t.queueUrl,
      max: 5,
    });
    expect(rest).toEqual({ moved: 1, skipped: 0, unreadable: 0 });
    await receiver.waitFor(2 * MAX_RECEIVES + 2);
    await source.idle();
    expect(await t.depth(t.dlqUrl)).toBe(0);
    expect(await t.depth(t.queueUrl)).toBe(0);
  });

  it('drops the pending deliveries of a deleted subscription', async () => {
    const t = await setUp();
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    const kept = await subscribe(t, 'vip', receiver.url);
    const removed = await subscribe(t, 'vip', `${receiver.url}?removed`);
    await t.memberships.change(entry('vip', 'u#drop-1', 'enter'));
    await t.notify();
    expect(await t.depth(t.queueUrl)).toBe(2);
    expect(await t.hooks.delete('vip', removed.id)).toBe(true);

    const source = t.startDeliverer(1);
    await receiver.waitFor(1);
    await source.idle();
    expect(receiver.received).toHaveLength(1);
    expect(JSON.parse(receiver.received[0]?.body ?? '{}')).toMatchObject({ subscription: kept.id });
    expect(await t.depth(t.queueUrl)).toBe(0);
    expect(await t.depth(t.dlqUrl)).toBe(0);
  });

  it('leaves queued events of erased members out, drops deliveries left with none, and never sends pseudonymised entries', async () => {
    const t = await setUp();
    const erasuresName = `${t.names.memberships}-erasures`;
    await clients.dynamo.send(
      new CreateTableCommand(createTableInput(erasuresTable, erasuresName)),
    );
    await waitUntilTableExists(
      { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
      { TableName: erasuresName },
    );
    const erasures = new ErasureStore(clients.documents, erasuresName);
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    const hook = await subscribe(t, 'vip', receiver.url);
    await t.memberships.change(entry('vip', 'u#keep-1', 'enter'));
    await t.memberships.change(entry('vip', 'u#gone-1', 'enter'));
    await t.notify();
    await t.memberships.change(entry('vip', 'a#gone-2', 'enter'));
    await t.notify();
    // The eraser's own entries: an exit and rewritten entries under a pseudonym.
    await t.memberships.change(entry('vip', 'e#0123456789abcdef0123456789abcdef', 'exit'));
    await t.notify();
    expect(await t.depth(t.queueUrl)).toBe(2);
    // Erased after their deliveries were queued (SQS cannot delete them selectively).
    await erasures.suppress(['u#gone-1', 'a#gone-2'], 'er_test', Date.now());

    const source = t.startDeliverer(1, (keys) => erasures.suppressedAmong(keys));
    await receiver.waitFor(1);
    await source.idle();
    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0];
    const payload = JSON.parse(request?.body ?? '{}') as { events: { memberId: unknown }[] };
    expect(payload.events.map((event) => event.memberId)).toEqual([{ userId: 'keep-1' }]);
    expect(
      verifySignature(
        hook.secret,
        request?.headers['portrait-signature'],
        request?.body ?? '',
        300,
      ),
    ).toBe(true);
    expect(await t.depth(t.queueUrl)).toBe(0);
    expect(await t.depth(t.dlqUrl)).toBe(0);
  });

  it('fails the batch from the earliest record of a segment whose deliveries could not be queued', async () => {
    const t = await setUp();
    await subscribe(t, 'vip', 'https://hooks.example.com/a');
    await subscribe(t, 'lapsed', 'https://hooks.example.com/b');
    await t.memberships.change(entry('vip', 'u#f-1', 'enter'));
    await t.memberships.change(entry('lapsed', 'u#f-2', 'enter'));
    await t.memberships.change(entry('lapsed', 'u#f-3', 'enter'));
    const records = await readAllStreamRecords(clients.dynamo, streams, t.names.memberships);
    const sent: string[] = [];
    const notifier = makeNotifierHandler({
      subscriptionsOf: async (segmentId) => (await t.hooks.list(segmentId)).map((hook) => hook.id),
      sendBatches: async (batches) => {
        const bodies = batches.flat();
        if (bodies.some((body) => body.includes('"segment":"lapsed"'))) {
          throw new Error('queue unavailable');
        }
        sent.push(...bodies);
      },
      now: Date.now,
      logger: silentLogger,
    });
    const answer = await notifier({ Records: records } as DynamoDBStreamEvent);
    const lapsedLedger = records.filter((record) =>
      String(record.dynamodb?.Keys?.pk?.S).startsWith('sl#lapsed#'),
    );
    const earliest = lapsedLedger
      .map((record) => record.dynamodb?.SequenceNumber ?? '')
      .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))[0];
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: earliest }] });
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0] ?? '{}')).toMatchObject({ segment: 'vip' });
  });

  it('sends the same delivery ids again when a stream batch is replayed', async () => {
    const t = await setUp();
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    await subscribe(t, 'vip', receiver.url);
    await t.memberships.change(entry('vip', 'u#replay-1', 'enter'));
    const records = await readAllStreamRecords(clients.dynamo, streams, t.names.memberships);
    const notifier = makeNotifierHandler({
      subscriptionsOf: async (segmentId) => (await t.hooks.list(segmentId)).map((hook) => hook.id),
      sendBatches: (batches) => new SqsEventQueue(t.sqs, t.queueUrl).sendBatches(batches),
      now: Date.now,
      logger: silentLogger,
    });
    const event = { Records: records } as DynamoDBStreamEvent;
    await notifier(event);
    await notifier(event);
    const source = t.startDeliverer(1);
    await receiver.waitFor(2);
    await source.idle();
    const ids = receiver.received.map((r) => r.headers['portrait-delivery']);
    expect(ids[0]).toBeDefined();
    expect(ids[0]).toBe(ids[1]);
  });
});
