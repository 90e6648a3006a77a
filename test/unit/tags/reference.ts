/**
 * The obviously-correct tag engine: recomputes every aggregate, trait, tag and reason from a
 * member's raw events at instant T by filtering and looping. Written from the rules in
 * docs/TAGS.md, independently of the fast path: it reads the catalogue's JSON definitions (not the
 * compiled form), finds local dates with Intl on every event, and does decimal arithmetic with
 * BigInt. Slow on purpose.
 */
import { canonicalEventName } from '../../../events/catalogue.ts';
import type { JsonValue, PortraitEvent } from '../../../events/envelope.ts';
import type {
  AggregateDefinition,
  ConditionDefinition,
  OperandDefinition,
  PropertyConditionDefinition,
  RuleCatalogueDefinition,
  Scalar,
  TagDefinition,
  ValueSourceDefinition,
} from '../../../shared/domain/tags/rule-catalogue.ts';

export type RefValue = number | string | boolean | null;

export interface ReferenceAnswer {
  readonly aggregates: Record<string, RefValue>;
  readonly tags: Record<string, true | string>;
  readonly reasons: Record<string, { rule: string; values: Record<string, JsonValue> }>;
  readonly events: number;
  readonly problems: number;
}

// ---------------------------------------------------------------------------------------------
// Decimals with BigInt.

const SCALE = 1_000_000n;
const LIMIT = 10n ** 21n; // 1e15 units in micro-units

/** Micro-units of a number or decimal string, rounded half away from zero; undefined if unfit. */
export function refMicro(value: unknown): bigint | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
  } else if (typeof value === 'string') {
    if (!/^-?\d+(\.\d+)?$/.test(value)) return undefined;
    text = value;
  } else return undefined;
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(text);
  if (!match) return undefined;
  const negative = match[1] === '-';
  const fraction = match[3] ?? '';
  const exponent = Number(match[4] ?? '0');
  const digits = BigInt((match[2] ?? '') + fraction);
  // value = digits × 10^(exponent − fraction.length)
  const shift = exponent - fraction.length + 6;
  let magnitude: bigint;
  if (shift >= 0) magnitude = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    magnitude = digits / divisor;
    if ((digits % divisor) * 2n >= divisor) magnitude += 1n;
  }
  if (magnitude >= LIMIT) return undefined;
  return negative ? -magnitude : magnitude;
}

export function refFormat(micro: bigint): string {
  const negative = micro < 0n;
  const abs = negative ? -micro : micro;
  const whole = (abs / SCALE).toString();
  let fraction = (abs % SCALE).toString().padStart(6, '0');
  while (fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

function roundDiv(n: bigint, d: bigint): bigint {
  const negative = n < 0n !== d < 0n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  let q = an / ad;
  if ((an % ad) * 2n >= ad) q += 1n;
  return negative ? -q : q;
}

// ---------------------------------------------------------------------------------------------
// Local dates with Intl, one call per instant.

const formats = new Map<string, Intl.DateTimeFormat>();
const dateCache = new Map<string, string>();

/** `YYYY-MM-DD` of an instant in a zone. */
export function refLocalDate(ms: number, zone: string): string {
  const key = `${zone} ${ms}`;
  const cached = dateCache.get(key);
  if (cached) return cached;
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    formats.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(ms).map((p) => [p.type, p.value]));
  const date = `${String(parts.year).padStart(4, '0')}-${parts.month}-${parts.day}`;
  if (dateCache.size > 200_000) dateCache.clear();
  dateCache.set(key, date);
  return date;
}

/** Calendar-day number of a `YYYY-MM-DD` (days since 1970-01-01). */
function dayNumber(date: string): number {
  return (
    Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) /
    86_400_000
  );
}

// ---------------------------------------------------------------------------------------------
// Aggregates.

const parsed = new Map<string, number>();
const canonical = new Map<string, string>();

/** `Date.parse`, memoised: the reference runs thousands of times over the same events. */
function parseTime(text: string): number {
  let ms = parsed.get(text);
  if (ms === undefined) {
    ms = Date.parse(text);
    if (parsed.size > 200_000) parsed.clear();
    parsed.set(text, ms);
  }
  return ms;
}

