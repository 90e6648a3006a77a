/**
 * Folding events into a profile. Order-independent: every accumulator is commutative (counts and
 * exact sums add, min / max / first / last keep a total order, value counts add, traits keep the
 * latest (timestamp, messageId)), so late, reordered or differently batched events give the same
 * state. Deduplication is the caller's: fold each event exactly once.
 */
import type { JsonValue, PortraitEvent } from '../../../events/envelope.ts';
import { decimalSlot, MICRO_PER_UNIT, parseDecimalInto } from './decimal.ts';
import {
  type AggregateState,
  Bucket,
  cloneProfile,
  compareEdges,
  type ProfileState,
  ProfileZoneMismatchError,
  type TraitEntry,
  traitWins,
} from './profile.ts';
import {
  type CompiledAggregate,
  type CompiledPropertyCondition,
  ConditionOpCode,
  KindCode,
  type RuleCatalogue,
} from './rule-catalogue.ts';
import { parseTimestamp, zoneCalendar } from './zone-calendar.ts';

/** Why a value was skipped, for logging (one sample per aggregate and fold). */
export interface FoldProblem {
  /** The aggregate whose rule the value did not fit; `undefined` for an unreadable timestamp. */
  readonly aggregate: string | undefined;
  readonly messageId: string;
  readonly reason: string;
}

export interface FoldResult {
  /** The new state; the input state is left unchanged. */
  readonly state: ProfileState;
  /** Values skipped in this fold (also added to `state.problems`). */
  readonly problems: number;
  /** At most one problem per aggregate (and one for timestamps), to log once. */
  readonly problemSamples: readonly FoldProblem[];
}

const { Count, Sum, Min, Max, Avg, First, Last, MostFrequent, DistinctCount } = KindCode;
const {
  Equal,
  NotEqual,
  Less,
  LessOrEqual,
  Greater,
  GreaterOrEqual,
  In,
  NotIn,
  Exists,
  NotExists,
} = ConditionOpCode;

const slot = decimalSlot();

type JsonRecord = { readonly [key: string]: JsonValue };

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a path; `undefined` when a step is missing or not an object. */
function readPath(from: unknown, segments: readonly string[]): unknown {
  let current = from;
  for (let i = 0; i < segments.length; i += 1) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as JsonRecord)[segments[i] as string];
  }
  return current;
}

const MATCH = 1;
const NO_MATCH = 0;
const UNREADABLE = -1;

/** `slot` compared with a constant: negative, zero or positive. */
function compareWithSlot(units: number, micro: number): number {
  if (slot.units !== units) return slot.units < units ? -1 : 1;
  return slot.micro === micro ? 0 : slot.micro < micro ? -1 : 1;
}

function equalsConstant(condition: CompiledPropertyCondition, value: unknown): boolean {
  const number = condition.number;
  if (number !== undefined) {
    return parseDecimalInto(value, slot) && compareWithSlot(number.units, number.micro) === 0;
  }
  return value === condition.scalar;
}

function inList(condition: CompiledPropertyCondition, value: unknown): boolean {
  if (typeof value === 'string' && condition.strings?.has(value)) return true;
  if (typeof value === 'boolean') return condition.booleans?.has(value) === true;
  const numbers = condition.numbers;
  if (numbers !== undefined && numbers.length > 0 && parseDecimalInto(value, slot)) {
    for (let i = 0; i < numbers.length; i += 1) {
      const n = numbers[i] as (typeof numbers)[number];
      if (compareWithSlot(n.units, n.micro) === 0) return true;
    }
  }
  return false;
}

