/**
 * A deliberately simple reference for segment evaluation: it reads the definition's raw JSON
 * (not the compiled form), evaluates every part of every combinator (no short-circuit), and
 * compares numbers as fractions of BigInts. Nothing here is shared with the fast path.
 */
import type { JsonValue } from '../../../events/envelope.ts';
import type { SegmentInput, SegmentReason } from '../../../shared/domain/segments/index.ts';

type Json = unknown;
type Node = Record<string, Json>;

interface Fraction {
  readonly num: bigint;
  readonly den: bigint;
}

/** A finite number (its shortest decimal text) or a plain decimal string, as a fraction. */
function fraction(value: Json): Fraction | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
  } else if (typeof value === 'string' && /^-?[0-9]+(\.[0-9]+)?$/.test(value)) {
    text = value;
  } else {
    return undefined;
  }
  const match = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:e([+-]?[0-9]+))?$/.exec(text);
  if (!match) throw new Error(`reference cannot read ${text}`);
  const digits = BigInt(`${match[2]}${match[3] ?? ''}`) * (match[1] === '-' ? -1n : 1n);
  const exponent = Number(match[4] ?? '0') - (match[3]?.length ?? 0);
  return exponent >= 0
    ? { num: digits * 10n ** BigInt(exponent), den: 1n }
    : { num: digits, den: 10n ** BigInt(-exponent) };
}

/** Sign of a − b, or undefined when either is not a number. */
function numericOrder(a: Json, b: Json): number | undefined {
  const x = fraction(a);
  const y = fraction(b);
  if (!x || !y) return undefined;
  const left = x.num * y.den;
  const right = y.num * x.den;
  return left === right ? 0 : left < right ? -1 : 1;
}

function same(actual: Json, constant: Json): boolean {
  if (typeof constant === 'number') return numericOrder(actual, constant) === 0;
  return actual === constant;
}

function compare(actual: Json, op: string, constant: Json): boolean {
  const absent = actual === undefined || actual === null;
  if (op === 'exists') return !absent;
  if (op === 'not_exists') return absent;
  if (absent) return false;
  const list = Array.isArray(constant) ? constant : [];
  switch (op) {
    case '=':
      return same(actual, constant);
    case '!=':
      return !same(actual, constant);
    case 'in':
      return list.some((c) => same(actual, c));
    case 'not_in':
      return !list.some((c) => same(actual, c));
    case '<':
      return (numericOrder(actual, constant) ?? Number.NaN) < 0;
    case '<=':
      return (numericOrder(actual, constant) ?? Number.NaN) <= 0;
    case '>':
      return (numericOrder(actual, constant) ?? Number.NaN) > 0;
    case '>=':
      return (numericOrder(actual, constant) ?? Number.NaN) >= 0;
    case 'between':
      return (
        (numericOrder(actual, list[0]) ?? Number.NaN) >= 0 &&
        (numericOrder(actual, list[1]) ?? Number.NaN) <= 0
      );
    case 'contains':
      if (typeof actual === 'string') return actual.includes(constant as string);
      if (Array.isArray(actual)) return actual.includes(constant);
      return false;
    default:
      throw new Error(`reference does not know op ${op}`);
  }
}

function field(record: unknown, key: string): Json {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
  return Object.hasOwn(record, key) ? (record as Record<string, Json>)[key] : undefined;
}

export interface ReferenceResult {
  readonly in: boolean;
  readonly why: SegmentReason[];
}

/**
 * The reference answer for a raw expression. `segmentsOf` answers segment leaves when given,
 * else `member.segments`.
 */
export function referenceEvaluate(
  expression: Json,
  member: SegmentInput,
  segmentsOf?: (id: string) => boolean,
  pointer = '/expression',
): ReferenceResult {
  const node = expression as Node;
  if ('all' in node || 'any' in node) {
    const isAll = 'all' in node;
    const parts = (node[isAll ? 'all' : 'any'] as Json[]).map((child, i) =>
      referenceEvaluate(child, member, segmentsOf, `${pointer}/${isAll ? 'all' : 'any'}/${i}`),
    );
    const deciding = parts.find((part) => part.in !== isAll);
    if (deciding) return deciding;
    return { in: isAll, why: parts.flatMap((part) => part.why) };
  }
  if ('not' in node) {
    const inner = referenceEvaluate(node.not, member, segmentsOf, `${pointer}/not`);
    return { in: !inner.in, why: inner.why };
  }
  if ('segment' in node) {
    const id = node.segment as string;
    const holds = segmentsOf ? segmentsOf(id) : (member.segments?.has(id) ?? false);
    return {
      in: holds,
      why: [{ pointer, operand: `segment:${id}`, op: '=', value: true, actual: holds, holds }],
    };
  }
  let operand: string;
  let actual: Json;
  let op = node.op as string | undefined;
  let value = node.value;
  if ('tag' in node) {
    operand = `tag:${node.tag as string}`;
    actual = field(member.tags, node.tag as string);
    op ??= 'exists';
  } else if ('trait' in node) {
    operand = `trait:${node.trait as string}`;
    actual = (node.trait as string).split('.').reduce<Json>(field, member.traits);
  } else if ('aggregate' in node) {
    operand = `aggregate:${node.aggregate as string}`;
    actual = field(member.aggregates, node.aggregate as string);
  } else if ('rfm' in node) {
    operand = `rfm:${node.rfm as string}`;
    actual = field(member.rfm ?? undefined, node.rfm as string);
  } else {
    const key = (['valueTier', 'userType', 'cluster'] as const).find((k) => k in node);
    if (key === undefined) throw new Error(`reference cannot read ${JSON.stringify(node)}`);
    value = node[key];
    op ??= Array.isArray(value) ? 'in' : '=';
    if (key === 'userType') {
      operand = 'tag:user_type';
      actual = field(member.tags, 'user_type');
    } else {
      operand = key;
      actual = member[key];
    }
  }
  const resolvedOp = op as string;
  const holds = compare(actual, resolvedOp, value);
  const reason = {
    pointer,
    operand,
    op: resolvedOp,
    ...(value === undefined ? {} : { value }),
    actual: actual === undefined ? null : (actual as JsonValue),
    holds,
  } as SegmentReason;
  return { in: holds, why: [reason] };
}
