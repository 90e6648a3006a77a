/** The local runtime archives the events stream into `<dataDir>/lake`, where DuckDB reads it. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import { compactLakeDay } from '../../shared/jobs/compact-lake.ts';
import { readRfmRows, runRfmLocal } from '../../shared/jobs/rfm-job.ts';
import { lakeDays, readLakeFiles } from '../support/lake.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

let t: TestRuntime;
beforeAll(async () => {
  t = await startTestRuntime();
});
afterAll(async () => {
  await t?.close();
});

describe('local runtime and the event lake', () => {
  it('archives posted events into <dataDir>/lake by UTC day, once each, for the RFM SQL', async () => {
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const order = (n: number, revenue: string) => ({
      type: 'track',
      messageId: `lake-${n}`,
      userId: '会员-lake',
      event: 'Order Completed',
      timestamp: `${day}T06:00:0${n}.000Z`,
      properties: { orderId: `lake-o-${n}`, revenue, currency: 'CNY', products: [{ sku: 'A' }] },
    });
    const batch = { batch: [order(1, '19.90'), order(2, '0.10')] };
    expect((await t.post('/v1/batch', batch)).status).toBe(200);
    // Sent again: ingest stores nothing new, so nothing new reaches the lake either.
    expect((await t.post('/v1/batch', batch)).status).toBe(200);
    await t.runtime.idle();

    const lake = new FolderLakeStore(join(t.runtime.dataDir, 'lake'));
    expect(await lakeDays(lake)).toEqual([day]);
    await compactLakeDay({ lake }, day);
    const rows = (await readLakeFiles(lake)).flatMap((file) => file.rows);
    expect(rows.map((row) => [row.messageId, row.revenue]).sort()).toEqual([
      ['lake-1', '19.9'],
      ['lake-2', '0.1'],
    ]);

    const output = await runRfmLocal(
      { lake },
      { runId: 'runtime', asOf: day, windowDays: 30, zone: 'UTC' },
    );
    const [member] = await readRfmRows(lake, output.rowKeys);
    expect(member).toMatchObject({ memberId: '会员-lake', frequency: 2, monetary: '20' });
  });
});
