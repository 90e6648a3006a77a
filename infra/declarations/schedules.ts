import type { FunctionId } from './functions.ts';

/**
 * Functions run on a clock, declared once: the CDK app creates an EventBridge schedule per
 * entry, the local runtime a timer with the local period.
 */
export interface ScheduleDeclaration {
  readonly id: string;
  readonly function: FunctionId;
  readonly description: string;
  /** Period on AWS, in minutes (EventBridge's finest rate is one minute). */
  readonly awsEveryMinutes: number;
  /** Period in the local runtime, in seconds. */
  readonly localEverySeconds: number;
}

/**
 * The sweeper re-evaluates members whose tags are due to change with time. A tag flips at most
 * one period (plus the sweep's own run time) after its instant; reads are exact regardless,
 * because the member API evaluates at the instant of the request.
 */
export const sweeperSchedule = {
  id: 'sweeper',
  function: 'sweeper',
  description: 'Re-evaluate members whose windowed tags are due',
  awsEveryMinutes: 1,
  localEverySeconds: 5,
} as const satisfies ScheduleDeclaration;

/**
 * The backfiller brings existing members into a segment created or edited since the last run; a
 * run stops after about 50 s and the next continues the job, so a large backfill spans runs.
 */
export const backfillerSchedule = {
  id: 'backfiller',
  function: 'backfiller',
  description: 'Backfill segments created or edited since the last run',
  awsEveryMinutes: 1,
  localEverySeconds: 2,
} as const satisfies ScheduleDeclaration;

export const schedules: readonly ScheduleDeclaration[] = [sweeperSchedule, backfillerSchedule];
