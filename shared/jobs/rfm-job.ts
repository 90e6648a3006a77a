import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  duckdbLakeViewsSql,
  duckdbOptions,
  lakeFolderContents,
  withDuckDb,
} from '../adapters/duckdb-lake.ts';
import type { FolderLakeStore } from '../adapters/lake-store.ts';
import type { RfmStepOutput } from '../domain/analytics/contracts.ts';
import {
  LAKE_EVENTS_PREFIX,
  LAKE_FILE_SUFFIX,
  LAKE_PARQUET_PREFIX,
} from '../domain/analytics/lake-row.ts';
import {
  checkRfmSegmentRules,
  type RfmSegmentRule,
  standardRfmSegmentRules,
} from '../domain/analytics/rfm-segments.ts';
import { dateToDay, dayToDate, zoneCalendar } from '../domain/tags/zone-calendar.ts';

/**
 * A repository file a module reads at run time: beside the sources (`from` is the module's
 * `import.meta.url`, `sourceRelative` its path from there), or, in a Lambda bundle, at its
 * repository path beside the bundle (copied there by the declaration's `bundledFiles`).
 */
export function bundledFileUrl(repositoryPath: string, sourceRelative: string, from: string): URL {
  const source = new URL(sourceRelative, from);
  if (existsSync(source)) return source;
  const bundled = new URL(`./${repositoryPath}`, from);
  return existsSync(bundled) ? bundled : source;
}

/** The SQL file both engines run (the text is the same; only the wrapper differs). */
export const rfmSqlFile = bundledFileUrl('shared/sql/rfm.sql', '../sql/rfm.sql', import.meta.url);

/** What the RFM SQL is computed over. */
export interface RfmParameters {
  /** The brand-zone date results are as of, `YYYY-MM-DD` (its whole day is in the window). */
  readonly asOf: string;
  /** Days in the window, ending on and including `asOf`. */
  readonly windowDays: number;
  /** The brand's IANA time zone, whose calendar days are counted. */
  readonly zone: string;
  /**
   * Orders in this currency, or with none, count toward monetary (others count as orders only),
   * as the tag engine's revenue aggregates do.
   * @default 'CNY'
   */
  readonly currency?: string;
  /** @default standardRfmSegmentRules */
  readonly segmentRules?: readonly RfmSegmentRule[];
}

export type RfmSqlOptions = RfmParameters &
  (
    | {
        readonly engine: 'athena';
        /** The empty S3 prefix UNLOAD writes to, `s3://bucket/analytics/runs/<runId>/rfm/`. */
        readonly output: string;
      }
    | {
        readonly engine: 'duckdb';
        /** The file COPY writes (plain NDJSON; `runRfmLocal` gzips it). */
        readonly output: string;
      }
  );

/** RFM parameters that cannot be run: bad date, window, zone, currency, run id or output. */
export class InvalidRfmOptionsError extends Error {
  readonly code = 'invalid_rfm_options';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRfmOptionsError';
  }
}

/** Longest window: ten years. */
export const MAX_RFM_WINDOW_DAYS = 3660;

const zonePattern = /^[A-Za-z0-9_+\-/]{1,64}$/;
const currencyPattern = /^[A-Z]{3}$/;
const runIdPattern = /^[A-Za-z0-9_.-]{1,128}$/;

function checkedParameters(p: RfmParameters): Record<string, string> {
  const asOfDay = dateToDay(p.asOf);
  if (asOfDay === undefined) {
    throw new InvalidRfmOptionsError(
      `asOf must be a date YYYY-MM-DD, not ${JSON.stringify(p.asOf)}`,
    );
  }
  if (!Number.isInteger(p.windowDays) || p.windowDays < 1 || p.windowDays > MAX_RFM_WINDOW_DAYS) {
    throw new InvalidRfmOptionsError(
      `windowDays must be a whole number 1–${MAX_RFM_WINDOW_DAYS}, not ${p.windowDays}`,
    );
  }
  if (!zonePattern.test(p.zone)) {
    throw new InvalidRfmOptionsError(
      `zone must be an IANA time zone, not ${JSON.stringify(p.zone)}`,
    );
  }
  try {
    zoneCalendar(p.zone);
  } catch {
    throw new InvalidRfmOptionsError(`zone ${JSON.stringify(p.zone)} is not a known time zone`);
  }
  const currency = p.currency ?? 'CNY';
  if (!currencyPattern.test(currency)) {
    throw new InvalidRfmOptionsError(
      `currency must be an ISO 4217 code, not ${JSON.stringify(currency)}`,
    );
  }
  const rules = checkRfmSegmentRules(p.segmentRules ?? standardRfmSegmentRules);
  const windowStart = asOfDay - p.windowDays + 1;
  return {
    as_of: p.asOf,
    window_start: dayToDate(windowStart),
    // A brand-zone day lies within the UTC days before, of and after it.
    dt_from: dayToDate(windowStart - 1),
    dt_to: dayToDate(asOfDay + 1),
    zone: p.zone,
    currency,
    segment_case: segmentCase(rules),
  };
}

function segmentCase(rules: readonly RfmSegmentRule[]): string {
  const arms = rules.map(
    (rule) =>
      `WHEN r BETWEEN ${rule.r[0]} AND ${rule.r[1]} AND fm BETWEEN ${rule.fm[0]} AND ${rule.fm[1]} THEN '${rule.segment}'`,
  );
  return `CASE ${arms.join(' ')} END`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The RFM query alone (a SELECT), with its parameters checked and substituted. */
export function renderRfmQuery(parameters: RfmParameters): string {
  const values = checkedParameters(parameters);
  const template = readFileSync(rfmSqlFile, 'utf8');
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new InvalidRfmOptionsError(`rfm.sql names no parameter ${name}`);
    return value;
  });
}

