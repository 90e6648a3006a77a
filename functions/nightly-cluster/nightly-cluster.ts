import {
  type ClusterStepDeps,
  type ClusterStepOutput,
  runClusterStep,
} from '../../shared/jobs/nightly/cluster-step.ts';
import { InvalidNightlyInputError } from '../../shared/jobs/nightly/run-plan.ts';
import { objectField, runOf, stepInput } from '../../shared/jobs/nightly/step-input.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface NightlyClusterDeps extends ClusterStepDeps {
  readonly logger: Logger;
}

/**
 * The Cluster task: `{ run, rfm: { rowPrefix } | { rowKeys } }` → the clustering written to the
 * lake, with k, SSE and silhouettes. Deterministic, so a retry writes the same file.
 */
export function makeNightlyClusterHandler(deps: NightlyClusterDeps) {
  return async (event: unknown): Promise<ClusterStepOutput> => {
    const input = stepInput(event);
    const run = runOf(input);
    const rfm = objectField(input, 'rfm');
    let where: { rowKeys: string[] } | { rowPrefix: string };
    if (Array.isArray(rfm.rowKeys) && rfm.rowKeys.every((key) => typeof key === 'string')) {
      where = { rowKeys: rfm.rowKeys as string[] };
    } else if (typeof rfm.rowPrefix === 'string' && rfm.rowPrefix.endsWith('/')) {
      where = { rowPrefix: rfm.rowPrefix };
    } else {
      throw new InvalidNightlyInputError(
        'rfm must have rowKeys (strings) or rowPrefix (ending in /)',
      );
    }
    const output = await runClusterStep(deps, { run, rfm: where });
    deps.logger.info('clustered', { runId: run.runId, members: output.members, k: output.k });
    return output;
  };
}
