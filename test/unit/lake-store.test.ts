import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeArchiverHandler } from '../../functions/archiver/archiver.ts';
import {
  FolderLakeStore,
  InvalidLakeKeyError,
  S3LakeStore,
} from '../../shared/adapters/lake-store.ts';
import type { LakeStore } from '../../shared/domain/analytics/contracts.ts';
import { compactLakeDay } from '../../shared/jobs/compact-lake.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { readLakeFiles } from '../support/lake.ts';
import { type LocalS3, startLocalS3 } from '../support/local-s3.ts';
import { insertRecord, stream } from '../support/tagger-stream.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (body: Uint8Array | undefined) =>
  body === undefined ? undefined : new TextDecoder().decode(body);

let folder: string;
let localS3: LocalS3;
let s3: S3Client;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'lake-store-'));
  // fauxqs is an in-memory S3 API: the S3 store is tested against it, not against a mock.
  localS3 = await startLocalS3('lake-test');
  s3 = localS3.s3;
});
afterAll(async () => {
  await localS3?.stop();
  await rm(folder, { recursive: true, force: true });
});

const stores: [string, () => LakeStore][] = [
  ['FolderLakeStore', () => new FolderLakeStore(folder)],
  ['S3LakeStore', () => new S3LakeStore(s3, 'lake-test', 'portrait/')],
];

describe.each(stores)('%s', (_name, make) => {
  it('puts, gets, overwrites, lists by prefix in key order and deletes', async () => {
    const store = make();
    expect(await store.get('events/dt=2026-11-25/a.ndjson.gz')).toBeUndefined();
    await store.put('events/dt=2026-11-25/b.ndjson.gz', bytes('b1'));
    await store.put('events/dt=2026-11-25/a.ndjson.gz', bytes('a'));
    await store.put('events/dt=2026-11-26/c.ndjson.gz', bytes('c'));
    await store.put('analytics/runs/r/rfm/part.ndjson.gz', bytes('r'));
    await store.put('events/dt=2026-11-25/b.ndjson.gz', bytes('b2'));
    expect(text(await store.get('events/dt=2026-11-25/b.ndjson.gz'))).toBe('b2');
    expect(await store.list('events/dt=2026-11-25/')).toEqual([
      'events/dt=2026-11-25/a.ndjson.gz',
      'events/dt=2026-11-25/b.ndjson.gz',
    ]);
    expect(await store.list('events/dt=2026-11-2')).toEqual([
      'events/dt=2026-11-25/a.ndjson.gz',
      'events/dt=2026-11-25/b.ndjson.gz',
      'events/dt=2026-11-26/c.ndjson.gz',
    ]);
    expect(await store.list('nothing/')).toEqual([]);
    await store.delete(['events/dt=2026-11-25/a.ndjson.gz', 'events/dt=2026-11-25/missing']);
    expect(await store.list('events/dt=2026-11-25/')).toEqual(['events/dt=2026-11-25/b.ndjson.gz']);
  });

  it('refuses keys that could escape the lake, with a stable code', async () => {
    const store = make();
    for (const key of ['', '/abs', 'a/../b', 'a//b', './a', 'a\\b', 'a/.tmp-x']) {
      await expect(store.put(key, bytes('x'))).rejects.toMatchObject({
        code: 'invalid_lake_key',
      });
    }
    await expect(store.list('../')).rejects.toBeInstanceOf(InvalidLakeKeyError);
  });
});

describe('FolderLakeStore', () => {
  it('leaves no temporary file behind and never lists one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lake-atomic-'));
    const store = new FolderLakeStore(root);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.put('events/dt=2026-01-01/x', bytes(`v${i}`))),
    );
    expect(await readdir(join(root, 'events', 'dt=2026-01-01'))).toEqual(['x']);
    expect(text(await store.get('events/dt=2026-01-01/x'))).toMatch(/^v\d+$/);
    await rm(root, { recursive: true, force: true });
  });
});

describe('the archiver and compaction on the S3 store', () => {
  it('archives, replays and compacts through the S3 API to one row per event', async () => {
    const lake = new S3LakeStore(s3, 'lake-test', 'pipeline/');
    const events = Array.from({ length: 30 }, (_, i) => ({
      messageId: `s3-${i}`,
      type: 'track' as const,
      event: 'Order Completed',
      userId: `m${i % 4}`,
      timestamp: `2026-11-2${i % 2}T10:00:${String(i).padStart(2, '0')}.000Z`,
      receivedAt: '2026-11-21T10:00:00.000Z',
      sourceId: 's3',
      properties: { orderId: `o${i}`, revenue: `${i}.5` },
    }));
    const records = stream(events).map(insertRecord);
    const archiver = makeArchiverHandler({ lake, logger: silentLogger });
    for (let i = 0; i < records.length; i += 7) {
      expect((await archiver({ Records: records.slice(i, i + 7) })).batchItemFailures).toEqual([]);
    }
    await archiver({ Records: records.slice(3, 20) });
    for (const day of ['2026-11-20', '2026-11-21']) await compactLakeDay({ lake }, day);
    const files = await readLakeFiles(lake);
    expect(files.map((f) => f.key.replace(/compact-[0-9a-f]+/, 'compact-*'))).toEqual([
      'events-parquet/dt=2026-11-20/compact-*-0000.parquet',
      'events-parquet/dt=2026-11-21/compact-*-0000.parquet',
    ]);
    expect(files.flatMap((f) => f.rows.map((r) => r.messageId)).sort()).toEqual(
      events.map((e) => e.messageId).sort(),
    );
  });
});
