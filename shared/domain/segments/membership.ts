/**
 * Incremental membership of one member. When a profile changes, only the segments reading a
 * changed field are re-evaluated — with, transitively, the segments reading those — and every
 * segment is when the set of segments changed since the member was last evaluated or the previous
 * profile is unknown. Pure: the materialiser stores the state and records the enters and exits.
 */
import { createHash } from 'node:crypto';
import type { ConsentDefaults } from '../consent/consent.ts';
import { consentsTo, type SegmentInput, segmentMatches } from './evaluate-segment.ts';
import { orderSegments } from './load-segment-definition.ts';
import { type CompiledSegment, segmentPurposes } from './segment-definition.ts';
import { changedFields, SegmentDependencyIndex } from './segment-dependencies.ts';

/** The active segments, compiled, in evaluation order, with their dependency index. */
export interface SegmentSet {
  /** Every segment after the segments of the set it reads ({@link orderSegments}). */
  readonly ordered: readonly CompiledSegment[];
  readonly byId: ReadonlyMap<string, CompiledSegment>;
  /** Over exactly `ordered`; do not `put` or `remove` (the tag would no longer describe the set). */
  readonly index: SegmentDependencyIndex;
  /**
   * Names the ids and versions of the set, whatever their order: equal tags, same set. A member
   * whose state carries another tag was evaluated against other definitions.
   */
  readonly tag: string;
}

/**
 * Where a member stands in one segment: `in` (served), `withheld` (the definition holds but the
 * member refused the segment's purpose: not served, only counted) or `out`.
 */
export type MembershipStatus = 'in' | 'withheld' | 'out';

/** One member's memberships, as the materialiser stores them. */
export interface MembershipState {
  /** Segments the member is in (served). */
  readonly segments: ReadonlySet<string>;
  /** Segments whose definition holds but whose purpose the member refused (absent: none). */
  readonly withheld?: ReadonlySet<string>;
  /** {@link SegmentSet.tag} of the set the memberships were last evaluated against. */
  readonly setTag: string | undefined;
}

/** One segment whose status changed for the member. */
export interface MembershipTransition {
  readonly segmentId: string;
  readonly from: MembershipStatus;
  readonly to: MembershipStatus;
}

export interface MembershipStep {
  readonly next: MembershipState;
  /** Segments entered (now `in`), sorted. */
  readonly enter: string[];
  /** Segments left (were `in`), sorted: those now out or withheld, and those no longer in the set. */
  readonly exit: string[];
  /** Every status change, sorted by segment id: enters and exits, and withholds and releases. */
  readonly transitions: MembershipTransition[];
  /** Ids of the segments evaluated, in the order they were. */
  readonly evaluated: string[];
}

/** A member never evaluated: in no segment, against no set. */
export const emptyMembership: MembershipState = {
  segments: new Set(),
  withheld: new Set(),
  setTag: undefined,
};

/** The status of a member in a segment, by its state. */
export function statusIn(state: MembershipState, segmentId: string): MembershipStatus {
  if (state.segments.has(segmentId)) return 'in';
  return state.withheld?.has(segmentId) ? 'withheld' : 'out';
}

/**
 * The set of `compiled` segments; `versions` gives each one's stored version (it must name every
 * id), so that an edit changes the tag; so does a purpose whose `consentDefaults` is opt-in. Throws `SegmentDefinitionError` (`cycle`) when the
 * segments read each other in a cycle.
 */
