/**
 * The event lake and the RFM SQL on real data: UCI Online Retail (one `Order Completed` per
 * invoice) through the archiver handler (stream-shaped batches of 1,000), compaction of every
 * day, then the RFM SQL on DuckDB; and the same events scaled up (each customer copied under
 * new ids) to show how the SQL grows. Prints events/s per stage, files and bytes.
 *
 *   npx tsx bench/lake-rfm.bench.ts [--scale 10]
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type { DynamoDBRecord } from 'aws-lambda';
import type { PortraitEvent } from '../events/envelope.ts';
import { makeArchiverHandler } from '../functions/archiver/archiver.ts';
import {
  duckdbLakeViewsSql,
  lakeFolderContents,
  withDuckDb,
} from '../shared/adapters/duckdb-lake.ts';
import { memberKeyOf } from '../shared/adapters/event-store.ts';
import { FolderLakeStore } from '../shared/adapters/lake-store.ts';
import { decodeLakeRows } from '../shared/domain/analytics/lake-row.ts';
import { compactLakeDay } from '../shared/jobs/compact-lake.ts';
import { runRfmLocal } from '../shared/jobs/rfm-job.ts';
import { silentLogger } from '../shared/logging/logger.ts';
import { type RetailLine, readOnlineRetail } from './online-retail.ts';

const { values } = parseArgs({ options: { scale: { type: 'string', default: '10' } } });
const scale = Number(values.scale);

function ordersOf(lines: readonly RetailLine[], copy: number): PortraitEvent[] {
  const invoices = new Map<string, RetailLine[]>();
  for (const line of lines) {
    if (line.customerId === '' || line.invoiceNo.startsWith('C') || !(Number(line.unitPrice) > 0))
      continue;
    const invoice = invoices.get(line.invoiceNo) ?? [];
    invoice.push(line);
    invoices.set(line.invoiceNo, invoice);
  }
  return [...invoices.entries()].map(([invoiceNo, invoiceLines]) => {
    const first = invoiceLines[0] as RetailLine;
    const timestamp = `${first.invoiceDate.replace(' ', 'T')}.000Z`;
    // Cents are exact for this data set's two-decimal prices after rounding thousandths away.
    const cents = invoiceLines.reduce(
      (sum, line) => sum + line.quantity * Math.round(Number(line.unitPrice) * 1000),
      0,
    );
    return {
      messageId: `c${copy}-${invoiceNo}`,
      type: 'track',
      event: 'Order Completed',
      userId: `c${copy}-${first.customerId}`,
      timestamp,
      receivedAt: timestamp,
      sourceId: 'bench',
      properties: {
        orderId: invoiceNo,
        revenue: (cents / 1000).toFixed(3),
        currency: 'GBP',
        products: invoiceLines.map((line) => ({ sku: line.stockCode, quantity: line.quantity })),
      },
    };
  });
}

let sequence = 10n ** 20n;
function records(events: readonly PortraitEvent[]): DynamoDBRecord[] {
  return events.map((event) => {
    sequence += 100n;
    const keys = { pk: { S: memberKeyOf(event) }, sk: { S: event.messageId } };
    return {
      eventName: 'INSERT',
      dynamodb: {
        Keys: keys,
        NewImage: { ...keys, body: { S: JSON.stringify(event) } },
        SequenceNumber: sequence.toString(),
      },
    };
  });
}

async function folderBytes(lake: FolderLakeStore, prefix: string): Promise<number> {
  let total = 0;
  for (const key of await lake.list(prefix)) total += (await stat(lake.pathOf(key))).size;
  return total;
}

const seconds = (start: number) => (performance.now() - start) / 1000;
const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en')}/s`;

const rfmOptions = (runId: string) => ({
  runId,
  asOf: '2011-12-10',
  windowDays: 400,
  zone: 'Europe/London',
  currency: 'GBP',
});

async function lakeKeys(lake: FolderLakeStore): Promise<string[]> {
  return [...(await lake.list('events/')), ...(await lake.list('events-parquet/'))];
}

async function run(label: string, events: readonly PortraitEvent[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-lake-'));
  const lake = new FolderLakeStore(dir);
  const archiver = makeArchiverHandler({ lake, logger: silentLogger });
  const shaped = records(events);

  let start = performance.now();
  for (let i = 0; i < shaped.length; i += 1000) {
    await archiver({ Records: shaped.slice(i, i + 1000) });
  }
  const archiveSeconds = seconds(start);
  const filesBefore = (await lake.list('events/')).length;

  start = performance.now();
  let parsed = 0;
  for (const key of await lake.list('events/')) {
    const body = await lake.get(key);
    if (body) parsed += decodeLakeRows(gunzipSync(body).toString('utf8'), key).length;
  }
  const nodeReadSeconds = seconds(start);
  const ndjsonScanSeconds = await withDuckDb({}, async (connection) => {
    for (const sql of duckdbLakeViewsSql(dir, { ndjson: true, parquet: false })) {
      await connection.run(sql);
    }
    const begin = performance.now();
    await connection.run('CREATE TEMP TABLE scanned AS SELECT * FROM lake_events_ndjson');
    return seconds(begin);
  });

  // The RFM SQL over the raw archiver files (gzip NDJSON), before compaction.
  start = performance.now();
  await runRfmLocal({ lake }, rfmOptions('bench-ndjson'));
  const rfmNdjsonSeconds = seconds(start);
  const ndjsonBytes = await folderBytes(lake, 'events/');

  start = performance.now();
  const days = [...new Set((await lake.list('events/')).map((key) => key.slice(10, 20)))];
  for (const day of days) await compactLakeDay({ lake }, day);
  const compactSeconds = seconds(start);
  const filesAfter = (await lake.list('events-parquet/')).length;
  const bytes = await folderBytes(lake, 'events-parquet/');

  // Baselines in the same run: reading every raw row in Node, and DuckDB scanning each format.
  const scan = async (view: string) =>
    withDuckDb({}, async (connection) => {
      const views = duckdbLakeViewsSql(dir, lakeFolderContents(await lakeKeys(lake)));
      for (const sql of views) await connection.run(sql);
      const begin = performance.now();
      await connection.run(`CREATE TEMP TABLE scanned AS SELECT * FROM ${view}`);
      return seconds(begin);
    });
  const parquetScanSeconds = await scan('lake_events_parquet');

  start = performance.now();
  const output = await runRfmLocal({ lake }, rfmOptions('bench'));
  const rfmSeconds = seconds(start);

  console.log(`\n${label}: ${events.length.toLocaleString('en')} orders`);
  console.log(
    `  archive   ${archiveSeconds.toFixed(2)} s  ${rate(events.length, archiveSeconds)}  (${filesBefore} files)`,
  );
  console.log(
    `  compact   ${compactSeconds.toFixed(2)} s  ${rate(events.length, compactSeconds)}  (${days.length} days → ${filesAfter} Parquet files, ${(ndjsonBytes / 1e6).toFixed(1)} MB gzip NDJSON → ${(bytes / 1e6).toFixed(1)} MB Parquet)`,
  );
  console.log(
    `  baseline: gunzip + JSON.parse every row in Node ${nodeReadSeconds.toFixed(2)} s (${parsed.toLocaleString('en')} rows); DuckDB materialising every column: NDJSON ${ndjsonScanSeconds.toFixed(2)} s, Parquet ${parquetScanSeconds.toFixed(2)} s`,
  );
  console.log(
    `  RFM SQL   NDJSON ${rfmNdjsonSeconds.toFixed(2)} s, Parquet ${rfmSeconds.toFixed(2)} s  (${output.members.toLocaleString('en')} members, DuckDB)`,
  );
  await rm(dir, { recursive: true, force: true });
}

const lines = readOnlineRetail();
await run('online retail', ordersOf(lines, 0));
if (scale > 1) {
  const scaled: PortraitEvent[] = [];
  for (let copy = 0; copy < scale; copy += 1) scaled.push(...ordersOf(lines, copy));
  await run(`online retail × ${scale}`, scaled);
}
console.log(`\nnode ${process.version}, ${(await import('node:os')).cpus().length} cores`);
