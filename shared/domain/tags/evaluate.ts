/**
 * Evaluating a profile at an instant: aggregate values over their windows, tags with the reason
 * each holds, and the next instant anything can change with no new event.
 *
 * Time enters only through the brand-local date of the instant: a window of N days at T covers
 * the local days [localDate(T) − (N − 1), localDate(T)], and age is counted on localDate(T). So
 * two instants on the same local day always give the same answer.
 */
import type { JsonValue } from '../../../events/envelope.ts';
import { decimalToMicro, divideMicro, formatMicro, toMicro } from './decimal.ts';
import {
  type Bucket,
  compareEdges,
  type ProfileState,
  ProfileZoneMismatchError,
  type SeriesState,
  seriesOf,
} from './profile.ts';
import {
  type CompiledAggregate,
  type CompiledCondition,
  type CompiledOperand,
  type CompiledValueSource,
  KindCode,
  type RuleCatalogue,
  type Scalar,
} from './rule-catalogue.ts';
import { civilFromDays, daysFromCivil, daysInMonth, zoneCalendar } from './zone-calendar.ts';

/**
 * An aggregate's value: a number for count and distinctCount, a decimal string for sum, min,
 * max and avg (`"1234.5"`), the value read for first, last and mostFrequent; `null` when there
 * is none (min of nothing).
 */
export type AggregateValue = number | string | boolean | null;

/** `true` for a boolean tag that holds, the value for a value tag. Absent tags are not listed. */
export type TagValue = true | string;

/** Why a tag holds: the rule that matched and every value read to decide it, in reading order. */
export interface TagReason {
  /** `condition` for a boolean tag; `case N` (0-based) or `else` for a value tag. */
  readonly rule: string;
  /**
   * Keyed `aggregate:ID`, `aggregate:ID[v1,v2]` (countOf), `trait:PATH`, `derived:age`,
   * `ratio:A/B` or `tag:ID`; `null` when the value was absent.
   */
  readonly values: Readonly<Record<string, JsonValue>>;
}

export interface TagEvaluation {
  readonly tags: Readonly<Record<string, TagValue>>;
  readonly reasons: Readonly<Record<string, TagReason>>;
  /** Every aggregate of the catalogue at the instant. */
  readonly aggregates: Readonly<Record<string, AggregateValue>>;
  /**
   * The earliest instant (epoch ms) after `now` at which a windowed aggregate or an age can
   * change with no new event; `undefined` when none can. Conservative: never late, maybe early.
   */
  readonly nextChangeAt: number | undefined;
}

export interface TagChange {
  readonly tag: string;
  /** `null` when the tag was absent. */
  readonly from: TagValue | null;
  readonly to: TagValue | null;
}

const MICRO = 1_000_000n;

/** An exact number: numerator / denominator, the denominator positive. */
interface Exact {
  readonly num: bigint;
  readonly den: bigint;
}

interface Evaluated {
  readonly value: AggregateValue;
  readonly exact: Exact | undefined;
  readonly counts: ReadonlyMap<string, number> | undefined;
}

const none: Evaluated = { value: null, exact: undefined, counts: undefined };

function micros(total: bigint): Exact {
  return { num: total, den: MICRO };
}

/** An aggregate's buckets: the series total, or its day buckets in the window ending `today`. */
function bucketsOf(
  aggregate: CompiledAggregate,
  series: SeriesState | undefined,
  today: number,
): readonly Bucket[] {
  if (!series) return [];
  if (aggregate.windowDays === 0) return series.total ? [series.total] : [];
  const buckets = series.buckets;
  const oldest = today - aggregate.windowDays + 1;
  let lo = 0;
  let hi = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((buckets[mid] as Bucket).day < oldest) lo = mid + 1;
    else hi = mid;
  }
  let end = lo;
  while (end < buckets.length && (buckets[end] as Bucket).day <= today) end += 1;
  return buckets.slice(lo, end);
}

