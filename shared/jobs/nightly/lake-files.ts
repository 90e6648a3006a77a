/** Gzip NDJSON and JSON files of a nightly run in the lake store, under `analytics/runs/<runId>/`. */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { LakeStore } from '../../domain/analytics/contracts.ts';

/** The lake prefix of one run's files. */
export function runPrefix(runId: string): string {
  return `analytics/runs/${runId}/`;
}

/** A file a step needs is not in the lake (the step before did not write it). */
export class MissingLakeFileError extends Error {
  readonly code = 'missing_lake_file';
  override readonly name = 'MissingLakeFileError';
}

/**
 * gzip's fastest level: a run's files are read once or twice and replaced the next night, and at
 * 1M members the default level took 2.0 s to compress the members file where this takes 0.6 s,
 * for a file 1.5× as large (29 MB instead of 20 MB).
 */
const RUN_FILE_GZIP = { level: 1 } as const;

export async function putJson(lake: LakeStore, key: string, value: unknown): Promise<void> {
  await lake.put(key, gzipSync(JSON.stringify(value), RUN_FILE_GZIP));
}

export async function getJson<T>(lake: LakeStore, key: string): Promise<T> {
  const body = await lake.get(key);
  if (!body) throw new MissingLakeFileError(`${key} is not in the lake`);
  return JSON.parse(gunzipSync(body).toString('utf8')) as T;
}

export async function putNdjson(
  lake: LakeStore,
  key: string,
  lines: Iterable<unknown>,
): Promise<void> {
  const parts: string[] = [];
  for (const line of lines) parts.push(JSON.stringify(line));
  await lake.put(key, gzipSync(parts.length > 0 ? `${parts.join('\n')}\n` : '', RUN_FILE_GZIP));
}

/** The lines of a gzip NDJSON file, `undefined` when it is not in the lake. */
export async function getNdjson<T>(lake: LakeStore, key: string): Promise<T[] | undefined> {
  const body = await lake.get(key);
  if (!body) return undefined;
  const text = gunzipSync(body).toString('utf8');
  const out: T[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) out.push(JSON.parse(text.slice(start, end)) as T);
    start = end + 1;
  }
  return out;
}
