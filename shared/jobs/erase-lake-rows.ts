import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { LakeStore } from '../domain/analytics/contracts.ts';
import { eraseFromNdjson, memberPredicateSql } from '../domain/analytics/lake-erasure.ts';

export interface EraseLakeRowsDeps {
  readonly lake: LakeStore;
  /**
   * Where Parquet files are copied for DuckDB while they are read and rewritten.
   * @default - a new folder under the system's temporary folder, removed afterwards
   */
  readonly scratchDir?: string;
}

export interface LakeErasure {
  /** Rows removed, over every file. */
  readonly rows: number;
  /** Files read. */
  readonly filesScanned: number;
  /** Files rewritten without the member's rows. */
  readonly filesRewritten: number;
  /** Keys of files in no format the eraser reads (neither gzip / plain NDJSON nor Parquet). */
  readonly skipped: readonly string[];
}

type Format = 'ndjson.gz' | 'ndjson' | 'parquet';

/** The format of a lake file by its name: what the archiver, the compactor and the nightly write. */
export function lakeFileFormat(key: string): Format | undefined {
  if (key.endsWith('.parquet')) return 'parquet';
  if (key.endsWith('.gz')) return 'ndjson.gz';
  if (key.endsWith('.ndjson') || key.endsWith('.jsonl') || key.endsWith('.json')) return 'ndjson';
  return undefined;
}

/**
 * Removes every row of the given source keys (`u#…`, `a#…`) from every file of the lake: raw
 * archiver files and compacted days under `events/`, Parquet days, and the nightly outputs under
 * `analytics/` (RFM rows name members by `memberId`). Each file is read whole and decided by
 * scanning it; a file that holds one of the members is rewritten under the same key without
 * those rows (a put replaces a file atomically on S3 and in a folder, so a crash leaves the old
 * or the new file, and a retry finds fewer rows or none). Every other row is kept byte for byte
 * (NDJSON) or value for value (Parquet). A file left with no rows stays as an empty file, so keys
 * that a nightly run handed on (`rowKeys`) still resolve.
 *
 * Cost: it lists and reads the whole lake once per call (the eraser calls it once per sweep).
 * An index from member to files (written by the archiver and the compactor) would bound it.
 */
export async function eraseLakeRows(
  deps: EraseLakeRowsDeps,
  keys: readonly string[],
): Promise<LakeErasure> {
  const wanted = new Set(keys);
  if (wanted.size === 0) return { rows: 0, filesScanned: 0, filesRewritten: 0, skipped: [] };
  const files = await deps.lake.list('');
  const skipped: string[] = [];
  let rows = 0;
  let filesScanned = 0;
  let filesRewritten = 0;
  let parquet: ParquetEraser | undefined;
  try {
    for (const key of files) {
      const format = lakeFileFormat(key);
      if (format === undefined) {
        skipped.push(key);
        continue;
      }
      const body = await deps.lake.get(key);
      if (body === undefined) continue; // deleted meanwhile (a compaction): nothing to erase
      filesScanned += 1;
      let removed: number;
      let replacement: Uint8Array | undefined;
      if (format === 'parquet') {
        parquet ??= await ParquetEraser.open(wanted, deps.scratchDir);
        ({ removed, replacement } = await parquet.erase(body));
      } else {
        const text = Buffer.from(format === 'ndjson.gz' ? gunzipSync(body) : body).toString('utf8');
        const result = eraseFromNdjson(text, wanted, key);
        removed = result.removed;
        if (removed > 0) {
          const bytes = Buffer.from(result.kept, 'utf8');
          replacement = format === 'ndjson.gz' ? gzipSync(bytes) : bytes;
        }
      }
      if (removed > 0 && replacement !== undefined) {
        await deps.lake.put(key, replacement);
        rows += removed;
        filesRewritten += 1;
      }
    }
  } finally {
    await parquet?.close();
  }
  return { rows, filesScanned, filesRewritten, skipped };
}

/** One DuckDB instance and scratch folder for the Parquet files of one erasure. */
class ParquetEraser {
  private files = 0;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly scratch: string,
    private readonly ownsScratch: boolean,
  ) {}

  static async open(keys: ReadonlySet<string>, scratchDir?: string): Promise<ParquetEraser> {
    const scratch = scratchDir ?? (await mkdtemp(join(tmpdir(), 'portrait-lake-erase-')));
    // Loaded only when a Parquet file is met: the native engine is large, and a lake of NDJSON
    // never needs it.
    const { DuckDBInstance: Engine } = await import('@duckdb/node-api');
    const instance = await Engine.create(':memory:');
    const connection = await instance.connect();
    await connection.run('CREATE TEMP TABLE erase_keys (k VARCHAR)');
    for (const key of keys) await connection.run('INSERT INTO erase_keys VALUES ($1)', [key]);
    return new ParquetEraser(instance, connection, scratch, scratchDir === undefined);
  }

  async erase(body: Uint8Array): Promise<{ removed: number; replacement?: Uint8Array }> {
    this.files += 1;
    const input = join(this.scratch, `in-${this.files}.parquet`);
    const output = join(this.scratch, `out-${this.files}.parquet`);
    const literal = (path: string) => `'${path.replaceAll("'", "''")}'`;
    await writeFile(input, body);
    try {
      const source = `read_parquet(${literal(input)})`;
      const described = await this.connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
      const columns = described.getRows().map((row) => String(row[0]));
      const predicate = memberPredicateSql(columns, 'erase_keys');
      if (predicate === 'FALSE') return { removed: 0 };
      const counted = await this.connection.runAndReadAll(
        `SELECT count(*) FROM ${source} WHERE ${predicate}`,
      );
      const removed = Number(counted.getRows()[0]?.[0] ?? 0);
      if (removed === 0) return { removed };
      await this.connection.run(
        `COPY (SELECT * FROM ${source} WHERE NOT ${predicate}) TO ${literal(output)} (FORMAT parquet)`,
      );
      return { removed, replacement: new Uint8Array(await readFile(output)) };
    } finally {
      await rm(input, { force: true });
      await rm(output, { force: true });
    }
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
    if (this.ownsScratch) await rm(this.scratch, { recursive: true, force: true });
  }
}