/** MATCH, NO_MATCH, or UNREADABLE when an ordering condition meets a value that is no number. */
function matchCondition(condition: CompiledPropertyCondition, value: unknown): number {
  const op = condition.op;
  if (value === undefined || value === null) {
    if (op === Exists) return NO_MATCH;
    if (op === NotExists) return MATCH;
    return condition.ifMissing ? MATCH : NO_MATCH;
  }
  switch (op) {
    case Exists:
      return MATCH;
    case NotExists:
      return NO_MATCH;
    case Equal:
      return equalsConstant(condition, value) ? MATCH : NO_MATCH;
    case NotEqual:
      return equalsConstant(condition, value) ? NO_MATCH : MATCH;
    case In:
      return inList(condition, value) ? MATCH : NO_MATCH;
    case NotIn:
      return inList(condition, value) ? NO_MATCH : MATCH;
    default: {
      if (!parseDecimalInto(value, slot)) return UNREADABLE;
      const number = condition.number as NonNullable<CompiledPropertyCondition['number']>;
      const order = compareWithSlot(number.units, number.micro);
      if (op === Less) return order < 0 ? MATCH : NO_MATCH;
      if (op === LessOrEqual) return order <= 0 ? MATCH : NO_MATCH;
      if (op === Greater) return order > 0 ? MATCH : NO_MATCH;
      if (op === GreaterOrEqual) return order >= 0 ? MATCH : NO_MATCH;
      return NO_MATCH;
    }
  }
}

/** Checks `where` in order; the first condition that fails or cannot be read decides. */
function matchWhere(where: readonly CompiledPropertyCondition[], properties: unknown): number {
  for (let i = 0; i < where.length; i += 1) {
    const condition = where[i] as CompiledPropertyCondition;
    const verdict = matchCondition(condition, readPath(properties, condition.path));
    if (verdict !== MATCH) return verdict;
  }
  return MATCH;
}

/** The bucket of `day` (ignored for whole-history aggregates), created in sorted position. */
function bucketFor(state: AggregateState, day: number): Bucket {
  const buckets = state.buckets;
  const n = buckets.length;
  if (state.windowDays === 0) {
    const only = buckets[0];
    if (only !== undefined) return only;
    const created = new Bucket(0);
    buckets.push(created);
    return created;
  }
  if (n === 0 || (buckets[n - 1] as Bucket).day < day) {
    const created = new Bucket(day);
    buckets.push(created);
    return created;
  }
  const last = buckets[n - 1] as Bucket;
  if (last.day === day) return last;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((buckets[mid] as Bucket).day < day) lo = mid + 1;
    else hi = mid;
  }
  const found = buckets[lo] as Bucket;
  if (found.day === day) return found;
  const created = new Bucket(day);
  buckets.splice(lo, 0, created);
  return created;
}

/**
 * Adds one value to an aggregate. Returns false, changing nothing, when the value does not fit
 * the aggregate's kind (a problem).
 */
function addValue(
  state: AggregateState,
  kind: number,
  day: number,
  value: unknown,
  ts: number,
  messageId: string,
  index: number,
): boolean {
  switch (kind) {
    case Sum:
    case Avg: {
      if (!parseDecimalInto(value, slot)) return false;
      const bucket = bucketFor(state, day);
      let micro = bucket.micro + slot.micro;
      let units = bucket.units + slot.units;
      if (micro >= MICRO_PER_UNIT) {
        micro -= MICRO_PER_UNIT;
        units += 1;
      }
      bucket.units = units;
      bucket.micro = micro;
      bucket.count += 1;
      return true;
    }
    case Min:
    case Max: {
      if (!parseDecimalInto(value, slot)) return false;
      const bucket = bucketFor(state, day);
      const order = bucket.count === 0 ? 0 : compareWithSlot(bucket.units, bucket.micro);
      if (bucket.count === 0 || (kind === Min ? order < 0 : order > 0)) {
        bucket.units = slot.units;
        bucket.micro = slot.micro;
      }
      bucket.count += 1;
      return true;
    }
    case First:
    case Last: {
      if (
        typeof value !== 'string' &&
        typeof value !== 'boolean' &&
        !(typeof value === 'number' && Number.isFinite(value))
      ) {
        return false;
      }
      const bucket = bucketFor(state, day);
      if (bucket.count === 0) {
        bucket.edgeTs = ts;
        bucket.edgeId = messageId;
        bucket.edgeIndex = index;
        bucket.edgeValue = value;
      } else {
        const order = compareEdges(
          ts,
          messageId,
          index,
          value,
          bucket.edgeTs,
          bucket.edgeId,
          bucket.edgeIndex,
          bucket.edgeValue,
        );
        if (kind === First ? order < 0 : order > 0) {
          bucket.edgeTs = ts;
          bucket.edgeId = messageId;
          bucket.edgeIndex = index;
          bucket.edgeValue = value;
        }
      }
      bucket.count += 1;
      return true;
    }
    case MostFrequent:
    case DistinctCount: {
      let key: string;
      if (typeof value === 'string') key = value;
      else if (typeof value === 'number' && Number.isFinite(value)) key = String(value);
      else return false;
      const bucket = bucketFor(state, day);
      let values = bucket.values;
      if (values === null) {
        values = new Map();
        bucket.values = values;
      }
      values.set(key, (values.get(key) ?? 0) + 1);
      bucket.count += 1;
      return true;
    }
    default:
      return false;
  }
}