function evaluateAggregate(
  aggregate: CompiledAggregate,
  series: SeriesState | undefined,
  today: number,
): Evaluated {
  const buckets = bucketsOf(aggregate, series, today);
  let count = 0;
  for (const bucket of buckets) count += bucket.count;
  switch (aggregate.kindCode) {
    case KindCode.Count:
      return { value: count, exact: micros(BigInt(count) * MICRO), counts: undefined };
    case KindCode.Sum:
    case KindCode.Avg: {
      let total = 0n;
      for (const bucket of buckets) total += toMicro(bucket.units, bucket.micro);
      if (aggregate.kindCode === KindCode.Sum) {
        return { value: formatMicro(total), exact: micros(total), counts: undefined };
      }
      if (count === 0) return none;
      const average = divideMicro(total, BigInt(count));
      return { value: formatMicro(average), exact: micros(average), counts: undefined };
    }
    case KindCode.Min:
    case KindCode.Max: {
      let best: bigint | undefined;
      for (const bucket of buckets) {
        const value = toMicro(bucket.units, bucket.micro);
        if (
          best === undefined ||
          (aggregate.kindCode === KindCode.Min ? value < best : value > best)
        )
          best = value;
      }
      return best === undefined
        ? none
        : { value: formatMicro(best), exact: micros(best), counts: undefined };
    }
    case KindCode.First:
    case KindCode.Last: {
      let edge: Bucket | undefined;
      for (const bucket of buckets) {
        if (!edge) {
          edge = bucket;
          continue;
        }
        const order = compareEdges(
          bucket.edgeTs,
          bucket.edgeId,
          bucket.edgeIndex,
          bucket.edgeValue,
          edge.edgeTs,
          edge.edgeId,
          edge.edgeIndex,
          edge.edgeValue,
        );
        if (aggregate.kindCode === KindCode.First ? order < 0 : order > 0) edge = bucket;
      }
      return edge ? scalarValue(edge.edgeValue) : none;
    }
    default: {
      const counts = new Map<string, number>();
      for (const bucket of buckets) {
        for (const [value, n] of bucket.values ?? [])
          counts.set(value, (counts.get(value) ?? 0) + n);
      }
      if (aggregate.kindCode === KindCode.DistinctCount) {
        return { value: counts.size, exact: micros(BigInt(counts.size) * MICRO), counts };
      }
      let best: string | undefined;
      let bestCount = 0;
      for (const [value, n] of counts) {
        if (n > bestCount || (n === bestCount && best !== undefined && value < best)) {
          best = value;
          bestCount = n;
        }
      }
      return best === undefined ? { ...none, counts } : { ...scalarValue(best), counts };
    }
  }
}

function scalarValue(value: Scalar): Evaluated {
  const exact = typeof value === 'boolean' ? undefined : decimalToMicro(value);
  return { value, exact: exact === undefined ? undefined : micros(exact), counts: undefined };
}

/** Age in whole years on local day `today`: from the `birthday` trait, else the `age` trait. */
function ageOn(state: ProfileState, today: number): number | undefined {
  const birthday = birthdayOf(state);
  if (birthday) {
    const { year, month, day } = civilFromDays(today);
    const age =
      year -
      birthday.year -
      (month < birthday.month || (month === birthday.month && day < birthday.day) ? 1 : 0);
    return age >= 0 ? age : undefined;
  }
  const age = state.traits.get('age')?.value;
  return typeof age === 'number' && Number.isInteger(age) && age >= 0 && age <= 150
    ? age
    : undefined;
}

/** The `birthday` trait when it is a real `YYYY-MM-DD` date. */
function birthdayOf(state: ProfileState): { year: number; month: number; day: number } | undefined {
  const text = state.traits.get('birthday')?.value;
  if (typeof text !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return undefined;
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(5, 7));
  const day = Number(text.slice(8, 10));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return { year, month, day };
}

/** The first local day after `today` on which the age from the birthday changes. */
function nextBirthdayChange(state: ProfileState, today: number): number | undefined {
  const birthday = birthdayOf(state);
  if (!birthday) return undefined;
  const { year } = civilFromDays(today);
  for (const candidateYear of [year, year + 1]) {
    // A 29 February birthday counts on 1 March in common years.
    const day = Math.min(birthday.day, daysInMonth(candidateYear, birthday.month));
    const anniversary =
      daysFromCivil(candidateYear, birthday.month, day) + (day < birthday.day ? 1 : 0);
    if (anniversary > today) return anniversary;
  }
  return undefined;
}

