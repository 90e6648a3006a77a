/**
 * A member's profile state: traits (last write wins per trait) and one order-independent
 * accumulator per aggregate of the rule catalogue. Whole-history aggregates keep one bucket;
 * windowed aggregates keep one bucket per brand-local calendar day that had data, so any window
 * is a merge of buckets and folding the same events in any order or batching gives the same
 * state. {@link profileToJson} / {@link profileFromJson} are the stored form.
 */
import type { JsonValue } from '../../../events/envelope.ts';
import type { RuleCatalogue, Scalar } from './rule-catalogue.ts';
import { KindCode } from './rule-catalogue.ts';

/** One trait with the (timestamp, messageId) of the identify that set it. */
export interface TraitEntry {
  /** `null` when the latest identify cleared it. */
  readonly value: JsonValue;
  readonly ts: number;
  readonly messageId: string;
}

/**
 * One bucket of an aggregate: the whole history, or one brand-local day. Only the fields of the
 * aggregate's kind are used.
 */
export class Bucket {
  /** Local day number (days since 1970-01-01); 0 for a whole-history bucket. */
  day: number;
  /** Events (count) or values read (every other kind). */
  count = 0;
  /** sum / avg: the total; min / max: the extreme. `units + micro / 1e6`, 0 ≤ micro < 1e6. */
  units = 0;
  micro = 0;
  /** first / last: ordering key (timestamp, messageId, array index) and value of the edge. */
  edgeTs = 0;
  edgeId = '';
  edgeIndex = 0;
  edgeValue: Scalar = '';
  /** mostFrequent / distinctCount: how many times each value (as text) was read. */
  values: Map<string, number> | null = null;

  constructor(day: number) {
    this.day = day;
  }
}

export interface AggregateState {
  readonly id: string;
  readonly signature: string;
  readonly kindCode: KindCode;
  /** 0 for the whole history, else the window in days. */
  readonly windowDays: number;
  /** Sorted by day, ascending; at most one for the whole history. */
  buckets: Bucket[];
  /**
   * Set when the aggregate was added to (or its rule changed on) a profile that already had
   * events: it then misses that history until it is rebuilt by replaying stored events.
   */
  needsBackfill: boolean;
}

export interface ProfileState {
  /** The IANA zone whose calendar days key the buckets. */
  readonly zone: string;
  traits: Map<string, TraitEntry>;
  aggregates: Map<string, AggregateState>;
  /** Events folded (with a readable timestamp). */
  events: number;
  /** Values skipped because they did not fit a rule, plus events with unreadable timestamps. */
  problems: number;
}

export class ProfileZoneMismatchError extends Error {
  readonly code = 'profile_zone_mismatch';
  constructor(profileZone: string, zone: string) {
    super(
      `The profile's buckets are brand-local days in ${profileZone}, not ${zone}: rebuild profiles from stored events after changing the brand time zone.`,
    );
    this.name = 'ProfileZoneMismatchError';
  }
}

export class ProfileStateError extends Error {
  readonly code = 'invalid_profile_state';
  constructor(message: string) {
    super(`Stored profile state is unreadable: ${message}`);
    this.name = 'ProfileStateError';
  }
}

/** A profile with no events and no traits, with an empty accumulator per aggregate. */
export function emptyProfile(catalogue: RuleCatalogue, zone: string): ProfileState {
  const aggregates = new Map<string, AggregateState>();
  for (const aggregate of catalogue.aggregates) {
    aggregates.set(aggregate.id, {
      id: aggregate.id,
      signature: aggregate.signature,
      kindCode: aggregate.kindCode,
      windowDays: aggregate.windowDays,
      buckets: [],
      needsBackfill: false,
    });
  }
  return { zone, traits: new Map(), aggregates, events: 0, problems: 0 };
}

export function cloneBucket(bucket: Bucket): Bucket {
  const copy = new Bucket(bucket.day);
  copy.count = bucket.count;
  copy.units = bucket.units;
  copy.micro = bucket.micro;
  copy.edgeTs = bucket.edgeTs;
  copy.edgeId = bucket.edgeId;
  copy.edgeIndex = bucket.edgeIndex;
  copy.edgeValue = bucket.edgeValue;
  copy.values = bucket.values ? new Map(bucket.values) : null;
  return copy;
}

function cloneAggregate(state: AggregateState): AggregateState {
  return { ...state, buckets: state.buckets.map(cloneBucket) };
}

