/**
 * The persona step's outputs: each run writes its members' persona ids to
 * `member-clusters.ndjson.gz` (the next run's drift source) and hands the write-back shards what
 * they need to build every member's results (the same persona ids); a run from before the file
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
import { clustersKey, runClusterStep } from '../../../shared/jobs/nightly/cluster-step.ts';
import { getNdjson, putNdjson } from '../../../shared/jobs/nightly/lake-files.ts';
import {
  type MemberClusterLine,
  memberClustersKey,
  membersKey,
  type PersonasStepOutput,
  runPersonasStep,
} from '../../../shared/jobs/nightly/personas-step.ts';
import type { RunPlan } from '../../../shared/jobs/nightly/run-plan.ts';
import { memberResultsOfRun } from '../../../shared/jobs/nightly/write-back-step.ts';
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
): Promise<StoredPersonas & { readonly output: PersonasStepOutput }> {
  const run = plan(runId);
  const readRows = async () => data;
  const cluster = await runClusterStep(
    { lake, readRows, kmeans, chooseK, restarts: 4, seed: 7, sampleSize: 90 },
    { run, rfm: { rowKeys: [`analytics/runs/${runId}/rfm/part-00000.ndjson.gz`] } },
  );
  let saved: StoredPersonas | undefined;
  const output = await runPersonasStep(
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
  return { ...saved, output };
}

const succeeded = (runId: string): AnalyticsRun => ({
  runId,
  asOf: '2026-11-24',
  windowDays: 365,
  status: 'succeeded',
  startedAt: '2026-11-25T02:00:00.000Z',
});

describe('the persona step', () => {
  it('writes every member persona id, which the write-back results carry, and reads drift from it the next night', async () => {
    const lake = new FolderLakeStore(join(scratch, 'with-file'));
    const first = await night(lake, 'n1', rows(1), undefined);
    const clusters = (await getNdjson<MemberClusterLine>(lake, memberClustersKey('n1'))) ?? [];
    const task = first.output.shards[0];
    if (!task) throw new Error('no write-back shard');
    expect(task).toMatchObject({ runId: 'n1', asOf: '2026-11-25', clustersKey: clustersKey('n1') });
    const results = await memberResultsOfRun({ lake, readRows: async () => rows(1) }, task);
    expect(clusters).toEqual(
      [...results].map(([memberKey, result]) => ({
        memberId: memberKey.slice('u#'.length),
        cluster: result.cluster,
      })),
    );
    for (const result of results.values()) {
      expect(result.persona).toEqual(first.cards.find((card) => card.id === result.cluster)?.name);
    }
    expect(new Set(clusters.map((line) => line.cluster)).size).toBeGreaterThanOrEqual(3);
    // No file of every member's results is written any more: the write-back builds them.
    expect(await lake.get(membersKey('n1'))).toBeUndefined();
    // RFM rows rewritten since the clustering (an erasure in between): refused, not misassigned.
    await expect(
      memberResultsOfRun({ lake, readRows: async () => rows(1).slice(1) }, task),
    ).rejects.toMatchObject({ code: 'mismatched_clustering' });

    const second = await night(lake, 'n2', rows(2), succeeded('n1'));
    expect(second.drift.previousRunId).toBe('n1');
    expect(second.drift.stayed + second.drift.moved).toBe(90);
  });

  it('reads a run without the persona-id file from its members file, with the same drift', async () => {
    const withFile = new FolderLakeStore(join(scratch, 'drift-a'));
    const withoutFile = new FolderLakeStore(join(scratch, 'drift-b'));
    for (const lake of [withFile, withoutFile]) await night(lake, 'n1', rows(1), undefined);
    // A run from before the persona-id file: only its members file (every member's results).
    const lines = (await getNdjson<MemberClusterLine>(withoutFile, memberClustersKey('n1'))) ?? [];
    await putNdjson(
      withoutFile,
      membersKey('n1'),
      lines.map((line) => ({
        memberId: line.memberId,
        memberKey: `u#${line.memberId}`,
        results: { cluster: line.cluster },
      })),
    );
    await withoutFile.delete([memberClustersKey('n1')]);
    expect(await withoutFile.get(memberClustersKey('n1'))).toBeUndefined();
    const a = await night(withFile, 'n2', rows(2), succeeded('n1'));
    const b = await night(withoutFile, 'n2', rows(2), succeeded('n1'));
    expect(b.drift).toEqual(a.drift);
    expect(b.cards).toEqual(a.cards);
  });
});
