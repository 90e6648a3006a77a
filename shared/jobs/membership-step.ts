import {
  type LedgerEntry,
  type MembershipCause,
  MembershipConflictError,
  type MembershipTransitionToRecord,
  type StoredMembership,
} from '../adapters/membership-store.ts';
import type { StoredProfile } from '../adapters/profile-store.ts';
import type { ConsentDefaults } from '../domain/consent/consent.ts';
import { fieldsRead, projectInput, segmentInputOf } from '../domain/segments/member-input.ts';
import {
  emptyMembership,
  type MembershipTransition,
  type SegmentSet,
  statusIn,
  stepMembership,
} from '../domain/segments/membership.ts';
import type { RuleCatalogue } from '../domain/tags/rule-catalogue.ts';

/** What one membership step reads and writes (the memberships table, `MembershipStore`). */
export interface MembershipStepDeps {
  readonly member: (memberKey: string) => Promise<StoredMembership | undefined>;
  /**
   * Moves the member between in, withheld and out in one segment, exactly once
   * (`MembershipStore.transition`): `applied` false when already done.
   */
  readonly transition: (
    move: MembershipTransitionToRecord,
  ) => Promise<{ applied: boolean; entry?: LedgerEntry }>;
  readonly saveMember: (
    previous: StoredMembership | undefined,
    next: Omit<StoredMembership, 'version'>,
  ) => Promise<void>;
  readonly catalogue: RuleCatalogue;
  readonly zone: string;
  /** Per purpose, whether a member who never said consents. @default grantedByDefault */
  readonly consentDefaults?: ConsentDefaults;
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
    let transitions: MembershipTransition[];
    if (item.kind === 'gone') {
      if (!stored || (stored.segments.size === 0 && (stored.withheld?.size ?? 0) === 0)) {
        return done(stored, { entered: 0, exited: 0 });
      }
      transitions = [
        ...[...stored.segments].map((segmentId) => ({ segmentId, from: 'in', to: 'out' }) as const),
        ...[...(stored.withheld ?? [])].map(
          (segmentId) => ({ segmentId, from: 'withheld', to: 'out' }) as const,
        ),
      ];
      next = { ...stored, segments: new Set(), withheld: new Set(), input: undefined };
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
        deps.consentDefaults,
        item.profile.analytics,
      );
      // Segments read only these fields: evaluating the projection is evaluating the member.
      const after = projectInput(input, fields);
      const step = stepMembership(set, stored ?? emptyMembership, stored?.input, after);
      transitions = step.transitions;
      next = {
        memberKey: item.memberKey,
        segments: step.next.segments,
        withheld: step.next.withheld ?? new Set(),
        setTag: step.next.setTag,
        input: after,
        profileVersion: item.profile.version,
      };
    }
    const seq = (stored?.version ?? 0) + 1;
    // A profile write, or (same profile, new definitions) a definition change.
    const cause: MembershipCause =
      item.kind === 'profile' && stored?.profileVersion !== item.profile.version
        ? { kind: 'profile', profileVersion: item.profile.version }
        : item.kind === 'profile'
          ? { kind: 'definitions', setTag: set.tag }
          : { kind: 'profile', profileVersion: stored?.profileVersion ?? 0 };
    // A move between in and withheld is the member's consent to the segment's purpose changing
    // while its definition holds.
    const causeOf = (move: MembershipTransition): MembershipCause => {
      const purpose = set.byId.get(move.segmentId)?.definition.purpose;
      if (item.kind !== 'profile' || purpose === undefined) return cause;
      if (move.from === 'in' && move.to === 'withheld') {
        return { kind: 'consent_withdrawn', purpose, profileVersion: item.profile.version };
      }
      if (move.from === 'withheld' && move.to === 'in') {
        return { kind: 'consent_granted', purpose, profileVersion: item.profile.version };
      }
      return cause;
    };
    // Exits first, then withholds and releases, then enters (as the ledger always had them).
    const rank = (move: MembershipTransition) =>
      move.from === 'in' ? 0 : move.to === 'in' ? 2 : 1;
    const ordered = [...transitions].sort((a, b) => rank(a) - rank(b));
    for (const move of ordered) {
      await deps.transition({
        segmentId: move.segmentId,
        memberKey: item.memberKey,
        from: move.from,
        to: move.to,
        seq,
        cause: causeOf(move),
      });
    }
    const moved = transitions.map((move) => move.segmentId);
    const entered = transitions.filter((move) => move.to === 'in').length;
    const exited = transitions.filter((move) => move.from === 'in').length;
    try {
      await deps.saveMember(stored, next);
      for (const id of moved) touched.delete(id);
      return done({ ...next, version: (stored?.version ?? 0) + 1 }, { entered, exited });
    } catch (error) {
      if (!(error instanceof MembershipConflictError)) throw error;
      for (const id of moved) touched.add(id);
    }
  }
  throw new MembershipConflictError(`memberships of ${item.memberKey} kept changing`);
}

/**
 * Brings the rows of `segments` in line with the member's saved state (no-ops when they are; a
 * wrong guess of where the rows stand is corrected by the store, which reads them).
 */
async function reconcile(
  memberKey: string,
  stored: StoredMembership | undefined,
  segments: ReadonlySet<string>,
  deps: MembershipStepDeps,
): Promise<void> {
  const seq = (stored?.version ?? 0) + 1;
  const cause = { kind: 'profile', profileVersion: stored?.profileVersion ?? 0 } as const;
  for (const segmentId of segments) {
    const to = stored ? statusIn(stored, segmentId) : 'out';
    const from = to === 'out' ? 'in' : 'out';
    await deps.transition({ segmentId, memberKey, from, to, seq, cause });
  }
}
