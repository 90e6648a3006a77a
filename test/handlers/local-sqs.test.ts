import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  type Message,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableQueue, queueLogPath } from '../../infra/local/queue/durable-queue.ts';
import {
  type LocalSqs,
  type LocalSqsOptions,
  startLocalSqs,
} from '../../infra/local/queue/sqs-server.ts';

const serverScript = fileURLToPath(new URL('./local-sqs-process.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portrait-sqs-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const workQueues: LocalSqsOptions['queues'] = [
  {
    name: 'work',
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 2,
    deadLetterQueueName: 'work-dlq',
  },
  { name: 'work-dlq', visibilityTimeoutSeconds: 1 },
];

function clientFor(endpoint: string): SQSClient {
  const client = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  cleanups.push(async () => client.destroy());
  return client;
}

async function start(
  dir: string,
  extra: Partial<LocalSqsOptions> = {},
): Promise<{ server: LocalSqs; client: SQSClient; work: string; dlq: string }> {
  const server = await startLocalSqs({ dir, queues: workQueues, ...extra });
  let stopped = false;
  const stop = server.stop.bind(server);
  cleanups.push(async () => {
    if (!stopped) await stop();
  });
  const tracked: LocalSqs = {
    ...server,
    stop: async () => {
      stopped = true;
      await stop();
    },
  };
  return {
    server: tracked,
    client: clientFor(server.endpoint),
    work: server.queueUrl('work'),
    dlq: server.queueUrl('work-dlq'),
  };
}

async function receiveAll(
  client: SQSClient,
  queueUrl: string,
  visibilityTimeout = 30,
): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: visibilityTimeout,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) return all;
    all.push(...Messages);
  }
}

async function counts(client: SQSClient, queueUrl: string): Promise<Record<string, string>> {
  const { Attributes = {} } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
  );
  return Attributes;
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

