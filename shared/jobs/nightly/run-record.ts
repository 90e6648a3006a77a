/**
 * The run's bookkeeping steps: Plan (the run's id and dates, recorded as running) and Record (the
 * run succeeded with its counts, or failed with the error the state machine caught).
 */
import type { AnalyticsRun } from '../../adapters/analytics-store.ts';
import type { WriteBackCounts } from '../write-back.ts';
import type { ClusterStepOutput } from './cluster-step.ts';
import { planRun, type RunPlan } from './run-plan.ts';

export interface RunRecordDeps {
  readonly saveRun: (run: AnalyticsRun) => Promise<void>;
  readonly now: () => number;
  readonly zone: string;
  readonly windowDays: number;
}

export type RunStepInput =
  | {
      readonly action: 'plan';
      readonly startTime: string;
      readonly executionName: string;
      /** The execution's input: `asOf` and `windowDays` override the defaults. */
      readonly input?: { readonly asOf?: unknown; readonly windowDays?: unknown } | null;
    }
  | {
      readonly action: 'record';
      readonly status: 'succeeded';
      readonly run: RunPlan;
      readonly cluster: ClusterStepOutput;
      readonly writeBack: readonly WriteBackCounts[];
    }
  | {
      readonly action: 'record';
      readonly status: 'failed';
      /** The whole state at the failure: `run` when Plan got that far, `error` as caught. */
      readonly state: {
        readonly run?: RunPlan;
        readonly error?: { readonly Error?: string; readonly Cause?: string };
        readonly [key: string]: unknown;
      };
      readonly startTime: string;
      readonly executionName: string;
    };

export async function runRunStep(
  deps: RunRecordDeps,
  input: RunStepInput,
): Promise<RunPlan | AnalyticsRun> {
  const defaults = { zone: deps.zone, windowDays: deps.windowDays };
  if (input.action === 'plan') {
    const overrides = input.input ?? {};
    const plan = planRun(
      {
        startTime: input.startTime,
        executionName: input.executionName,
        ...(overrides.asOf !== undefined ? { asOf: overrides.asOf as string } : {}),
        ...(overrides.windowDays !== undefined
          ? { windowDays: overrides.windowDays as number }
          : {}),
      },
      defaults,
    );
    await deps.saveRun({
      runId: plan.runId,
      asOf: plan.asOf,
      windowDays: plan.windowDays,
      status: 'running',
      startedAt: plan.startedAt,
    });
    return plan;
  }
  const finishedAt = new Date(deps.now()).toISOString();
  if (input.status === 'succeeded') {
    const writeBack = { scanned: 0, written: 0, cleared: 0, unchanged: 0 };
    for (const shard of input.writeBack) {
      writeBack.scanned += shard.scanned;
      writeBack.written += shard.written;
      writeBack.cleared += shard.cleared;
      writeBack.unchanged += shard.unchanged;
    }
    const run: AnalyticsRun = {
      runId: input.run.runId,
      asOf: input.run.asOf,
      windowDays: input.run.windowDays,
      status: 'succeeded',
      startedAt: input.run.startedAt,
      finishedAt,
      members: input.cluster.members,
      k: input.cluster.k,
      silhouettes: input.cluster.silhouettes,
      writeBack,
    };
    await deps.saveRun(run);
    return run;
  }
  // A failure before Plan finished has no run yet: plan it from the execution to record it.
  let plan: RunPlan;
  try {
    plan =
      input.state.run ??
      planRun({ startTime: input.startTime, executionName: input.executionName }, defaults);
  } catch {
    plan = planRun({ startTime: input.startTime, executionName: 'unnamed' }, defaults);
  }
  const run: AnalyticsRun = {
    runId: plan.runId,
    asOf: plan.asOf,
    windowDays: plan.windowDays,
    status: 'failed',
    startedAt: plan.startedAt,
    finishedAt,
    error: {
      name: String(input.state.error?.Error ?? 'unknown'),
      cause: String(input.state.error?.Cause ?? '').slice(0, 2000),
    },
  };
  await deps.saveRun(run);
  return run;
}