function misfit(kind: number): string {
  if (kind === First || kind === Last) return 'is not a string, number or boolean';
  if (kind === MostFrequent || kind === DistinctCount) return 'is not a string or number';
  return 'is not a number or decimal string below 1e15';
}

function applyTraits(traits: Map<string, TraitEntry>, event: PortraitEvent, ts: number): void {
  const incoming = event.traits;
  if (!isRecord(incoming)) return;
  for (const key of Object.keys(incoming)) {
    const value = incoming[key];
    if (value === undefined) continue;
    const entry: TraitEntry = { value, ts, messageId: event.messageId };
    const held = traits.get(key);
    if (held === undefined || traitWins(entry, held)) traits.set(key, entry);
  }
}

/** The aggregate states of the catalogue, by index: held ones when their rule is unchanged. */
function resolveStates(
  state: ProfileState,
  catalogue: RuleCatalogue,
  hadEvents: boolean,
): AggregateState[] {
  const resolved: AggregateState[] = [];
  const aggregates = new Map<string, AggregateState>();
  for (const aggregate of catalogue.aggregates) {
    const held = state.aggregates.get(aggregate.id);
    const current: AggregateState =
      held?.signature === aggregate.signature
        ? held
        : {
            id: aggregate.id,
            signature: aggregate.signature,
            kindCode: aggregate.kindCode,
            windowDays: aggregate.windowDays,
            buckets: [],
            needsBackfill: hadEvents,
          };
    resolved.push(current);
    aggregates.set(aggregate.id, current);
  }
  state.aggregates = aggregates;
  return resolved;
}

/**
 * Folds a member's events into their profile. Pure: returns a new state. Events whose timestamp
 * cannot be read are skipped whole; a value that does not fit a rule (revenue "abc") is skipped
 * for that aggregate only. Both are counted in `problems`, never thrown.
 *
 * `track`, `page` and `screen` events feed aggregates from `properties`; `identify` and `group`
 * from `traits`. `identify` traits also update the profile's traits.
 */
