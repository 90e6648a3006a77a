/**
 * Retention of the event lake where no S3 lifecycle rule runs (the local lake folder): every
 * `events/dt=YYYY-MM-DD/` partition whose day is older than the retention is deleted whole, and
 * every nightly run's files (`analytics/runs/<runId>/`) once the run is older than the run
 * retention. On AWS the bucket's lifecycle rules (`expire-events`, `expire-compacted-events`,
 * `expire-runs`, the same numbers of days) do this instead.
 */

import { NIGHTLY_RUN_RETENTION_DAYS } from '../config/nightly.ts';
import type { LakeStore } from '../domain/analytics/contracts.ts';
import { LAKE_EVENT_PREFIXES } from '../domain/analytics/lake-row.ts';

const RUNS_PREFIX = 'analytics/runs/';

export interface ExpireLakeDeps {
  readonly lake: LakeStore;
  /** Days a partition is kept (`eventRetentionDays` of the environment). */
  readonly retentionDays: number;
  /** Epoch ms of the run. */
  readonly now: number;
  /** Days a nightly run's files are kept. @default NIGHTLY_RUN_RETENTION_DAYS */
  readonly runRetentionDays?: number;
}

export interface ExpireLakeResult {
  /** The oldest day kept (UTC `YYYY-MM-DD`): partitions before it were deleted. */
  readonly keptFrom: string;
  readonly daysDeleted: readonly string[];
  readonly filesDeleted: number;
  /** Nightly runs whose files were deleted. */
  readonly runsDeleted: readonly string[];
}

const DAY_MS = 86_400_000;
const partitionDay = /^events(?:-parquet)?\/dt=(\d{4}-\d{2}-\d{2})\//;
/** A run id starts with its start time (`planRun`): `20261126T020000Z-…`. */
const runStart = /^analytics\/runs\/((\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[^/]*)\//;

/** The run id and start (epoch ms) of a run file's key; `undefined` for other keys. */
function runOfKey(key: string): { runId: string; started: number } | undefined {
  const m = runStart.exec(key);
  if (!m) return undefined;
  const [, runId, y, mo, d, h, mi, se] = m as unknown as string[];
  const started = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  return Number.isNaN(started) ? undefined : { runId: runId as string, started };
}

/**
 * Deletes the lake partitions older than the retention. Partition days are UTC dates of the
 * events' timestamps (`lakeDayOf`); a day is kept while any instant of it is within the
 * retention, so an event leaves the lake at most a day after it left the events table's TTL.
 */
export async function expireLakePartitions(deps: ExpireLakeDeps): Promise<ExpireLakeResult> {
  if (!Number.isInteger(deps.retentionDays) || deps.retentionDays < 1) {
    throw new RangeError(`retentionDays must be a positive integer, got ${deps.retentionDays}`);
  }
  const keptFrom = new Date(deps.now - deps.retentionDays * DAY_MS).toISOString().slice(0, 10);
  const expired: string[] = [];
  const days = new Set<string>();
  for (const prefix of LAKE_EVENT_PREFIXES) {
    for (const key of await deps.lake.list(prefix)) {
      const day = partitionDay.exec(key)?.[1];
      if (day !== undefined && day < keptFrom) {
        expired.push(key);
        days.add(day);
      }
    }
  }
  const runRetentionDays = deps.runRetentionDays ?? NIGHTLY_RUN_RETENTION_DAYS;
  if (!Number.isInteger(runRetentionDays) || runRetentionDays < 1) {
    throw new RangeError(
      `runRetentionDays must be a positive integer, got ${deps.runRetentionDays}`,
    );
  }
  // Runs whose id does not start with a start time (written by hand or by tests) are kept.
  const runs = new Set<string>();
  for (const key of await deps.lake.list(RUNS_PREFIX)) {
    const run = runOfKey(key);
    if (run !== undefined && run.started < deps.now - runRetentionDays * DAY_MS) {
      expired.push(key);
      runs.add(run.runId);
    }
  }
  if (expired.length > 0) await deps.lake.delete(expired);
  return {
    keptFrom,
    daysDeleted: [...days].sort(),
    filesDeleted: expired.length,
    runsDeleted: [...runs].sort(),
  };
}
