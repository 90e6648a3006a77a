import type { BackfillJobDeps, BackfillRun } from '../../shared/jobs/backfill-job.ts';
import { advanceBackfill } from '../../shared/jobs/backfill-job.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface BackfillerDeps extends BackfillJobDeps {
  /** Wall-clock milliseconds one run may spend before it stops and saves where it is. */
  readonly budgetMs: number;
  readonly logger: Logger;
}

/**
 * The backfiller, run on a schedule: when the set of active segments changed (a segment created,
 * edited or deleted), it brings every existing member up to the new set, continuing a job across
 * runs for as long as it takes (`advanceBackfill`). A run with nothing to do costs one read of
 * the heads and one of the job.
 */
export function makeBackfillerHandler(deps: BackfillerDeps) {
  return async (): Promise<BackfillRun> => {
    const started = performance.now();
    const run = await advanceBackfill(deps, () => performance.now() - started < deps.budgetMs);
    if (run.stepped > 0 || run.state !== 'idle') {
      deps.logger.info('backfill', {
        ...run,
        ms: Math.round(performance.now() - started),
      });
    }
    return run;
  };
}
