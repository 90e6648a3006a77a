/**
 * Incremental membership of one member. When a profile changes, only the segments reading a
 * changed field are re-evaluated — with, transitively, the segments reading those — and every
 * segment is when the set of segments changed since the member was last evaluated or the previous
 * profile is unknown. Pure: the materialiser stores the state and records the enters and exits.
 */
import { createHash } from 'node:crypto';
import { type SegmentInput, segmentMatches } from './evaluate-segment.ts';
import { orderSegments } from './load-segment-definition.ts';
import type { CompiledSegment } from './segment-definition.ts';
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

/** One member's memberships, as the materialiser stores them. */
export interface MembershipState {
  readonly segments: ReadonlySet<string>;
  /** {@link SegmentSet.tag} of the set the memberships were last evaluated against. */
  readonly setTag: string | undefined;
}

export interface MembershipStep {
  readonly next: MembershipState;
  /** Segments entered, sorted. */
  readonly enter: string[];
  /** Segments left, sorted: those now out, and those no longer in the set. */
  readonly exit: string[];
  /** Ids of the segments evaluated, in the order they were. */
  readonly evaluated: string[];
}

/** A member never evaluated: in no segment, against no set. */
export const emptyMembership: MembershipState = { segments: new Set(), setTag: undefined };

/**
 * The set of `compiled` segments; `versions` gives each one's stored version (it must name every
 * id), so that an edit changes the tag. Throws `SegmentDefinitionError` (`cycle`) when the
 * segments read each other in a cycle.
 */
export function segmentSet(
  compiled: Iterable<CompiledSegment>,
  versions: ReadonlyMap<string, number>,
): SegmentSet {
  const ordered = orderSegments(compiled);
  const names = ordered.map((segment) => {
    const version = versions.get(segment.id);
    if (version === undefined) throw new RangeError(`no version for segment "${segment.id}"`);
    return `${segment.id}@${version}`;
  });
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
 * Segments no longer in the set are exited.
 *
 * A `segment` leaf reading a segment of the set reads its new membership when it was evaluated
 * earlier in this step, else `current`'s; one reading a segment outside the set reads
 * `after.segments`, as {@link evaluateSegments} does.
 */
export function stepMembership(
  set: SegmentSet,
  current: MembershipState,
  before: SegmentInput | undefined,
  after: SegmentInput,
): MembershipStep {
  const segments = new Set<string>();
  const exit: string[] = [];
  for (const id of current.segments) {
    if (set.byId.has(id)) segments.add(id);
    else exit.push(id);
  }
  const toEvaluate: Iterable<CompiledSegment> =
    before === undefined || current.setTag !== set.tag
      ? set.ordered
      : compiledSegments(set, set.index.affectedSegments(changedFields(before, after)));
  const inSegment = (id: string): boolean =>
    set.byId.has(id) ? segments.has(id) : (after.segments?.has(id) ?? false);
  const enter: string[] = [];
  const evaluated: string[] = [];
  for (const segment of toEvaluate) {
    evaluated.push(segment.id);
    const now = segmentMatches(segment, after, inSegment);
    if (now === segments.has(segment.id)) continue;
    if (now) {
      segments.add(segment.id);
      enter.push(segment.id);
    } else {
      segments.delete(segment.id);
      exit.push(segment.id);
    }
  }
  return {
    next: { segments, setTag: set.tag },
    enter: enter.sort(),
    exit: exit.sort(),
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