function canonicalName(name: string): string {
  let key = canonical.get(name);
  if (key === undefined) {
    key = canonicalEventName(name);
    canonical.set(name, key);
  }
  return key;
}

function get(from: unknown, segments: readonly string[]): unknown {
  let current = from;
  for (const segment of segments) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = Object.hasOwn(current, segment)
      ? (current as Record<string, unknown>)[segment]
      : undefined;
  }
  return current;
}

const missing = (value: unknown) => value === undefined || value === null;

function scalarEquals(value: unknown, constant: Scalar): boolean {
  if (typeof constant === 'number') {
    const a = refMicro(value);
    return a !== undefined && a === refMicro(constant);
  }
  return value === constant;
}

/** 'yes', 'no' or 'bad' (an ordering comparison with a value that is no number). */
function propertyCondition(
  condition: PropertyConditionDefinition,
  source: unknown,
): 'yes' | 'no' | 'bad' {
  const value = get(source, condition.path.split('.'));
  const op = condition.op;
  if (op === 'exists') return missing(value) ? 'no' : 'yes';
  if (op === 'notExists') return missing(value) ? 'yes' : 'no';
  if (missing(value)) return condition.ifMissing ? 'yes' : 'no';
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  switch (op) {
    case '==':
      return yes(scalarEquals(value, condition.value as Scalar));
    case '!=':
      return yes(!scalarEquals(value, condition.value as Scalar));
    case 'in':
      return yes((condition.value as Scalar[]).some((c) => scalarEquals(value, c)));
    case 'notIn':
      return yes(!(condition.value as Scalar[]).some((c) => scalarEquals(value, c)));
    default: {
      const a = refMicro(value);
      if (a === undefined) return 'bad';
      const b = refMicro(condition.value) as bigint;
      if (op === '<') return yes(a < b);
      if (op === '<=') return yes(a <= b);
      if (op === '>') return yes(a > b);
      return yes(a >= b);
    }
  }
}

interface Read {
  readonly ts: number;
  readonly messageId: string;
  readonly index: number;
  readonly value: unknown;
  readonly date: string;
}

interface AggregateAnswer {
  value: RefValue;
  /** Exact value as micro-units, for numeric comparisons. */
  micro: bigint | undefined;
  counts: Map<string, number>;
  problems: number;
}

function fits(kind: AggregateDefinition['kind'], value: unknown): boolean {
  switch (kind) {
    case 'first':
    case 'last':
      return (
        typeof value === 'string' ||
        typeof value === 'boolean' ||
        (typeof value === 'number' && Number.isFinite(value))
      );
    case 'mostFrequent':
    case 'distinctCount':
      return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
    default:
      return refMicro(value) !== undefined;
  }
}

function scalarRank(v: Scalar): number {
  return typeof v === 'boolean' ? 0 : typeof v === 'number' ? 1 : 2;
}

/** Total order of reads for first / last. */
function compareReads(a: Read, b: Read): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  if (a.messageId !== b.messageId) return a.messageId < b.messageId ? -1 : 1;
  if (a.index !== b.index) return a.index - b.index;
  const va = a.value as Scalar;
  const vb = b.value as Scalar;
  if (scalarRank(va) !== scalarRank(vb)) return scalarRank(va) - scalarRank(vb);
  return va === vb ? 0 : va < vb ? -1 : 1;
}

