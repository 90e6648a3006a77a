/**
 * The lake at the nightly target's size (issue #5): 1,000,000 members and 10,000,000 events over
 * 365 days — orders (1–4 product lines each) and non-order events — generated straight into the
 * compacted layout (`events-parquet/dt=…/`) by DuckDB, because pushing ten million rows through
 * the archiver handler alone would take about half an hour (~6,500 events/s, docs/BENCHMARKS.md)
 * and measure the archiver, not the lake. Times, in one run:
 *
 * - the RFM SQL (`runRfmLocal`, 365-day window) over the Parquet lake;
 * - compaction of one day (`compactLakeDay`): the day's rows as the archiver leaves them (gzip
 *   NDJSON, ~1,000 rows per file) → Parquet, at the 10M size and at a 10× busier day;
 * - the same RFM SQL over the same events as raw gzip NDJSON (the lake before this change) beside
 *   the Parquet figure, at a size where the NDJSON path finishes (`--ndjson-events`).
 *
 *   npx tsx bench/lake-scale.bench.ts [--events 10000000] [--members 1000000] [--ndjson-events 1000000]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DuckDBConnection } from '@duckdb/node-api';
import { withDuckDb } from '../shared/adapters/duckdb-lake.ts';
import { FolderLakeStore } from '../shared/adapters/lake-store.ts';
import { compactLakeDay } from '../shared/jobs/compact-lake.ts';
import { runRfmLocal } from '../shared/jobs/rfm-job.ts';
import {
  asOf,
  folderSize,
  generatedRowsSql,
  writeGeneratedLake,
  writeNdjsonGroups,
} from './lake-data.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    members: { type: 'string', default: '1000000' },
    'ndjson-events': { type: 'string', default: '1000000' },
    'keep-dir': { type: 'boolean', default: false },
  },
});
const eventCount = Number(values.events);
const memberCount = Number(values.members);
const ndjsonEvents = Number(values['ndjson-events']);

const seconds = (start: number) => (performance.now() - start) / 1000;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const n = (value: number) => value.toLocaleString('en');
const peakRss = () => `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`;

async function timeRfm(dir: string, label: string): Promise<void> {
  const start = performance.now();
  const output = await runRfmLocal(
    { lake: new FolderLakeStore(dir) },
    { runId: label.replace(/[^A-Za-z0-9_.-]/g, '-'), asOf, windowDays: 365, zone: 'Asia/Shanghai' },
  );
  const took = seconds(start);
  console.log(
    `  RFM SQL ${label.padEnd(28)} ${took.toFixed(2)} s  (${n(output.members)} members, peak RSS ${peakRss()})`,
  );
}

/** One day as the archiver leaves it (gzip NDJSON files of ~1,000 rows), then compacted. */
async function timeCompaction(
  connection: DuckDBConnection,
  root: string,
  label: string,
  dayEvents: number,
): Promise<void> {
  const dir = join(root, `compact-${label}`);
  const raw = join(dir, 'events', 'dt=2026-06-01');
  await mkdir(raw, { recursive: true });
  const files = Math.ceil(dayEvents / 1000);
  await writeNdjsonGroups(
    connection,
    `SELECT * EXCLUDE (dt), hash("messageId") % ${files} AS shard FROM (${generatedRowsSql(0, dayEvents, memberCount, 'ndjson')})`,
    'shard',
    (shard) => join(raw, `part-${shard.padStart(6, '0')}.ndjson.gz`),
  );
  const before = await folderSize(raw);
  const lake = new FolderLakeStore(dir);
  const start = performance.now();
  const result = await compactLakeDay({ lake }, '2026-06-01');
  const took = seconds(start);
  const after = await folderSize(join(dir, 'events-parquet'));
  console.log(
    `  compaction ${label.padEnd(24)} ${took.toFixed(2)} s  ${n(result.rows)} rows, ${before.files} NDJSON files ${mb(before.bytes)} → ${result.outputs.length} Parquet file ${mb(after.bytes)}  (${n(Math.round(result.rows / took))} rows/s)`,
  );
}

const root = await mkdtemp(join(tmpdir(), 'bench-lake-scale-'));
console.log(
  `lake at scale: ${n(eventCount)} events, ${n(memberCount)} members, 365 days (${root})`,
);
try {
  await withDuckDb({ temp_directory: join(root, 'spill') }, async (connection) => {
    const parquetDir = join(root, 'parquet');
    const generated = await writeGeneratedLake(
      connection,
      parquetDir,
      'parquet',
      0,
      eventCount,
      memberCount,
    );
    const size = await folderSize(parquetDir);
    console.log(
      `  generated Parquet lake: ${generated.toFixed(1)} s, ${n(size.files)} files, ${mb(size.bytes)}`,
    );

    console.log(`\nNDJSON (the lake before) beside Parquet, same ${n(ndjsonEvents)} events:`);
    const smallParquet = join(root, 'small-parquet');
    const smallNdjson = join(root, 'small-ndjson');
    await writeGeneratedLake(connection, smallParquet, 'parquet', 0, ndjsonEvents, memberCount);
    await writeGeneratedLake(connection, smallNdjson, 'ndjson', 0, ndjsonEvents, memberCount);
    console.log(
      `  sizes: NDJSON ${mb((await folderSize(smallNdjson)).bytes)}, Parquet ${mb((await folderSize(smallParquet)).bytes)}`,
    );
    await timeRfm(smallNdjson, `gzip NDJSON ${n(ndjsonEvents)}`);
    await timeRfm(smallParquet, `Parquet ${n(ndjsonEvents)}`);

    console.log('\ncompaction of one day (archiver files → Parquet):');
    await timeCompaction(
      connection,
      root,
      `${n(Math.round(eventCount / 365))} events`,
      Math.round(eventCount / 365),
    );
    await timeCompaction(
      connection,
      root,
      `${n(Math.round((10 * eventCount) / 365))} events`,
      Math.round((10 * eventCount) / 365),
    );
  });
  console.log(`\nRFM over the whole lake (${n(eventCount)} events):`);
  await timeRfm(join(root, 'parquet'), `Parquet ${n(eventCount)}`);
  console.log(`\nnode ${process.version}, ${(await import('node:os')).cpus().length} cores`);
} finally {
  if (!values['keep-dir']) await rm(root, { recursive: true, force: true });
}
