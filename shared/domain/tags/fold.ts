/**
 * Folding events into a profile. Order-independent: every accumulator is commutative (counts and
 * exact sums add, min / max / first / last keep a total order, value counts add, traits keep the
 * latest (timestamp, messageId)), so late, reordered or differently batched events give the same
 * state. Deduplication is the caller's: fold each event exactly once.
 */
import type { JsonValue, PortraitEvent } from '../../../events/envelope.ts';
import {
  applyConsent,
  type ConsentCategoryMap,
  type ConsentEntry,
  consentOfEvent,
  defaultConsentCategories,
} from '../consent/consent.ts';
import { decimalSlot, MICRO_PER_UNIT, parseDecimalInto } from './decimal.ts';
import {
  Bucket,
  cloneBucket,
  compareEdges,
  emptySeries,
  type ProfileState,
  ProfileZoneMismatchError,
  type SeriesState,
  seriesCovers,
  type TraitEntry,
  traitWins,
} from './profile.ts';
import {
  AccumulatorCode,
  type CompiledPropertyCondition,
  type CompiledSeries,
  ConditionOpCode,
  type RuleCatalogue,
} from './rule-catalogue.ts';
import { parseTimestamp, zoneCalendar } from './zone-calendar.ts';

/** Why a value was skipped, for logging (one sample per series and fold). */
export interface FoldProblem {
  /** The aggregates whose rule the value did not fit; empty for an unreadable timestamp. */
  readonly aggregates: readonly string[];
  readonly messageId: string;
  readonly reason: string;
}

export interface FoldResult {
  /** The new state; the input state is left unchanged. */
  readonly state: ProfileState;
  /**
   * Values skipped in this fold, once per aggregate that skipped them, plus events with an
   * unreadable timestamp (also added to `state.problems`).
   */
  readonly problems: number;
  /** At most one problem per series (and one for timestamps), to log once. */
  readonly problemSamples: readonly FoldProblem[];
}

const { Count, Sum, Min, Max, First, Last, Values } = AccumulatorCode;
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

/** Each call of {@link foldEvents} owns the buckets it creates or copies, and changes only those. */
let foldGeneration = 0;

/** A series of the state being folded, copied on first write. */
class SeriesWriter {
  private ownsBuckets = false;
  readonly state: SeriesState;

  /** Puts a copy of the held series state (sharing its buckets) into the new state's map. */
  constructor(
    held: SeriesState,
    into: Map<string, SeriesState>,
    private readonly generation: number,
  ) {
    this.state = {
      signature: held.signature,
      accumulator: held.accumulator,
      windowDays: held.windowDays,
      keepsTotal: held.keepsTotal,
      total: held.total,
      buckets: held.buckets,
      needsBackfill: held.needsBackfill,
    };
    into.set(held.signature, this.state);
  }

  /** The whole-history total, owned by this fold. */
  total(): Bucket {
    const total = this.state.total;
    if (total === null) {
      const created = new Bucket(0);
      created.owner = this.generation;
      this.state.total = created;
      return created;
    }
    if (total.owner === this.generation) return total;
    const copy = cloneBucket(total, this.generation);
    this.state.total = copy;
    return copy;
  }

  /**
   * The bucket of a local day, owned by this fold, created in sorted position. The first change
   * copies the bucket array once, fused with the change (no copy-then-grow).
   */
  day(day: number): Bucket {
    const buckets = this.state.buckets;
    const n = buckets.length;
    let at = n;
    if (n > 0) {
      const last = buckets[n - 1] as Bucket;
      if (last.day === day) at = n - 1;
      else if (last.day > day) {
        let lo = 0;
        let hi = n - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((buckets[mid] as Bucket).day < day) lo = mid + 1;
          else hi = mid;
        }
        at = lo;
      }
    }
    const found = buckets[at];
    if (found !== undefined && found.day === day) {
      if (found.owner === this.generation) return found;
      const copy = cloneBucket(found, this.generation);
      if (this.ownsBuckets) buckets[at] = copy;
      else this.own(copyWith(buckets, at, copy, false));
      return copy;
    }
    const created = new Bucket(day);
    created.owner = this.generation;
    if (this.ownsBuckets) {
      if (at === n) buckets.push(created);
      else buckets.splice(at, 0, created);
    } else {
      this.own(copyWith(buckets, at, created, true));
    }
    return created;
  }

  private own(buckets: Bucket[]): void {
    this.state.buckets = buckets;
    this.ownsBuckets = true;
  }
}

