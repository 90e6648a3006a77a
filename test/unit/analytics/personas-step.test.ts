/**
 * The persona step's drift source: each run writes its members' persona ids to
 * `member-clusters.ndjson.gz`, and the next run reads that file; a run from before the file
 * existed is read from its full members file, with the same drift. Real k-means and personas,
 * the lake a local folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalyticsRun, StoredPersonas } from '../../../shared/adapters/analytics-store.ts';
import { FolderLakeStore } from '../../../shared/adapters/lake-store.ts';
import type { RfmRow } from '../../../shared/domain/analytics/contracts.ts';
import { chooseK, kmeans } from '../../../shared/domain/analytics/kmeans.ts';
import { runClusterStep } from '../../../shared/jobs/nightly/cluster-step.ts';
import { getNdjson } from '../../../shared/jobs/nightly/lake-files.ts';
import {
  type MemberClusterLine,
  type MemberResultsLine,
  memberClustersKey,
  membersKey,
  runPersonasStep,
} from '../../../shared/jobs/nightly/personas-step.ts';
import type { RunPlan } from '../../../shared/jobs/nightly/run-plan.ts';
import { rfmRow } from '../../support/rfm-rows.ts';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'personas-step-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Three kinds of buyer, 30 each, so k-means has clusters to find. */
function rows(night: number): RfmRow[] {
  return Array.from({ length: 90 }, (_, i) => {
    const kind = i % 3;
    return rfmRow(`m${i}`, {
      recencyDays: [5, 120, 300][kind] as number,
      frequency: [12, 3, 1][kind] as number,
      monetary: String(([5000, 600, 80][kind] as number) + i + night),
      distinctProducts: [20, 5, 1][kind] as number,
      averageOrderValue: [400, 200, 80][kind] as number,
      tenureDays: [700, 400, 310][kind] as number,
    });
  });
}

function plan(runId: string): RunPlan {
  return {
    runId,
    asOf: '2026-11-25',
    day: '2026-11-24',
    windowDays: 365,
    zone: 'UTC',
    startedAt: '2026-11-26T02:00:00.000Z',
  };
}

async function night(
  lake: FolderLakeStore,
  runId: string,
  data: RfmRow[],
  latest: AnalyticsRun | undefined,
): Promise<StoredPersonas> {
  const run = plan(runId);
  const readRows = async () => data;
  const cluster = await runClusterStep(
    { lake, readRows, kmeans, chooseK, restarts: 4, seed: 7, sampleSize: 90 },
    { run, rfm: { rowKeys: [`analytics/runs/${runId}/rfm/part-00000.ndjson.gz`] } },
  );
  let saved: StoredPersonas | undefined;
  await runPersonasStep(
    {
      lake,
      readRows,
      facts: async () => new Map(),
      latestSucceeded: async () => latest,
      saveRfm: async () => undefined,
      savePersonas: async (personas) => {
        saved = personas;
      },
    },
    { run, cluster },
  );
  if (!saved) throw new Error('no personas saved');
  return saved;
}

const succeeded = (runId: string): AnalyticsRun => ({
  runId,
  asOf: '2026-11-24',
  windowDays: 365,
  status: 'succeeded',
  startedAt: '2026-11-25T02:00:00.000Z',
});

describe('the persona step', () => {
  it('writes every member persona id beside the results, and the next night reads drift from it', async () => {
    const lake = new FolderLakeStore(join(scratch, 'with-file'));
    await night(lake, 'n1', rows(1), undefined);
    const results = (await getNdjson<MemberResultsLine>(lake, membersKey('n1'))) ?? [];
    const clusters = (await getNdjson<MemberClusterLine>(lake, memberClustersKey('n1'))) ?? [];
    expect(clusters).toEqual(
      results.map((line) => ({ memberId: line.memberId, cluster: line.results.cluster })),
    );
    expect(new Set(clusters.map((line) => line.cluster)).size).toBeGreaterThanOrEqual(3);

    const second = await night(lake, 'n2', rows(2), succeeded('n1'));
    expect(second.drift.previousRunId).toBe('n1');
    expect(second.drift.stayed + second.drift.moved).toBe(90);
  });

  it('reads a run without the persona-id file from its members file, with the same drift', async () => {
    const withFile = new FolderLakeStore(join(scratch, 'drift-a'));
    const withoutFile = new FolderLakeStore(join(scratch, 'drift-b'));
    for (const lake of [withFile, withoutFile]) await night(lake, 'n1', rows(1), undefined);
    await withoutFile.delete([memberClustersKey('n1')]);
    expect(await withoutFile.get(memberClustersKey('n1'))).toBeUndefined();
    const a = await night(withFile, 'n2', rows(2), succeeded('n1'));
    const b = await night(withoutFile, 'n2', rows(2), succeeded('n1'));
    expect(b.drift).toEqual(a.drift);
    expect(b.cards).toEqual(a.cards);
  });
});
