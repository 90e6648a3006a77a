/** Reading a lake back in tests: every row of every event file, as the files hold them. */
import { gunzipSync } from 'node:zlib';
import type { LakeStore } from '../../shared/domain/analytics/contracts.ts';
import {
  decodeLakeRows,
  LAKE_EVENTS_PREFIX,
  LAKE_FILE_SUFFIX,
  type LakeRow,
} from '../../shared/domain/analytics/lake-row.ts';

export interface LakeFileRows {
  readonly key: string;
  readonly rows: LakeRow[];
}

/** Every event file of the lake (or of one prefix) with its rows. */
export async function readLakeFiles(
  lake: LakeStore,
  prefix = LAKE_EVENTS_PREFIX,
): Promise<LakeFileRows[]> {
  const files: LakeFileRows[] = [];
  for (const key of await lake.list(prefix)) {
    if (!key.endsWith(LAKE_FILE_SUFFIX)) continue;
    const body = await lake.get(key);
    if (body === undefined) continue;
    files.push({ key, rows: decodeLakeRows(gunzipSync(body).toString('utf8'), key) });
  }
  return files;
}

/** The UTC days that have event files. */
export async function lakeDays(lake: LakeStore): Promise<string[]> {
  const days = new Set<string>();
  for (const key of await lake.list(LAKE_EVENTS_PREFIX)) {
    const match = /^events\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key);
    if (match?.[1]) days.add(match[1]);
  }
  return [...days].sort();
}