/** A copy of `buckets` with `bucket` inserted at, or replacing, index `at`. */
function copyWith(
  buckets: readonly Bucket[],
  at: number,
  bucket: Bucket,
  insert: boolean,
): Bucket[] {
  // slice() and toSpliced() copy flat in V8; slice-then-push, concat() or a loop cost 2–4 times more.
  if (insert) return buckets.toSpliced(at, 0, bucket);
  const copy = buckets.slice();
  copy[at] = bucket;
  return copy;
}

/** Text of a Values read, set by {@link fits}. */
let valueKey = '';

/** Whether a value fits an accumulator; numbers land in `slot`, value text in `valueKey`. */
function fits(accumulator: number, value: unknown): boolean {
  switch (accumulator) {
    case Sum:
    case Min:
    case Max:
      return parseDecimalInto(value, slot);
    case First:
    case Last:
      return (
        typeof value === 'string' ||
        typeof value === 'boolean' ||
        (typeof value === 'number' && Number.isFinite(value))
      );
    case Values:
      if (typeof value === 'string') {
        valueKey = value;
        return true;
      }
      if (typeof value === 'number' && Number.isFinite(value)) {
        valueKey = String(value);
        return true;
      }
      return false;
    default:
      return false;
  }
}

/** Adds a value that {@link fits} to a bucket. */
function accumulate(
  bucket: Bucket,
  accumulator: number,
  value: unknown,
  ts: number,
  messageId: string,
  index: number,
): void {
  switch (accumulator) {
    case Sum: {
      let micro = bucket.micro + slot.micro;
      let units = bucket.units + slot.units;
      if (micro >= MICRO_PER_UNIT) {
        micro -= MICRO_PER_UNIT;
        units += 1;
      }
      bucket.units = units;
      bucket.micro = micro;
      break;
    }
    case Min:
    case Max: {
      if (bucket.count === 0) {
        bucket.units = slot.units;
        bucket.micro = slot.micro;
        break;
      }
      const order = compareWithSlot(bucket.units, bucket.micro);
      if (accumulator === Min ? order < 0 : order > 0) {
        bucket.units = slot.units;
        bucket.micro = slot.micro;
      }
      break;
    }
    case First:
    case Last: {
      const scalar = value as string | number | boolean;
      if (bucket.count > 0) {
        const order = compareEdges(
          ts,
          messageId,
          index,
          scalar,
          bucket.edgeTs,
          bucket.edgeId,
          bucket.edgeIndex,
          bucket.edgeValue,
        );
        if (accumulator === First ? order >= 0 : order <= 0) break;
      }
      bucket.edgeTs = ts;
      bucket.edgeId = messageId;
      bucket.edgeIndex = index;
      bucket.edgeValue = scalar;
      break;
    }
    case Values: {
      let values = bucket.values;
      if (values === null) {
        values = new Map();
        bucket.values = values;
      }
      values.set(valueKey, (values.get(valueKey) ?? 0) + 1);
      break;
    }
    default:
      break;
  }
  bucket.count += 1;
}

