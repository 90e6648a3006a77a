import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { type SqsEventHandler, SqsEventSource } from '../../infra/local/queue/sqs-event-source.ts';
import { startLocalSqs } from '../../infra/local/queue/sqs-server.ts';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const queueArn = 'arn:aws:sqs:us-east-1:000000000000:events';

/** A local SQS with `events` (visibility 1 s, two receives, then `events-dlq`) and a client. */
async function setUp() {
  const dir = await mkdtemp(join(tmpdir(), 'portrait-esm-'));
  const server = await startLocalSqs({
    dir,
    queues: [
      {
        name: 'events',
        visibilityTimeoutSeconds: 1,
        maxReceiveCount: 2,
        deadLetterQueueName: 'events-dlq',
      },
      { name: 'events-dlq', visibilityTimeoutSeconds: 1 },
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
  const queueUrl = server.queueUrl('events');
  const send = async (bodies: string[]) => {
    for (let start = 0; start < bodies.length; start += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: bodies.slice(start, start + 10).map((MessageBody, index) => ({
            Id: `m${index}`,
            MessageBody,
            MessageAttributes: { kind: { DataType: 'String', StringValue: 'test' } },
          })),
        }),
      );
    }
  };
  const source = (
    handler: SqsEventHandler,
    overrides: { batchSize?: number; maxConcurrency?: number } = {},
  ) => {
    const eventSource = new SqsEventSource({
      sqs,
      queueUrl,
      queueArn,
      handler,
      batchSize: overrides.batchSize ?? 10,
      maxBatchingWindowSeconds: 0,
      maxConcurrency: overrides.maxConcurrency ?? 2,
      reportBatchItemFailures: true,
      waitTimeSeconds: 1,
    });
    cleanups.push(() => eventSource.stop());
    eventSource.start();
    return eventSource;
  };
  const drainDeadLetters = async (): Promise<Message[]> => {
    const all: Message[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: server.queueUrl('events-dlq'),
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 30,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) return all;
      all.push(...Messages);
    }
  };
  return { send, source, drainDeadLetters };
}

describe('SqsEventSource', () => {
  it('invokes the handler with Lambda-shaped records', async () => {
    const { send, source } = await setUp();
    const events: SQSEvent[] = [];
    await send(['{"hello":"世界"}']);

    const eventSource = source(async (event) => {
      events.push(event);
    });
    await eventSource.idle();

    const record = events[0]?.Records[0];
    expect(record).toMatchObject({
      body: '{"hello":"世界"}',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
      attributes: { ApproximateReceiveCount: '1', SenderId: expect.any(String) },
      messageAttributes: { kind: { dataType: 'String', stringValue: 'test' } },
    });
    expect(record?.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(record?.receiptHandle).toBeTruthy();
    expect(record?.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
    expect(Number(record?.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record?.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThan(0);
  });

  it('deletes only the records a partial batch response does not report as failed', async () => {
    const { send, source, drainDeadLetters } = await setUp();
    const seen = new Map<string, number>();
    await send(Array.from({ length: 10 }, (_, index) => `message ${index}`));

    const eventSource = source(async (event): Promise<SQSBatchResponse> => {
      const failures = [];
      for (const record of event.Records) {
        const times = (seen.get(record.body) ?? 0) + 1;
        seen.set(record.body, times);
        const odd = Number(record.body.split(' ')[1]) % 2 === 1;
        // Odd messages fail the first time only.
        if (odd && times === 1) failures.push({ itemIdentifier: record.messageId });
      }
      return { batchItemFailures: failures };
    });
    await eventSource.idle();

    for (let index = 0; index < 10; index++) {
      expect(seen.get(`message ${index}`), `message ${index}`).toBe(index % 2 === 1 ? 2 : 1);
    }
    expect(await drainDeadLetters()).toHaveLength(0);
  });

  it('redelivers the whole batch when the handler throws', async () => {
    const { send, source } = await setUp();
    const deliveries: Array<{ body: string; receiveCount: string }> = [];
    let calls = 0;
    await send(['a', 'b', 'c']);

    const eventSource = source(
      async (event) => {
        calls++;
        for (const record of event.Records) {
          deliveries.push({
            body: record.body,
            receiveCount: record.attributes.ApproximateReceiveCount,
          });
        }
        if (calls === 1) throw new Error('downstream unavailable');
      },
      { maxConcurrency: 1 },
    );
    await eventSource.idle();

    const firstBatch = deliveries
      .filter((delivery) => delivery.receiveCount === '1')
      .map((d) => d.body);
    const secondBatch = deliveries
      .filter((delivery) => delivery.receiveCount === '2')
      .map((d) => d.body);
    expect(firstBatch.length).toBeGreaterThan(0);
    expect(secondBatch.sort()).toEqual(firstBatch.sort());
    expect(new Set(deliveries.map((delivery) => delivery.body))).toEqual(new Set(['a', 'b', 'c']));
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('sends a poison message to the dead-letter queue after maxReceiveCount without holding back its batch', async () => {
    const { send, source, drainDeadLetters } = await setUp();
    const handled = new Map<string, number>();
    await send(['good 1', 'poison', 'good 2', 'good 3']);

    const eventSource = source(async (event) => ({
      batchItemFailures: event.Records.flatMap((record) => {
        handled.set(record.body, (handled.get(record.body) ?? 0) + 1);
        return record.body === 'poison' ? [{ itemIdentifier: record.messageId }] : [];
      }),
    }));
    await eventSource.idle();
    const dead = await drainDeadLetters();

    expect(Object.fromEntries(handled)).toEqual({
      'good 1': 1,
      'good 2': 1,
      'good 3': 1,
      poison: 2,
    });
    expect(dead.map((message) => message.Body)).toEqual(['poison']);
    expect(dead[0]?.Attributes?.DeadLetterQueueSourceArn).toBe(queueArn);
  });

  it('never has more than maxConcurrency batches in flight, and reaches it under load', async () => {
    const { send, source } = await setUp();
    let inFlight = 0;
    let highest = 0;
    let records = 0;
    await send(Array.from({ length: 60 }, (_, index) => `load ${index}`));

    const eventSource = source(
      async (event) => {
        inFlight++;
        highest = Math.max(highest, inFlight);
        records += event.Records.length;
        await new Promise((resolve) => setTimeout(resolve, 100));
        inFlight--;
      },
      { batchSize: 3, maxConcurrency: 4 },
    );
    await eventSource.idle();

    expect(records).toBe(60);
    expect(highest).toBe(4);
  });

  it('waits for the batches in flight when stopped', async () => {
    const { send, source } = await setUp();
    let finished = 0;
    await send(['slow']);
    let started: () => void = () => {};
    const startedPromise = new Promise<void>((resolve) => {
      started = resolve;
    });

    const eventSource = source(async () => {
      started();
      await new Promise((resolve) => setTimeout(resolve, 300));
      finished++;
    });
    await startedPromise;
    await eventSource.stop();

    expect(finished).toBe(1);
  });
});
