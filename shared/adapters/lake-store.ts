import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { LakeStore } from '../domain/analytics/contracts.ts';

/** A lake key that could escape the lake or name no file: empty, absolute, `..`, `.`, `//`. */
export class InvalidLakeKeyError extends Error {
  readonly code = 'invalid_lake_key';
  constructor(key: string) {
    super(`Lake key ${JSON.stringify(key)} must be a relative path of non-empty, non-dot segments`);
    this.name = 'InvalidLakeKeyError';
  }
}

const TEMP_PREFIX = '.tmp-';

function checkKey(key: string): string {
  const segments = key.split('/');
  if (
    key.length === 0 ||
    key.length > 1024 ||
    key.includes('\\') ||
    key.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith(TEMP_PREFIX))
  ) {
    throw new InvalidLakeKeyError(key);
  }
  return key;
}

function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  // A prefix may end in `/` (a folder) or in part of a name (`events/dt=2026-11-`).
  checkKey(prefix.endsWith('/') ? `${prefix}x` : prefix);
  return prefix;
}

/**
 * The lake in a local folder (the local runtime keeps it in `<dataDir>/lake`). A put writes a
 * temporary file beside the target and renames it over the target, so a reader or a crash never
 * sees half a file; temporary files are skipped by `list`.
 */
export class FolderLakeStore implements LakeStore {
  constructor(readonly root: string) {}

  /** The file a key is stored in (DuckDB reads the lake through these paths). */
  pathOf(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = join(dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(temp, body);
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    // Walk only the folder the prefix names, then filter by the prefix's last part.
    const slash = prefix.lastIndexOf('/');
    const folder = slash < 0 ? '' : prefix.slice(0, slash);
    const start = folder === '' ? this.root : join(this.root, ...folder.split('/'));
    const keys: string[] = [];
    await this.walk(start, folder, keys);
    return keys.filter((key) => key.startsWith(prefix)).sort(compareKeys);
  }

  private async walk(path: string, keyPrefix: string, out: string[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const key = keyPrefix === '' ? entry.name : `${keyPrefix}/${entry.name}`;
      if (entry.isDirectory()) await this.walk(`${path}${sep}${entry.name}`, key, out);
      else if (entry.isFile()) out.push(key);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) await rm(this.pathOf(key), { force: true });
  }
}

/** Byte order of UTF-8 keys, as S3 lists them. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The lake in an S3 bucket, under an optional key prefix. S3 puts are atomic per object, so a
 * reader never sees half a file; deletes go in batches of 1,000 (the API's limit).
 */
export class S3LakeStore implements LakeStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    private readonly keyPrefix = '',
  ) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.keyPrefix + checkKey(key),
        Body: body,
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const result = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + checkKey(key) }),
      );
      return result.Body ? await result.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') {
        return undefined;
      }
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.keyPrefix + prefix,
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) keys.push(object.Key.slice(this.keyPrefix.length));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort(compareKeys);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const result = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: {
            Objects: chunk.map((key) => ({ Key: this.keyPrefix + checkKey(key) })),
            Quiet: true,
          },
        }),
      );
      const failed = result.Errors ?? [];
      if (failed.length > 0) {
        throw new Error(
          `S3 refused to delete ${failed.length} lake object(s), e.g. ${failed[0]?.Key}: ${failed[0]?.Code}`,
        );
      }
    }
  }
}
