import type { StoredProfile } from '../adapters/profile-store.ts';
import { fieldsRead } from '../domain/segments/member-input.ts';
import type { SegmentSet } from '../domain/segments/membership.ts';
import { forEachMember, type MemberFailure, type ScanMembers } from './for-each-member.ts';
import { type MembershipStepDeps, stepMember } from './membership-step.ts';

export interface BackfillDeps extends MembershipStepDeps {
  readonly scanMembers: ScanMembers;
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
  readonly failures: readonly MemberFailure[];
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
  const failures = await forEachMember(
    deps.scanMembers,
    { segments, concurrency },
    async (memberKey) => {
      const counts = await stepStoredMember(memberKey, set, deps, fields);
      entered += counts.entered;
      exited += counts.exited;
    },
    (failed) => {
      done += 1;
      deps.onProgress?.({ done, entered, exited, failed: failed.length });
    },
  );
  return { done, entered, exited, failed: failures.length, setTag: set.tag, failures };
}

/**
 * Steps one scanned member against `set`: its newest profile, when the key is still a member of
 * its own (a key merged into another is stepped through the member it joined).
 */
export async function stepStoredMember(
  memberKey: string,
  set: SegmentSet,
  deps: Pick<BackfillDeps, 'resolveProfile' | 'now'> & MembershipStepDeps,
  fields: ReadonlySet<string>,
): Promise<{ entered: number; exited: number }> {
  const { memberKey: owner, profile } = await deps.resolveProfile(memberKey);
  if (!profile || owner !== memberKey) return { entered: 0, exited: 0 };
  return stepMember({ kind: 'profile', memberKey, profile }, set, deps.now(), deps, fields);
}
