import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { LakeStore } from '../domain/analytics/contracts.ts';
import {
  checkLakeDay,
  decodeLakeRows,
  dedupeLakeRows,
  encodeLakeRows,
  LAKE_FILE_SUFFIX,
  type LakeRow,
  lakeDayPrefix,
} from '../domain/analytics/lake-row.ts';

export interface CompactLakeDeps {
  readonly lake: LakeStore;
  /**
   * Uncompressed NDJSON bytes per output file; a day is split into files of about this size.
   * @default 128 MiB (Athena reads gzip files whole, one split each)
   */
  readonly targetFileBytes?: number;
}

export interface CompactLakeResult {
  readonly day: string;
  /** Files read (and deleted, unless they were the outputs themselves). */
  readonly inputs: number;
  readonly outputs: readonly string[];
  readonly rowsRead: number;
  /** Rows written: one per distinct (member key, messageId). */
  readonly rows: number;
  /** `true` when the day was already one compacted file and nothing was written. */
  readonly unchanged: boolean;
}

const DEFAULT_TARGET_BYTES = 128 * 1024 * 1024;
const COMPACT_PREFIX = 'compact-';

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

/**
 * Compacts one day of the lake: every file under `events/dt=<day>/` becomes a few files of about
 * `targetFileBytes`, with one row per (member key, messageId), ordered by timestamp. Crash-safe:
 * the outputs, named from a hash of the input keys, are written first and only then the inputs
 * deleted, so a crash leaves at worst duplicate rows (which the SQL and the next compaction drop),
 * never lost ones. Files the archiver writes while this runs are not inputs and are kept.
 */
export async function compactLakeDay(
  deps: CompactLakeDeps,
  day: string,
): Promise<CompactLakeResult> {
  checkLakeDay(day);
  const target = deps.targetFileBytes ?? DEFAULT_TARGET_BYTES;
  const prefix = lakeDayPrefix(day);
  const inputs = (await deps.lake.list(prefix)).filter((key) => key.endsWith(LAKE_FILE_SUFFIX));
  if (inputs.length === 0 || isOneCompaction(prefix, inputs)) {
    return { day, inputs: inputs.length, outputs: [], rowsRead: 0, rows: 0, unchanged: true };
  }

  const read: LakeRow[] = [];
  for (const key of inputs) {
    const body = await deps.lake.get(key);
    if (body === undefined) continue; // deleted since listed (an earlier, concurrent compaction)
    for (const row of decodeLakeRows(gunzipSync(body).toString('utf8'), key)) read.push(row);
  }
  const rows = dedupeLakeRows(read);

  const runHash = createHash('sha256').update(inputs.join('\n')).digest('hex').slice(0, 16);
  const outputs: string[] = [];
  let chunk = '';
  const flush = async () => {
    const key = `${prefix}${COMPACT_PREFIX}${runHash}-${String(outputs.length).padStart(4, '0')}${LAKE_FILE_SUFFIX}`;
    await deps.lake.put(key, gzipSync(chunk));
    outputs.push(key);
    chunk = '';
  };
  for (const row of rows) {
    chunk += encodeLakeRows([row]);
    if (chunk.length >= target) await flush();
  }
  if (chunk.length > 0) await flush();

  const written = new Set(outputs);
  await deps.lake.delete(inputs.filter((key) => !written.has(key)));
  return {
    day,
    inputs: inputs.length,
    outputs,
    rowsRead: read.length,
    rows: rows.length,
    unchanged: false,
  };
}
