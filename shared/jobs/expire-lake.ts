/**
 * Retention of the event lake where no S3 lifecycle rule runs (the local lake folder): every
 * `events/dt=YYYY-MM-DD/` partition whose day is older than the retention is deleted whole. On
 * AWS the bucket's lifecycle rule on `events/` (same `eventRetentionDays`) does this instead.
 */
import type { LakeStore } from '../domain/analytics/contracts.ts';
import { LAKE_EVENT_PREFIXES } from '../domain/analytics/lake-row.ts';

export interface ExpireLakeDeps {
  readonly lake: LakeStore;
  /** Days a partition is kept (`eventRetentionDays` of the environment). */
  readonly retentionDays: number;
  /** Epoch ms of the run. */
  readonly now: number;
}

export interface ExpireLakeResult {
  /** The oldest day kept (UTC `YYYY-MM-DD`): partitions before it were deleted. */
  readonly keptFrom: string;
  readonly daysDeleted: readonly string[];
  readonly filesDeleted: number;
}

const DAY_MS = 86_400_000;
const partitionDay = /^events(?:-parquet)?\/dt=(\d{4}-\d{2}-\d{2})\//;

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
  if (expired.length > 0) await deps.lake.delete(expired);
  return { keptFrom, daysDeleted: [...days].sort(), filesDeleted: expired.length };
}
