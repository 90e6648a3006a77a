/**
 * Ingest benchmark: N events (UCI Online Retail invoice lines as `Order Completed` events) posted
 * over HTTP to a fresh local runtime, stored through the queue and ingest. Beside it, in the same
 * run, DynamoDB Local's own write rate for the same items on a fresh emulator: the floor the
 * stand-in allows. Prints figures; asserts nothing.
 *
 *   npm run bench -- --events 1000000 --batch 100 --senders 8
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PortraitEvent } from '../events/envelope.ts';
import { localAwsClientConfig, startDynamoDbLocal } from '../infra/local/dynamodb-local.ts';
import { ensureTables } from '../infra/local/tables.ts';
import { EventStore } from '../shared/adapters/event-store.ts';
import { validateEvent } from '../shared/domain/ingest/validate-event.ts';
import { exited, freePort, spawnRuntime } from '../test/support/child-runtime.ts';
import { type RetailLine, readOnlineRetail } from './online-retail.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '100' },
    senders: { type: 'string', default: '8' },
    'raw-events': { type: 'string' },
    window: { type: 'string', default: '10' },
  },
});
const totalEvents = Number(values.events);
const batchSize = Number(values.batch);
const senders = Number(values.senders);
const rawEvents = Number(values['raw-events'] ?? Math.min(totalEvents, 200_000));
const windowSeconds = Number(values.window);

const lines = readOnlineRetail().filter((l) => l.quantity > 0 && Number(l.unitPrice) > 0);
const newest = Math.max(...lines.slice(-1000).map((l) => Date.parse(`${l.invoiceDate}Z`)));
// Shift the 2010–2011 history so its last day is yesterday: within retention, never in the future.
const shiftMs = Date.now() - 86_400_000 - newest;

function eventAt(i: number): Record<string, unknown> {
  const line = lines[i % lines.length] as RetailLine;
  const cycle = Math.floor(i / lines.length);
  const identity = line.customerId
    ? { userId: `${line.customerId}${cycle ? `-${cycle}` : ''}` }
    : { anonymousId: `guest-${line.invoiceNo}-${cycle}` };
  const price = line.unitPrice;
  return {
    type: 'track',
    messageId: `bench-${i}`,
    ...identity,
    event: 'Order Completed',
    timestamp: new Date(Date.parse(`${line.invoiceDate}Z`) + shiftMs).toISOString(),
    properties: {
      orderId: line.invoiceNo,
      revenue: Math.round(line.quantity * Number(price) * 100) / 100,
      currency: 'GBP',
      store: line.country,
      products: [
        {
          sku: line.stockCode,
          category: line.description.slice(0, 40),
          price: Number(price),
          quantity: line.quantity,
        },
      ],
    },
    context: { library: { name: 'portrait-bench', version: '1' } },
  };
}

interface IngestLog {
  readonly at: number;
  readonly stored: number;
  readonly duplicates: number;
  readonly writeUnits: number;
}

async function pipelineRun(): Promise<{
  seconds: number;
  accepted: number;
  stored: number;
  duplicates: number;
  writeUnits: number;
  windows: number[];
  httpSeconds: number;
}> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portrait-bench-'));
  const port = await freePort();
  const runtime = await spawnRuntime(dataDir, port);
  const key = readFileSync(join(dataDir, 'dev-write-key'), 'utf8').trim();
  const authorization = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
  const logs: IngestLog[] = [];
  let pending = '';
  runtime.child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.includes('"message":"ingest"')) continue;
      const entry = JSON.parse(part) as { stored: number; duplicates: number; writeUnits: number };
      logs.push({
        at: Date.now(),
        stored: entry.stored,
        duplicates: entry.duplicates,
        writeUnits: entry.writeUnits,
      });
    }
  });

  const started = Date.now();
  let nextBatch = 0;
  const batches = Math.ceil(totalEvents / batchSize);
  let accepted = 0;
  const sender = async () => {
    while (nextBatch < batches) {
      const b = nextBatch++;
      const batch = [];
      for (let i = b * batchSize; i < Math.min(totalEvents, (b + 1) * batchSize); i += 1)
        batch.push(eventAt(i));
      for (;;) {
        const response = await fetch(`${runtime.apiUrl}/v1/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
        });
        const text = await response.text();
        if (response.status === 200) {
          accepted += batch.length;
          break;
        }
        if (response.status < 500)
          throw new Error(`batch ${b}: ${response.status} ${text.slice(0, 300)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const progress = setInterval(() => {
    const stored = logs.reduce((n, l) => n + l.stored, 0);
    const s = (Date.now() - started) / 1000;
    process.stderr.write(
      `  ${s.toFixed(0)} s: accepted ${accepted}, stored ${stored} (${(stored / s).toFixed(0)}/s)\n`,
    );
  }, 10_000);
  await Promise.all(Array.from({ length: senders }, sender));
  const httpSeconds = (Date.now() - started) / 1000;
  const storedSoFar = () => logs.reduce((n, l) => n + l.stored, 0);
  // Stop waiting if nothing is stored for a minute (a message in the dead-letter queue, say).
  let last = storedSoFar();
  let lastProgress = Date.now();
  while (storedSoFar() < accepted) {
    await new Promise((r) => setTimeout(r, 200));
    if (storedSoFar() !== last) {
      last = storedSoFar();
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > 60_000) {
      throw new Error(
        `stalled: ${last} of ${accepted} stored and no progress for 60 s; see ${dataDir}`,
      );
    }
  }
  clearInterval(progress);
  const finished = logs.at(-1)?.at ?? Date.now();
  const seconds = (finished - started) / 1000;

  const windows: number[] = [];
  for (let from = started; from < finished; from += windowSeconds * 1000) {
    const n = logs
      .filter((l) => l.at >= from && l.at < from + windowSeconds * 1000)
      .reduce((s, l) => s + l.stored, 0);
    windows.push(n / Math.min(windowSeconds, (finished - from) / 1000));
  }
  runtime.child.kill('SIGINT');
  await exited(runtime.child);
  rmSync(dataDir, { recursive: true, force: true });
  return {
    seconds,
    httpSeconds,
    accepted,
    stored: storedSoFar(),
    duplicates: logs.reduce((n, l) => n + l.duplicates, 0),
    writeUnits: logs.reduce((n, l) => n + l.writeUnits, 0),
    windows,
  };
}

/** The same items written straight into a fresh DynamoDB Local (data on disk, stream on). */
async function rawRun(count: number): Promise<{ seconds: number; writeUnits: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'portrait-bench-raw-'));
  const dynamo = await startDynamoDbLocal({ dbPath: dir });
  const client = new DynamoDBClient(localAwsClientConfig(dynamo.endpoint));
  const tables = await ensureTables(client, 'raw');
  const store = new EventStore(DynamoDBDocumentClient.from(client), tables.events, 400, 32);
  const receivedAt = new Date();
  const events: PortraitEvent[] = [];
  for (let i = 0; i < count; i += 1) {
    const result = validateEvent(eventAt(i), {
      receivedAt,
      sourceId: 'dev',
      maxFutureSkewSeconds: 86_400,
      retentionDays: 400,
      newMessageId: () => crypto.randomUUID(),
    });
    if (result.ok) events.push(result.event);
  }
  const started = Date.now();
  let writeUnits = 0;
  for (let i = 0; i < events.length; i += 1_000) {
    for (const outcome of await store.putAll(events.slice(i, i + 1_000))) {
      if (outcome.status === 'failed') throw outcome.error;
      writeUnits += outcome.writeUnits;
    }
  }
  const seconds = (Date.now() - started) / 1000;
  client.destroy();
  await dynamo.stop();
  rmSync(dir, { recursive: true, force: true });
  return { seconds: seconds, writeUnits: writeUnits / events.length };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