export function foldEvents(
  state: ProfileState,
  events: readonly PortraitEvent[],
  catalogue: RuleCatalogue,
  zone: string,
): FoldResult {
  if (state.zone !== zone) throw new ProfileZoneMismatchError(state.zone, zone);
  const next = cloneProfile(state);
  const calendar = zoneCalendar(zone);
  const compiled = catalogue.aggregates;
  const states = resolveStates(next, catalogue, state.events > 0);
  const sampled = new Uint8Array(compiled.length + 1);
  const samples: FoldProblem[] = [];
  let problems = 0;
  const problem = (
    aggregate: CompiledAggregate | undefined,
    event: PortraitEvent,
    reason: string,
  ): void => {
    problems += 1;
    const slotIndex = aggregate === undefined ? compiled.length : aggregate.index;
    if (sampled[slotIndex] === 0) {
      sampled[slotIndex] = 1;
      samples.push({ aggregate: aggregate?.id, messageId: String(event.messageId), reason });
    }
  };

  for (let e = 0; e < events.length; e += 1) {
    const event = events[e] as PortraitEvent;
    const ts = typeof event.timestamp === 'string' ? parseTimestamp(event.timestamp) : Number.NaN;
    if (ts !== ts) {
      problem(undefined, event, `unreadable timestamp ${JSON.stringify(event.timestamp)}`);
      continue;
    }
    next.events += 1;
    const type = event.type;
    let route: Int32Array;
    let source: unknown;
    if (type === 'track') {
      route = catalogue.trackRoute(event.event);
      source = event.properties;
    } else {
      if (type === 'identify') applyTraits(next.traits, event, ts);
      route = catalogue.typeRoute(type);
      source = type === 'identify' || type === 'group' ? event.traits : event.properties;
    }
    if (route.length === 0) continue;
    const day = calendar.localDay(ts);
    const messageId = event.messageId;
    for (let r = 0; r < route.length; r += 1) {
      const index = route[r] as number;
      const aggregate = compiled[index] as CompiledAggregate;
      const target = states[index] as AggregateState;
      if (aggregate.where.length > 0) {
        const verdict = matchWhere(aggregate.where, source);
        if (verdict !== MATCH) {
          if (verdict === UNREADABLE)
            problem(aggregate, event, 'a "where" comparison met a value that is not a number');
          continue;
        }
      }
      const kind = aggregate.kindCode;
      if (kind === Count) {
        bucketFor(target, day).count += 1;
        continue;
      }
      const property = aggregate.property as NonNullable<CompiledAggregate['property']>;
      const head = readPath(source, property.head);
      if (head === undefined || head === null) continue;
      const tail = property.tail;
      if (tail === undefined) {
        if (!addValue(target, kind, day, head, ts, messageId, 0)) {
          problem(aggregate, event, `${property.text} ${misfit(kind)}`);
        }
        continue;
      }
      if (!Array.isArray(head)) {
        problem(aggregate, event, `${property.text}: not an array`);
        continue;
      }
      for (let i = 0; i < head.length; i += 1) {
        const element: unknown = head[i];
        let value: unknown = element;
        if (tail.length > 0) {
          if (element === null || element === undefined) continue;
          if (!isRecord(element)) {
            problem(aggregate, event, `${property.text}: element ${i} is not an object`);
            continue;
          }
          value = readPath(element, tail);
        }
        if (value === undefined || value === null) continue;
        if (!addValue(target, kind, day, value, ts, messageId, i)) {
          problem(
            aggregate,
            event,
            `${property.text}: element ${i} does not fit a ${aggregate.kind}`,
          );
        }
      }
    }
  }
  next.problems += problems;
  return { state: next, problems, problemSamples: samples };
}

/**
 * Drops day buckets that no window can reach again at `now` or later (older than each
 * aggregate's own window, with one day to spare for a local date that steps back at a DST end).
 * A trimmed profile answers exactly for any instant from `now` on. Pure: returns a new state.
 */
export function trimProfile(
  state: ProfileState,
  catalogue: RuleCatalogue,
  now: number,
  zone: string,
): ProfileState {
  if (state.zone !== zone) throw new ProfileZoneMismatchError(state.zone, zone);
  const today = zoneCalendar(zone).localDay(now);
  const aggregates = new Map<string, AggregateState>();
  for (const [id, aggregate] of state.aggregates) {
    const days = catalogue.aggregatesById.get(id)?.windowDays ?? aggregate.windowDays;
    if (aggregate.windowDays === 0 || days !== aggregate.windowDays) {
      aggregates.set(id, aggregate);
      continue;
    }
    const oldest = today - days;
    let keepFrom = 0;
    while (
      keepFrom < aggregate.buckets.length &&
      (aggregate.buckets[keepFrom] as Bucket).day < oldest
    ) {
      keepFrom += 1;
    }
    aggregates.set(
      id,
      keepFrom === 0 ? aggregate : { ...aggregate, buckets: aggregate.buckets.slice(keepFrom) },
    );
  }
  return { ...state, traits: state.traits, aggregates };
}
