/**
 * Which profile fields a segment reads, which fields changed between two versions of a member,
 * and an index from fields to the segments that read them: when a profile changes, only the
 * segments reading a changed field need re-evaluating.
 *
 * Fields are named `tag:ID`, `trait:KEY` (the top-level trait: `address.city` reads
 * `trait:address`), `aggregate:ID`, `rfm`, `valueTier`, `cluster` and `segment:ID`; membership
 * also reads `consent:PURPOSE`, the member's consent to the segment's purpose.
 */
import type { JsonValue } from '../../../events/envelope.ts';
import type { SegmentInput } from './evaluate-segment.ts';
import { type CompiledSegment, rfmFields, segmentPurposes } from './segment-definition.ts';

/** The profile fields the segment reads: a member whose other fields change stays in or out. */
export function dependenciesOf(segment: CompiledSegment): ReadonlySet<string> {
  return segment.dependencies;
}

/**
 * The fields a segment's membership reads: what its expression reads, and the member's consent
 * to its purpose (a member is served only with it).
 */
export function membershipFieldsOf(segment: CompiledSegment): ReadonlySet<string> {
  return new Set([...segment.dependencies, `consent:${segment.definition.purpose}`]);
}

function ownValue(record: object, key: string): unknown {
  const value = Object.hasOwn(record, key) ? (record as Record<string, unknown>)[key] : undefined;
  return value === null ? undefined : value;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => sameJson(item, b[i]));
  }
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every(
    (key) =>
      Object.hasOwn(b, key) &&
      sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}

function changedKeys(
  prefix: string,
  before: Readonly<Record<string, JsonValue>>,
  after: Readonly<Record<string, JsonValue>>,
  into: Set<string>,
): void {
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (!sameJson(ownValue(before, key), ownValue(after, key))) into.add(`${prefix}${key}`);
  }
}

/**
 * The fields that differ between two versions of a member, named as in
 * {@link dependenciesOf}. `null` and absent are the same (both read as absent).
 */
export function changedFields(before: SegmentInput, after: SegmentInput): Set<string> {
  const changed = new Set<string>();
  changedKeys('tag:', before.tags, after.tags, changed);
  changedKeys('trait:', before.traits, after.traits, changed);
  changedKeys('aggregate:', before.aggregates, after.aggregates, changed);
  const rfmBefore = before.rfm ?? {};
  const rfmAfter = after.rfm ?? {};
  if (rfmFields.some((field) => ownValue(rfmBefore, field) !== ownValue(rfmAfter, field))) {
    changed.add('rfm');
  }
  if ((before.valueTier ?? undefined) !== (after.valueTier ?? undefined)) changed.add('valueTier');
  if ((before.cluster ?? undefined) !== (after.cluster ?? undefined)) changed.add('cluster');
  for (const purpose of segmentPurposes) {
    if ((before.consent?.[purpose] ?? true) !== (after.consent?.[purpose] ?? true)) {
      changed.add(`consent:${purpose}`);
    }
  }
  const segmentsBefore = before.segments ?? new Set<string>();
  const segmentsAfter = after.segments ?? new Set<string>();
  for (const id of segmentsBefore) if (!segmentsAfter.has(id)) changed.add(`segment:${id}`);
  for (const id of segmentsAfter) if (!segmentsBefore.has(id)) changed.add(`segment:${id}`);
  return changed;
}

/** Field → ids of the segments reading it, kept as segments are added, edited and deleted. */
export class SegmentDependencyIndex {
  private readonly segments = new Map<string, CompiledSegment>();
  private readonly readers = new Map<string, Set<string>>();

  constructor(segments: Iterable<CompiledSegment> = []) {
    for (const segment of segments) this.put(segment);
  }

  /** Adds a segment, or replaces the one with its id. */
  put(segment: CompiledSegment): void {
    this.remove(segment.id);
    this.segments.set(segment.id, segment);
    for (const field of membershipFieldsOf(segment)) {
      let ids = this.readers.get(field);
      if (!ids) {
        ids = new Set();
        this.readers.set(field, ids);
      }
      ids.add(segment.id);
    }
  }

  /** Removes a segment; false when it was not indexed. */
  remove(id: string): boolean {
    const segment = this.segments.get(id);
    if (!segment) return false;
    this.segments.delete(id);
    for (const field of membershipFieldsOf(segment)) {
      const ids = this.readers.get(field);
      ids?.delete(id);
      if (ids?.size === 0) this.readers.delete(field);
    }
    return true;
  }

  get size(): number {
    return this.segments.size;
  }

  /** Ids of the segments reading one field. */
  readersOf(field: string): ReadonlySet<string> {
    return this.readers.get(field) ?? new Set();
  }

  /**
   * The segments to re-evaluate after `changed` fields changed: those reading a changed field,
   * and, since their memberships may change in turn, those reading one of them (transitively).
   * Iterates in evaluation order (a segment after the affected segments it reads), so one pass
   * over the answer re-evaluates everything.
   */
  affectedSegments(changed: Iterable<string>): Set<string> {
    const affected = new Set<string>();
    const queue: string[] = [];
    const mark = (field: string): void => {
      for (const id of this.readers.get(field) ?? []) {
        if (!affected.has(id)) {
          affected.add(id);
          queue.push(id);
        }
      }
    };
    for (const field of changed) mark(field);
    for (let i = 0; i < queue.length; i += 1) mark(`segment:${queue[i]}`);
    const ordered = new Set<string>();
    const visiting = new Set<string>();
    const visit = (id: string): void => {
      if (ordered.has(id) || visiting.has(id)) return;
      visiting.add(id);
      for (const read of this.segments.get(id)?.segmentsRead ?? []) {
        if (affected.has(read)) visit(read);
      }
      visiting.delete(id);
      ordered.add(id);
    };
    for (const id of [...affected].sort()) visit(id);
    return ordered;
  }
}
