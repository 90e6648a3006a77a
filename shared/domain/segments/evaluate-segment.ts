/**
 * Evaluating a compiled segment over one member: whether the member is in it, and the leaves
 * that decided. Pure and synchronous; memberships in other segments come from the caller.
 *
 * Missing values: a value that is absent or `null` makes every comparison false — `!=` and
 * `not_in` included — except `not_exists`, which is true, and `exists`, false.
 */
import type { JsonValue } from '../../../events/envelope.ts';
import type { AggregateValue, TagValue } from '../tags/evaluate.ts';
import { compareExact, exactDecimalOf, exactKey } from './exact-decimal.ts';
import type {
  CompiledExpression,
  CompiledNumber,
  CompiledOperand,
  CompiledSegment,
  CompiledTest,
  SegmentConstant,
  SegmentOp,
  SegmentPurpose,
} from './segment-definition.ts';

/** Whether the member consents to the segment's purpose (absent from `consent`: granted). */
export function consentsTo(member: SegmentInput, purpose: SegmentPurpose): boolean {
  return member.consent?.[purpose] ?? true;
}

/** A member's RFM results, as the nightly job writes them; absent fields are unknown. */
export interface RfmScores {
  readonly r?: number | null;
  readonly f?: number | null;
  readonly m?: number | null;
  /** The three scores as text, `"555"`. */
  readonly score?: string | null;
  /** A named RFM segment (`champions`, `at_risk`…). */
  readonly segment?: string | null;
  /** The 8-class scheme (`重要价值客户`…). */
  readonly class8?: string | null;
}

/** What a segment reads of a member: a plain document, as the profile store holds it. */
export interface SegmentInput {
  /** Current tags: `true` for a boolean tag, the value for a value tag; absent tags not listed. */
  readonly tags: Readonly<Record<string, TagValue>>;
  readonly traits: Readonly<Record<string, JsonValue>>;
  readonly aggregates: Readonly<Record<string, AggregateValue>>;
  readonly rfm?: RfmScores | null;
  /** `high`, `mid` or `low`. */
  readonly valueTier?: string | null;
  /** The member's cluster id (its persona card has the same id). */
  readonly cluster?: string | null;
  /** The segments the member is in, for `segment` leaves when no resolver is given. */
  readonly segments?: ReadonlySet<string>;
  /**
   * Consent per purpose, resolved (defaults applied). Expressions never read it; membership
   * does: a segment serves a member only with consent to its purpose. Absent purpose: granted.
   */
  readonly consent?: Readonly<Partial<Record<SegmentPurpose, boolean>>>;
}

/** One leaf that decided, with what it read: "why is the member in (or out of) the segment". */
export interface SegmentReason {
  /** JSON Pointer of the leaf in the definition, e.g. `/expression/all/0`. */
  readonly pointer: string;
  /** `tag:ID`, `trait:PATH`, `aggregate:ID`, `rfm:FIELD`, `valueTier`, `cluster` or `segment:ID`. */
  readonly operand: string;
  /** The leaf's op; a bare tag is `exists`, a segment leaf `=` with value `true`. */
  readonly op: SegmentOp;
  /** The constant as written; absent for `exists` / `not_exists`. */
  readonly value?: SegmentConstant;
  /** The value read; `null` when absent. */
  readonly actual: JsonValue;
  /** Whether the leaf held (a leaf under `not` decides by failing). */
  readonly holds: boolean;
}

export interface SegmentEvaluation {
  readonly in: boolean;
  /**
   * The leaves that decided, in definition order: for `all`, every leaf when it holds, else those
   * of its first failing part; for `any`, those of its first holding part, else every leaf; `not`
   * passes its part's leaves through.
   */
  readonly why: readonly SegmentReason[];
}

/** Whether the member is in another segment; when absent, `member.segments` answers. */
export type SegmentMembership = (segmentId: string) => boolean;

function own(record: object, key: string): unknown {
  return Object.hasOwn(record, key) ? (record as Record<string, unknown>)[key] : undefined;
}

function readOperand(operand: CompiledOperand, member: SegmentInput): unknown {
  switch (operand.kind) {
    case 'tag':
      return own(member.tags, operand.tag);
    case 'aggregate':
      return own(member.aggregates, operand.aggregate);
    case 'trait': {
      let value: unknown = member.traits;
      for (const name of operand.path) {
        value =
          typeof value === 'object' && value !== null && !Array.isArray(value)
            ? own(value, name)
            : undefined;
      }
      return value;
    }
    case 'rfm':
      return member.rfm ? own(member.rfm, operand.rfm) : undefined;
    case 'valueTier':
      return member.valueTier;
    default:
      return member.cluster;
  }
}

/** Sign of `actual − bound` when `actual` is a finite number or a decimal string, else `undefined`. */
function sign(actual: unknown, bound: CompiledNumber): number | undefined {
  if (typeof actual === 'number') {
    // Distinct doubles keep their order through their shortest decimal forms, so comparing
    // numbers natively is exact.
    if (!Number.isFinite(actual)) return undefined;
    return actual < bound.number ? -1 : actual > bound.number ? 1 : 0;
  }
  if (typeof actual === 'string') {
    const exact = exactDecimalOf(actual);
    return exact === undefined ? undefined : compareExact(exact, bound.exact);
  }
  return undefined;
}

