import {
  type PersonasStepDeps,
  type PersonasStepOutput,
  runPersonasStep,
} from '../../shared/jobs/nightly/personas-step.ts';
import { InvalidNightlyInputError } from '../../shared/jobs/nightly/run-plan.ts';
import { objectField, runOf, stepInput } from '../../shared/jobs/nightly/step-input.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface NightlyPersonasDeps extends PersonasStepDeps {
  readonly logger: Logger;
}

/**
 * The Personas task: `{ run, cluster }` → persona cards, drift and the RFM summary saved for the
 * API, every member's results in the lake, and the write-back shards for the Map.
 */
export function makeNightlyPersonasHandler(deps: NightlyPersonasDeps) {
  return async (event: unknown): Promise<PersonasStepOutput> => {
    const input = stepInput(event);
    const run = runOf(input);
    const cluster = objectField(input, 'cluster');
    if (typeof cluster.clustersKey !== 'string') {
      throw new InvalidNightlyInputError('cluster.clustersKey must be a string');
    }
    const output = await runPersonasStep(deps, {
      run,
      cluster: cluster as unknown as Parameters<typeof runPersonasStep>[1]['cluster'],
    });
    deps.logger.info('personas built', {
      runId: run.runId,
      clusters: output.clusters,
      previousRunId: output.previousRunId,
    });
    return output;
  };
}
