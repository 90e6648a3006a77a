/**
 * Lake retention locally: `expireLakePartitions` over the real folder lake, and `npm run cli --
 * lake expire` on a data folder. Stored events' TTL (`expiresAt`) follows the same retention.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { expiresAtOf } from '../../shared/adapters/event-store.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import { environmentConfig, MIN_DEDUP_DAYS } from '../../shared/config/environments.ts';
import { expireLakePartitions } from '../../shared/jobs/expire-lake.ts';

const DAY = 86_400_000;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'portrait-expire-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const body = new TextEncoder().encode('{}\n');

async function seed(lake: FolderLakeStore, days: readonly string[]): Promise<void> {
  for (const day of days) {
    await lake.put(`events/dt=${day}/a.ndjson.gz`, body);
    await lake.put(`events/dt=${day}/b.ndjson.gz`, body);
    await lake.put(`events-parquet/dt=${day}/compact-0.parquet`, body);
  }
  await lake.put('analytics/runs/r1/rfm.ndjson.gz', body);
}

describe('lake retention', () => {
  it('deletes exactly the partitions before the retention and nothing else', async () => {
    const now = Date.UTC(2026, 5, 15, 12);
    const lake = new FolderLakeStore(tempDir());
    const days = ['2026-03-16', '2026-03-17', '2026-03-18', '2026-06-15', '2025-12-31'];
    await seed(lake, days);
    const result = await expireLakePartitions({ lake, retentionDays: 90, now });
    expect(result.keptFrom).toBe('2026-03-17');
    expect(result.daysDeleted).toEqual(['2025-12-31', '2026-03-16']);
    expect(result.filesDeleted).toBe(6);
    expect(await lake.list('events/')).toEqual(
      ['2026-03-17', '2026-03-18', '2026-06-15'].flatMap((day) => [
        `events/dt=${day}/a.ndjson.gz`,
        `events/dt=${day}/b.ndjson.gz`,
      ]),
    );
    expect(await lake.list('events-parquet/')).toEqual(
      ['2026-03-17', '2026-03-18', '2026-06-15'].map(
        (day) => `events-parquet/dt=${day}/compact-0.parquet`,
      ),
    );
    expect(await lake.list('analytics/')).toEqual(['analytics/runs/r1/rfm.ndjson.gz']);
    const again = await expireLakePartitions({ lake, retentionDays: 90, now });
    expect(again.filesDeleted).toBe(0);
  });

  it('deletes the files of nightly runs older than the run retention, keeping newer and unstamped runs', async () => {
    const now = Date.UTC(2026, 5, 15, 12);
    const lake = new FolderLakeStore(tempDir());
    const files = (runId: string) => [
      `analytics/runs/${runId}/rfm/part-00000.ndjson.gz`,
      `analytics/runs/${runId}/members.ndjson.gz`,
    ];
    // 30 days before `now` is 2026-05-16T12:00:00Z: the first run is just before it.
    const old = '20260516T115959Z-nightly1';
    const young = '20260516T120001Z-nightly2';
    for (const runId of [old, young, 'bench-night-1']) {
      for (const key of files(runId)) await lake.put(key, body);
    }
    const result = await expireLakePartitions({ lake, retentionDays: 90, now });
    expect(result.runsDeleted).toEqual([old]);
    expect(result.filesDeleted).toBe(2);
    expect(await lake.list('analytics/')).toEqual(
      [...files('bench-night-1'), ...files(young)].sort(),
    );
    const shorter = await expireLakePartitions({
      lake,
      retentionDays: 90,
      now,
      runRetentionDays: 1,
    });
    expect(shorter.runsDeleted).toEqual([young]);
    await expect(
      expireLakePartitions({ lake, retentionDays: 90, now, runRetentionDays: 0 }),
    ).rejects.toThrow(RangeError);
  });

  it('refuses a retention that is not a positive whole number of days', async () => {
    const lake = new FolderLakeStore(tempDir());
    await expect(expireLakePartitions({ lake, retentionDays: 0, now: 0 })).rejects.toThrow(
      RangeError,
    );
  });

  it('npm run cli -- lake expire applies the environment retention to the data folder', async () => {
    const dataDir = tempDir();
    const lake = new FolderLakeStore(join(dataDir, 'lake'));
    const retention = environmentConfig('local').eventRetentionDays;
    const old = dayOf(Date.now() - (retention + 30) * DAY);
    const recent = dayOf(Date.now() - 5 * DAY);
    await seed(lake, [old, recent]);
    const run = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'infra/cli.ts', 'lake', 'expire', '--data-dir', dataDir, ...args],
          { cwd: resolve(import.meta.dirname, '../..'), timeout: 60_000 },
          (error, stdout, stderr) =>
            done({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
        );
      });
    const answer = await run();
    expect(answer.code, answer.stderr).toBe(0);
    expect(answer.stdout).toContain('Deleted 3 file(s) in 1 partition(s)');
    expect(await lake.list('events/')).toEqual([
      `events/dt=${recent}/a.ndjson.gz`,
      `events/dt=${recent}/b.ndjson.gz`,
    ]);
    expect(existsSync(join(dataDir, 'lake', 'events', `dt=${old}`))).toBe(false);
    const refused = await run('--retention-days', 'soon');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--retention-days');
  }, 90_000);

  it('stored events expire retention days after they happened, never inside the dedup horizon', () => {
    const event = (timestamp: string, receivedAt: string) =>
      ({ timestamp, receivedAt }) as PortraitEvent;
    const at = Date.UTC(2026, 0, 1) / 1000;
    expect(expiresAtOf(event('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'), 400)).toBe(
      at + 400 * 86_400,
    );
    // An old event received today is kept for the dedup horizon from today.
    expect(expiresAtOf(event('2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'), 40)).toBe(
      at + MIN_DEDUP_DAYS * 86_400,
    );
  });
});