/** A deep copy: folding into the copy never changes the original. */
export function cloneProfile(state: ProfileState): ProfileState {
  const aggregates = new Map<string, AggregateState>();
  for (const [id, aggregate] of state.aggregates) aggregates.set(id, cloneAggregate(aggregate));
  return {
    zone: state.zone,
    traits: new Map(state.traits),
    aggregates,
    events: state.events,
    problems: state.problems,
  };
}

/**
 * Ids of the catalogue's aggregates this profile cannot answer exactly: added or changed after
 * the profile had events. Rebuild them by replaying the member's stored events into
 * {@link emptyProfile} (the fold is order-independent, so a replay gives the exact state).
 */
export function aggregatesNeedingBackfill(state: ProfileState, catalogue: RuleCatalogue): string[] {
  const ids: string[] = [];
  for (const aggregate of catalogue.aggregates) {
    const held = state.aggregates.get(aggregate.id);
    if (held?.signature === aggregate.signature ? held.needsBackfill : state.events > 0) {
      ids.push(aggregate.id);
    }
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Orders used for ties, shared by the fold and merging.

function scalarRank(value: Scalar): number {
  return typeof value === 'boolean' ? 0 : typeof value === 'number' ? 1 : 2;
}

/** A total order on scalars: booleans < numbers < strings, then by value (code units). */
export function compareScalars(a: Scalar, b: Scalar): number {
  const rank = scalarRank(a) - scalarRank(b);
  if (rank !== 0) return rank;
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Orders (timestamp, messageId, index, value): the key first / last compare by. */
export function compareEdges(
  ts: number,
  id: string,
  index: number,
  value: Scalar,
  otherTs: number,
  otherId: string,
  otherIndex: number,
  otherValue: Scalar,
): number {
  if (ts !== otherTs) return ts < otherTs ? -1 : 1;
  if (id !== otherId) return id < otherId ? -1 : 1;
  if (index !== otherIndex) return index < otherIndex ? -1 : 1;
  return compareScalars(value, otherValue);
}

/** Whether trait entry `a` wins over `b`: later (timestamp, messageId), then larger JSON text. */
export function traitWins(a: TraitEntry, b: TraitEntry): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if (a.messageId !== b.messageId) return a.messageId > b.messageId;
  return JSON.stringify(a.value) > JSON.stringify(b.value);
}

// ---------------------------------------------------------------------------------------------
// Merging (identity merges: an anonymous profile folded into a member's, exactly once).

/** Adds bucket `from` into `into` (same aggregate, same day). */
export function mergeBucket(into: Bucket, from: Bucket, kindCode: KindCode): void {
  if (from.count === 0) return;
  const empty = into.count === 0;
  switch (kindCode) {
    case KindCode.Sum:
    case KindCode.Avg: {
      let micro = into.micro + from.micro;
      let units = into.units + from.units;
      if (micro >= 1_000_000) {
        micro -= 1_000_000;
        units += 1;
      }
      into.units = units;
      into.micro = micro;
      break;
    }
    case KindCode.Min:
      if (
        empty ||
        from.units < into.units ||
        (from.units === into.units && from.micro < into.micro)
      ) {
        into.units = from.units;
        into.micro = from.micro;
      }
      break;
    case KindCode.Max:
      if (
        empty ||
        from.units > into.units ||
        (from.units === into.units && from.micro > into.micro)
      ) {
        into.units = from.units;
        into.micro = from.micro;
      }
      break;
    case KindCode.First:
    case KindCode.Last: {
      const order = compareEdges(
        from.edgeTs,
        from.edgeId,
        from.edgeIndex,
        from.edgeValue,
        into.edgeTs,
        into.edgeId,
        into.edgeIndex,
        into.edgeValue,
      );
      if (empty || (kindCode === KindCode.First ? order < 0 : order > 0)) {
        into.edgeTs = from.edgeTs;
        into.edgeId = from.edgeId;
        into.edgeIndex = from.edgeIndex;
        into.edgeValue = from.edgeValue;
      }
      break;
    }
    case KindCode.MostFrequent:
    case KindCode.DistinctCount: {
      const values = into.values ?? new Map<string, number>();
      for (const [value, n] of from.values ?? []) values.set(value, (values.get(value) ?? 0) + n);
      into.values = values;
      break;
    }
    default:
      break;
  }
  into.count += from.count;
}

function mergeBuckets(a: readonly Bucket[], b: readonly Bucket[], kindCode: KindCode): Bucket[] {
  const out: Bucket[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x && (!y || x.day < y.day)) {
      out.push(cloneBucket(x));
      i += 1;
    } else if (y && (!x || y.day < x.day)) {
      out.push(cloneBucket(y));
      j += 1;
    } else if (x && y) {
      const merged = cloneBucket(x);
      mergeBucket(merged, y, kindCode);
      out.push(merged);
      i += 1;
      j += 1;
    }
  }
  return out;
}

/**
 * The profile of the union of two disjoint event histories (e.g. an anonymous visitor's history
 * merged into the member it turned out to be). Not idempotent: merge a history exactly once.
 */
export function mergeProfiles(
  a: ProfileState,
  b: ProfileState,
  catalogue: RuleCatalogue,
): ProfileState {
  if (a.zone !== b.zone) throw new ProfileZoneMismatchError(a.zone, b.zone);
  const traits = new Map(a.traits);
  for (const [key, entry] of b.traits) {
    const held = traits.get(key);
    if (!held || traitWins(entry, held)) traits.set(key, entry);
  }
  const aggregates = new Map<string, AggregateState>();
  for (const aggregate of catalogue.aggregates) {
    const fromA = a.aggregates.get(aggregate.id);
    const fromB = b.aggregates.get(aggregate.id);
    const validA = fromA?.signature === aggregate.signature ? fromA : undefined;
    const validB = fromB?.signature === aggregate.signature ? fromB : undefined;
    aggregates.set(aggregate.id, {
      id: aggregate.id,
      signature: aggregate.signature,
      kindCode: aggregate.kindCode,
      windowDays: aggregate.windowDays,
      buckets: mergeBuckets(validA?.buckets ?? [], validB?.buckets ?? [], aggregate.kindCode),
      needsBackfill:
        (validA ? validA.needsBackfill : a.events > 0) ||
        (validB ? validB.needsBackfill : b.events > 0),
    });
  }
  return {
    zone: a.zone,
    traits,
    aggregates,
    events: a.events + b.events,
    problems: a.problems + b.problems,
  };
}

// ---------------------------------------------------------------------------------------------
// Stored form.

/** The JSON form of a profile state (what the profiles table keeps). */
export interface ProfileJson {
  readonly v: 1;
  readonly zone: string;
  readonly events: number;
  readonly problems: number;
  /** `[key, value, timestamp, messageId]` per trait. */
  readonly traits: readonly (readonly [string, JsonValue, number, string])[];
  /** Per aggregate: signature, kind code, window, backfill flag and one row per bucket. */
  readonly aggregates: Readonly<
    Record<
      string,
      {
        readonly s: string;
        readonly k: number;
        readonly w: number;
        readonly f?: 1;
        readonly d: readonly (readonly JsonValue[])[];
      }
    >
  >;
}

function bucketRow(bucket: Bucket, kindCode: KindCode): JsonValue[] {
  switch (kindCode) {
    case KindCode.Count:
      return [bucket.day, bucket.count];
    case KindCode.First:
    case KindCode.Last:
      return [
        bucket.day,
        bucket.count,
        bucket.edgeTs,
        bucket.edgeId,
        bucket.edgeIndex,
        bucket.edgeValue,
      ];
    case KindCode.MostFrequent:
    case KindCode.DistinctCount: {
      const row: JsonValue[] = [bucket.day, bucket.count];
      for (const [value, n] of bucket.values ?? []) row.push(value, n);
      return row;
    }
    default:
      return [bucket.day, bucket.count, bucket.units, bucket.micro];
  }
}

/** The JSON form of a profile state. */
export function profileToJson(state: ProfileState): ProfileJson {
  const aggregates: Record<string, ProfileJson['aggregates'][string]> = {};
  for (const [id, aggregate] of state.aggregates) {
    aggregates[id] = {
      s: aggregate.signature,
      k: aggregate.kindCode,
      w: aggregate.windowDays,
      ...(aggregate.needsBackfill ? { f: 1 as const } : {}),
      d: aggregate.buckets.map((bucket) => bucketRow(bucket, aggregate.kindCode)),
    };
  }
  return {
    v: 1,
    zone: state.zone,
    events: state.events,
    problems: state.problems,
    traits: [...state.traits].map(
      ([key, entry]) => [key, entry.value, entry.ts, entry.messageId] as const,
    ),
    aggregates,
  };
}

const isInteger = (value: unknown): value is number => Number.isSafeInteger(value);
const isScalar = (value: unknown): value is Scalar =>
  typeof value === 'string' ||
  typeof value === 'boolean' ||
  (typeof value === 'number' && Number.isFinite(value));

function bucketFromRow(row: unknown, kindCode: number, where: string): Bucket {
  if (!Array.isArray(row) || !isInteger(row[0]) || !isInteger(row[1]) || row[1] < 1) {
    throw new ProfileStateError(`${where}: a bucket row must start with [day, count ≥ 1]`);
  }
  const bucket = new Bucket(row[0]);
  bucket.count = row[1];
  switch (kindCode) {
    case KindCode.Count:
      break;
    case KindCode.First:
    case KindCode.Last:
      if (
        !Number.isFinite(row[2]) ||
        typeof row[3] !== 'string' ||
        !isInteger(row[4]) ||
        !isScalar(row[5])
      ) {
        throw new ProfileStateError(
          `${where}: a first/last row is [day, count, ts, messageId, index, value]`,
        );
      }
      bucket.edgeTs = row[2];
      bucket.edgeId = row[3];
      bucket.edgeIndex = row[4];
      bucket.edgeValue = row[5];
      break;
    case KindCode.MostFrequent:
    case KindCode.DistinctCount: {
      const values = new Map<string, number>();
      for (let i = 2; i < row.length; i += 2) {
        const value = row[i];
        const n = row[i + 1];
        if (typeof value !== 'string' || !isInteger(n) || n < 1) {
          throw new ProfileStateError(`${where}: value counts are pairs of text and a count ≥ 1`);
        }
        values.set(value, n);
      }
      bucket.values = values;
      break;
    }
    default:
      if (!isInteger(row[2]) || !isInteger(row[3]) || row[3] < 0 || row[3] >= 1_000_000) {
        throw new ProfileStateError(`${where}: an amount row is [day, count, units, micro]`);
      }
      bucket.units = row[2];
      bucket.micro = row[3];
  }
  return bucket;
}

/** Reads the JSON form back. Throws {@link ProfileStateError} when it is not one. */
export function profileFromJson(json: unknown): ProfileState {
  if (typeof json !== 'object' || json === null) throw new ProfileStateError('not an object');
  const raw = json as Record<string, unknown>;
  if (raw.v !== 1) throw new ProfileStateError(`unknown version ${String(raw.v)}`);
  if (typeof raw.zone !== 'string') throw new ProfileStateError('zone is missing');
  if (!isInteger(raw.events) || !isInteger(raw.problems)) {
    throw new ProfileStateError('events and problems must be integers');
  }
  if (!Array.isArray(raw.traits)) throw new ProfileStateError('traits must be an array');
  const traits = new Map<string, TraitEntry>();
  for (const item of raw.traits) {
    if (
      !Array.isArray(item) ||
      typeof item[0] !== 'string' ||
      !Number.isFinite(item[2]) ||
      typeof item[3] !== 'string'
    ) {
      throw new ProfileStateError('a trait is [key, value, timestamp, messageId]');
    }
    traits.set(item[0], { value: item[1] as JsonValue, ts: item[2], messageId: item[3] });
  }
  if (typeof raw.aggregates !== 'object' || raw.aggregates === null) {
    throw new ProfileStateError('aggregates must be an object');
  }
  const aggregates = new Map<string, AggregateState>();
  for (const [id, value] of Object.entries(raw.aggregates as Record<string, unknown>)) {
    const entry = value as Record<string, unknown> | null;
    if (
      typeof entry !== 'object' ||
      entry === null ||
      typeof entry.s !== 'string' ||
      !isInteger(entry.k) ||
      entry.k < 0 ||
      entry.k > 8 ||
      !isInteger(entry.w) ||
      !Array.isArray(entry.d)
    ) {
      throw new ProfileStateError(`aggregate "${id}" is not { s, k, w, d }`);
    }
    const kindCode = entry.k as KindCode;
    aggregates.set(id, {
      id,
      signature: entry.s,
      kindCode,
      windowDays: entry.w,
      buckets: entry.d.map((row) => bucketFromRow(row, kindCode, `aggregate "${id}"`)),
      needsBackfill: entry.f === 1,
    });
  }
  return { zone: raw.zone, traits, aggregates, events: raw.events, problems: raw.problems };
}
