/**
 * DuckDB over the event lake: the SQL that reads the archiver's gzip NDJSON and compaction's
 * Parquet with one column list (`lakeColumns`), the views the RFM SQL reads locally, and reading
 * a Parquet lake file back as rows. The only code that knows how DuckDB reads lake files.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  LAKE_EVENTS_PREFIX,
  LAKE_FILE_SUFFIX,
  LAKE_PARQUET_PREFIX,
  LAKE_PARQUET_SUFFIX,
  type LakeRow,
  lakeColumns,
  parquetColumnName,
} from '../domain/analytics/lake-row.ts';

/** The DuckDB views over the two halves of the lake; the RFM SQL unions them as `lake_events`. */
export const DUCKDB_NDJSON_VIEW = 'lake_events_ndjson';
export const DUCKDB_PARQUET_VIEW = 'lake_events_parquet';

/** A SQL string literal. */
export function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function fileList(files: string | readonly string[]): string {
  return typeof files === 'string' ? sqlLiteral(files) : `[${files.map(sqlLiteral).join(', ')}]`;
}

/** Every lake column under its Parquet (lower-case) name, typed as Parquet stores it. */
function projection(extra: readonly string[]): string {
  const columns = lakeColumns.map(
    (c) =>
      `CAST(${quoteIdentifier(c.name)} AS ${c.parquetDuckdb ?? c.duckdb}) AS ${parquetColumnName(c.name)}`,
  );
  return [...columns, ...extra].join(', ');
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export interface LakeReadOptions {
  /** Read `dt` from the `dt=YYYY-MM-DD` folder names. */
  readonly hive?: boolean;
  /** Add the column `filename` (the file each row came from). */
  readonly filename?: boolean;
}

function extras(options: LakeReadOptions): string[] {
  return [...(options.hive ? ['dt'] : []), ...(options.filename ? ['filename'] : [])];
}

function readerOptions(options: LakeReadOptions): string {
  return (
    (options.hive ? `, hive_partitioning = true, hive_types = {'dt': 'VARCHAR'}` : '') +
    (options.filename ? ', filename = true' : '')
  );
}

/**
 * A SELECT of every lake column from gzip NDJSON files (a list or a glob), typed as Parquet stores
 * them (`revenue` becomes `DECIMAL(38, 6)`), so both halves of the lake read alike.
 */
export function ndjsonLakeSelect(
  files: string | readonly string[],
  options: LakeReadOptions = {},
): string {
  const columns = lakeColumns.map((c) => `${sqlLiteral(c.name)}: ${sqlLiteral(c.duckdb)}`);
  return (
    `SELECT ${projection(extras(options))} FROM read_json(${fileList(files)}, ` +
    `format = 'newline_delimited', columns = {${columns.join(', ')}}${readerOptions(options)})`
  );
}

/** A SELECT of every lake column from Parquet lake files (a list or a glob). */
export function parquetLakeSelect(
  files: string | readonly string[],
  options: LakeReadOptions = {},
): string {
  return `SELECT ${projection(extras(options))} FROM read_parquet(${fileList(files)}${readerOptions(options)})`;
}

function emptyLakeSelect(): string {
  const typed = lakeColumns.map(
    (c) => `CAST(NULL AS ${c.parquetDuckdb ?? c.duckdb}) AS ${parquetColumnName(c.name)}`,
  );
  return `SELECT ${typed.join(', ')}, CAST(NULL AS VARCHAR) AS dt WHERE false`;
}

/** Which halves of a lake folder hold files (a glob over a folder with none is an error). */
export interface LakeFolderContents {
  readonly ndjson: boolean;
  readonly parquet: boolean;
}

/**
 * The views `lake_events_ndjson` (raw days, `events/dt=*\/*.ndjson.gz`) and `lake_events_parquet`
 * (compacted days, `events-parquet/dt=*\/*.parquet`) over a lake folder, each with `dt`: the
 * tables of the same names on Athena.
 */
export function duckdbLakeViewsSql(lakeRoot: string, contents: LakeFolderContents): string[] {
  const ndjson = contents.ndjson
    ? ndjsonLakeSelect(join(lakeRoot, LAKE_EVENTS_PREFIX, 'dt=*', `*${LAKE_FILE_SUFFIX}`), {
        hive: true,
      })
    : emptyLakeSelect();
  const parquet = contents.parquet
    ? parquetLakeSelect(join(lakeRoot, LAKE_PARQUET_PREFIX, 'dt=*', `*${LAKE_PARQUET_SUFFIX}`), {
        hive: true,
      })
    : emptyLakeSelect();
  return [
    `CREATE OR REPLACE VIEW ${DUCKDB_NDJSON_VIEW} AS ${ndjson}`,
    `CREATE OR REPLACE VIEW ${DUCKDB_PARQUET_VIEW} AS ${parquet}`,
  ];
}

/** Which halves of the lake a list of keys has files in. */
export function lakeFolderContents(keys: readonly string[]): LakeFolderContents {
  return {
    ndjson: keys.some((k) => k.startsWith(LAKE_EVENTS_PREFIX) && k.endsWith(LAKE_FILE_SUFFIX)),
    parquet: keys.some((k) => k.startsWith(LAKE_PARQUET_PREFIX) && k.endsWith(LAKE_PARQUET_SUFFIX)),
  };
}

/**
 * Options every embedded DuckDB of the lake gets: spill to a scratch folder, no extensions, and
 * a memory limit when given (DuckDB's own default is 80 % of the machine's memory; above its
 * limit it spills sorts, joins and aggregates to the scratch folder instead of failing).
 */
export function duckdbOptions(
  scratch: string,
  limits: { readonly memoryLimit?: string } = {},
): Record<string, string> {
  return {
    ...(limits.memoryLimit !== undefined ? { memory_limit: limits.memoryLimit } : {}),
    temp_directory: join(scratch, 'duckdb-spill'),
    // Lambda's home is read-only and the lake needs no extension beyond the bundled ones.
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  };
}

let shared: Promise<DuckDBInstance> | undefined;

/**
 * Runs `work` with a new connection (closed afterwards, dropping its temporary tables) to one
 * in-memory DuckDB shared by the process, created on first use like an SDK client: opening a
 * DuckDB costs ~50 ms, which a nightly compaction of hundreds of small days would pay per day.
 */
export async function withSharedDuckDb<T>(
  work: (connection: DuckDBConnection) => Promise<T>,
): Promise<T> {
  shared ??= DuckDBInstance.create(
    ':memory:',
    duckdbOptions(join(tmpdir(), `portrait-duckdb-${process.pid}`)),
  );
  const instance = await shared;
  const connection = await instance.connect();
  try {
    return await work(connection);
  } finally {
    connection.closeSync();
  }
}

/** Runs `work` with a connection to a fresh in-memory DuckDB, closed afterwards. */
export async function withDuckDb<T>(
  options: Record<string, string>,
  work: (connection: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:', options);
  try {
    const connection = await instance.connect();
    try {
      return await work(connection);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** The rows of a Parquet lake file on disk, as `LakeRow`s (camelCase names, `null` for absent). */
export async function readParquetLakeRows(
  connection: DuckDBConnection,
  path: string,
): Promise<LakeRow[]> {
  const names = lakeColumns.map((c) =>
    c.parquetDuckdb === undefined
      ? `${parquetColumnName(c.name)} AS ${quoteIdentifier(c.name)}`
      : // Decimal back to the shortest text the archiver writes ("19.900000" → "19.9").
        `regexp_replace(regexp_replace(CAST(${parquetColumnName(c.name)} AS VARCHAR), '0+$', ''), '\\.$', '') AS ${quoteIdentifier(c.name)}`,
  );
  const result = await connection.runAndReadAll(
    `SELECT ${names.join(', ')} FROM read_parquet(${sqlLiteral(path)})`,
  );
  // The JSON form maps lists to arrays, structs to objects and INTEGER to numbers, as LakeRow has them.
  return result.getRowObjectsJson() as unknown as LakeRow[];
}
