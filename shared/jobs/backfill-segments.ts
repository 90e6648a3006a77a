import type { StoredProfile } from '../adapters/profile-store.ts';
import { mapBounded } from '../async/map-bounded.ts';
import { fieldsRead } from '../domain/segments/member-input.ts';
import type { SegmentSet } from '../domain/segments/membership.ts';
import { type MembershipStepDeps, stepMember } from './membership-step.ts';

export interface BackfillDeps extends MembershipStepDeps {
  readonly scanMembers: (
    segment: number,
    totalSegments: number,
    start?: Record<string, unknown>,
  ) => Promise<{ memberKeys: string[]; next: Record<string, unknown> | undefined }>;
  /** The profile a key belongs to, with the member key it resolves to. */
  readonly resolveProfile: (
    key: string,
  ) => Promise<{ memberKey: string; profile: StoredProfile | undefined }>;
  readonly segmentSet: () => Promise<SegmentSet>;
  readonly now: () => number;
  readonly onProgress?: (progress: BackfillProgress) => void;
  /** Parallel scan segments. @default 4 */
  readonly segments?: number;
  /** Members stepped at once per scan segment. @default 8 */
  readonly concurrency?: number;
}

export interface BackfillProgress {
  readonly done: number;
  readonly entered: number;
  readonly exited: number;
  readonly failed: number;
}

export interface BackfillSummary extends BackfillProgress {
  readonly setTag: string;
  readonly failures: readonly { memberKey: string; error: string }[];
}

/**
 * Brings every member's memberships up to date with the current segment definitions: a new or
 * edited segment gets its existing members, a deleted one loses them. Each member goes through
 * the same step as the segmenter, so the job is safe while profiles keep changing and can be run
 * again (members already evaluated against this set are skipped).
 */
export async function backfillSegments(deps: BackfillDeps): Promise<BackfillSummary> {
  const set = await deps.segmentSet();
  const fields = fieldsRead(set);
  const segments = deps.segments ?? 4;
  const concurrency = deps.concurrency ?? 8;
  let done = 0;
  let entered = 0;
  let exited = 0;
  const failures: { memberKey: string; error: string }[] = [];
  await mapBounded(
    Array.from({ length: segments }, (_, segment) => segment),
    segments,
    async (segment) => {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await deps.scanMembers(segment, segments, start);
        start = page.next;
        await mapBounded(page.memberKeys, concurrency, async (memberKey) => {
          try {
            const { memberKey: owner, profile } = await deps.resolveProfile(memberKey);
            if (profile && owner === memberKey) {
              const counts = await stepMember(
                { kind: 'profile', memberKey, profile },
                set,
                deps.now(),
                deps,
                fields,
              );
              entered += counts.entered;
              exited += counts.exited;
            }
          } catch (error) {
            failures.push({
              memberKey,
              error: error instanceof Error ? error.message : String(error),
            });
          }
          done += 1;
          deps.onProgress?.({ done, entered, exited, failed: failures.length });
        });
      } while (start !== undefined);
    },
  );
  return { done, entered, exited, failed: failures.length, setTag: set.tag, failures };
}