function aggregateAt(
  definition: AggregateDefinition,
  events: readonly PortraitEvent[],
  today: string,
  zone: string,
): AggregateAnswer {
  const types = definition.types ?? ['track'];
  const names = definition.events?.map(canonicalName);
  let problems = 0;
  const reads: Read[] = [];
  let matched = 0;
  const windowDays = definition.window === 'all' ? undefined : definition.window.days;
  const inWindow = (date: string) =>
    windowDays === undefined ||
    (dayNumber(date) <= dayNumber(today) && dayNumber(date) >= dayNumber(today) - (windowDays - 1));

  for (const event of events) {
    const ts = parseTime(event.timestamp);
    if (Number.isNaN(ts)) continue;
    if (!types.includes(event.type)) continue;
    if (names && (event.type !== 'track' || !names.includes(canonicalName(event.event ?? ''))))
      continue;
    const source =
      event.type === 'identify' || event.type === 'group' ? event.traits : event.properties;
    let verdict: 'yes' | 'no' | 'bad' = 'yes';
    for (const condition of definition.where ?? []) {
      verdict = propertyCondition(condition, source);
      if (verdict !== 'yes') break;
    }
    if (verdict === 'bad') problems += 1;
    if (verdict !== 'yes') continue;
    const date = refLocalDate(ts, zone);
    if (definition.kind === 'count') {
      if (inWindow(date)) matched += 1;
      continue;
    }
    const property = definition.property as string;
    const arrayAt = property.indexOf('[]');
    const candidates: { value: unknown; index: number }[] = [];
    if (arrayAt < 0) {
      candidates.push({ value: get(source, property.split('.')), index: 0 });
    } else {
      const list = get(source, property.slice(0, arrayAt).split('.'));
      const rest = property.slice(arrayAt + 2).replace(/^\./, '');
      if (missing(list)) continue;
      if (!Array.isArray(list)) {
        problems += 1;
        continue;
      }
      list.forEach((element, index) => {
        if (rest === '') candidates.push({ value: element, index });
        else if (missing(element)) return;
        else if (typeof element !== 'object' || Array.isArray(element)) problems += 1;
        else candidates.push({ value: get(element, rest.split('.')), index });
      });
    }
    for (const { value, index } of candidates) {
      if (missing(value)) continue;
      if (!fits(definition.kind, value)) {
        problems += 1;
        continue;
      }
      if (inWindow(date)) reads.push({ ts, messageId: event.messageId, index, value, date });
    }
  }

  const counts = new Map<string, number>();
  if (definition.kind === 'mostFrequent' || definition.kind === 'distinctCount') {
    for (const r of reads) {
      const key = typeof r.value === 'number' ? String(r.value) : (r.value as string);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const numbers = reads.map((r) => refMicro(r.value) as bigint);
  const answer = (value: RefValue, micro?: bigint): AggregateAnswer => ({
    value,
    micro,
    counts,
    problems,
  });
  switch (definition.kind) {
    case 'count':
      return answer(matched, BigInt(matched) * SCALE);
    case 'sum': {
      const total = numbers.reduce((a, b) => a + b, 0n);
      return answer(refFormat(total), total);
    }
    case 'avg': {
      if (numbers.length === 0) return answer(null);
      const avg = roundDiv(
        numbers.reduce((a, b) => a + b, 0n),
        BigInt(numbers.length),
      );
      return answer(refFormat(avg), avg);
    }
    case 'min':
    case 'max': {
      if (numbers.length === 0) return answer(null);
      const best = numbers.reduce((a, b) => ((definition.kind === 'min' ? b < a : b > a) ? b : a));
      return answer(refFormat(best), best);
    }
    case 'first':
    case 'last': {
      if (reads.length === 0) return answer(null);
      const sorted = [...reads].sort(compareReads);
      const pick = (definition.kind === 'first' ? sorted[0] : sorted[sorted.length - 1]) as Read;
      const value = pick.value as Scalar;
      return answer(value, typeof value === 'boolean' ? undefined : refMicro(value));
    }
    case 'distinctCount':
      return answer(counts.size, BigInt(counts.size) * SCALE);
    case 'mostFrequent': {
      const ranked = [...counts].sort(
        (a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0),
      );
      const top = ranked[0];
      if (!top) return answer(null);
      return answer(top[0], refMicro(top[0]));
    }
    default:
      throw new Error('unknown kind');
  }
}

// ---------------------------------------------------------------------------------------------
// Traits, age, tags.

function traitsOf(
  events: readonly PortraitEvent[],
): Map<string, { value: JsonValue; ts: number; id: string }> {
  const traits = new Map<string, { value: JsonValue; ts: number; id: string }>();
  for (const event of events) {
    const ts = parseTime(event.timestamp);
    if (Number.isNaN(ts) || event.type !== 'identify') continue;
    const t = event.traits;
    if (typeof t !== 'object' || t === null || Array.isArray(t)) continue;
    for (const [key, value] of Object.entries(t)) {
      if (value === undefined) continue;
      const held = traits.get(key);
      const wins =
        !held ||
        ts > held.ts ||
        (ts === held.ts &&
          (event.messageId > held.id ||
            (event.messageId === held.id && JSON.stringify(value) > JSON.stringify(held.value))));
      if (wins) traits.set(key, { value, ts, id: event.messageId });
    }
  }
  return traits;
}

function ageAt(traits: ReturnType<typeof traitsOf>, today: string): number | undefined {
  const birthday = traits.get('birthday')?.value;
  if (typeof birthday === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(birthday)) {
    const [y, m, d] = birthday.split('-').map(Number) as [number, number, number];
    const check = new Date(Date.UTC(y, m - 1, d));
    if (check.getUTCFullYear() === y && check.getUTCMonth() === m - 1 && check.getUTCDate() === d) {
      const age = Number(today.slice(0, 4)) - y - (today.slice(5) < birthday.slice(5) ? 1 : 0);
      return age >= 0 ? age : undefined;
    }
  }
  const age = traits.get('age')?.value;
  return typeof age === 'number' && Number.isInteger(age) && age >= 0 && age <= 150
    ? age
    : undefined;
}

interface OperandAnswer {
  value: unknown;
  /** As a fraction num/den (den > 0) when numeric. */
  num: bigint | undefined;
  den: bigint;
}

/** Everything about one member at instant `now`. */
export function referenceAt(
  definition: RuleCatalogueDefinition,
  events: readonly PortraitEvent[],
  now: number,
  zone: string,
): ReferenceAnswer {
  const today = refLocalDate(now, zone);
  const aggregates = new Map(
    definition.aggregates.map((a) => [a.id, aggregateAt(a, events, today, zone)]),
  );
  const traits = traitsOf(events);
  const tags: Record<string, true | string> = {};
  const reasons: ReferenceAnswer['reasons'] = {};
  let values: Record<string, JsonValue> = {};

  const numeric = (value: unknown, micro: bigint | undefined): OperandAnswer =>
    missing(value)
      ? { value: undefined, num: undefined, den: 1n }
      : { value, num: micro, den: SCALE };

  const operand = (o: OperandDefinition): { key: string; answer: OperandAnswer } => {
    if ('aggregate' in o) {
      const a = aggregates.get(o.aggregate) as AggregateAnswer;
      if (o.countOf) {
        const keys = [...new Set(o.countOf.map(String))];
        const n = keys.reduce((sum, k) => sum + (a.counts.get(k) ?? 0), 0);
        return {
          key: `aggregate:${o.aggregate}[${keys.join(',')}]`,
          answer: numeric(n, BigInt(n) * SCALE),
        };
      }
      return { key: `aggregate:${o.aggregate}`, answer: numeric(a.value, a.micro) };
    }
    if ('trait' in o) {
      const [first, ...rest] = o.trait.split('.');
      const value = get(traits.get(first as string)?.value, rest);
      return {
        key: `trait:${o.trait}`,
        answer: numeric(value, typeof value === 'boolean' ? undefined : refMicro(value)),
      };
    }
    if ('derived' in o) {
      const age = ageAt(traits, today);
      return {
        key: 'derived:age',
        answer: numeric(age, age === undefined ? undefined : BigInt(age) * SCALE),
      };
    }
    if ('ratio' in o) {
      const key = `ratio:${o.ratio[0]}/${o.ratio[1]}`;
      const a = (aggregates.get(o.ratio[0]) as AggregateAnswer).micro;
      const b = (aggregates.get(o.ratio[1]) as AggregateAnswer).micro;
      if (a === undefined || b === undefined || b === 0n)
        return { key, answer: { value: undefined, num: undefined, den: 1n } };
      const num = b < 0n ? -a : a;
      const den = b < 0n ? -b : b;
      return { key, answer: { value: refFormat(roundDiv(num * SCALE, den)), num, den } };
    }
    const value = tags[o.tag];
    return { key: `tag:${o.tag}`, answer: { value, num: undefined, den: 1n } };
  };

  const read = (o: OperandDefinition): OperandAnswer => {
    const { key, answer } = operand(o);
    if (!(key in values)) values[key] = missing(answer.value) ? null : (answer.value as JsonValue);
    return answer;
  };

  const sign = (a: OperandAnswer, c: number): number | undefined => {
    if (a.num === undefined) return undefined;
    const left = a.num * SCALE;
    const right = (refMicro(c) as bigint) * a.den;
    return left === right ? 0 : left < right ? -1 : 1;
  };
  const eq = (a: OperandAnswer, c: Scalar) =>
    typeof c === 'number' ? sign(a, c) === 0 : a.value === c;

  const holds = (c: ConditionDefinition): boolean => {
    if ('all' in c) {
      for (const child of c.all) if (!holds(child)) return false;
      return true;
    }
    if ('any' in c) {
      for (const child of c.any) if (holds(child)) return true;
      return false;
    }
    if ('not' in c) return !holds(c.not);
    const a = read(c);
    if (c.op === 'exists') return !missing(a.value);
    if (c.op === 'notExists') return missing(a.value);
    if (missing(a.value)) return false;
    switch (c.op) {
      case '==':
        return eq(a, c.value as Scalar);
      case '!=':
        return !eq(a, c.value as Scalar);
      case 'in':
        return (c.value as Scalar[]).some((v) => eq(a, v));
      case 'notIn':
        return !(c.value as Scalar[]).some((v) => eq(a, v));
      default: {
        const s = sign(a, c.value as number);
        if (s === undefined) return false;
        return c.op === '<' ? s < 0 : c.op === '<=' ? s <= 0 : c.op === '>' ? s > 0 : s >= 0;
      }
    }
  };

  const produce = (source: ValueSourceDefinition): string | undefined => {
    if (typeof source === 'string') return source;
    const { value } = read(source as OperandDefinition);
    if (typeof value === 'string' && value !== '') return value;
    if (typeof value === 'number') return String(value);
    return undefined;
  };

  // Tags in an order where every tag comes after the tags it reads.
  const pending = [...definition.tags];
  const done = new Set<string>();
  const readsOf = (tag: TagDefinition) =>
    JSON.stringify(tag)
      .match(/"tag":"[^"]+"/g)
      ?.map((m) => m.slice(7, -1)) ?? [];
  while (pending.length > 0) {
    const index = pending.findIndex((t) => readsOf(t).every((id) => done.has(id)));
    const [tag] = pending.splice(index, 1) as [TagDefinition];
    values = {};
    if (tag.condition) {
      if (holds(tag.condition)) {
        tags[tag.id] = true;
        reasons[tag.id] = { rule: 'condition', values };
      }
    } else if (tag.value) {
      let produced: { value: string; rule: string } | undefined;
      for (const [i, c] of tag.value.cases.entries()) {
        if (c.when && !holds(c.when)) continue;
        const value = produce(c.then);
        if (value !== undefined) {
          produced = { value, rule: `case ${i}` };
          break;
        }
      }
      if (!produced && tag.value.else !== undefined)
        produced = { value: tag.value.else, rule: 'else' };
      if (produced) {
        tags[tag.id] = produced.value;
        reasons[tag.id] = { rule: produced.rule, values };
      }
    }
    done.add(tag.id);
  }

  let problems = 0;
  let counted = 0;
  for (const event of events) {
    if (Number.isNaN(parseTime(event.timestamp))) problems += 1;
    else counted += 1;
  }
  for (const a of aggregates.values()) problems += a.problems;
  return {
    aggregates: Object.fromEntries([...aggregates].map(([id, a]) => [id, a.value])),
    tags,
    reasons,
    events: counted,
    problems,
  };
}
