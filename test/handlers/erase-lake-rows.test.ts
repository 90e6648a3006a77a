import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderLakeStore, S3LakeStore } from '../../shared/adapters/lake-store.ts';
import type { LakeStore } from '../../shared/domain/analytics/contracts.ts';
import { UnreadableLakeFileError } from '../../shared/domain/analytics/lake-erasure.ts';
import { encodeLakeRows, type LakeRow } from '../../shared/domain/analytics/lake-row.ts';
import { compactLakeDay } from '../../shared/jobs/compact-lake.ts';
import { eraseLakeRows } from '../../shared/jobs/erase-lake-rows.ts';
import { countMentions, lakeSnapshot, withoutMentions } from '../support/lake-scan.ts';
import { type LocalS3, startLocalS3 } from '../support/local-s3.ts';

// Ids are chosen so that none is part of another or of any other field: a row "mentions" a
// member exactly when its text contains one of the member's ids.
const userIdOf = (m: number) => `mbr${m}z`;
const anonIdOf = (m: number) => `anon${m}z`;
const keysOf = (m: number) => [`u#${userIdOf(m)}`, `a#${anonIdOf(m)}`];
const idsOf = (m: number) => [userIdOf(m), anonIdOf(m)];
const DAYS = ['2026-11-20', '2026-11-21', '2026-11-22'] as const;

interface EventSpec {
  readonly member: number;
  /** Sent before the member identified: stored under its anonymous key. */
  readonly anonymous: boolean;
  readonly day: number;
  /** Which of a day's two archiver files holds it. */
  readonly part: number;
}

interface LakeSpec {
  readonly events: readonly EventSpec[];
  /** Days compacted after archiving. */
  readonly compacted: readonly number[];
  /** A day also kept as Parquet (as the Parquet compactor writes it). */
  readonly parquetDay: number | undefined;
  /** Members with RFM rows and cluster assignments in a past nightly run. */
  readonly analysed: readonly number[];
}

function rowOf(spec: EventSpec, index: number): LakeRow {
  const day = DAYS[spec.day] as string;
  const timestamp = `${day}T${String(10 + (index % 12)).padStart(2, '0')}:00:0${index % 10}.000Z`;
  return {
    messageId: `msg-${index}`,
    memberKey: spec.anonymous ? `a#${anonIdOf(spec.member)}` : `u#${userIdOf(spec.member)}`,
    userId: spec.anonymous ? null : userIdOf(spec.member),
    anonymousId: anonIdOf(spec.member),
    type: 'track',
    event: 'Order Completed',
    eventKey: 'order_completed',
    timestamp,
    receivedAt: timestamp,
    sourceId: 'src',
    orderId: `order-${index}`,
    revenue: `${index}.5`,
    currency: 'CNY',
    products: [{ sku: `sku-${index % 3}`, category: '美妆', price: '1.5', quantity: 1 }],
    skus: [`sku-${index % 3}`],
    properties: JSON.stringify({ orderId: `order-${index}` }),
    traits: null,
    context: JSON.stringify({ locale: 'zh-CN' }),
  };
}

const gz = (text: string) => new Uint8Array(gzipSync(Buffer.from(text, 'utf8')));

/** Writes Parquet with DuckDB from rows (NDJSON in a temp file, `COPY … (FORMAT parquet)`). */
async function parquetOf(rows: readonly LakeRow[]): Promise<Uint8Array> {
  const scratch = await mkdtemp(join(tmpdir(), 'lake-parquet-'));
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const input = join(scratch, 'rows.ndjson');
    const output = join(scratch, 'rows.parquet');
    await writeFile(input, encodeLakeRows(rows));
    await connection.run(
      `COPY (SELECT * FROM read_json('${input}', format = 'newline_delimited', columns = {
         messageId: 'VARCHAR', memberKey: 'VARCHAR', userId: 'VARCHAR', anonymousId: 'VARCHAR',
         type: 'VARCHAR', timestamp: 'VARCHAR', revenue: 'DECIMAL(38, 6)', skus: 'VARCHAR[]'
       }) ORDER BY timestamp, memberKey, messageId) TO '${output}' (FORMAT parquet)`,
    );
    return new Uint8Array(await readFile(output));
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * A lake as the pipeline leaves it: archiver files per day (two per day), some days compacted,
 * a Parquet copy of a day, and a past nightly run's RFM rows (`memberId` is the userId, as the
 * RFM SQL writes it) and cluster assignments (by member key).
 */
