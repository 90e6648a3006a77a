import type { AnalyticsRun } from '../../shared/adapters/analytics-store.ts';
import { InvalidNightlyInputError, type RunPlan } from '../../shared/jobs/nightly/run-plan.ts';
import {
  type RunRecordDeps,
  type RunStepInput,
  runRunStep,
} from '../../shared/jobs/nightly/run-record.ts';
import { objectField, runOf, stepInput } from '../../shared/jobs/nightly/step-input.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface NightlyRunDeps extends RunRecordDeps {
  /** The RFM statement Athena runs for a run (`renderRfmSql({ engine: 'athena', … })`). */
  readonly rfmQuery: (plan: RunPlan) => string;
  readonly logger: Logger;
}

/** What Plan returns: the run, with the RFM statement the next state hands to Athena. */
export type PlannedRun = RunPlan & { readonly rfmQuery: string };

/**
 * The nightly run's bookkeeping task: `{ "action": "plan", … }` plans the run (id, dates, RFM
 * statement) and records it as running; `{ "action": "record", … }` records it succeeded or
 * failed. Both are idempotent (a retried task writes the same items).
 */
export function makeNightlyRunHandler(deps: NightlyRunDeps) {
  return async (event: unknown): Promise<PlannedRun | AnalyticsRun> => {
    const input = stepInput(event);
    if (input.action !== 'plan' && input.action !== 'record') {
      throw new InvalidNightlyInputError('action must be "plan" or "record"');
    }
    if (input.action === 'record') checkRecordInput(input);
    // Checked above (plan's fields are checked by planRun itself).
    const result = await runRunStep(deps, input as unknown as RunStepInput);
    if (input.action === 'plan') {
      const plan = result as RunPlan;
      deps.logger.info('nightly run planned', { runId: plan.runId, asOf: plan.asOf });
      return { ...plan, rfmQuery: deps.rfmQuery(plan) };
    }
    const run = result as AnalyticsRun;
    deps.logger.info('nightly run recorded', { runId: run.runId, status: run.status });
    return run;
  };
}

/** A Record input the state machine could not have built: refused before anything is written. */
function checkRecordInput(input: Record<string, unknown>): void {
  if (input.status === 'succeeded') {
    runOf(input);
    const cluster = objectField(input, 'cluster');
    if (typeof cluster.members !== 'number' || typeof cluster.k !== 'number') {
      throw new InvalidNightlyInputError('cluster must hold members and k');
    }
    if (!Array.isArray(input.writeBack)) {
      throw new InvalidNightlyInputError('writeBack must be the list of shard counts');
    }
    return;
  }
  if (input.status !== 'failed') {
    throw new InvalidNightlyInputError('status must be "succeeded" or "failed"');
  }
  objectField(input, 'state');
  if (typeof input.startTime !== 'string' || typeof input.executionName !== 'string') {
    throw new InvalidNightlyInputError('a failed run needs startTime and executionName');
  }
}
