/** Checks of what the state machine hands a step: a step refuses a malformed input up front. */
import { InvalidNightlyInputError, type RunPlan } from './run-plan.ts';

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidNightlyInputError(`${what} must be an object`);
  }
  return value as Record<string, unknown>;
}

export function stepInput(value: unknown): Record<string, unknown> {
  return record(value, 'the step input');
}

/** The run plan under `run`. */
export function runOf(input: Record<string, unknown>): RunPlan {
  const run = record(input.run, 'run');
  for (const field of ['runId', 'asOf', 'day', 'zone', 'startedAt'] as const) {
    if (typeof run[field] !== 'string' || run[field] === '') {
      throw new InvalidNightlyInputError(`run.${field} must be a non-empty string`);
    }
  }
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(run.runId as string)) {
    throw new InvalidNightlyInputError('run.runId must be letters, digits, _ . or -');
  }
  if (typeof run.windowDays !== 'number') {
    throw new InvalidNightlyInputError('run.windowDays must be a number');
  }
  return run as unknown as RunPlan;
}

export function objectField(
  input: Record<string, unknown>,
  field: string,
): Record<string, unknown> {
  return record(input[field], field);
}