function passes(test: CompiledTest, actual: unknown): boolean {
  if (actual === undefined || actual === null) return test.kind === 'not_exists';
  switch (test.kind) {
    case 'exists':
      return true;
    case 'not_exists':
      return false;
    case 'equal': {
      const equal =
        test.number === undefined ? actual === test.scalar : sign(actual, test.number) === 0;
      return equal !== test.negate;
    }
    case 'member': {
      let found = false;
      if (typeof actual === 'string') {
        found = test.strings.has(actual);
        if (!found && test.exactKeys.size > 0) {
          const exact = exactDecimalOf(actual);
          found = exact !== undefined && test.exactKeys.has(exactKey(exact));
        }
      } else if (typeof actual === 'number') {
        found = Number.isFinite(actual) && test.numbers.has(actual);
      } else if (typeof actual === 'boolean') {
        found = test.booleans.has(actual);
      }
      return found !== test.negate;
    }
    case 'order': {
      const s = sign(actual, test.bound);
      if (s === undefined) return false;
      switch (test.op) {
        case '<':
          return s < 0;
        case '<=':
          return s <= 0;
        case '>':
          return s > 0;
        default:
          return s >= 0;
      }
    }
    case 'between': {
      const low = sign(actual, test.low);
      return low !== undefined && low >= 0 && (sign(actual, test.high) as number) <= 0;
    }
    default:
      if (typeof actual === 'string') return actual.includes(test.text);
      return Array.isArray(actual) && actual.some((item) => item === test.text);
  }
}

function inSegment(
  id: string,
  member: SegmentInput,
  segmentsOf: SegmentMembership | undefined,
): boolean {
  return segmentsOf ? segmentsOf(id) : (member.segments?.has(id) ?? false);
}

function matches(
  node: CompiledExpression,
  member: SegmentInput,
  segmentsOf: SegmentMembership | undefined,
): boolean {
  switch (node.kind) {
    case 'all':
      return node.nodes.every((child) => matches(child, member, segmentsOf));
    case 'any':
      return node.nodes.some((child) => matches(child, member, segmentsOf));
    case 'not':
      return !matches(node.node, member, segmentsOf);
    case 'segment':
      return inSegment(node.segment, member, segmentsOf);
    default:
      return passes(node.test, readOperand(node.operand, member));
  }
}

function explain(
  node: CompiledExpression,
  member: SegmentInput,
  segmentsOf: SegmentMembership | undefined,
): SegmentEvaluation {
  switch (node.kind) {
    case 'all':
    case 'any': {
      // all: decided by the first failing part, else by every part; any: the reverse.
      const decisive = node.kind !== 'all';
      const every: SegmentReason[] = [];
      for (const child of node.nodes) {
        const result = explain(child, member, segmentsOf);
        if (result.in === decisive) return result;
        every.push(...result.why);
      }
      return { in: !decisive, why: every };
    }
    case 'not': {
      const result = explain(node.node, member, segmentsOf);
      return { in: !result.in, why: result.why };
    }
    case 'segment': {
      const holds = inSegment(node.segment, member, segmentsOf);
      return {
        in: holds,
        why: [
          { pointer: node.pointer, operand: node.key, op: '=', value: true, actual: holds, holds },
        ],
      };
    }
    default: {
      const actual = readOperand(node.operand, member);
      const holds = passes(node.test, actual);
      const reason: SegmentReason = {
        pointer: node.pointer,
        operand: node.operand.key,
        op: node.op,
        ...(node.value === undefined ? {} : { value: node.value }),
        actual: actual === undefined ? null : (actual as JsonValue),
        holds,
      };
      return { in: holds, why: [reason] };
    }
  }
}

/**
 * Whether `member` is in the segment, and the leaves that decided. `segmentsOf` answers `segment`
 * leaves (e.g. from memberships evaluated earlier in {@link orderSegments} order); without it,
 * `member.segments` does.
 */
export function evaluateSegment(
  segment: CompiledSegment,
  member: SegmentInput,
  segmentsOf?: SegmentMembership,
): SegmentEvaluation {
  return explain(segment.expression, member, segmentsOf);
}

/** {@link evaluateSegment}'s answer without the reasons: for backfills and re-evaluation. */
export function segmentMatches(
  segment: CompiledSegment,
  member: SegmentInput,
  segmentsOf?: SegmentMembership,
): boolean {
  return matches(segment.expression, member, segmentsOf);
}

/**
 * Every segment of `ordered` (as {@link orderSegments} returns them) over one member, each
 * `segment` leaf answered by the segments evaluated before it, else by `member.segments`.
 */
export function evaluateSegments(
  ordered: readonly CompiledSegment[],
  member: SegmentInput,
): Map<string, SegmentEvaluation> {
  const results = new Map<string, SegmentEvaluation>();
  const segmentsOf: SegmentMembership = (id) =>
    results.get(id)?.in ?? member.segments?.has(id) ?? false;
  for (const segment of ordered) {
    results.set(segment.id, evaluateSegment(segment, member, segmentsOf));
  }
  return results;
}
