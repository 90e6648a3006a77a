import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  ndjsonLakeSelect,
  parquetLakeSelect,
  sqlLiteral,
  withSharedDuckDb,
} from '../adapters/duckdb-lake.ts';
import type { LakeStore } from '../domain/analytics/contracts.ts';
import {
  checkLakeDay,
  decodeLakeRows,
  InvalidLakeRowError,
  LAKE_FILE_SUFFIX,
  LAKE_PARQUET_SUFFIX,
  lakeDayPrefix,
  lakeParquetDayPrefix,
} from '../domain/analytics/lake-row.ts';

export interface CompactLakeDeps {
  readonly lake: LakeStore;
  /**
   * About how many bytes each Parquet output holds: a day is split into
   * `ceil(stored bytes of its inputs / targetFileBytes)` files of equal row counts (ZSTD Parquet
   * is no larger than the gzip NDJSON it replaces, so outputs come out at or below this).
   * @default 128 MiB (Athena splits Parquet by row group, so larger files still read in parallel)
   */
  readonly targetFileBytes?: number;
  /** Local folder for a day's inputs and outputs (Lambda: `/tmp`). @default the OS temp folder */
  readonly scratchDir?: string;
}

export interface CompactLakeResult {
  readonly day: string;
  /** Files read (and deleted, unless they were the outputs themselves): raw NDJSON and Parquet. */
  readonly inputs: number;
  readonly outputs: readonly string[];
  readonly rowsRead: number;
  /** Rows written: one per distinct (member key, messageId). */
  readonly rows: number;
  /** `true` when the day was already one compaction's output and nothing was written. */
  readonly unchanged: boolean;
}

const DEFAULT_TARGET_BYTES = 128 * 1024 * 1024;
const COMPACT_PREFIX = 'compact-';
/** Rows per Parquet row group: DuckDB's default, about one Athena split. */
const ROW_GROUP_SIZE = 122_880;

/** Whether the files are all the outputs of one earlier compaction (nothing to do). */
function isOneCompaction(prefix: string, keys: readonly string[]): boolean {
  const runs = new Set<string>();
  for (const key of keys) {
    const name = key.slice(prefix.length);
    if (!name.startsWith(COMPACT_PREFIX)) return false;
    runs.add(name.slice(COMPACT_PREFIX.length, COMPACT_PREFIX.length + 16));
  }
  return runs.size === 1;
}

interface LocalInput {
  readonly key: string;
  readonly path: string;
}

/**
 * Compacts one day of the lake into Parquet: every gzip NDJSON file under `events/dt=<day>/` and
 * every Parquet file under `events-parquet/dt=<day>/` become a few Parquet files under
 * `events-parquet/dt=<day>/`, with one row per (member key, messageId), ordered by (timestamp,
 * member key, messageId). DuckDB does the reading, deduplication and writing on local copies of the
 * files (fetched and stored through the `LakeStore`, so S3 needs no DuckDB extension). Crash-safe:
 * the outputs, named from a hash of the input keys, are written first and only then the inputs
 * deleted, so a crash leaves at worst copies (which the SQL and the next compaction drop), never
 * gaps. Files the archiver writes while this runs are not inputs and are kept.
 */
