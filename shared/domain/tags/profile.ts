/**
 * A member's profile state: traits (last write wins per trait) and one order-independent
 * accumulator per series of the rule catalogue (the data several aggregates share). A series keeps
 * a whole-history total when an aggregate needs one, and one bucket per brand-local calendar day
 * for its longest window, so any window is a merge of day buckets. Folding the same events in any
 * order or batching gives the same state. {@link profileToJson} / {@link profileFromJson} are the
 * stored form.
 */
import type { JsonValue } from '../../../events/envelope.ts';
import { type ConsentEntry, mergeConsent } from '../consent/consent.ts';
import {
  AccumulatorCode,
  type CompiledAggregate,
  type CompiledSeries,
  type RuleCatalogue,
  type Scalar,
} from './rule-catalogue.ts';

/** One trait with the (timestamp, messageId) of the identify that set it. */
export interface TraitEntry {
  /** `null` when the latest identify cleared it. */
  readonly value: JsonValue;
  readonly ts: number;
  readonly messageId: string;
}

/**
 * One bucket of a series: the whole history, or one brand-local day. Only the fields of the
 * series' accumulator are used. Buckets of a state passed to the fold are never changed: the fold
 * copies a bucket before its first change (copy on write, tracked by `owner`).
 */
export class Bucket {
  /** Local day number (days since 1970-01-01); 0 for a whole-history total. */
  day: number;
  /** Events (count) or values read (every other accumulator). */
  count = 0;
  /** Sum: the total; min / max: the extreme. `units + micro / 1e6`, 0 ≤ micro < 1e6. */
  units = 0;
  micro = 0;
  /** First / last: ordering key (timestamp, messageId, array index) and value of the edge. */
  edgeTs = 0;
  edgeId = '';
  edgeIndex = 0;
  edgeValue: Scalar = '';
  /** Values: how many times each value (as text) was read. */
  values: Map<string, number> | null = null;
  /** The fold that created this copy; only that fold may change it. */
  owner = 0;

  constructor(day: number) {
    this.day = day;
  }
}

export interface SeriesState {
  readonly signature: string;
  readonly accumulator: AccumulatorCode;
  /** How many days back its day buckets are complete (0: it keeps none). */
  readonly windowDays: number;
  /** Whether it keeps a whole-history total. */
  readonly keepsTotal: boolean;
  total: Bucket | null;
  /** Sorted by day, ascending. */
  buckets: Bucket[];
  /**
   * Set when the series was added to (or grew its window on) a profile that already had events:
   * it then misses that history until rebuilt by replaying the member's stored events.
   */
  needsBackfill: boolean;
}

