import {
  type LedgerChangeToRecord,
  type LedgerEntry,
  MembershipConflictError,
  type StoredMembership,
} from '../adapters/membership-store.ts';
import type { StoredProfile } from '../adapters/profile-store.ts';
import { fieldsRead, projectInput, segmentInputOf } from '../domain/segments/member-input.ts';
import { emptyMembership, type SegmentSet, stepMembership } from '../domain/segments/membership.ts';
import type { RuleCatalogue } from '../domain/tags/rule-catalogue.ts';

/** What one membership step reads and writes (the memberships table, `MembershipStore`). */
export interface MembershipStepDeps {
  readonly member: (memberKey: string) => Promise<StoredMembership | undefined>;
  /** Records one change, stamped by the store: the entry, or undefined if already recorded. */
  readonly change: (entry: LedgerChangeToRecord) => Promise<LedgerEntry | undefined>;
  readonly saveMember: (
    previous: StoredMembership | undefined,
    next: Omit<StoredMembership, 'version'>,
  ) => Promise<void>;
  readonly catalogue: RuleCatalogue;
  readonly zone: string;
}

/** A member to step: its newest profile, or gone (merged into another member, or erased). */
export type MemberToStep =
  | { readonly kind: 'profile'; readonly memberKey: string; readonly profile: StoredProfile }
  | { readonly kind: 'gone'; readonly memberKey: string };

const ATTEMPTS = 5;

/**
 * Brings one member's memberships up to date with its profile and the segment set at `now`,
 * recording each enter and exit once (each is conditional on the row's presence), then the
 * member's state (conditional on its version; a conflict reads again). A profile version already
 * applied against the same set changes nothing, so replays and repeated backfills are harmless.
 * Used by the segmenter (profiles stream) and the backfill job (every member).
 */
export async function stepMember(
  item: MemberToStep,
  set: SegmentSet,
  now: number,
  deps: MembershipStepDeps,
  fields: ReadonlySet<string> = fieldsRead(set),
): Promise<{ entered: number; exited: number }> {
  // Segments whose rows an attempt changed before losing the race to save the member's state:
  // whatever the winner decided, rows must end up agreeing with the state that was saved.
  const touched = new Set<string>();
  const done = async (
    stored: StoredMembership | undefined,
    counts: { entered: number; exited: number },
  ) => {
    if (touched.size > 0) await reconcile(item.memberKey, stored, touched, deps);
    return counts;
  };
  for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
    const stored = await deps.member(item.memberKey);
    let next: Omit<StoredMembership, 'version'>;
    let enter: string[] = [];
    let exit: string[] = [];
    if (item.kind === 'gone') {
      if (!stored || stored.segments.size === 0) return done(stored, { entered: 0, exited: 0 });
      exit = [...stored.segments].sort();
      next = { ...stored, segments: new Set(), input: undefined };
    } else {
      // An older profile never undoes a newer one; the same profile against a new set of
      // segments (definitions changed since) is stepped again.
      const applied = stored?.profileVersion ?? 0;
      if (
        stored &&
        (applied > item.profile.version ||
          (applied === item.profile.version && stored.setTag === set.tag))
      ) {
        return done(stored, { entered: 0, exited: 0 });
      }
      const input = segmentInputOf(
        item.profile.state,
        deps.catalogue,
        deps.zone,
        now,
        item.profile.analytics,
      );
      // Segments read only these fields: evaluating the projection is evaluating the member.
      const after = projectInput(input, fields);
      const step = stepMembership(set, stored ?? emptyMembership, stored?.input, after);
      enter = step.enter;
      exit = step.exit;
      next = {
        memberKey: item.memberKey,
        segments: step.next.segments,
        setTag: step.next.setTag,
        input: after,
        profileVersion: item.profile.version,
      };
    }
    const seq = (stored?.version ?? 0) + 1;
    // A profile write, or (same profile, new definitions) a definition change.
    const cause: LedgerEntry['cause'] =
      item.kind === 'profile' && stored?.profileVersion !== item.profile.version
        ? { kind: 'profile', profileVersion: item.profile.version }
        : item.kind === 'profile'
          ? { kind: 'definitions', setTag: set.tag }
          : { kind: 'profile', profileVersion: stored?.profileVersion ?? 0 };
    for (const segmentId of exit) {
      await deps.change({
        segmentId,
        memberKey: item.memberKey,
        change: 'exit',
        seq,
        cause,
      });
    }
    for (const segmentId of enter) {
      await deps.change({
        segmentId,
        memberKey: item.memberKey,
        change: 'enter',
        seq,
        cause,
      });
    }
    try {
      await deps.saveMember(stored, next);
      for (const id of [...enter, ...exit]) touched.delete(id);
      return done(
        { ...next, version: (stored?.version ?? 0) + 1 },
        {
          entered: enter.length,
          exited: exit.length,
        },
      );
    } catch (error) {
      if (!(error instanceof MembershipConflictError)) throw error;
      for (const id of [...enter, ...exit]) touched.add(id);
    }
  }
  throw new MembershipConflictError(`memberships of ${item.memberKey} kept changing`);
}

/** Brings the rows of `segments` in line with the member's saved state (no-ops when they are). */
async function reconcile(
  memberKey: string,
  stored: StoredMembership | undefined,
  segments: ReadonlySet<string>,
  deps: MembershipStepDeps,
): Promise<void> {
  const seq = (stored?.version ?? 0) + 1;
  const cause = { kind: 'profile', profileVersion: stored?.profileVersion ?? 0 } as const;
  for (const segmentId of segments) {
    const change = stored?.segments.has(segmentId) ? 'enter' : 'exit';
    await deps.change({ segmentId, memberKey, change, seq, cause });
  }
}
