/**
 * One write-back shard of a nightly run: every member's results, built from the run's RFM rows,
 * its clustering and the personas of the k-means indexes (once per process and run), then
 * {@link writeBackShard}.
 */
import type { LakeStore, RfmRow } from '../../domain/analytics/contracts.ts';
import { type MemberAnalytics, memberResultsOf } from '../../domain/analytics/member-results.ts';
import {
  memberKeyOfRfm,
  type WriteBackCounts,
  type WriteBackDeps,
  writeBackShard,
} from '../write-back.ts';
import type { StoredClustering } from './cluster-step.ts';
import { getJson } from './lake-files.ts';
import type { WriteBackShardTask } from './personas-step.ts';

export interface WriteBackStepDeps extends WriteBackDeps {
  readonly lake: LakeStore;
  /** The RFM step's rows, in file then line order (the order the clustering's assignments follow). */
  readonly readRows: (keys: readonly string[]) => Promise<RfmRow[]>;
}

/** A clustering whose assignments do not match the RFM rows it names (a rerun changed them). */
export class MismatchedClusteringError extends Error {
  readonly code = 'mismatched_clustering';
  override readonly name = 'MismatchedClusteringError';
}

/**
 * Every member's results of a run, by profile key: each RFM row with the persona of its k-means
 * index. The same for every shard of the run, so a process keeps the last run's map.
 */
export async function memberResultsOfRun(
  deps: Pick<WriteBackStepDeps, 'lake' | 'readRows'>,
  task: Pick<WriteBackShardTask, 'runId' | 'asOf' | 'clustersKey' | 'personas'>,
): Promise<Map<string, MemberAnalytics>> {
  const clustering = await getJson<StoredClustering>(deps.lake, task.clustersKey);
  const rows = await deps.readRows(clustering.rowKeys);
  if (rows.length !== clustering.assignments.length) {
    throw new MismatchedClusteringError(
      `${task.clustersKey} assigns ${clustering.assignments.length} rows; its RFM files hold ${rows.length}`,
    );
  }
  const run = { runId: task.runId, asOf: task.asOf };
  const results = new Map<string, MemberAnalytics>();
  rows.forEach((row, i) => {
    const persona = task.personas[clustering.assignments[i] as number];
    results.set(
      memberKeyOfRfm(row.memberId),
      memberResultsOf(row, run, persona?.id ?? null, persona?.name ?? null),
    );
  });
  return results;
}

let cached: { key: string; results: Map<string, MemberAnalytics> } | undefined;

export async function runWriteBackStep(
  deps: WriteBackStepDeps,
  task: WriteBackShardTask,
): Promise<WriteBackCounts & { readonly shard: number }> {
  // The clustering's key names the run (`analytics/runs/<runId>/clusters.json.gz`).
  const key = task.clustersKey;
  if (cached?.key !== key) cached = { key, results: await memberResultsOfRun(deps, task) };
  const counts = await writeBackShard(deps, {
    shard: task.shard,
    shards: task.shards,
    results: cached.results,
  });
  return { shard: task.shard, ...counts };
}