export interface ProfileState {
  /** The IANA zone whose calendar days key the buckets. */
  readonly zone: string;
  traits: Map<string, TraitEntry>;
  /** Consent per purpose, as the member last said it (absent: never said; see consent.ts). */
  consent?: Map<string, ConsentEntry>;
  /** Keyed by series signature. */
  series: Map<string, SeriesState>;
  /** Events folded (with a readable timestamp). */
  events: number;
  /**
   * Values skipped because they did not fit a rule, once per aggregate that skipped them, plus
   * events with unreadable timestamps.
   */
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

/** An empty series state for a catalogue series. */
export function emptySeries(series: CompiledSeries, needsBackfill: boolean): SeriesState {
  return {
    signature: series.signature,
    accumulator: series.accumulator,
    windowDays: series.windowDays,
    keepsTotal: series.keepsTotal,
    total: null,
    buckets: [],
    needsBackfill,
  };
}

/** A profile with no events and no traits. */
export function emptyProfile(catalogue: RuleCatalogue, zone: string): ProfileState {
  const series = new Map<string, SeriesState>();
  for (const compiled of catalogue.series)
    series.set(compiled.signature, emptySeries(compiled, false));
  return { zone, traits: new Map(), series, events: 0, problems: 0 };
}

/** Whether a held series state can answer for a catalogue series (enough window and total). */
export function seriesCovers(
  held: SeriesState | undefined,
  series: CompiledSeries,
): held is SeriesState {
  return (
    held !== undefined &&
    held.signature === series.signature &&
    held.accumulator === series.accumulator &&
    held.windowDays >= series.windowDays &&
    (held.keepsTotal || !series.keepsTotal)
  );
}

/** The state of an aggregate's series when it can answer exactly, else `undefined`. */
export function seriesOf(
  state: ProfileState,
  catalogue: RuleCatalogue,
  aggregate: CompiledAggregate,
): SeriesState | undefined {
  const series = catalogue.series[aggregate.seriesIndex] as CompiledSeries;
  const held = state.series.get(series.signature);
  return seriesCovers(held, series) ? held : undefined;
}

/**
 * Ids of the catalogue's aggregates this profile cannot answer exactly: added or changed (or given
 * a longer window) after the profile had events. Rebuild them by replaying the member's stored
 * events into {@link emptyProfile}: the fold is order-independent, so a replay is exact.
 */
export function aggregatesNeedingBackfill(state: ProfileState, catalogue: RuleCatalogue): string[] {
  const ids: string[] = [];
  for (const aggregate of catalogue.aggregates) {
    const held = seriesOf(state, catalogue, aggregate);
    if (held ? held.needsBackfill : state.events > 0) ids.push(aggregate.id);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Orders used for ties, shared by the fold, the evaluator and merging.

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
// Buckets.

/** A copy of a bucket, owned by fold `owner`. */
export function cloneBucket(bucket: Bucket, owner = 0): Bucket {
  const copy = new Bucket(bucket.day);
  copy.count = bucket.count;
  copy.units = bucket.units;
  copy.micro = bucket.micro;
  copy.edgeTs = bucket.edgeTs;
  copy.edgeId = bucket.edgeId;
  copy.edgeIndex = bucket.edgeIndex;
  copy.edgeValue = bucket.edgeValue;
  copy.values = bucket.values ? new Map(bucket.values) : null;
  copy.owner = owner;
  return copy;
}

/** Adds bucket `from` into `into` (same series, same day). */
export function mergeBucket(into: Bucket, from: Bucket, accumulator: AccumulatorCode): void {
  if (from.count === 0) return;
  const empty = into.count === 0;
  switch (accumulator) {
    case AccumulatorCode.Sum: {
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
    case AccumulatorCode.Min:
    case AccumulatorCode.Max: {
      const order = from.units !== into.units ? from.units - into.units : from.micro - into.micro;
      if (empty || (accumulator === AccumulatorCode.Min ? order < 0 : order > 0)) {
        into.units = from.units;
        into.micro = from.micro;
      }
      break;
    }
    case AccumulatorCode.First:
    case AccumulatorCode.Last: {
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
      if (empty || (accumulator === AccumulatorCode.First ? order < 0 : order > 0)) {
        into.edgeTs = from.edgeTs;
        into.edgeId = from.edgeId;
        into.edgeIndex = from.edgeIndex;
        into.edgeValue = from.edgeValue;
      }
      break;
    }
    case AccumulatorCode.Values: {
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

// ---------------------------------------------------------------------------------------------
// Merging (identity merges: an anonymous profile folded into a member's, exactly once).

function mergeBuckets(
  a: readonly Bucket[],
  b: readonly Bucket[],
  accumulator: AccumulatorCode,
): Bucket[] {
  const out: Bucket[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x && (!y || x.day < y.day)) {
      out.push(x);
      i += 1;
    } else if (y && (!x || y.day < x.day)) {
      out.push(y);
      j += 1;
    } else if (x && y) {
      const merged = cloneBucket(x);
      mergeBucket(merged, y, accumulator);
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
  const series = new Map<string, SeriesState>();
  for (const compiled of catalogue.series) {
    const fromA = a.series.get(compiled.signature);
    const fromB = b.series.get(compiled.signature);
    const validA = seriesCovers(fromA, compiled) ? fromA : undefined;
    const validB = seriesCovers(fromB, compiled) ? fromB : undefined;
    const merged = emptySeries(
      compiled,
      (validA ? validA.needsBackfill : a.events > 0) ||
        (validB ? validB.needsBackfill : b.events > 0),
    );
    if (compiled.windowDays > 0) {
      merged.buckets = mergeBuckets(
        validA?.buckets ?? [],
        validB?.buckets ?? [],
        compiled.accumulator,
      );
    }
    if (compiled.keepsTotal) {
      const totals = [validA?.total, validB?.total].filter((t): t is Bucket => t != null);
      if (totals.length > 0) {
        const total = cloneBucket(totals[0] as Bucket);
        if (totals[1]) mergeBucket(total, totals[1], compiled.accumulator);
        merged.total = total;
      }
    }
    series.set(compiled.signature, merged);
  }
  const consent = mergeConsent(a.consent, b.consent);
  return {
    zone: a.zone,
    traits,
    ...(consent.size > 0 ? { consent } : {}),
    series,
    events: a.events + b.events,
    problems: a.problems + b.problems,
  };
}

// ---------------------------------------------------------------------------------------------
// Stored form.

/** One series in the stored form: accumulator, window, total, day buckets, backfill flag. */
export interface SeriesJson {
  readonly a: number;
  readonly w: number;
  readonly t?: readonly JsonValue[] | null;
  readonly d: readonly (readonly JsonValue[])[];
  readonly f?: 1;
}

/** The JSON form of a profile state (what the profiles table keeps). */
export interface ProfileJson {
  readonly v: 1;
  readonly zone: string;
  readonly events: number;
  readonly problems: number;
  /** `[key, value, timestamp, messageId]` per trait, sorted by key. */
  readonly traits: readonly (readonly [string, JsonValue, number, string])[];
  /** `[purpose, granted, timestamp, messageId]` per purpose the member said, sorted; absent: none. */
  readonly consent?: readonly (readonly [string, boolean, number, string])[];
  /** Keyed by series signature. */
  readonly series: Readonly<Record<string, SeriesJson>>;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function bucketRow(bucket: Bucket, accumulator: AccumulatorCode): JsonValue[] {
  switch (accumulator) {
    case AccumulatorCode.Count:
      return [bucket.day, bucket.count];
    case AccumulatorCode.First:
    case AccumulatorCode.Last:
      return [
        bucket.day,
        bucket.count,
        bucket.edgeTs,
        bucket.edgeId,
        bucket.edgeIndex,
        bucket.edgeValue,
      ];
    case AccumulatorCode.Values: {
      const row: JsonValue[] = [bucket.day, bucket.count];
      const values = [...(bucket.values ?? [])].sort(([a], [b]) => byText(a, b));
      for (const [value, n] of values) row.push(value, n);
      return row;
    }
    default:
      return [bucket.day, bucket.count, bucket.units, bucket.micro];
  }
}

/**
 * The JSON form of a profile state. Canonical: series, traits and value counts are sorted, so two
 * states that hold the same data serialise to the same text.
 */
export function profileToJson(state: ProfileState): ProfileJson {
  const series: Record<string, SeriesJson> = {};
  for (const signature of [...state.series.keys()].sort(byText)) {
    const held = state.series.get(signature) as SeriesState;
    series[signature] = {
      a: held.accumulator,
      w: held.windowDays,
      ...(held.keepsTotal
        ? { t: held.total ? bucketRow(held.total, held.accumulator) : null }
        : {}),
      d: held.buckets.map((bucket) => bucketRow(bucket, held.accumulator)),
      ...(held.needsBackfill ? { f: 1 as const } : {}),
    };
  }
  return {
    v: 1,
    zone: state.zone,
    events: state.events,
    problems: state.problems,
    traits: [...state.traits]
      .sort(([a], [b]) => byText(a, b))
      .map(([key, entry]) => [key, entry.value, entry.ts, entry.messageId] as const),
    ...(state.consent && state.consent.size > 0
      ? {
          consent: [...state.consent]
            .sort(([a], [b]) => byText(a, b))
            .map(
              ([purpose, entry]) => [purpose, entry.granted, entry.ts, entry.messageId] as const,
            ),
        }
      : {}),
    series,
  };
}

const isInteger = (value: unknown): value is number => Number.isSafeInteger(value);
const isScalar = (value: unknown): value is Scalar =>
  typeof value === 'string' ||
  typeof value === 'boolean' ||
  (typeof value === 'number' && Number.isFinite(value));

function bucketFromRow(row: unknown, accumulator: number, where: string): Bucket {
  if (!Array.isArray(row) || !isInteger(row[0]) || !isInteger(row[1]) || row[1] < 1) {
    throw new ProfileStateError(`${where}: a bucket row must start with [day, count ≥ 1]`);
  }
  const bucket = new Bucket(row[0]);
  bucket.count = row[1];
  switch (accumulator) {
    case AccumulatorCode.Count:
      break;
    case AccumulatorCode.First:
    case AccumulatorCode.Last:
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
    case AccumulatorCode.Values: {
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
  let consent: Map<string, ConsentEntry> | undefined;
  if (raw.consent !== undefined) {
    if (!Array.isArray(raw.consent)) throw new ProfileStateError('consent must be an array');
    consent = new Map();
    for (const item of raw.consent) {
      if (
        !Array.isArray(item) ||
        typeof item[0] !== 'string' ||
        typeof item[1] !== 'boolean' ||
        !Number.isFinite(item[2]) ||
        typeof item[3] !== 'string'
      ) {
        throw new ProfileStateError('a consent entry is [purpose, granted, timestamp, messageId]');
      }
      consent.set(item[0], { granted: item[1], ts: item[2], messageId: item[3] });
    }
  }
  if (typeof raw.series !== 'object' || raw.series === null) {
    throw new ProfileStateError('series must be an object');
  }
  const series = new Map<string, SeriesState>();
  for (const [signature, value] of Object.entries(raw.series as Record<string, unknown>)) {
    const entry = value as Record<string, unknown> | null;
    if (
      typeof entry !== 'object' ||
      entry === null ||
      !isInteger(entry.a) ||
      entry.a < 0 ||
      entry.a > 6 ||
      !isInteger(entry.w) ||
      !Array.isArray(entry.d)
    ) {
      throw new ProfileStateError(`series "${signature}" is not { a, w, d }`);
    }
    const accumulator = entry.a as AccumulatorCode;
    const where = `series "${signature}"`;
    series.set(signature, {
      signature,
      accumulator,
      windowDays: entry.w,
      keepsTotal: entry.t !== undefined,
      total:
        entry.t === undefined || entry.t === null
          ? null
          : bucketFromRow(entry.t, accumulator, where),
      buckets: entry.d.map((row) => bucketFromRow(row, accumulator, where)),
      needsBackfill: entry.f === 1,
    });
  }
  return {
    zone: raw.zone,
    traits,
    ...(consent && consent.size > 0 ? { consent } : {}),
    series,
    events: raw.events,
    problems: raw.problems,
  };
}