/** The first local day after `today` on which a windowed aggregate's buckets change. */
function nextWindowChange(state: ProfileState, catalogue: RuleCatalogue, today: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const aggregate of catalogue.aggregates) {
    const days = aggregate.windowDays;
    if (days === 0) continue;
    const held = seriesOf(state, catalogue, aggregate);
    if (!held) continue;
    // The oldest bucket in the window leaves it on its day + N; the first future-dated bucket
    // (timestamps may run ahead of the clock) enters on its own day.
    const oldest = today - days + 1;
    let leaving = true;
    for (const bucket of held.buckets) {
      if (bucket.day < oldest) continue;
      if (bucket.day > today) {
        next = Math.min(next, bucket.day);
        break;
      }
      if (leaving) {
        next = Math.min(next, bucket.day + days);
        leaving = false;
      }
    }
  }
  return next;
}

class TagEvaluator {
  private readonly evaluated: Evaluated[];
  private readonly tags: Record<string, TagValue> = {};
  private values: Record<string, JsonValue> = {};
  private age: number | undefined | null = null;

  constructor(
    private readonly state: ProfileState,
    private readonly catalogue: RuleCatalogue,
    private readonly today: number,
  ) {
    this.evaluated = catalogue.aggregates.map((aggregate) =>
      evaluateAggregate(aggregate, seriesOf(state, catalogue, aggregate), today),
    );
  }

  run(): Omit<TagEvaluation, 'nextChangeAt'> {
    const reasons: Record<string, TagReason> = {};
    for (const tag of this.catalogue.tags) {
      this.values = {};
      if (tag.condition) {
        if (this.holds(tag.condition)) {
          this.tags[tag.id] = true;
          reasons[tag.id] = { rule: 'condition', values: this.values };
        }
        continue;
      }
      let produced: { value: string; rule: string } | undefined;
      for (const [i, item] of tag.cases.entries()) {
        if (item.when && !this.holds(item.when)) continue;
        const value = this.produce(item.then);
        if (value !== undefined) {
          produced = { value, rule: `case ${i}` };
          break;
        }
      }
      if (!produced && tag.otherwise !== undefined)
        produced = { value: tag.otherwise, rule: 'else' };
      if (produced) {
        this.tags[tag.id] = produced.value;
        reasons[tag.id] = { rule: produced.rule, values: this.values };
      }
    }
    const aggregates: Record<string, AggregateValue> = {};
    for (const aggregate of this.catalogue.aggregates) {
      aggregates[aggregate.id] = (this.evaluated[aggregate.index] as Evaluated).value;
    }
    return { tags: this.tags, reasons, aggregates };
  }

  private produce(source: CompiledValueSource): string | undefined {
    if (source.kind === 'constant') return source.value;
    const { value } = this.read(source);
    if (typeof value === 'string') return value === '' ? undefined : value;
    if (typeof value === 'number') return String(value);
    return undefined;
  }

  private holds(condition: CompiledCondition): boolean {
    switch (condition.kind) {
      case 'all':
        return condition.conditions.every((c) => this.holds(c));
      case 'any':
        return condition.conditions.some((c) => this.holds(c));
      case 'not':
        return !this.holds(condition.condition);
      default:
        return compare(this.read(condition.operand), condition.op, condition.value);
    }
  }

  /** An operand's value, recorded in the reason on first read. */
  private read(operand: CompiledOperand): Operand {
    const result = this.resolve(operand);
    if (!Object.hasOwn(this.values, operand.key)) {
      this.values[operand.key] = result.value === undefined ? null : (result.value as JsonValue);
    }
    return result;
  }

  private resolve(operand: CompiledOperand): Operand {
    switch (operand.kind) {
      case 'aggregate': {
        const { value, exact } = this.evaluated[operand.aggregate.index] as Evaluated;
        return { value: value ?? undefined, exact };
      }
      case 'countOf': {
        const counts = (this.evaluated[operand.aggregate.index] as Evaluated).counts;
        let n = 0;
        for (const value of operand.values) n += counts?.get(value) ?? 0;
        return { value: n, exact: micros(BigInt(n) * MICRO) };
      }
      case 'trait': {
        const [key, ...rest] = operand.path;
        const entry = this.state.traits.get(key as string);
        let value: unknown = entry?.value;
        for (const segment of rest) {
          value =
            typeof value === 'object' && value !== null && !Array.isArray(value)
              ? (value as Record<string, unknown>)[segment]
              : undefined;
        }
        return fromJson(value);
      }
      case 'derived': {
        if (this.age === null) this.age = ageOn(this.state, this.today);
        return this.age === undefined
          ? absent
          : { value: this.age, exact: micros(BigInt(this.age) * MICRO) };
      }
      case 'ratio': {
        const a = (this.evaluated[operand.numerator.index] as Evaluated).exact;
        const b = (this.evaluated[operand.denominator.index] as Evaluated).exact;
        if (!a || !b || b.num === 0n) return absent;
        // (a.num / a.den) / (b.num / b.den)
        let num = a.num * b.den;
        let den = a.den * b.num;
        if (den < 0n) {
          num = -num;
          den = -den;
        }
        return { value: formatMicro(divideMicro(num * MICRO, den)), exact: { num, den } };
      }
      case 'tag': {
        const value = this.tags[operand.tag];
        return value === undefined ? absent : { value, exact: undefined };
      }
      default:
        return absent;
    }
  }
}

