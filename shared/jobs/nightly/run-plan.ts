/**
 * The first step of a nightly run: from the execution's start time (and optional overrides in
 * its input) the run's id, the as-of date in the brand zone and the day to compact. Pure.
 */
import { dateToDay, dayToDate, zoneCalendar } from '../../domain/tags/zone-calendar.ts';

export interface RunPlan {
  /** Sorts by start time: `20261126T020000Z-<first 8 characters of the execution name>`. */
  readonly runId: string;
  /** The last complete brand-local day: recency is counted to it, the window ends with it. */
  readonly asOf: string;
  /** The UTC lake day (`dt=`) the run compacts: the last UTC day complete at the start. */
  readonly day: string;
  readonly windowDays: number;
  readonly zone: string;
  /** ISO-8601. */
  readonly startedAt: string;
}

/** What the state machine hands the plan step; `asOf` / `windowDays` override the defaults. */
export interface RunPlanInput {
  readonly startTime: string;
  readonly executionName: string;
  readonly asOf?: string;
  readonly windowDays?: number;
}

/** A nightly execution input that cannot be planned (a bad date or window). */
export class InvalidNightlyInputError extends Error {
  readonly code = 'invalid_nightly_input';
  override readonly name = 'InvalidNightlyInputError';
}

const MAX_WINDOW_DAYS = 3660;
const DAY_MS = 86_400_000;

export function planRun(
  input: RunPlanInput,
  defaults: { readonly zone: string; readonly windowDays: number },
): RunPlan {
  const started = Date.parse(input.startTime);
  if (!Number.isFinite(started)) {
    throw new InvalidNightlyInputError(
      `startTime ${JSON.stringify(input.startTime)} is not ISO-8601`,
    );
  }
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(input.executionName)) {
    throw new InvalidNightlyInputError('executionName must be 1–80 letters, digits, - or _');
  }
  const windowDays = input.windowDays ?? defaults.windowDays;
  if (!Number.isInteger(windowDays) || windowDays < 1 || windowDays > MAX_WINDOW_DAYS) {
    throw new InvalidNightlyInputError(`windowDays must be a whole number 1–${MAX_WINDOW_DAYS}`);
  }
  let asOf: string;
  if (input.asOf !== undefined) {
    if (dateToDay(input.asOf) === undefined) {
      throw new InvalidNightlyInputError(
        `asOf ${JSON.stringify(input.asOf)} is not a YYYY-MM-DD date`,
      );
    }
    asOf = input.asOf;
  } else {
    asOf = dayToDate(zoneCalendar(defaults.zone).localDay(started) - 1);
  }
  const stamp = new Date(started)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return {
    runId: `${stamp}-${input.executionName.slice(0, 8)}`,
    asOf,
    day: dayToDate(Math.floor(started / DAY_MS) - 1),
    windowDays,
    zone: defaults.zone,
    startedAt: new Date(started).toISOString(),
  };
}