describe('local SQS server', () => {
  it('round-trips a message through SendMessage, ReceiveMessage and DeleteMessage', async () => {
    const { client, work } = await start(await tempDir());
    const body = JSON.stringify({ event: 'Order Completed', member: '会员-42' });

    const sent = await client.send(
      new SendMessageCommand({
        QueueUrl: work,
        MessageBody: body,
        MessageAttributes: { source: { DataType: 'String', StringValue: 'pos' } },
      }),
    );
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: work,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );

    expect(sent.MD5OfMessageBody).toBe(md5(body));
    expect(Messages).toHaveLength(1);
    const [message] = Messages;
    expect(message?.MessageId).toBe(sent.MessageId);
    expect(message?.Body).toBe(body);
    expect(message?.MD5OfBody).toBe(md5(body));
    expect(message?.MD5OfMessageAttributes).toBe(sent.MD5OfMessageAttributes);
    expect(message?.MessageAttributes?.source?.StringValue).toBe('pos');
    expect(message?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(Number(message?.Attributes?.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(Number(message?.Attributes?.ApproximateFirstReceiveTimestamp)).toBeGreaterThan(0);
    expect((await counts(client, work)).ApproximateNumberOfMessagesNotVisible).toBe('1');

    await client.send(
      new DeleteMessageCommand({ QueueUrl: work, ReceiptHandle: message?.ReceiptHandle }),
    );

    const after = await counts(client, work);
    expect(after.ApproximateNumberOfMessages).toBe('0');
    expect(after.ApproximateNumberOfMessagesNotVisible).toBe('0');
    expect(after.RedrivePolicy).toContain('work-dlq');
  });

  it('answers queue lookups and reports unknown queues as QueueDoesNotExist', async () => {
    const { client, server } = await start(await tempDir());

    const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: 'work-dlq' }));
    const { QueueUrls } = await client.send(new ListQueuesCommand({ QueueNamePrefix: 'work' }));
    const missing = await client
      .send(
        new SendMessageCommand({
          QueueUrl: `${server.endpoint}/000000000000/nope`,
          MessageBody: 'x',
        }),
      )
      .catch((error: unknown) => error);
    const missingName = await client
      .send(new GetQueueUrlCommand({ QueueName: 'nope' }))
      .catch((error: unknown) => error);

    expect(QueueUrl).toBe(server.queueUrl('work-dlq'));
    expect(QueueUrls).toEqual([server.queueUrl('work'), server.queueUrl('work-dlq')]);
    expect((missing as Error).name).toBe('QueueDoesNotExist');
    expect((missingName as Error).name).toBe('QueueDoesNotExist');
  });

  it('reports per-entry failures in batches and rejects malformed batches whole', async () => {
    const { client, work } = await start(await tempDir(), {
      maxMessageBytes: 1000,
      maxBatchBytes: 5000,
    });

    const batch = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: work,
        Entries: [
          { Id: 'ok', MessageBody: 'fine' },
          { Id: 'big', MessageBody: 'x'.repeat(1001) },
          { Id: 'bad', MessageBody: 'nul \u0000 inside' },
          { Id: 'also-ok', MessageBody: '好' },
        ],
      }),
    );
    const tooMany = await client
      .send(
        new SendMessageBatchCommand({
          QueueUrl: work,
          Entries: Array.from({ length: 11 }, (_, index) => ({
            Id: `m${index}`,
            MessageBody: 'x',
          })),
        }),
      )
      .catch((error: unknown) => error);
    const repeated = await client
      .send(
        new SendMessageBatchCommand({
          QueueUrl: work,
          Entries: [
            { Id: 'same', MessageBody: 'a' },
            { Id: 'same', MessageBody: 'b' },
          ],
        }),
      )
      .catch((error: unknown) => error);
    const tooLong = await client
      .send(
        new SendMessageBatchCommand({
          QueueUrl: work,
          Entries: Array.from({ length: 6 }, (_, index) => ({
            Id: `m${index}`,
            MessageBody: 'x'.repeat(900),
          })),
        }),
      )
      .catch((error: unknown) => error);
    const [received] = await receiveAll(client, work);
    const deleted = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: work,
        Entries: [
          { Id: 'good', ReceiptHandle: received?.ReceiptHandle },
          { Id: 'forged', ReceiptHandle: 'not-a-receipt-handle' },
        ],
      }),
    );

    expect(batch.Successful?.map((entry) => entry.Id).sort()).toEqual(['also-ok', 'ok']);
    expect(batch.Failed?.map((entry) => [entry.Id, entry.Code, entry.SenderFault]).sort()).toEqual([
      ['bad', 'InvalidMessageContents', true],
      ['big', 'InvalidParameterValue', true],
    ]);
    expect((tooMany as Error).name).toBe('TooManyEntriesInBatchRequest');
    expect((repeated as Error).name).toBe('BatchEntryIdsNotDistinct');
    expect((tooLong as Error).name).toBe('BatchRequestTooLong');
    expect(deleted.Successful?.map((entry) => entry.Id)).toEqual(['good']);
    expect(deleted.Failed?.map((entry) => [entry.Id, entry.Code])).toEqual([
      ['forged', 'ReceiptHandleIsInvalid'],
    ]);
  });

  it('makes an unacknowledged message visible again after the visibility timeout, counted twice', async () => {
    const { client, work } = await start(await tempDir());
    await client.send(new SendMessageCommand({ QueueUrl: work, MessageBody: 'retry me' }));

    const first = await client.send(
      new ReceiveMessageCommand({ QueueUrl: work, MessageSystemAttributeNames: ['All'] }),
    );
    const hidden = await client.send(new ReceiveMessageCommand({ QueueUrl: work }));
    const again = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: work,
        WaitTimeSeconds: 3,
        MessageSystemAttributeNames: ['All'],
      }),
    );

    expect(first.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(hidden.Messages ?? []).toHaveLength(0);
    expect(again.Messages?.[0]?.MessageId).toBe(first.Messages?.[0]?.MessageId);
    expect(again.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(again.Messages?.[0]?.ReceiptHandle).not.toBe(first.Messages?.[0]?.ReceiptHandle);
  });

  it('changes visibility of an in-flight message and refuses it for a message not in flight', async () => {
    const { client, work } = await start(await tempDir());
    await client.send(new SendMessageCommand({ QueueUrl: work, MessageBody: 'x' }));
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: work, VisibilityTimeout: 30 }),
    );
    const handle = Messages[0]?.ReceiptHandle;

    await client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: work,
        ReceiptHandle: handle,
        VisibilityTimeout: 0,
      }),
    );
    const back = await client.send(
      new ReceiveMessageCommand({ QueueUrl: work, VisibilityTimeout: 0 }),
    );
    const notInFlight = await client
      .send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: work,
          ReceiptHandle: handle,
          VisibilityTimeout: 5,
        }),
      )
      .catch((error: unknown) => error);

    expect(back.Messages?.[0]?.MessageId).toBe(Messages[0]?.MessageId);
    expect((notInFlight as Error).name).toBe('MessageNotInflight');
  });

  it('ends a long poll as soon as a message becomes visible again', async () => {
    const { client, work } = await start(await tempDir());
    await client.send(new SendMessageCommand({ QueueUrl: work, MessageBody: 'x' }));
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: work, VisibilityTimeout: 30 }),
    );
    const started = Date.now();

    const longPoll = client.send(
      new ReceiveMessageCommand({ QueueUrl: work, WaitTimeSeconds: 10 }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: work,
        ReceiptHandle: Messages[0]?.ReceiptHandle,
        VisibilityTimeout: 1,
      }),
    );
    const polled = await longPoll;

    expect(polled.Messages?.[0]?.MessageId).toBe(Messages[0]?.MessageId);
    // Well under the 10 s wait: the poll woke when the message became visible, not at its end.
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('moves a message to the dead-letter queue after maxReceiveCount receives, and a redrive moves it back', async () => {
    const { client, work, dlq } = await start(await tempDir());
    const { MessageId } = await client.send(
      new SendMessageCommand({ QueueUrl: work, MessageBody: 'poison' }),
    );

    const receives: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: work,
          WaitTimeSeconds: 2,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      receives.push(
        ...Messages.map((message) => Number(message.Attributes?.ApproximateReceiveCount)),
      );
    }
    const dead = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: dlq,
        WaitTimeSeconds: 2,
        VisibilityTimeout: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const { TaskHandle } = await client.send(
      new StartMessageMoveTaskCommand({ SourceArn: 'arn:aws:sqs:us-east-1:000000000000:work-dlq' }),
    );
    let status: string | undefined;
    while (status !== 'COMPLETED') {
      const { Results = [] } = await client.send(
        new ListMessageMoveTasksCommand({
          SourceArn: 'arn:aws:sqs:us-east-1:000000000000:work-dlq',
        }),
      );
      status = Results[0]?.Status;
      expect(status).not.toBe('FAILED');
    }
    const redriven = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: work,
        WaitTimeSeconds: 2,
        MessageSystemAttributeNames: ['All'],
      }),
    );

    expect(receives).toEqual([1, 2]);
    expect(dead.Messages?.[0]?.MessageId).toBe(MessageId);
    expect(dead.Messages?.[0]?.Body).toBe('poison');
    expect(dead.Messages?.[0]?.Attributes?.DeadLetterQueueSourceArn).toBe(
      'arn:aws:sqs:us-east-1:000000000000:work',
    );
    expect(TaskHandle).toBeTruthy();
    expect(redriven.Messages?.[0]?.MessageId).toBe(MessageId);
    expect(redriven.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect((await counts(client, dlq)).ApproximateNumberOfMessages).toBe('0');
  });

  it('purges a queue', async () => {
    const { client, work } = await start(await tempDir());
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: work,
        Entries: Array.from({ length: 5 }, (_, index) => ({
          Id: `m${index}`,
          MessageBody: `m${index}`,
        })),
      }),
    );

    await client.send(new PurgeQueueCommand({ QueueUrl: work }));

    expect(await receiveAll(client, work)).toHaveLength(0);
  });

  it('keeps acknowledged messages, receive counts and deletions across a restart', async () => {
    const dir = await tempDir();
    const first = await start(dir);
    const sentIds: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const { Successful = [] } = await first.client.send(
        new SendMessageBatchCommand({
          QueueUrl: first.work,
          Entries: Array.from({ length: 10 }, (_, index) => ({
            Id: `m${index}`,
            MessageBody: `message ${batch}-${index}`,
          })),
        }),
      );
      sentIds.push(...Successful.map((entry) => entry.MessageId ?? ''));
    }
    const { Messages = [] } = await first.client.send(
      new ReceiveMessageCommand({
        QueueUrl: first.work,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
      }),
    );
    const [deleted, ...keptInFlight] = Messages;
    await first.client.send(
      new DeleteMessageCommand({ QueueUrl: first.work, ReceiptHandle: deleted?.ReceiptHandle }),
    );
    await first.server.stop();

    const second = await start(dir);
    const after = await receiveAll(second.client, second.work);

    expect(after.map((message) => message.MessageId).sort()).toEqual(
      sentIds.filter((id) => id !== deleted?.MessageId).sort(),
    );
    for (const message of after) expect(message.MD5OfBody).toBe(md5(message.Body ?? ''));
    const counted = new Map(
      after.map((message) => [message.MessageId, message.Attributes?.ApproximateReceiveCount]),
    );
    for (const message of keptInFlight) expect(counted.get(message.MessageId)).toBe('2');
  });

  it('ignores a torn last record and keeps appending after it', async () => {
    const dir = await tempDir();
    const options = { dir, name: 'torn', visibilityTimeoutSeconds: 30 };
    const queue = await DurableQueue.open(options);
    const sent = [];
    for (let index = 0; index < 3; index++) sent.push(await queue.send(`body ${index}`));
    await queue.close();
    const path = queueLogPath(dir, 'torn');
    const goodSize = (await stat(path)).size;
    // What a kill -9 in the middle of a write leaves: a length prefix and half a payload.
    const torn = Buffer.alloc(40, 7);
    torn.writeUInt32LE(5000, 0);
    await appendFile(path, torn);

    const reopened = await DurableQueue.open(options);
    const sizeAfterOpen = (await stat(path)).size;
    await reopened.send('body 3');
    await reopened.close();
    const third = await DurableQueue.open(options);
    cleanups.push(() => third.close());
    const received = await third.receive({ maxMessages: 10 });

    expect(sizeAfterOpen).toBe(goodSize);
    expect(received.map((message) => message.body).sort()).toEqual([
      'body 0',
      'body 1',
      'body 2',
      'body 3',
    ]);
    expect(received.map((message) => message.messageId)).toEqual(
      expect.arrayContaining(sent.map((message) => message.messageId)),
    );
  });

  it('compacts a mostly deleted log and keeps every undeleted message, also those sent meanwhile', async () => {
    const dir = await tempDir();
    const options = {
      dir,
      name: 'compact',
      visibilityTimeoutSeconds: 30,
      compactMinBytes: 1024 * 1024,
    };
    const queue = await DurableQueue.open(options);
    const bodies = Array.from({ length: 400 }, (_, index) => `${index}:${'é'.repeat(2000)}`);
    await Promise.all(bodies.map((body) => queue.send(body)));
    const all = [];
    for (;;) {
      const batch = await queue.receive({ maxMessages: 10, visibilityTimeoutSeconds: 60 });
      if (batch.length === 0) break;
      all.push(...batch);
    }
    const before = queue.storageStats();
    const deletions = all
      .filter((message) => Number(message.body.split(':')[0]) % 10 !== 0)
      .map((message) => queue.delete(message.receiptHandle));
    const compaction = queue.compact();
    const latecomers = Array.from({ length: 20 }, (_, index) => queue.send(`late ${index}`));
    await Promise.all([...deletions, compaction, ...latecomers]);
    await queue.compact();
    const after = queue.storageStats();
    await queue.close();

    const reopened = await DurableQueue.open(options);
    cleanups.push(() => reopened.close());
    const survivors: string[] = [];
    for (;;) {
      const batch = await reopened.receive({ maxMessages: 10 });
      if (batch.length === 0) break;
      survivors.push(...batch.map((message) => message.body));
    }

    expect(before.logBytes).toBeGreaterThan(1024 * 1024);
    expect(after.logBytes).toBeLessThan(before.logBytes / 4);
    expect(after.messages).toBe(60);
    expect(survivors.sort()).toEqual(
      [
        ...bodies.filter((_, index) => index % 10 === 0),
        ...Array.from({ length: 20 }, (_, index) => `late ${index}`),
      ].sort(),
    );
  });

  it('loses no acknowledged message and revives no acknowledged deletion when killed with SIGKILL under load', async () => {
    const dir = await tempDir();
    const child = spawn(process.execPath, ['--import', 'tsx', serverScript, dir, 'load'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const endpoint = await readEndpoint(child);
    const client = clientFor(endpoint);
    const queueUrl = `${endpoint}/000000000000/load`;
    const acknowledged = new Map<string, string>();
    const deletedIds = new Set<string>();
    let running = true;
    let sequence = 0;
    const payload = 'p'.repeat(20_000);

    const sender = async () => {
      while (running) {
        const entries = Array.from({ length: 10 }, (_, index) => ({
          Id: `e${index}`,
          MessageBody: `${sequence++}:${payload}`,
        }));
        try {
          const { Successful = [] } = await client.send(
            new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
          );
          for (const entry of Successful) {
            const body = entries.find((candidate) => candidate.Id === entry.Id)?.MessageBody ?? '';
            acknowledged.set(entry.MessageId ?? '', md5(body));
          }
        } catch {
          return;
        }
      }
    };
    const consumer = async () => {
      while (running) {
        try {
          const { Messages = [] } = await client.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 1,
            }),
          );
          for (const message of Messages.slice(0, 5)) {
            await client.send(
              new DeleteMessageCommand({
                QueueUrl: queueUrl,
                ReceiptHandle: message.ReceiptHandle,
              }),
            );
            deletedIds.add(message.MessageId ?? '');
          }
        } catch {
          return;
        }
      }
    };
    const workers = [...Array.from({ length: 16 }, sender), ...Array.from({ length: 2 }, consumer)];
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    running = false;
    await Promise.all(workers);

    const queue = await DurableQueue.open({ dir, name: 'load', visibilityTimeoutSeconds: 30 });
    cleanups.push(() => queue.close());
    const present = new Map<string, string>();
    for (;;) {
      const batch = await queue.receive({ maxMessages: 10 });
      if (batch.length === 0) break;
      for (const message of batch) present.set(message.messageId, message.md5OfBody);
    }

    // Enough acknowledged sends for the check below to mean something, even on a loaded machine.
    expect(acknowledged.size).toBeGreaterThan(50);
    const missing = [...acknowledged.keys()].filter(
      (id) => !deletedIds.has(id) && !present.has(id),
    );
    expect(missing).toEqual([]);
    for (const [id, digest] of acknowledged) {
      if (present.has(id)) expect(present.get(id)).toBe(digest);
    }
    expect([...deletedIds].filter((id) => present.has(id))).toEqual([]);
  });
});

async function readEndpoint(child: ChildProcess): Promise<string> {
  const stdout = child.stdout;
  if (!stdout) throw new Error('child has no stdout');
  const lines = createInterface({ input: stdout });
  for await (const line of lines) {
    const parsed = JSON.parse(line) as { endpoint?: string };
    if (parsed.endpoint) return parsed.endpoint;
  }
  throw new Error('local SQS process exited before listening');
}
