/**
 * Throughput of the local SQS (durable queue behind the JSON protocol), measured the way the
 * collect and ingest handlers use it: SendMessageBatch of 10 messages from 16 concurrent
 * senders, then ReceiveMessage (10) + DeleteMessageBatch until the queue is empty. The server
 * runs in a process of its own. Two clients are measured: the real `@aws-sdk/client-sqs`
 * (end to end, what handlers get) and raw HTTP with pre-serialised requests (what the server
 * itself sustains; the SDK's JSON serde in JavaScript costs more CPU than the server).
 *
 * Run: `npx tsx bench/local-queue.bench.ts [seconds=10] [senders=16] [receivers=8] [kb=100]`.
 * `BENCH_CLIENTS=raw` measures one client only. With `BENCH_SQS_ENDPOINT` set, it uses a server already running there (with a queue `bench`),
 * e.g. one started under `node --cpu-prof --import tsx test/handlers/local-sqs-process.ts <dir> bench`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';

const seconds = Number(process.argv[2] ?? 10);
const senders = Number(process.argv[3] ?? 16);
const receivers = Number(process.argv[4] ?? 8);
const messageBytes = Number(process.argv[5] ?? 100) * 1024;

const dir = await mkdtemp(join(tmpdir(), 'portrait-queue-bench-'));
let endpoint = process.env.BENCH_SQS_ENDPOINT ?? '';
const server = endpoint
  ? undefined
  : spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('../test/handlers/local-sqs-process.ts', import.meta.url)),
        dir,
        'bench',
      ],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] },
    );
if (server) {
  for await (const line of createInterface({ input: server.stdout })) {
    endpoint = (JSON.parse(line) as { endpoint: string }).endpoint;
    break;
  }
}
const queueUrl = `${endpoint}/000000000000/bench`;

// JSON text like collect's packed events, so escaping costs what it costs in real use.
const template = JSON.stringify({
  events: Array.from({ length: Math.ceil(messageBytes / 60) }, (_, index) => ({
    k: `v${index}`,
    n: index,
  })),
}).slice(0, messageBytes - 24);
const bodyOf = (sender: number, sequence: number) =>
  `${sender}-${sequence}:`.padEnd(24, ' ') + template;

interface Client {
  sendBatch(bodies: string[]): Promise<number>;
  receive(): Promise<string[]>;
  deleteBatch(handles: string[]): Promise<void>;
  close(): void;
}

function sdkClient(): Client {
  const sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  return {
    async sendBatch(bodies) {
      const { Successful = [], Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: bodies.map((MessageBody, index) => ({ Id: `m${index}`, MessageBody })),
        }),
      );
      if (Failed.length > 0) throw new Error(`send failed: ${JSON.stringify(Failed[0])}`);
      return Successful.length;
    },
    async receive() {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      return Messages.map((message) => message.ReceiptHandle ?? '');
    },
    async deleteBatch(handles) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: handles.map((ReceiptHandle, index) => ({ Id: `d${index}`, ReceiptHandle })),
        }),
      );
    },
    close: () => sqs.destroy(),
  };
}

function rawClient(): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const { hostname, port } = new URL(endpoint);
  const call = (action: string, body: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = request(
        {
          agent,
          hostname,
          port,
          method: 'POST',
          path: '/',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': `AmazonSQS.${action}`,
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<
              string,
              unknown
            >;
            if (res.statusCode === 200) resolve(parsed);
            else reject(new Error(`${action}: ${res.statusCode} ${JSON.stringify(parsed)}`));
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return {
    async sendBatch(bodies) {
      const output = await call(
        'SendMessageBatch',
        JSON.stringify({
          QueueUrl: queueUrl,
          Entries: bodies.map((MessageBody, index) => ({ Id: `m${index}`, MessageBody })),
        }),
      );
      return (output.Successful as unknown[]).length;
    },
    async receive() {
      const output = await call(
        'ReceiveMessage',
        JSON.stringify({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      const messages = (output.Messages ?? []) as Array<{ ReceiptHandle: string }>;
      return messages.map((message) => message.ReceiptHandle);
    },
    async deleteBatch(handles) {
      await call(
        'DeleteMessageBatch',
        JSON.stringify({
          QueueUrl: queueUrl,
          Entries: handles.map((ReceiptHandle, index) => ({ Id: `d${index}`, ReceiptHandle })),
        }),
      );
    },
    close: () => agent.destroy(),
  };
}

async function measure(name: string, client: Client): Promise<void> {
  let sent = 0;
  const sendUntil = Date.now() + seconds * 1000;
  const sendStart = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async (_, sender) => {
      while (Date.now() < sendUntil) {
        const bodies = Array.from({ length: 10 }, (_, index) => bodyOf(sender, sent + index));
        const accepted = await client.sendBatch(bodies);
        sent += accepted;
      }
    }),
  );
  const sendSeconds = (performance.now() - sendStart) / 1000;

  let received = 0;
  const receiveStart = performance.now();
  await Promise.all(
    Array.from({ length: receivers }, async () => {
      for (;;) {
        const handles = await client.receive();
        if (handles.length === 0) return;
        await client.deleteBatch(handles);
        received += handles.length;
      }
    }),
  );
  // Every receiver ends with one empty long poll of up to 1 s; do not count it.
  const receiveSeconds = Math.max(0.001, (performance.now() - receiveStart) / 1000 - 1);
  client.close();

  const kb = messageBytes / 1024;
  const rate = (count: number, secs: number) =>
    `${(count / secs).toFixed(0)} messages/s (${((count * messageBytes) / secs / 1024 / 1024).toFixed(0)} MB/s)`;
  console.log(
    `${name} send  SendMessageBatch 10 × ${kb} KB, ${senders} senders: ${sent} in ${sendSeconds.toFixed(1)} s = ${rate(sent, sendSeconds)}`,
  );
  console.log(
    `${name} drain ReceiveMessage 10 + DeleteMessageBatch, ${receivers} receivers: ${received} in ${receiveSeconds.toFixed(1)} s = ${rate(received, receiveSeconds)}`,
  );
}

const modes = (process.env.BENCH_CLIENTS ?? 'sdk,raw').split(',');
if (modes.includes('sdk')) await measure('sdk', sdkClient());
if (modes.includes('raw')) await measure('raw', rawClient());

if (server) {
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
}
await rm(dir, { recursive: true, force: true });