console.log(`Portrait ingest benchmark — ${new Date().toISOString()}`);
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
console.log(
  `data: UCI Online Retail lines with quantity > 0 and price > 0 (${lines.length} lines, cycled), as Order Completed events`,
);
console.log(
  `load: ${totalEvents} events, ${batchSize} per /v1/batch request, ${senders} concurrent senders\n`,
);

console.log(
  `raw: DynamoDB Local alone, ${rawEvents} of the same items, conditional PutItem × 32 in flight ...`,
);
const raw = await rawRun(rawEvents);
const rawRate = rawEvents / raw.seconds;
console.log(
  `  ${rawRate.toFixed(0)} items/s (${raw.seconds.toFixed(1)} s), ${raw.writeUnits.toFixed(2)} write units/item\n`,
);

console.log('pipeline: HTTP → collect → local SQS → ingest → DynamoDB Local ...');
const run = await pipelineRun();
const rate = run.stored / run.seconds;
const quarter = Math.max(1, Math.floor(run.windows.length / 4));
const firstQuarter = median(run.windows.slice(0, quarter));
const lastQuarter = median(run.windows.slice(-quarter));
console.log(
  `  stored ${run.stored} of ${run.accepted} accepted (${run.duplicates} duplicates) in ${run.seconds.toFixed(1)} s`,
);
console.log(
  `  HTTP acceptance finished after ${run.httpSeconds.toFixed(1)} s (${(run.accepted / run.httpSeconds).toFixed(0)} events/s accepted)`,
);
console.log(`  sustained: ${rate.toFixed(0)} events/s stored end to end`);
console.log(
  `  per ${windowSeconds} s window: min ${Math.min(...run.windows).toFixed(0)}, median ${median(run.windows).toFixed(0)}, max ${Math.max(...run.windows).toFixed(0)}; ` +
    `first-quarter median ${firstQuarter.toFixed(0)}, last-quarter median ${lastQuarter.toFixed(0)} → ${lastQuarter >= 0.9 * firstQuarter ? 'holds' : 'does NOT hold'} over the run`,
);
console.log(
  `  write units per event (consumed capacity reported by DynamoDB): ${(run.writeUnits / run.stored).toFixed(2)}`,
);
console.log(
  `\nratio pipeline / raw: ${((100 * rate) / rawRate).toFixed(0)} % (target ≥ 2,000 events/s, or ≥ 70 % of raw)`,
);
