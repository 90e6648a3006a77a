/** Gzip NDJSON and JSON files of a nightly run in the lake store, under `analytics/runs/<runId>/`. */
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip, gunzipSync, gzipSync } from 'node:zlib';
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

/**
 * Writes the lines as gzip NDJSON. Lines are serialised in batches and compressed as they come,
 * on libuv's thread pool, so compression runs on the second core beside the serialising, and no
 * single string of the whole file is ever built (at 1M members it would be ~300 MB).
 */
export async function putNdjson(
  lake: LakeStore,
  key: string,
  lines: Iterable<unknown>,
): Promise<void> {
  const gzip = createGzip(RUN_FILE_GZIP);
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = once(gzip, 'end');
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const text = `${batch.join('\n')}\n`;
    batch = [];
    if (!gzip.write(text)) await once(gzip, 'drain');
  };
  for (const line of lines) {
    batch.push(JSON.stringify(line));
    if (batch.length === LINES_PER_BATCH) await flush();
  }
  await flush();
  gzip.end();
  await ended;
  await lake.put(key, Buffer.concat(chunks));
}

const LINES_PER_BATCH = 10_000;

/**
 * Calls `onLine` with each non-empty line of a gzip text body and its 1-based number, in order.
 * Decompression runs on libuv's thread pool while lines are handled, and the text is decoded a
 * chunk at a time rather than as one string of the whole file.
 */
export async function forEachGzipLine(
  body: Uint8Array,
  onLine: (line: string, number: number) => void,
): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let number = 0;
  const take = (text: string, last: boolean) => {
    const lines = (rest + text).split('\n');
    rest = last ? '' : (lines.pop() as string);
    for (const line of lines) {
      number += 1;
      if (line.trim() !== '') onLine(line, number);
    }
  };
  for await (const chunk of Readable.from([body]).pipe(createGunzip())) {
    take(decoder.write(chunk as Buffer), false);
  }
  take(decoder.end(), true);
}

/** The lines of a gzip NDJSON file, `undefined` when it is not in the lake. */
export async function getNdjson<T>(lake: LakeStore, key: string): Promise<T[] | undefined> {
  const body = await lake.get(key);
  if (!body) return undefined;
  const out: T[] = [];
  await forEachGzipLine(body, (line) => {
    out.push(JSON.parse(line) as T);
  });
  return out;
}
