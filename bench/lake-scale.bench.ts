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
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlLiteral, withDuckDb } from '../shared/adapters/duckdb-lake.ts';
import { FolderLakeStore } from '../shared/adapters/lake-store.ts';
import { lakeColumns, parquetColumnName } from '../shared/domain/analytics/lake-row.ts';
import { compactLakeDay } from '../shared/jobs/compact-lake.ts';
import { runRfmLocal } from '../shared/jobs/rfm-job.ts';

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
const firstDay = '2025-11-26';
const asOf = '2026-11-25';

/**
 * The lake rows of events `from … to-1` (deterministic: every field is a hash of the event number).
 * 40 % orders with 1–4 lines from 5,000 SKUs, 50 % product views, 10 % page views; timestamps
 * spread uniformly over 365 UTC days; each row carries properties and context text like a real one.
 */
function generatedRowsSql(
  from: number,
  to: number,
  members: number,
  names: 'parquet' | 'ndjson',
): string {
  const rows = `
    WITH base AS (
      SELECT
        i,
        hash(i, 1) % ${members} AS member,
        hash(i, 2) % 100 AS roll,
        TIMESTAMP '${firstDay} 00:00:00'
          + to_microseconds(CAST(hash(i, 3) % (365 * 86400000000) AS BIGINT)) AS ts
      FROM range(${from}, ${to}) t (i)
    ),
    shaped AS (
      SELECT
        *,
        roll < 40 AS is_order,
        CASE WHEN roll < 40
          THEN list_transform(range(CAST(1 + hash(i, 4) % 4 AS BIGINT)), j -> {
            'sku': 'sku-' || CAST(hash(i, j, 5) % 5000 AS VARCHAR),
            'category': 'cat-' || CAST(hash(i, j, 5) % 40 AS VARCHAR),
            'price': CAST(CAST(1 + hash(i, j, 6) % 50000 AS DECIMAL(12, 2)) / 100 AS VARCHAR),
            'quantity': CAST(1 + hash(i, j, 7) % 3 AS INTEGER)
          })
          ELSE [] END AS lines,
        strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS iso
      FROM base
    )
    SELECT
      'msg-' || CAST(i AS VARCHAR) AS messageid,
      'u#m' || CAST(member AS VARCHAR) AS memberkey,
      'm' || CAST(member AS VARCHAR) AS userid,
      CAST(NULL AS VARCHAR) AS anonymousid,
      CASE WHEN roll < 90 THEN 'track' ELSE 'page' END AS type,
      CASE WHEN is_order THEN 'Order Completed' WHEN roll < 90 THEN 'Product Viewed' END AS event,
      CASE WHEN is_order THEN 'order_completed' WHEN roll < 90 THEN 'product_viewed' END AS eventkey,
      iso AS "timestamp",
      iso AS receivedat,
      'bench' AS sourceid,
      CASE WHEN is_order THEN 'o-' || CAST(i AS VARCHAR) END AS orderid,
      CASE WHEN is_order
        THEN CAST(CAST(1 + hash(i, 8) % 200000 AS DECIMAL(12, 2)) / 100 AS VARCHAR) END AS revenue,
      CASE WHEN is_order THEN 'CNY' END AS currency,
      CAST(lines AS ${lakeColumns.find((c) => c.name === 'products')?.duckdb}) AS products,
      list_distinct(list_transform(lines, l -> l.sku)) AS skus,
      CASE WHEN is_order
        THEN '{"orderId":"o-' || CAST(i AS VARCHAR) || '","currency":"CNY","store":"s-'
          || CAST(hash(i, 9) % 300 AS VARCHAR) || '"}'
        ELSE '{"sku":"sku-' || CAST(hash(i, 10) % 5000 AS VARCHAR) || '","url":"/p/'
          || CAST(hash(i, 10) % 5000 AS VARCHAR) || '"}' END AS properties,
      CAST(NULL AS VARCHAR) AS traits,
      '{"library":{"name":"analytics-node","version":"3.1.0"},"locale":"zh-CN","ip":"10.'
        || CAST(hash(i, 11) % 256 AS VARCHAR) || '.0.1"}' AS context,
      strftime(ts, '%Y-%m-%d') AS dt
    FROM shaped`;
  // Column order as the lake declares it, then dt; NDJSON keys as the archiver writes them.
  const columns = lakeColumns.map((c) => {
    const name = parquetColumnName(c.name);
    if (names === 'ndjson') return `"${name}" AS "${c.name}"`;
    return c.parquetDuckdb ? `CAST("${name}" AS ${c.parquetDuckdb}) AS "${name}"` : `"${name}"`;
  });
  return `SELECT ${columns.join(', ')}, dt FROM (${rows})`;
}

async function folderSize(path: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files += 1;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

const seconds = (start: number) => (performance.now() - start) / 1000;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const n = (value: number) => value.toLocaleString('en');
const peakRss = () => `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`;

/** Gzip NDJSON files, one per value of `group` (DuckDB's JSON COPY has no PARTITION_BY). */
async function writeNdjsonGroups(
  connection: DuckDBConnection,
  select: string,
  group: string,
  pathOf: (value: string) => string,
): Promise<void> {
  await connection.run(`CREATE OR REPLACE TEMP TABLE grouped AS ${select}`);
  const values = await connection.runAndReadAll(
    `SELECT DISTINCT CAST(${group} AS VARCHAR) FROM grouped`,
  );
  for (const [value] of values.getRows()) {
    const path = pathOf(String(value));
    await mkdir(dirname(path), { recursive: true });
    await connection.run(
      `COPY (SELECT * EXCLUDE (${group}) FROM grouped WHERE CAST(${group} AS VARCHAR) = ${sqlLiteral(String(value))}) ` +
        `TO ${sqlLiteral(path)} (FORMAT json, COMPRESSION gzip)`,
    );
  }
  await connection.run('DROP TABLE grouped');
}

async function writeLake(
  connection: DuckDBConnection,
  dir: string,
  format: 'parquet' | 'ndjson',
  from: number,
  to: number,
): Promise<number> {
  const start = performance.now();
  const target = join(dir, format === 'parquet' ? 'events-parquet' : 'events');
  await mkdir(target, { recursive: true });
  if (format === 'parquet') {
    // PARTITION_BY writes dt=YYYY-MM-DD/ folders; the file names are DuckDB's own.
    await connection.run(
      `COPY (${generatedRowsSql(from, to, memberCount, format)}) TO ${sqlLiteral(target)} ` +
        `(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt), FILENAME_PATTERN 'compact-gen-{i}', OVERWRITE_OR_IGNORE)`,
    );
  } else {
    await writeNdjsonGroups(
      connection,
      generatedRowsSql(from, to, memberCount, format),
      'dt',
      (dt) => join(target, `dt=${dt}`, 'part-gen.ndjson.gz'),
    );
  }
  return seconds(start);
}

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
    const generated = await writeLake(connection, parquetDir, 'parquet', 0, eventCount);
    const size = await folderSize(parquetDir);
    console.log(
      `  generated Parquet lake: ${generated.toFixed(1)} s, ${n(size.files)} files, ${mb(size.bytes)}`,
    );

    console.log(`\nNDJSON (the lake before) beside Parquet, same ${n(ndjsonEvents)} events:`);
    const smallParquet = join(root, 'small-parquet');
    const smallNdjson = join(root, 'small-ndjson');
    await writeLake(connection, smallParquet, 'parquet', 0, ndjsonEvents);
    await writeLake(connection, smallNdjson, 'ndjson', 0, ndjsonEvents);
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