export function segmentSet(
  compiled: Iterable<CompiledSegment>,
  versions: ReadonlyMap<string, number>,
  consentDefaults?: ConsentDefaults,
): SegmentSet {
  const ordered = orderSegments(compiled);
  const names = ordered.map((segment) => {
    const version = versions.get(segment.id);
    if (version === undefined) throw new RangeError(`no version for segment "${segment.id}"`);
    return `${segment.id}@${version}`;
  });
  // A purpose switched to opt-in changes what every member who never said is served, so it
  // changes the tag too (and every member is stepped again); the opt-out default adds nothing,
  // so sets tagged before consent existed keep their tags.
  for (const purpose of segmentPurposes) {
    if (consentDefaults?.[purpose] === false) names.push(`consent-default:${purpose}=false`);
  }
  // Ids cannot hold '@' or a newline, so the text names the set unambiguously; hashed, it stays
  // short enough to store beside every member's memberships.
  const tag = createHash('sha256').update(names.sort().join('\n')).digest('base64url').slice(0, 22);
  return {
    ordered,
    byId: new Map(ordered.map((segment) => [segment.id, segment])),
    index: new SegmentDependencyIndex(ordered),
    tag,
  };
}

/**
 * The member's memberships after its input changed from `before` (`undefined`: unknown) to
 * `after`. Re-evaluates the segments `set.index.affectedSegments(changedFields(before, after))`
 * names, unless the set changed since `current.setTag` or `before` is unknown — then all.
 * Segments no longer in the set are exited (or released, when withheld).
 *
 * A member is `in` a segment when its definition holds and the member consents to its purpose,
 * `withheld` when the definition holds without consent, else `out`. A `segment` leaf reads
 * whether the other segment's definition holds (`in` or `withheld`): consent filters what a
 * segment serves for its own purpose, not what other segments compute. It reads the new answer
 * when that segment was evaluated earlier in this step, else `current`'s; one reading a segment
 * outside the set reads `after.segments`, as {@link evaluateSegments} does.
 */
export function stepMembership(
  set: SegmentSet,
  current: MembershipState,
  before: SegmentInput | undefined,
  after: SegmentInput,
): MembershipStep {
  const segments = new Set<string>();
  const withheld = new Set<string>();
  const transitions: MembershipTransition[] = [];
  for (const id of current.segments) {
    if (set.byId.has(id)) segments.add(id);
    else transitions.push({ segmentId: id, from: 'in', to: 'out' });
  }
  for (const id of current.withheld ?? []) {
    if (segments.has(id)) continue;
    if (set.byId.has(id)) withheld.add(id);
    else transitions.push({ segmentId: id, from: 'withheld', to: 'out' });
  }
  const toEvaluate: Iterable<CompiledSegment> =
    before === undefined || current.setTag !== set.tag
      ? set.ordered
      : compiledSegments(set, set.index.affectedSegments(changedFields(before, after)));
  const inSegment = (id: string): boolean =>
    set.byId.has(id) ? segments.has(id) || withheld.has(id) : (after.segments?.has(id) ?? false);
  const evaluated: string[] = [];
  for (const segment of toEvaluate) {
    evaluated.push(segment.id);
    const matches = segmentMatches(segment, after, inSegment);
    const status: MembershipStatus = !matches
      ? 'out'
      : consentsTo(after, segment.definition.purpose)
        ? 'in'
        : 'withheld';
    const was: MembershipStatus = segments.has(segment.id)
      ? 'in'
      : withheld.has(segment.id)
        ? 'withheld'
        : 'out';
    if (status === was) continue;
    segments.delete(segment.id);
    withheld.delete(segment.id);
    if (status === 'in') segments.add(segment.id);
    if (status === 'withheld') withheld.add(segment.id);
    transitions.push({ segmentId: segment.id, from: was, to: status });
  }
  transitions.sort((a, b) => (a.segmentId < b.segmentId ? -1 : a.segmentId > b.segmentId ? 1 : 0));
  return {
    next: { segments, withheld, setTag: set.tag },
    enter: transitions.filter((t) => t.to === 'in').map((t) => t.segmentId),
    exit: transitions.filter((t) => t.from === 'in').map((t) => t.segmentId),
    transitions,
    evaluated,
  };
}

/** The set's segments of `ids`, in the order of `ids`. */
function* compiledSegments(set: SegmentSet, ids: Iterable<string>): Generator<CompiledSegment> {
  for (const id of ids) {
    const segment = set.byId.get(id);
    if (segment) yield segment;
  }
}