export async function compactLakeDay(
  deps: CompactLakeDeps,
  day: string,
): Promise<CompactLakeResult> {
  checkLakeDay(day);
  const target = deps.targetFileBytes ?? DEFAULT_TARGET_BYTES;
  const rawPrefix = lakeDayPrefix(day);
  const parquetPrefix = lakeParquetDayPrefix(day);
  const raw = (await deps.lake.list(rawPrefix)).filter((key) => key.endsWith(LAKE_FILE_SUFFIX));
  const compacted = (await deps.lake.list(parquetPrefix)).filter((key) =>
    key.endsWith(LAKE_PARQUET_SUFFIX),
  );
  const inputs = [...raw, ...compacted];
  if (raw.length === 0 && (compacted.length === 0 || isOneCompaction(parquetPrefix, compacted))) {
    return { day, inputs: inputs.length, outputs: [], rowsRead: 0, rows: 0, unchanged: true };
  }

  const scratch = await mkdtemp(join(deps.scratchDir ?? tmpdir(), 'portrait-compact-'));
  try {
    const ndjson: LocalInput[] = [];
    const parquet: LocalInput[] = [];
    let storedBytes = 0;
    for (const [i, key] of inputs.entries()) {
      const body = await deps.lake.get(key);
      if (body === undefined) continue; // deleted since listed (an earlier, concurrent compaction)
      storedBytes += body.byteLength;
      const isRaw = key.endsWith(LAKE_FILE_SUFFIX);
      const path = join(
        scratch,
        `in-${String(i).padStart(6, '0')}${isRaw ? LAKE_FILE_SUFFIX : LAKE_PARQUET_SUFFIX}`,
      );
      await writeFile(path, body);
      (isRaw ? ndjson : parquet).push({ key, path });
    }

    const runHash = createHash('sha256').update(inputs.join('\n')).digest('hex').slice(0, 16);
    const fileCount = Math.max(1, Math.ceil(storedBytes / target));
    const written = await withSharedDuckDb((connection) =>
      writeParquetDay(connection, scratch, ndjson, parquet, fileCount),
    );

    const outputs: string[] = [];
    for (const [i, path] of written.paths.entries()) {
      const key = `${parquetPrefix}${COMPACT_PREFIX}${runHash}-${String(i).padStart(4, '0')}${LAKE_PARQUET_SUFFIX}`;
      await deps.lake.put(key, new Uint8Array(await readFile(path)));
      outputs.push(key);
    }
    const kept = new Set(outputs);
    await deps.lake.delete(inputs.filter((key) => !kept.has(key)));
    return {
      day,
      inputs: inputs.length,
      outputs,
      rowsRead: written.rowsRead,
      rows: written.rows,
      unchanged: false,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

interface WrittenDay {
  readonly paths: readonly string[];
  readonly rowsRead: number;
  readonly rows: number;
}

async function writeParquetDay(
  connection: DuckDBConnection,
  scratch: string,
  ndjson: readonly LocalInput[],
  parquet: readonly LocalInput[],
  fileCount: number,
): Promise<WrittenDay> {
  const parts = [
    ...(ndjson.length > 0
      ? [
          ndjsonLakeSelect(
            ndjson.map((f) => f.path),
            { filename: true },
          ),
        ]
      : []),
    ...(parquet.length > 0
      ? [
          parquetLakeSelect(
            parquet.map((f) => f.path),
            { filename: true },
          ),
        ]
      : []),
  ];
  if (parts.length === 0) return { paths: [], rowsRead: 0, rows: 0 };
  try {
    await connection.run(`CREATE TEMP TABLE read_rows AS ${parts.join(' UNION ALL ')}`);
  } catch (error) {
    // DuckDB names the file but not always the line: find the bad line the way the archiver reads.
    throwFirstBadLine(ndjson);
    throw error;
  }
  const bad = await connection.runAndReadAll(
    `SELECT filename FROM read_rows WHERE messageid IS NULL OR memberkey IS NULL OR "timestamp" IS NULL LIMIT 1`,
  );
  if (bad.getRows().length > 0) {
    const path = String(bad.getRows()[0]?.[0]);
    throwFirstBadLine(ndjson.filter((f) => f.path === path));
    throw new InvalidLakeRowError(parquet.find((f) => f.path === path)?.key ?? path, 0);
  }
  const rowsRead = await count(connection, 'read_rows');
  // Copies of one stored event are identical, so which copy survives does not matter.
  await connection.run(
    `CREATE TEMP TABLE day_rows AS SELECT * EXCLUDE (filename, copy), ` +
      `row_number() OVER (ORDER BY "timestamp", memberkey, messageid) AS ordinal ` +
      `FROM (SELECT *, row_number() OVER (PARTITION BY memberkey, messageid) AS copy FROM read_rows) ` +
      `WHERE copy = 1`,
  );
  const rows = await count(connection, 'day_rows');
  const perFile = Math.max(1, Math.ceil(rows / fileCount));
  const paths: string[] = [];
  for (let from = 0; from < rows; from += perFile) {
    const path = join(
      scratch,
      `out-${String(paths.length).padStart(4, '0')}${LAKE_PARQUET_SUFFIX}`,
    );
    await connection.run(
      `COPY (SELECT * EXCLUDE (ordinal) FROM day_rows WHERE ordinal > ${from} AND ordinal <= ${from + perFile} ORDER BY ordinal) ` +
        `TO ${sqlLiteral(path)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_SIZE})`,
    );
    paths.push(path);
  }
  return { paths, rowsRead, rows };
}

async function count(connection: DuckDBConnection, table: string): Promise<number> {
  const result = await connection.runAndReadAll(`SELECT count(*) FROM ${table}`);
  return Number(result.getRows()[0]?.[0] ?? 0);
}

/** Throws the {@link InvalidLakeRowError} of the first line of these NDJSON files that is not a row. */
function throwFirstBadLine(files: readonly LocalInput[]): void {
  for (const file of files) {
    decodeLakeRows(gunzipSync(readFileSync(file.path)).toString('utf8'), file.key);
  }
}
