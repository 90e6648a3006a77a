/**
 * A failed nightly run is recorded in the analytics table with its error's name and message
 * (`error.cause`), served by the analytics API and kept after any erasure, which never reads that
 * table. So no error a nightly step throws may name a member: these are the errors that are
 * about one member, carried into the run record as the state machine hands them on.
 */
import { describe, expect, it } from 'vitest';
import type { AnalyticsRun } from '../../../shared/adapters/analytics-store.ts';
import { featureMatrix } from '../../../shared/domain/analytics/features.ts';
import { memberResultsOf } from '../../../shared/domain/analytics/member-results.ts';
import { summariseRfm } from '../../../shared/domain/analytics/rfm-summary.ts';
import { runRunStep } from '../../../shared/jobs/nightly/run-record.ts';
import { writeBackShard } from '../../../shared/jobs/write-back.ts';
import { rfmRow } from '../../support/rfm-rows.ts';

const MEMBER = 'u-secret-7731';
const run = { runId: '20261125T183000Z-failed-run', asOf: '2026-11-25' };

async function thrown(action: () => unknown): Promise<Error> {
  try {
    await action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('nothing was thrown');
}

/** The run record a failure with this error becomes (Step Functions' Error and Cause). */
async function recordOf(error: Error): Promise<AnalyticsRun> {
  const saved: AnalyticsRun[] = [];
  await runRunStep(
    { saveRun: async (run) => void saved.push(run), now: () => 0, zone: 'UTC', windowDays: 365 },
    {
      action: 'record',
      status: 'failed',
      state: { error: { Error: error.name, Cause: error.message } },
      startTime: '2026-11-25T18:30:00Z',
      executionName: 'failed-run',
    },
  );
  return saved[0] as AnalyticsRun;
}

describe('a failed nightly run record', () => {
  it('names no member when the write-back conflicted on one under every attempt', async () => {
    const error = await thrown(() =>
      writeBackShard(
        {
          scan: async () => ({
            members: [{ memberKey: `u#${MEMBER}`, version: 1, analytics: undefined }],
            next: undefined,
          }),
          read: async (memberKey) => ({ memberKey, version: 2, analytics: undefined }),
          write: async () => ({ status: 'conflict' }),
          attempts: 3,
        },
        {
          shard: 0,
          shards: 1,
          results: new Map([[`u#${MEMBER}`, memberResultsOf(rfmRow(MEMBER), run, 'c1', null)]]),
        },
      ),
    );
    expect(error).toMatchObject({ code: 'write_back_conflict' });
    const record = await recordOf(error);
    expect(record).toMatchObject({ status: 'failed', error: { name: 'WriteBackConflictError' } });
    expect(JSON.stringify(record)).not.toContain(MEMBER);
  });

  it('names no member when an RFM row has a score or an amount it cannot summarise', async () => {
    for (const row of [rfmRow(MEMBER, { r: 6 }), rfmRow(MEMBER, { monetary: 'NaN' })]) {
      const error = await thrown(() => summariseRfm([rfmRow('u-other'), row]));
      expect(error).toMatchObject({ code: 'invalid_rfm_row' });
      // Which row it was is still said, by its place.
      expect(error.message).toMatch(/row 2/);
      expect(JSON.stringify(await recordOf(error))).not.toContain(MEMBER);
    }
  });

  it('names no member when an RFM row has a feature it cannot cluster', async () => {
    const error = await thrown(() =>
      featureMatrix([rfmRow('u-other'), rfmRow(MEMBER, { recencyDays: -1 })]),
    );
    expect(error).toMatchObject({ code: 'invalid_cluster_feature' });
    expect(error.message).toMatch(/row 2/);
    expect(JSON.stringify(await recordOf(error))).not.toContain(MEMBER);
  });
});