function misfit(accumulator: number): string {
  if (accumulator === First || accumulator === Last) return 'is not a string, number or boolean';
  if (accumulator === Values) return 'is not a string or number';
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

/**
 * The new state's series map: the held series that answer for the catalogue's series (narrowed
 * when the catalogue no longer keeps a total or day buckets), empty ones for the rest (flagged for
 * backfill when the profile already had events), and nothing else.
 */
function resolveSeries(state: ProfileState, catalogue: RuleCatalogue): Map<string, SeriesState> {
  const resolved = new Map(state.series);
  let matching = 0;
  for (const series of catalogue.series) {
    const held = resolved.get(series.signature);
    if (!seriesCovers(held, series)) {
      resolved.set(series.signature, emptySeries(series, state.events > 0));
      continue;
    }
    matching += 1;
    const staleTotal = held.keepsTotal && !series.keepsTotal;
    const staleDays = held.windowDays > 0 && series.windowDays === 0;
    if (staleTotal || staleDays) {
      resolved.set(series.signature, {
        ...held,
        keepsTotal: series.keepsTotal,
        total: staleTotal ? null : held.total,
        windowDays: series.windowDays,
        buckets: staleDays ? [] : held.buckets,
      });
    }
  }
  if (matching !== state.series.size) {
    const wanted = new Set(catalogue.series.map((series) => series.signature));
    for (const signature of resolved.keys()) if (!wanted.has(signature)) resolved.delete(signature);
  }
  return resolved;
}

/**
 * Folds a member's events into their profile. Pure: returns a new state and leaves the input
 * unchanged (buckets are copied on first write, so a fold costs what it touches). Events whose
 * timestamp cannot be read are skipped whole; a value that does not fit a rule (revenue "abc")
 * is skipped for that rule only. Both are counted in `problems`, never thrown.
 *
 * `track`, `page` and `screen` events feed aggregates from `properties`; `identify` and `group`
 * from `traits`. `identify` traits also update the profile's traits.
 */
export function foldEvents(
  state: ProfileState,
  events: readonly PortraitEvent[],
  catalogue: RuleCatalogue,
  zone: string,
  consentCategories: ConsentCategoryMap = defaultConsentCategories,
): FoldResult {
  if (state.zone !== zone) throw new ProfileZoneMismatchError(state.zone, zone);
  const calendar = zoneCalendar(zone);
  const generation = ++foldGeneration;
  const compiled = catalogue.series;
  const seriesStates = resolveSeries(state, catalogue);
  // Writers are made on a series' first change, so a fold costs what it touches.
  const writers: (SeriesWriter | undefined)[] = new Array(compiled.length).fill(undefined);
  let traits: Map<string, TraitEntry> | undefined;
  let consent: Map<string, ConsentEntry> | undefined;
  const next: ProfileState = {
    zone,
    traits: state.traits,
    ...(state.consent ? { consent: state.consent } : {}),
    series: seriesStates,
    events: state.events,
    problems: state.problems,
  };
  const sampled = new Uint8Array(compiled.length + 1);
  const samples: FoldProblem[] = [];
  let problems = 0;
  const problem = (
    series: CompiledSeries | undefined,
    event: PortraitEvent,
    reason: string,
  ): void => {
    problems += series === undefined ? 1 : series.aggregates.length;
    const at = series === undefined ? compiled.length : series.index;
    if (sampled[at] === 0) {
      sampled[at] = 1;
      samples.push({
        aggregates: series?.aggregates ?? [],
        messageId: String(event.messageId),
        reason,
      });
    }
  };

  for (let e = 0; e < events.length; e += 1) {
    const event = events[e] as PortraitEvent;
    const ts = typeof event.timestamp === 'string' ? parseTimestamp(event.timestamp) : Number.NaN;
    if (Number.isNaN(ts)) {
      problem(undefined, event, `unreadable timestamp ${JSON.stringify(event.timestamp)}`);
      continue;
    }
    next.events += 1;
    // A cheap look first: most events carry no consent, and this loop is the hot path.
    if (
      event.context?.consent !== undefined ||
      event.traits?.consent !== undefined ||
      event.properties?.categoryPreferences !== undefined
    ) {
      const said = consentOfEvent(event, consentCategories);
      if (said.size > 0) {
        consent ??= new Map(state.consent ?? []);
        next.consent = consent;
        for (const [purpose, granted] of said) {
          applyConsent(consent, purpose, { granted, ts, messageId: event.messageId });
        }
      }
    }
    const type = event.type;
    let route: Int32Array;
    let source: unknown;
    if (type === 'track') {
      route = catalogue.trackRoute(event.event);
      source = event.properties;
    } else {
      if (type === 'identify') {
        traits ??= new Map(state.traits);
        next.traits = traits;
        applyTraits(traits, event, ts);
      }
      route = catalogue.typeRoute(type);
      source = type === 'identify' || type === 'group' ? event.traits : event.properties;
    }
    if (route.length === 0) continue;
    const day = calendar.localDay(ts);
    const messageId = event.messageId;
    for (let r = 0; r < route.length; r += 1) {
      const index = route[r] as number;
      const series = compiled[index] as CompiledSeries;
      let writer = writers[index];
      if (writer === undefined) {
        writer = new SeriesWriter(
          seriesStates.get(series.signature) as SeriesState,
          seriesStates,
          generation,
        );
        writers[index] = writer;
      }
      if (series.where.length > 0) {
        const verdict = matchWhere(series.where, source);
        if (verdict !== MATCH) {
          if (verdict === UNREADABLE) {
            problem(series, event, 'a "where" comparison met a value that is not a number');
          }
          continue;
        }
      }
      const accumulator = series.accumulator;
      const windowed = series.windowDays > 0;
      const keepsTotal = series.keepsTotal;
      if (accumulator === Count) {
        if (windowed) writer.day(day).count += 1;
        if (keepsTotal) writer.total().count += 1;
        continue;
      }
      const property = series.property as NonNullable<CompiledSeries['property']>;
      const head = readPath(source, property.head);
      if (head === undefined || head === null) continue;
      const tail = property.tail;
      if (tail === undefined) {
        if (!fits(accumulator, head)) {
          problem(series, event, `${property.text} ${misfit(accumulator)}`);
          continue;
        }
        if (windowed) accumulate(writer.day(day), accumulator, head, ts, messageId, 0);
        if (keepsTotal) accumulate(writer.total(), accumulator, head, ts, messageId, 0);
        continue;
      }
      if (!Array.isArray(head)) {
        problem(series, event, `${property.text}: not an array`);
        continue;
      }
      for (let i = 0; i < head.length; i += 1) {
        const element: unknown = head[i];
        let value: unknown = element;
        if (tail.length > 0) {
          if (element === null || element === undefined) continue;
          if (!isRecord(element)) {
            problem(series, event, `${property.text}: element ${i} is not an object`);
            continue;
          }
          value = readPath(element, tail);
        }
        if (value === undefined || value === null) continue;
        if (!fits(accumulator, value)) {
          problem(series, event, `${property.text}: element ${i} ${misfit(accumulator)}`);
          continue;
        }
        if (windowed) accumulate(writer.day(day), accumulator, value, ts, messageId, i);
        if (keepsTotal) accumulate(writer.total(), accumulator, value, ts, messageId, i);
      }
    }
  }
  next.problems += problems;
  return { state: next, problems, problemSamples: samples };
}

/**
 * Drops day buckets that no window can reach again at `now` or later (older than each series'
 * longest window, with one day to spare for a local date that steps back at a DST end). A trimmed
 * profile answers exactly for any instant from `now` on. Pure: returns a new state.
 */
export function trimProfile(
  state: ProfileState,
  catalogue: RuleCatalogue,
  now: number,
  zone: string,
): ProfileState {
  if (state.zone !== zone) throw new ProfileZoneMismatchError(state.zone, zone);
  const today = zoneCalendar(zone).localDay(now);
  const series = new Map(state.series);
  for (const compiled of catalogue.series) {
    const held = series.get(compiled.signature);
    if (!held || !seriesCovers(held, compiled) || held.buckets.length === 0) continue;
    const oldest = today - compiled.windowDays;
    let keepFrom = 0;
    while (keepFrom < held.buckets.length && (held.buckets[keepFrom] as Bucket).day < oldest) {
      keepFrom += 1;
    }
    if (keepFrom > 0) {
      series.set(compiled.signature, {
        ...held,
        windowDays: Math.min(held.windowDays, compiled.windowDays),
        buckets: held.buckets.slice(keepFrom),
      });
    }
  }
  return { ...state, series };
}
