import type { WriteBackShardTask } from '../../shared/jobs/nightly/personas-step.ts';
import { InvalidNightlyInputError } from '../../shared/jobs/nightly/run-plan.ts';
import { stepInput } from '../../shared/jobs/nightly/step-input.ts';
import {
  runWriteBackStep,
  type WriteBackStepDeps,
} from '../../shared/jobs/nightly/write-back-step.ts';
import type { WriteBackCounts } from '../../shared/jobs/write-back.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface NightlyWriteBackDeps extends WriteBackStepDeps {
  readonly logger: Logger;
}

/**
 * One iteration of the WriteBack Map: `{ runId, asOf, clustersKey, personas, shard, shards }` →
 * the shard's members compared with the run's results and only the changed ones written. A retry
 * (or a rerun of the run) finds those already written and writes nothing for them.
 */
export function makeNightlyWriteBackHandler(deps: NightlyWriteBackDeps) {
  return async (event: unknown): Promise<WriteBackCounts & { shard: number }> => {
    const input = stepInput(event);
    const { runId, asOf, clustersKey, personas, shard, shards } = input;
    if (
      typeof runId !== 'string' ||
      typeof asOf !== 'string' ||
      typeof clustersKey !== 'string' ||
      !Array.isArray(personas) ||
      !personas.every(
        (p) =>
          typeof p === 'object' && p !== null && typeof (p as { id?: unknown }).id === 'string',
      ) ||
      !Number.isInteger(shards) ||
      (shards as number) < 1 ||
      !Number.isInteger(shard) ||
      (shard as number) < 0 ||
      (shard as number) >= (shards as number)
    ) {
      throw new InvalidNightlyInputError(
        'a write-back shard needs runId, asOf, clustersKey, personas ({id, name}), and whole numbers 0 ≤ shard < shards',
      );
    }
    const counts = await runWriteBackStep(deps, input as unknown as WriteBackShardTask);
    deps.logger.info('write-back shard done', { runId, ...counts });
    return counts;
  };
}
