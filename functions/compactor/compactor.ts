import type { LakeStore } from '../../shared/domain/analytics/contracts.ts';
import { checkLakeDay, InvalidLakeDayError } from '../../shared/domain/analytics/lake-row.ts';
import { type CompactLakeResult, compactLakeDay } from '../../shared/jobs/compact-lake.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface CompactorDeps {
  readonly lake: LakeStore;
  readonly logger: Logger;
  /** @default 128 MiB */
  readonly targetFileBytes?: number;
}

/** `{ "day": "2026-11-25" }` or `{ "days": [...] }`: what the state machine passes. */
export type CompactorInput = { readonly day: string } | { readonly days: readonly string[] };

export interface CompactorOutput {
  readonly days: readonly CompactLakeResult[];
}

const MAX_DAYS = 31;

function daysOf(input: unknown): string[] {
  if (typeof input === 'object' && input !== null) {
    const record = input as Record<string, unknown>;
    if ('day' in record) return [checkLakeDay(record.day)];
    if (Array.isArray(record.days) && record.days.length > 0 && record.days.length <= MAX_DAYS) {
      return [...new Set(record.days.map(checkLakeDay))].sort();
    }
  }
  throw new InvalidLakeDayError(input);
}

/**
 * The compactor: compacts the lake days it is given, in order (the nightly state machine's first
 * task, and a command for a backlog). Bad input throws {@link InvalidLakeDayError} (`invalid_day`)
 * before anything is touched; compaction is idempotent, so Step Functions may retry freely.
 */
export function makeCompactorHandler(deps: CompactorDeps) {
  return async (input: CompactorInput): Promise<CompactorOutput> => {
    const days = daysOf(input);
    const results: CompactLakeResult[] = [];
    for (const day of days) {
      const result = await compactLakeDay(
        { lake: deps.lake, targetFileBytes: deps.targetFileBytes },
        day,
      );
      deps.logger.info('compacted lake day', { ...result, outputs: result.outputs.length });
      results.push(result);
    }
    return { days: results };
  };
}
