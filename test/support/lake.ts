/** Reading a lake back in tests: every row of every event file (NDJSON and Parquet), as stored. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readParquetLakeRows, withDuckDb } from '../../shared/adapters/duckdb-lake.ts';
import type { LakeStore } from '../../shared/domain/analytics/contracts.ts';
import {
  decodeLakeRows,
  LAKE_EVENT_PREFIXES,
  LAKE_FILE_SUFFIX,
  LAKE_PARQUET_SUFFIX,
  type LakeRow,
} from '../../shared/domain/analytics/lake-row.ts';

export interface LakeFileRows {
  readonly key: string;
  readonly rows: LakeRow[];
}

/** Every event file of the lake (or of the given prefixes) with its rows, raw then compacted. */
export async function readLakeFiles(
  lake: LakeStore,
  prefixes: string | readonly string[] = LAKE_EVENT_PREFIXES,
): Promise<LakeFileRows[]> {
  const files: LakeFileRows[] = [];
  const scratch = await mkdtemp(join(tmpdir(), 'lake-read-'));
  try {
    await withDuckDb({}, async (connection) => {
      for (const prefix of typeof prefixes === 'string' ? [prefixes] : prefixes) {
        for (const key of await lake.list(prefix)) {
          const isRaw = key.endsWith(LAKE_FILE_SUFFIX);
          if (!isRaw && !key.endsWith(LAKE_PARQUET_SUFFIX)) continue;
          const body = await lake.get(key);
          if (body === undefined) continue;
          if (isRaw) {
            files.push({ key, rows: decodeLakeRows(gunzipSync(body).toString('utf8'), key) });
          } else {
            const path = join(scratch, `${files.length}${LAKE_PARQUET_SUFFIX}`);
            await writeFile(path, body);
            files.push({ key, rows: await readParquetLakeRows(connection, path) });
          }
        }
      }
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return files;
}

/** The UTC days that have event files, raw or compacted. */
export async function lakeDays(lake: LakeStore): Promise<string[]> {
  const days = new Set<string>();
  for (const prefix of LAKE_EVENT_PREFIXES) {
    for (const key of await lake.list(prefix)) {
      const match = /^[a-z-]+\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key);
      if (match?.[1]) days.add(match[1]);
    }
  }
  return [...days].sort();
}