async function buildLake(lake: LakeStore, spec: LakeSpec): Promise<void> {
  const rows = spec.events.map((event, i) => ({ event, row: rowOf(event, i) }));
  for (let day = 0; day < DAYS.length; day += 1) {
    for (let part = 0; part < 2; part += 1) {
      const partRows = rows
        .filter(({ event }) => event.day === day && event.part === part)
        .map(({ row }) => row);
      if (partRows.length === 0) continue;
      await lake.put(
        `events/dt=${DAYS[day]}/part-${part}-h${day}.ndjson.gz`,
        gz(encodeLakeRows(partRows)),
      );
    }
  }
  for (const day of spec.compacted) {
    await compactLakeDay({ lake, targetFileBytes: 2_000 }, DAYS[day] as string);
  }
  if (spec.parquetDay !== undefined) {
    const dayRows = rows.filter(({ event }) => event.day === spec.parquetDay).map((r) => r.row);
    await lake.put(
      `events-parquet/dt=${DAYS[spec.parquetDay]}/part-0.parquet`,
      await parquetOf(dayRows),
    );
  }
  if (spec.analysed.length > 0) {
    const rfm = spec.analysed.map((m, i) => ({
      memberId: userIdOf(m),
      lastOrderDate: DAYS[2],
      firstOrderDate: DAYS[0],
      recencyDays: i,
      frequency: 2,
      monetary: '10.50',
      r: 5,
      f: 3,
      m: 2,
    }));
    await lake.put(
      'analytics/runs/run-1/rfm/part-00000.ndjson.gz',
      gz(rfm.map((r) => `${JSON.stringify(r)}\n`).join('')),
    );
    const clusters = spec.analysed.map((m) => ({ memberKey: `u#${userIdOf(m)}`, cluster: m % 3 }));
    await lake.put(
      'analytics/runs/run-1/clusters/assignments.ndjson.gz',
      gz(clusters.map((r) => `${JSON.stringify(r)}\n`).join('')),
    );
  }
}

const exampleLake: LakeSpec = {
  events: [
    { member: 0, anonymous: true, day: 0, part: 0 },
    { member: 0, anonymous: false, day: 0, part: 1 },
    { member: 1, anonymous: false, day: 0, part: 0 },
    { member: 2, anonymous: true, day: 0, part: 1 },
    { member: 0, anonymous: false, day: 1, part: 0 },
    { member: 1, anonymous: false, day: 1, part: 0 },
    { member: 1, anonymous: true, day: 1, part: 1 },
    { member: 2, anonymous: false, day: 2, part: 0 },
    { member: 0, anonymous: false, day: 2, part: 1 },
    { member: 1, anonymous: false, day: 2, part: 1 },
  ],
  compacted: [0],
  parquetDay: 1,
  analysed: [0, 1, 2],
};

/** Erases member `m` and checks the lake: no residue, others unchanged, the count exact. */
async function expectErased(lake: LakeStore, m: number) {
  const before = await lakeSnapshot(lake);
  const mentioned = countMentions(before, idsOf(m));
  const erased = await eraseLakeRows({ lake }, keysOf(m));
  const after = await lakeSnapshot(lake);
  expect(countMentions(after, idsOf(m))).toBe(0);
  expect(after).toEqual(withoutMentions(before, idsOf(m)));
  expect(erased.rows).toBe(mentioned);
  expect(erased.skipped).toEqual([]);
  return { before, after, erased, mentioned };
}

let folder: string;
let localS3: LocalS3;
let s3: S3Client;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'erase-lake-'));
  // fauxqs is an in-memory S3 API: the S3 store is tested against it, not against a mock.
  localS3 = await startLocalS3('lake-erase');
  s3 = localS3.s3;
});
afterAll(async () => {
  await localS3?.stop();
  await rm(folder, { recursive: true, force: true });
});

