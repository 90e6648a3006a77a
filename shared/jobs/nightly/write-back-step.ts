/**
 * One write-back shard of a nightly run: the run's member results from the lake (read once per
 * process and run), then {@link writeBackShard}.
 */
import type { LakeStore } from '../../domain/analytics/contracts.ts';
import type { MemberAnalytics } from '../../domain/analytics/member-results.ts';
import { type WriteBackCounts, type WriteBackDeps, writeBackShard } from '../write-back.ts';
import { getNdjson, MissingLakeFileError } from './lake-files.ts';
import type { MemberResultsLine, WriteBackShardTask } from './personas-step.ts';

export interface WriteBackStepDeps extends WriteBackDeps {
  readonly lake: LakeStore;
}

let cached: { key: string; results: Map<string, MemberAnalytics> } | undefined;

async function resultsOf(lake: LakeStore, key: string): Promise<Map<string, MemberAnalytics>> {
  if (cached?.key === key) return cached.results;
  const lines = await getNdjson<MemberResultsLine>(lake, key);
  if (!lines) throw new MissingLakeFileError(`${key} is not in the lake`);
  const results = new Map(lines.map((line) => [line.memberKey, line.results]));
  cached = { key, results };
  return results;
}

export async function runWriteBackStep(
  deps: WriteBackStepDeps,
  task: WriteBackShardTask,
): Promise<WriteBackCounts & { readonly shard: number }> {
  const results = await resultsOf(deps.lake, task.membersKey);
  const counts = await writeBackShard(deps, { shard: task.shard, shards: task.shards, results });
  return { shard: task.shard, ...counts };
}