interface Operand {
  /** `undefined` when absent (a missing trait, the min of nothing, a ratio over zero). */
  readonly value: unknown;
  readonly exact: Exact | undefined;
}

const absent: Operand = { value: undefined, exact: undefined };

function fromJson(value: unknown): Operand {
  if (value === undefined || value === null) return absent;
  const exact =
    typeof value === 'number' || typeof value === 'string' ? decimalToMicro(value) : undefined;
  return { value, exact: exact === undefined ? undefined : micros(exact) };
}

/** Sign of `operand − constant` when both are numbers, else `undefined`. */
function order(operand: Operand, constant: number): number | undefined {
  if (!operand.exact) return undefined;
  const c = decimalToMicro(constant);
  if (c === undefined) return undefined;
  const left = operand.exact.num * MICRO;
  const right = c * operand.exact.den;
  return left === right ? 0 : left < right ? -1 : 1;
}

function equals(operand: Operand, constant: Scalar): boolean {
  if (typeof constant === 'number') return order(operand, constant) === 0;
  return operand.value === constant;
}

function compare(
  operand: Operand,
  op: string,
  constant: Scalar | readonly Scalar[] | undefined,
): boolean {
  const present = operand.value !== undefined;
  if (op === 'exists') return present;
  if (op === 'notExists') return !present;
  if (!present) return false;
  switch (op) {
    case '==':
      return equals(operand, constant as Scalar);
    case '!=':
      return !equals(operand, constant as Scalar);
    case 'in':
      return (constant as readonly Scalar[]).some((c) => equals(operand, c));
    case 'notIn':
      return !(constant as readonly Scalar[]).some((c) => equals(operand, c));
    default: {
      const sign = order(operand, constant as number);
      if (sign === undefined) return false;
      if (op === '<') return sign < 0;
      if (op === '<=') return sign <= 0;
      if (op === '>') return sign > 0;
      return sign >= 0;
    }
  }
}

/**
 * The profile's aggregates and tags at instant `now` (epoch ms), why each tag holds, and when
 * the answer can next change without a new event.
 */
export function evaluateTags(
  state: ProfileState,
  catalogue: RuleCatalogue,
  now: number,
  zone: string,
): TagEvaluation {
  if (state.zone !== zone) throw new ProfileZoneMismatchError(state.zone, zone);
  const calendar = zoneCalendar(zone);
  const today = calendar.localDay(now);
  const result = new TagEvaluator(state, catalogue, today).run();
  let nextDay = nextWindowChange(state, catalogue, today);
  if (catalogue.readsAge)
    nextDay = Math.min(nextDay, nextBirthdayChange(state, today) ?? Number.POSITIVE_INFINITY);
  const nextChangeAt = Number.isFinite(nextDay)
    ? calendar.firstInstantOfDay(nextDay, now)
    : undefined;
  return { ...result, nextChangeAt };
}

/** The tags that differ between two evaluations, sorted by tag id. */
export function diffTags(
  before: Readonly<Record<string, TagValue>>,
  after: Readonly<Record<string, TagValue>>,
): TagChange[] {
  const ids = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changes: TagChange[] = [];
  for (const tag of ids) {
    const from = Object.hasOwn(before, tag) ? (before[tag] as TagValue) : null;
    const to = Object.hasOwn(after, tag) ? (after[tag] as TagValue) : null;
    if (from !== to) changes.push({ tag, from, to });
  }
  return changes;
}
