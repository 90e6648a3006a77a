import type { Context } from 'aws-lambda';
import type {
  ApplyOutcome,
  DueMember,
  ProfileChange,
  ProfileUpdate,
  StoredProfile,
} from '../../shared/adapters/profile-store.ts';
import { mapBounded } from '../../shared/async/map-bounded.ts';
import { advanceProfile, tagsOrScheduleChanged } from '../../shared/domain/tags/advance.ts';
import type { RuleCatalogue } from '../../shared/domain/tags/rule-catalogue.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface SweeperDeps {
  /** One page of a due-index shard (`ProfileStore.due`). */
  readonly dueMembers: (
    shard: number,
    now: number,
    limit: number,
    start?: Record<string, unknown>,
  ) => Promise<{ members: DueMember[]; next: Record<string, unknown> | undefined }>;
  readonly applyProfile: (memberKey: string, update: ProfileUpdate) => Promise<ApplyOutcome>;
  readonly shards: number;
  readonly catalogue: RuleCatalogue;
  readonly zone: string;
  readonly now: () => number;
  readonly logger: Logger;
  /** Members re-evaluated at once. @default 16 */
  readonly concurrency?: number;
  /** Stop starting new pages this long before the invocation's deadline. @default 10 s */
  readonly reserveMs?: number;
}

export interface SweepSummary {
  /** The instant every member was evaluated at (epoch ms). */
  readonly at: number;
  readonly due: number;
  /** Members whose tags or next change moved and were written. */
  readonly changed: number;
  readonly tagChanges: number;
  readonly failed: number;
  /** True when the deadline stopped the sweep early; the next run continues. */
  readonly partial: boolean;
}

const PAGE = 200;

/**
 * The sweeper: finds, shard by shard, the members whose `nextChangeAt` has passed and
 * re-evaluates them at one instant, recording what the clock changed. Each write is the same
 * optimistic, versioned write the tagger makes, so a sweep racing the tagger cannot lose either.
 * A member that fails stays due and is retried by the next run.
 */
export function makeSweeperHandler(deps: SweeperDeps) {
  const concurrency = deps.concurrency ?? 16;
  const reserveMs = deps.reserveMs ?? 10_000;
  return async (_event?: unknown, context?: Context): Promise<SweepSummary> => {
    const at = deps.now();
    const outOfTime = () => context !== undefined && context.getRemainingTimeInMillis() < reserveMs;
    let due = 0;
    let changed = 0;
    let tagChanges = 0;
    let failed = 0;
    let partial = false;
    const shards = Array.from({ length: deps.shards }, (_, shard) => shard);
    await mapBounded(shards, Math.min(4, deps.shards), async (shard) => {
      let start: Record<string, unknown> | undefined;
      do {
        if (outOfTime()) {
          partial = true;
          return;
        }
        const page = await deps.dueMembers(shard, at, PAGE, start);
        start = page.next;
        due += page.members.length;
        await mapBounded(page.members, concurrency, async ({ memberKey }) => {
          try {
            // Set by the attempt that was written (a conflict reruns the update).
            let count = 0;
            const outcome = await deps.applyProfile(memberKey, (current) => {
              const change = sweepMember(current, at, deps);
              count = (change?.history ?? []).reduce((n, entry) => n + entry.changes.length, 0);
              return change;
            });
            if (outcome.status === 'written') {
              changed += 1;
              tagChanges += count;
            }
          } catch (error) {
            failed += 1;
            deps.logger.error('member not swept; the next run retries it', { memberKey, error });
          }
        });
      } while (start !== undefined);
    });
    const summary: SweepSummary = { at, due, changed, tagChanges, failed, partial };
    // Every minute on AWS, every few seconds locally: only sweeps that found someone are news.
    if (due > 0 || partial) deps.logger.info('sweep', { ...summary });
    else deps.logger.debug('sweep', { ...summary });
    return summary;
  };
}

/** Re-evaluates a member at `at`, or `undefined` when nothing stored would change. */
function sweepMember(
  current: StoredProfile | undefined,
  at: number,
  deps: SweeperDeps,
): ProfileChange | undefined {
  // Gone, or already advanced by the tagger past this instant.
  if (!current || current.nextChangeAt === undefined || current.nextChangeAt > at) return undefined;
  const advanced = advanceProfile(current, [], deps.catalogue, deps.zone, at);
  if (!tagsOrScheduleChanged(current, advanced)) return undefined;
  return {
    state: advanced.state,
    tags: advanced.tags,
    appliedSeq: current.appliedSeq,
    nextChangeAt: advanced.nextChangeAt,
    history: advanced.history,
  };
}