/**
 * The statement an engine runs: Athena `UNLOAD (…) TO 's3://…' WITH (format = 'JSON',
 * compression = 'GZIP')`, DuckDB `COPY (…) TO '…' (FORMAT JSON)`; the query inside is the same
 * text from `shared/sql/rfm.sql`. DuckDB writes plain NDJSON because its gzip (zlib's default
 * level, on one thread) took half the query's time at 1M members; `runRfmLocal` compresses the
 * file at gzip's fastest level instead (docs/BENCHMARKS.md).
 */
export function renderRfmSql(options: RfmSqlOptions): string {
  const query = renderRfmQuery(options);
  if (options.engine === 'athena') {
    if (!/^s3:\/\/[a-z0-9.-]{3,63}\/[A-Za-z0-9_.=/-]*\/$/.test(options.output)) {
      throw new InvalidRfmOptionsError(
        `output must be an s3:// folder ending in /, not ${options.output}`,
      );
    }
    return `UNLOAD (\n${query}\n) TO ${quoteLiteral(options.output)} WITH (format = 'JSON', compression = 'GZIP')`;
  }
  return `COPY (\n${query}\n) TO ${quoteLiteral(options.output)} (FORMAT JSON)`;
}

/** Trino's ISO-8601 parser, which DuckDB lacks under that name. */
export const duckdbShimSql =
  'CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)';

export interface RfmLocalDeps {
  /** The local lake: events are read from its folder, the rows written into it. */
  readonly lake: FolderLakeStore;
  /**
   * DuckDB's memory limit (`'1GB'`, `'512MB'`): above it the query spills to a scratch folder.
   * @default DEFAULT_RFM_MEMORY_LIMIT
   */
  readonly memoryLimit?: string;
}

/**
 * The local RFM query's memory limit, where DuckDB's own default is 80 % of the machine. At 10M
 * events and 1M members the query ran in the same time under 1GB as without a limit (it spills
 * sorts and aggregates to the scratch folder), but some plans cannot spill everything and fail
 * below their need, so the default leaves twice that room (docs/BENCHMARKS.md).
 */
export const DEFAULT_RFM_MEMORY_LIMIT = '2GB';

const memoryLimitPattern = /^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/;

export interface RfmRunOptions extends RfmParameters {
  readonly runId: string;
}

/** Where a run's RFM rows go: `analytics/runs/<runId>/rfm/`. */
export function rfmOutputPrefix(runId: string): string {
  if (!runIdPattern.test(runId)) {
    throw new InvalidRfmOptionsError(
      `runId must match ${runIdPattern}, not ${JSON.stringify(runId)}`,
    );
  }
  return `analytics/runs/${runId}/rfm/`;
}

/**
 * Runs the RFM SQL with DuckDB over the local lake folder and writes the rows (gzip NDJSON) to
 * `analytics/runs/<runId>/rfm/part-00000.ndjson.gz`. A rerun of a run id replaces its rows.
 */
export async function runRfmLocal(
  deps: RfmLocalDeps,
  options: RfmRunOptions,
): Promise<RfmStepOutput> {
  const prefix = rfmOutputPrefix(options.runId);
  const contents = lakeFolderContents([
    ...(await deps.lake.list(LAKE_EVENTS_PREFIX)),
    ...(await deps.lake.list(LAKE_PARQUET_PREFIX)),
  ]);
  const memoryLimit = deps.memoryLimit ?? DEFAULT_RFM_MEMORY_LIMIT;
  if (!memoryLimitPattern.test(memoryLimit)) {
    throw new InvalidRfmOptionsError(
      `memoryLimit must be a size such as 1GB or 512MB, not ${JSON.stringify(memoryLimit)}`,
    );
  }
  const scratch = await mkdtemp(join(tmpdir(), 'portrait-rfm-'));
  const output = join(scratch, 'rfm.ndjson');
  const statement = renderRfmSql({ ...options, engine: 'duckdb', output });
  try {
    return await withDuckDb(duckdbOptions(scratch, { memoryLimit }), async (connection) => {
      await connection.run(duckdbShimSql);
      for (const view of duckdbLakeViewsSql(deps.lake.root, contents)) await connection.run(view);
      const result = await connection.runAndReadAll(statement);
      const members = Number(result.getRows()[0]?.[0] ?? 0);
      const key = `${prefix}part-00000${LAKE_FILE_SUFFIX}`;
      const stale = (await deps.lake.list(prefix)).filter((k) => k !== key);
      const compressed = `${output}.gz`;
      await pipeline(
        createReadStream(output),
        createGzip({ level: 1 }),
        createWriteStream(compressed),
      );
      await deps.lake.put(key, new Uint8Array(await readFile(compressed)));
      await deps.lake.delete(stale);
      return {
        runId: options.runId,
        asOf: options.asOf,
        windowDays: options.windowDays,
        rowKeys: [key],
        members,
      };
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// The reader of the step's rows has no DuckDB in it, so the functions that only read rows (the
// write-back) bundle without it; re-exported here for the callers that run the SQL too.
export { InvalidRfmRowError, readRfmRows } from './rfm-rows.ts';