describe('eraseLakeRows', () => {
  it('removes every row of a member from raw, compacted, Parquet and analytics files', async () => {
    const lake = new FolderLakeStore(join(folder, 'example'));
    await buildLake(lake, exampleLake);
    const keys = await lake.list('');
    // The lake holds every kind of file the eraser must reach.
    expect(keys.some((k) => /^events-parquet\/dt=2026-11-20\/compact-.*\.parquet$/.test(k))).toBe(
      true,
    );
    expect(keys.some((k) => /^events\/dt=2026-11-21\/part-/.test(k))).toBe(true);
    expect(keys).toContain('events-parquet/dt=2026-11-21/part-0.parquet');
    expect(keys).toContain('analytics/runs/run-1/rfm/part-00000.ndjson.gz');

    const { before, after, erased, mentioned } = await expectErased(lake, 0);
    // Member 0 has 4 events (one of them also in the Parquet day), an RFM row and a cluster.
    expect(mentioned).toBe(4 + 1 + 2);
    expect(erased.filesRewritten).toBeGreaterThanOrEqual(5);
    expect([...after.keys()]).toEqual([...before.keys()]);
    expect(countMentions(after, [...idsOf(1), ...idsOf(2)])).toBe(
      countMentions(before, [...idsOf(1), ...idsOf(2)]),
    );
  });

  it('finds nothing on a replay and leaves every file as it is', async () => {
    const lake = new FolderLakeStore(join(folder, 'replay'));
    await buildLake(lake, exampleLake);
    await expectErased(lake, 1);
    const bytesBefore = new Map<string, Uint8Array | undefined>();
    for (const key of await lake.list('')) bytesBefore.set(key, await lake.get(key));
    const again = await eraseLakeRows({ lake }, keysOf(1));
    expect(again).toMatchObject({ rows: 0, filesRewritten: 0 });
    for (const [key, bytes] of bytesBefore) expect(await lake.get(key)).toEqual(bytes);
  });

  it('erases through the S3 store', async () => {
    const lake = new S3LakeStore(s3, 'lake-erase', 'portrait/');
    await buildLake(lake, exampleLake);
    await expectErased(lake, 2);
    expect((await eraseLakeRows({ lake }, keysOf(2))).rows).toBe(0);
  });

  it('refuses a file it cannot read line by line, and rewrites nothing of it', async () => {
    const lake = new FolderLakeStore(join(folder, 'unreadable'));
    const body = gz(
      `${JSON.stringify(rowOf({ member: 0, anonymous: false, day: 0, part: 0 }, 1))}\nnot json ${userIdOf(0)}\n`,
    );
    await lake.put('events/dt=2026-11-20/part-0-x.ndjson.gz', body);
    await expect(eraseLakeRows({ lake }, keysOf(0))).rejects.toBeInstanceOf(
      UnreadableLakeFileError,
    );
    expect(await lake.get('events/dt=2026-11-20/part-0-x.ndjson.gz')).toEqual(body);
  });

  it('leaves no residue and every other row unchanged on random lakes (property)', async () => {
    const eventSpec = fc.record({
      member: fc.integer({ min: 0, max: 3 }),
      anonymous: fc.boolean(),
      day: fc.integer({ min: 0, max: 2 }),
      part: fc.integer({ min: 0, max: 1 }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventSpec, { minLength: 1, maxLength: 25 }),
        fc.subarray([0, 1, 2]),
        fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
        fc.subarray([0, 1, 2, 3]),
        fc.integer({ min: 0, max: 3 }),
        async (events, compacted, parquetDay, analysed, erasedMember) => {
          run += 1;
          const lake = new FolderLakeStore(join(folder, `property-${run}`));
          await buildLake(lake, { events, compacted, parquetDay, analysed });
          await expectErased(lake, erasedMember);
          expect((await eraseLakeRows({ lake }, keysOf(erasedMember))).rows).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });
});
