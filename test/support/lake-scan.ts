/**
 * Reading a whole lake back in tests, every file of every format, as row texts: the lines of
 * gzip / plain NDJSON files and, for Parquet, each row read by DuckDB as JSON. Used to prove an
 * erasure left nothing of a member and changed nothing else.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import type { LakeStore } from '../../shared/domain/analytics/contracts.ts';

/** Every file of the lake with its rows as text, in file order. */
export async function lakeSnapshot(lake: LakeStore): Promise<Map<string, string[]>> {
  const snapshot = new Map<string, string[]>();
  const scratch = await mkdtemp(join(tmpdir(), 'lake-scan-'));
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const key of await lake.list('')) {
      const body = await lake.get(key);
      if (body === undefined) continue;
      if (key.endsWith('.parquet')) {
        const path = join(scratch, 'file.parquet');
        await writeFile(path, body);
        const result = await connection.runAndReadAll(`SELECT * FROM read_parquet('${path}')`);
        snapshot.set(
          key,
          result.getRowObjectsJson().map((row) => JSON.stringify(row)),
        );
      } else {
        const text = (key.endsWith('.gz') ? gunzipSync(body) : Buffer.from(body)).toString('utf8');
        snapshot.set(
          key,
          text.split('\n').filter((line) => line !== ''),
        );
      }
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(scratch, { recursive: true, force: true });
  }
  return snapshot;
}

/** Whether a row's text contains any of the ids (ids chosen so none is part of another). */
export const mentionsAny = (row: string, ids: readonly string[]) =>
  ids.some((id) => row.includes(id));

/** Rows that mention any of the ids, over the whole snapshot. */
export function countMentions(snapshot: Map<string, string[]>, ids: readonly string[]): number {
  let count = 0;
  for (const rows of snapshot.values()) count += rows.filter((r) => mentionsAny(r, ids)).length;
  return count;
}

/** The snapshot without the rows that mention any of the ids (what an erasure should leave). */
export function withoutMentions(
  snapshot: Map<string, string[]>,
  ids: readonly string[],
): Map<string, string[]> {
  return new Map(
    [...snapshot].map(([key, rows]) => [key, rows.filter((r) => !mentionsAny(r, ids))]),
  );
}
