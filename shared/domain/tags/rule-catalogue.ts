/**
 * Tag rules as data. {@link loadRuleCatalogue} checks a catalogue (JSON, see docs/TAGS.md) and
 * compiles it into the form the fold and the evaluator read: event names canonicalised, property
 * paths split, conditions with their operands resolved, tags in dependency order.
 */
import { canonicalEventName } from '../../../events/catalogue.ts';
import { type EventType, eventTypes } from '../../../events/envelope.ts';
import { type DecimalSlot, decimalSlot, decimalToMicro, parseDecimalInto } from './decimal.ts';

function decimalOf(value: number): DecimalSlot {
  const slot = decimalSlot();
  parseDecimalInto(value, slot);
  return slot;
}

export const aggregateKinds = [
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'first',
  'last',
  'mostFrequent',
  'distinctCount',
] as const;
export type AggregateKind = (typeof aggregateKinds)[number];

export const tagDimensions = ['demographic', 'behaviour', 'consumption', 'interest'] as const;
export type TagDimension = (typeof tagDimensions)[number];

export const tagTypes = ['static', 'dynamic'] as const;
export type TagType = (typeof tagTypes)[number];

export const comparisonOps = [
  '==',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'in',
  'notIn',
  'exists',
  'notExists',
] as const;
export type ComparisonOp = (typeof comparisonOps)[number];

export const derivedValues = ['age'] as const;
export type DerivedValue = (typeof derivedValues)[number];

/** A JSON scalar a rule compares with. */
export type Scalar = string | number | boolean;

export interface Labels {
  readonly 'zh-CN': string;
  readonly en: string;
}

/** `all` (the whole history) or the last N brand-local calendar days. */
export type WindowDefinition = 'all' | { readonly days: number };

/** A condition on an event property; all of an aggregate's `where` conditions must hold. */
export interface PropertyConditionDefinition {
  readonly path: string;
  readonly op: ComparisonOp;
  readonly value?: Scalar | readonly Scalar[];
  /** What the condition answers when the property is absent (default false). */
  readonly ifMissing?: boolean;
}

export interface AggregateDefinition {
  readonly id: string;
  readonly labels?: Labels;
  readonly description?: string;
  readonly kind: AggregateKind;
  /** Event types counted (default `["track"]`). */
  readonly types?: readonly EventType[];
  /** `track` event names, any spelling (default: every track event). */
  readonly events?: readonly string[];
  readonly where?: readonly PropertyConditionDefinition[];
  /** Property read by every kind but `count`: `revenue`, `products[].category`. */
  readonly property?: string;
  readonly window: WindowDefinition;
}

export type OperandDefinition =
  | { readonly aggregate: string; readonly countOf?: readonly Scalar[] }
  | { readonly trait: string }
  | { readonly derived: DerivedValue }
  | { readonly ratio: readonly [string, string] }
  | { readonly tag: string };

export type ComparisonDefinition = OperandDefinition & {
  readonly op: ComparisonOp;
  readonly value?: Scalar | readonly Scalar[];
};

export type ConditionDefinition =
  | { readonly all: readonly ConditionDefinition[] }
  | { readonly any: readonly ConditionDefinition[] }
  | { readonly not: ConditionDefinition }
  | ComparisonDefinition;

export type ValueSourceDefinition =
  | string
  | { readonly trait: string }
  | { readonly aggregate: string };

export interface ValueCaseDefinition {
  readonly when?: ConditionDefinition;
  readonly then: ValueSourceDefinition;
}

export interface TagDefinition {
  readonly id: string;
  readonly labels: Labels;
  readonly dimension: TagDimension;
  readonly type: TagType;
  readonly description?: string;
  /** A boolean tag: set (value `true`) while the condition holds. */
  readonly condition?: ConditionDefinition;
  /** A value tag: the first case whose `when` holds and whose `then` has a value. */
  readonly value?: { readonly cases: readonly ValueCaseDefinition[]; readonly else?: string };
  /** Labels of the constant values a value tag can take. */
  readonly valueLabels?: Readonly<Record<string, Labels>>;
}

export interface RuleCatalogueDefinition {
  readonly version: 1;
  readonly description?: string;
  readonly aggregates: readonly AggregateDefinition[];
  readonly tags: readonly TagDefinition[];
}

// ---------------------------------------------------------------------------------------------
// Compiled form.

/** A property path split into segments, with at most one array step (`products[].category`). */
export interface CompiledPath {
  readonly text: string;
  /** Segments before the array step, or the whole path when there is none. */
  readonly head: readonly string[];
  /** Segments read from each array element; `undefined` when the path has no array step. */
  readonly tail: readonly string[] | undefined;
}

/** Numeric codes of {@link ComparisonOp}, for the fold's hot loop. */
export const ConditionOpCode = {
  Equal: 0,
  NotEqual: 1,
  Less: 2,
  LessOrEqual: 3,
  Greater: 4,
  GreaterOrEqual: 5,
  In: 6,
  NotIn: 7,
  Exists: 8,
  NotExists: 9,
} as const;
export type ConditionOpCode = (typeof ConditionOpCode)[keyof typeof ConditionOpCode];

export interface CompiledPropertyCondition {
  readonly path: readonly string[];
  readonly op: ConditionOpCode;
  /** Scalar constant of `==` / `!=`, or undefined. */
  readonly scalar: Scalar | undefined;
  /** A numeric constant (ordering ops, or `==` / `!=` with a number) as units and micro-units. */
  readonly number: DecimalSlot | undefined;
  /** Constants of `in` / `notIn`, split by type. */
  readonly strings: ReadonlySet<string> | undefined;
  readonly numbers: readonly DecimalSlot[] | undefined;
  readonly booleans: ReadonlySet<boolean> | undefined;
  readonly ifMissing: boolean;
}

/** Numeric codes of {@link AggregateKind}, for the fold's hot loop. */
export const KindCode = {
  Count: 0,
  Sum: 1,
  Min: 2,
  Max: 3,
  Avg: 4,
  First: 5,
  Last: 6,
  MostFrequent: 7,
  DistinctCount: 8,
} as const;
export type KindCode = (typeof KindCode)[keyof typeof KindCode];

/** What a series accumulates per bucket; sum and avg share one, mostFrequent and distinctCount too. */
export const AccumulatorCode = {
  Count: 0,
  Sum: 1,
  Min: 2,
  Max: 3,
  First: 4,
  Last: 5,
  Values: 6,
} as const;
export type AccumulatorCode = (typeof AccumulatorCode)[keyof typeof AccumulatorCode];

export interface CompiledAggregate {
  readonly index: number;
  readonly id: string;
  readonly kind: AggregateKind;
  readonly kindCode: KindCode;
  /** 0 for the whole history, else the window length in days. */
  readonly windowDays: number;
  readonly types: readonly EventType[];
  /** Canonical event names, or `undefined` for every event of the types. */
  readonly events: readonly string[] | undefined;
  readonly where: readonly CompiledPropertyCondition[];
  readonly property: CompiledPath | undefined;
  /** Index of the series in {@link RuleCatalogue.series} that holds this aggregate's data. */
  readonly seriesIndex: number;
  readonly definition: AggregateDefinition;
}

/**
 * The data several aggregates share: same accumulator, event filter and property, any windows.
 * `orders_90d`, `orders_365d` and `orders_all` read one series; so do `revenue_365d` (sum) and
 * `avg_order_value_365d` (avg). The fold updates each series once per event.
 */
export interface CompiledSeries {
  readonly index: number;
  /** Changes whenever what the series accumulates changes; stored with its state. */
  readonly signature: string;
  readonly accumulator: AccumulatorCode;
  readonly types: readonly EventType[];
  readonly events: readonly string[] | undefined;
  readonly where: readonly CompiledPropertyCondition[];
  readonly property: CompiledPath | undefined;
  /** Day buckets are kept for the longest window of its aggregates; 0 when none is windowed. */
  readonly windowDays: number;
  /** Whether one of its aggregates covers the whole history (a running total is kept). */
  readonly keepsTotal: boolean;
  /** Ids of the aggregates reading it. */
  readonly aggregates: readonly string[];
}

export type CompiledOperand =
  | { readonly kind: 'aggregate'; readonly key: string; readonly aggregate: CompiledAggregate }
  | {
      readonly kind: 'countOf';
      readonly key: string;
      readonly aggregate: CompiledAggregate;
      readonly values: readonly string[];
    }
  | { readonly kind: 'trait'; readonly key: string; readonly path: readonly string[] }
  | { readonly kind: 'derived'; readonly key: string; readonly derived: DerivedValue }
  | {
      readonly kind: 'ratio';
      readonly key: string;
      readonly numerator: CompiledAggregate;
      readonly denominator: CompiledAggregate;
    }
  | { readonly kind: 'tag'; readonly key: string; readonly tag: string };

export type CompiledCondition =
  | { readonly kind: 'all'; readonly conditions: readonly CompiledCondition[] }
  | { readonly kind: 'any'; readonly conditions: readonly CompiledCondition[] }
  | { readonly kind: 'not'; readonly condition: CompiledCondition }
  | {
      readonly kind: 'compare';
      readonly operand: CompiledOperand;
      readonly op: ComparisonOp;
      readonly value: Scalar | readonly Scalar[] | undefined;
    };

export type CompiledValueSource =
  | { readonly kind: 'constant'; readonly value: string }
  | CompiledOperand;

export interface CompiledTag {
  readonly id: string;
  readonly definition: TagDefinition;
  readonly condition: CompiledCondition | undefined;
  readonly cases: readonly {
    readonly when: CompiledCondition | undefined;
    readonly then: CompiledValueSource;
  }[];
  readonly otherwise: string | undefined;
}

/** A checked, compiled rule catalogue. Immutable; build once per process. */
export interface RuleCatalogue {
  readonly definition: RuleCatalogueDefinition;
  readonly aggregates: readonly CompiledAggregate[];
  readonly aggregatesById: ReadonlyMap<string, CompiledAggregate>;
  /** The distinct series the aggregates read (what profiles store). */
  readonly series: readonly CompiledSeries[];
  /** Tags in evaluation order: a tag comes after the tags its conditions read. */
  readonly tags: readonly CompiledTag[];
  readonly tagsById: ReadonlyMap<string, CompiledTag>;
  /** The longest window in days (0 when every aggregate covers the whole history). */
  readonly longestWindowDays: number;
  /** Whether any tag reads the member's age (so birthdays can change tags). */
  readonly readsAge: boolean;
  /** Indices of the series a `track` event of this name feeds (any spelling; cached). */
  trackRoute(eventName: string | undefined): Int32Array;
  /** Indices of the series an event of a type other than `track` feeds. */
  typeRoute(type: EventType): Int32Array;
}

// ---------------------------------------------------------------------------------------------
// Errors.

export interface RuleCatalogueIssue {
  /** Id of the aggregate or tag at fault, when known. */
  readonly rule: string | undefined;
  /** JSON Pointer of the field at fault, e.g. `/tags/3/condition/all/0/op`. */
  readonly path: string;
  readonly message: string;
}

/** A rule catalogue that cannot be used: every issue names the rule and the field. */
export class RuleCatalogueError extends Error {
  readonly code = 'invalid_rule_catalogue';
  constructor(readonly issues: readonly RuleCatalogueIssue[]) {
    super(
      `The rule catalogue is invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${issues
        .map(
          (issue) =>
            `- ${issue.rule === undefined ? '' : `rule "${issue.rule}", `}${issue.path || '/'}: ${issue.message}`,
        )
        .join('\n')}`,
    );
    this.name = 'RuleCatalogueError';
  }
}

// ---------------------------------------------------------------------------------------------
// Loading.

const idPattern = /^[a-z][a-z0-9_]{0,63}$/;
const maxIssues = 50;

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: Json): value is Scalar {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function describe(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function pointer(path: readonly (string | number)[]): string {
  return path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

const prototypeKeys = new Set(Object.getOwnPropertyNames(Object.prototype));

class Checker {
  readonly issues: RuleCatalogueIssue[] = [];
  rule: string | undefined;

  fail(path: readonly (string | number)[], message: string): undefined {
    if (this.issues.length < maxIssues) {
      this.issues.push({ rule: this.rule, path: pointer(path), message });
    }
    return undefined;
  }

  /** Reports keys outside `allowed`. */
  keys(value: Record<string, Json>, allowed: readonly string[], path: (string | number)[]): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.fail([...path, key], `unknown field; expected one of ${allowed.join(', ')}`);
      }
    }
  }

  string(value: Json, path: (string | number)[], what: string): string | undefined {
    if (typeof value !== 'string' || value.trim() === '') {
      return this.fail(path, `${what} must be a non-empty string, not ${describe(value)}`);
    }
    return value;
  }

  labels(value: Json, path: (string | number)[]): Labels | undefined {
    if (!isObject(value)) {
      return this.fail(
        path,
        `labels must be an object { "zh-CN": …, "en": … }, not ${describe(value)}`,
      );
    }
    this.keys(value, ['zh-CN', 'en'], path);
    const zh = this.string(value['zh-CN'], [...path, 'zh-CN'], 'the zh-CN label');
    const en = this.string(value.en, [...path, 'en'], 'the en label');
    return zh !== undefined && en !== undefined ? { 'zh-CN': zh, en } : undefined;
  }

  /** A dotted path; `allowArray` permits one `[]` step. */
  path(value: Json, path: (string | number)[], allowArray: boolean): CompiledPath | undefined {
    const text = this.string(value, path, 'a property path');
    if (text === undefined) return undefined;
    const segments = text.split('.');
    const head: string[] = [];
    let tail: string[] | undefined;
    for (const raw of segments) {
      let segment = raw;
      const isArray = segment.endsWith('[]');
      if (isArray) segment = segment.slice(0, -2);
      if (segment === '' || /[[\]]/.test(segment)) {
        return this.fail(
          path,
          `"${text}" is not a property path: use dot-separated names, with "[]" after an array (products[].category)`,
        );
      }
      if (prototypeKeys.has(segment)) {
        return this.fail(path, `"${segment}" cannot be a property name in a path`);
      }
      if (isArray && !allowArray) {
        return this.fail(
          path,
          `"${text}": array steps ("[]") are allowed only in an aggregate's "property"`,
        );
      }
      if (isArray && tail !== undefined) {
        return this.fail(path, `"${text}": a path may have at most one array step ("[]")`);
      }
      if (tail !== undefined) tail.push(segment);
      else head.push(segment);
      if (isArray) tail = [];
    }
    return { text, head, tail };
  }
}

interface ComparisonCheck {
  readonly op: ComparisonOp;
  readonly value: Scalar | readonly Scalar[] | undefined;
}

/** Checks `op` and `value` of a comparison (property condition or tag condition). */
function checkComparison(
  c: Checker,
  node: Record<string, Json>,
  path: (string | number)[],
): ComparisonCheck | undefined {
  const op = node.op;
  if (typeof op !== 'string' || !(comparisonOps as readonly string[]).includes(op)) {
    return c.fail(
      [...path, 'op'],
      `unknown operator ${describe(op)}; expected one of ${comparisonOps.join(', ')}`,
    );
  }
  const value = node.value;
  switch (op as ComparisonOp) {
    case 'exists':
    case 'notExists':
      if (value !== undefined) return c.fail([...path, 'value'], `"${op}" takes no value`);
      return { op: op as ComparisonOp, value: undefined };
    case 'in':
    case 'notIn':
      if (!Array.isArray(value) || value.length === 0 || !value.every(isScalar)) {
        return c.fail(
          [...path, 'value'],
          `"${op}" needs a non-empty array of strings, numbers or booleans, not ${describe(value)}`,
        );
      }
      for (const [i, item] of value.entries()) {
        if (typeof item === 'number' && decimalToMicro(item) === undefined) {
          return c.fail([...path, 'value', i], `${item} is out of range (|n| < 1e15)`);
        }
      }
      return { op: op as ComparisonOp, value: value as Scalar[] };
    case '==':
    case '!=':
      if (!isScalar(value)) {
        return c.fail(
          [...path, 'value'],
          `"${op}" needs a string, number or boolean, not ${describe(value)}`,
        );
      }
      if (typeof value === 'number' && decimalToMicro(value) === undefined) {
        return c.fail([...path, 'value'], `${value} is out of range (|n| < 1e15)`);
      }
      return { op: op as ComparisonOp, value };
    default:
      if (typeof value !== 'number' || decimalToMicro(value) === undefined) {
        return c.fail(
          [...path, 'value'],
          `"${op}" needs a number (|n| < 1e15), not ${describe(value)}`,
        );
      }
      return { op: op as ComparisonOp, value };
  }
}

const opCodes: Readonly<Record<ComparisonOp, ConditionOpCode>> = {
  '==': ConditionOpCode.Equal,
  '!=': ConditionOpCode.NotEqual,
  '<': ConditionOpCode.Less,
  '<=': ConditionOpCode.LessOrEqual,
  '>': ConditionOpCode.Greater,
  '>=': ConditionOpCode.GreaterOrEqual,
  in: ConditionOpCode.In,
  notIn: ConditionOpCode.NotIn,
  exists: ConditionOpCode.Exists,
  notExists: ConditionOpCode.NotExists,
};

function compilePropertyCondition(
  c: Checker,
  node: Json,
  path: (string | number)[],
): CompiledPropertyCondition | undefined {
  if (!isObject(node)) return c.fail(path, `a condition must be an object, not ${describe(node)}`);
  c.keys(node, ['path', 'op', 'value', 'ifMissing'], path);
  const propertyPath = c.path(node.path, [...path, 'path'], false);
  const comparison = checkComparison(c, node, path);
  if (node.ifMissing !== undefined && typeof node.ifMissing !== 'boolean') {
    c.fail(
      [...path, 'ifMissing'],
      `ifMissing must be true or false, not ${describe(node.ifMissing)}`,
    );
  }
  if (!propertyPath || !comparison) return undefined;
  const value = comparison.value;
  const list = Array.isArray(value) ? (value as readonly Scalar[]) : undefined;
  const scalar = list === undefined ? (value as Scalar | undefined) : undefined;
  return {
    path: propertyPath.head,
    op: opCodes[comparison.op],
    scalar,
    number: typeof scalar === 'number' ? decimalOf(scalar) : undefined,
    strings: list ? new Set(list.filter((v): v is string => typeof v === 'string')) : undefined,
    numbers: list
      ? list.filter((v): v is number => typeof v === 'number').map(decimalOf)
      : undefined,
    booleans: list ? new Set(list.filter((v): v is boolean => typeof v === 'boolean')) : undefined,
    ifMissing: node.ifMissing === true,
  };
}

const kindCodes: Readonly<Record<AggregateKind, KindCode>> = {
  count: KindCode.Count,
  sum: KindCode.Sum,
  min: KindCode.Min,
  max: KindCode.Max,
  avg: KindCode.Avg,
  first: KindCode.First,
  last: KindCode.Last,
  mostFrequent: KindCode.MostFrequent,
  distinctCount: KindCode.DistinctCount,
};

function compileAggregate(
  c: Checker,
  node: Json,
  index: number,
): Omit<CompiledAggregate, 'seriesIndex'> | undefined {
  const path: (string | number)[] = ['aggregates', index];
  c.rule = isObject(node) && typeof node.id === 'string' ? node.id : undefined;
  if (!isObject(node)) return c.fail(path, `an aggregate must be an object, not ${describe(node)}`);
  c.keys(
    node,
    ['id', 'labels', 'description', 'kind', 'types', 'events', 'where', 'property', 'window'],
    path,
  );
  const id = node.id;
  if (typeof id !== 'string' || !idPattern.test(id)) {
    c.fail(
      [...path, 'id'],
      `id must match ${idPattern} (lower-case snake_case), not ${describe(id)}`,
    );
  }
  if (node.labels !== undefined) c.labels(node.labels, [...path, 'labels']);
  if (node.description !== undefined)
    c.string(node.description, [...path, 'description'], 'description');
  const kind = node.kind;
  if (typeof kind !== 'string' || !(aggregateKinds as readonly string[]).includes(kind)) {
    c.fail(
      [...path, 'kind'],
      `unknown kind ${describe(kind)}; expected one of ${aggregateKinds.join(', ')}`,
    );
  }
  let types: EventType[] = ['track'];
  if (node.types !== undefined) {
    if (
      !Array.isArray(node.types) ||
      node.types.length === 0 ||
      !node.types.every((t) => (eventTypes as readonly Json[]).includes(t))
    ) {
      c.fail([...path, 'types'], `types must be a non-empty array of ${eventTypes.join(', ')}`);
    } else {
      types = [...new Set(node.types as EventType[])];
    }
  }
  let events: string[] | undefined;
  if (node.events !== undefined) {
    if (!Array.isArray(node.events) || node.events.length === 0) {
      c.fail([...path, 'events'], 'events must be a non-empty array of track event names');
    } else {
      events = [];
      for (const [i, name] of node.events.entries()) {
        const canonical = typeof name === 'string' ? canonicalEventName(name) : '';
        if (canonical === '') {
          c.fail([...path, 'events', i], `${describe(name)} is not an event name`);
        } else events.push(canonical);
      }
      events = [...new Set(events)].sort();
      if (types.length !== 1 || types[0] !== 'track') {
        c.fail(
          [...path, 'events'],
          'events filters track events: use it only with types ["track"]',
        );
      }
    }
  }
  const where: CompiledPropertyCondition[] = [];
  if (node.where !== undefined) {
    if (!Array.isArray(node.where))
      c.fail([...path, 'where'], 'where must be an array of conditions');
    else {
      for (const [i, condition] of node.where.entries()) {
        const compiled = compilePropertyCondition(c, condition, [...path, 'where', i]);
        if (compiled) where.push(compiled);
      }
    }
  }
  let property: CompiledPath | undefined;
  if (kind === 'count') {
    if (node.property !== undefined) {
      c.fail(
        [...path, 'property'],
        'count counts events and reads no property; filter with "where"',
      );
    }
  } else if (node.property === undefined) {
    c.fail([...path, 'property'], `a ${String(kind)} aggregate needs the property it reads`);
  } else {
    property = c.path(node.property, [...path, 'property'], true);
  }
  let windowDays = 0;
  const window = node.window;
  if (window === 'all') windowDays = 0;
  else if (isObject(window)) {
    c.keys(window, ['days'], [...path, 'window']);
    const days = window.days;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 3660) {
      c.fail(
        [...path, 'window', 'days'],
        `days must be an integer from 1 to 3660, not ${describe(days)}`,
      );
    } else windowDays = days;
  } else {
    c.fail([...path, 'window'], `window must be "all" or { "days": N }, not ${describe(window)}`);
  }
  if (c.issues.some((issue) => issue.path.startsWith(pointer(path)))) return undefined;
  return {
    index,
    id: id as string,
    kind: kind as AggregateKind,
    kindCode: kindCodes[kind as AggregateKind],
    windowDays,
    types,
    events,
    where,
    property,
    definition: node as unknown as AggregateDefinition,
  };
}

/** A short stable hash (53-bit, base 36) of a string. */
function hash53(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2_654_435_761);
    h2 = Math.imul(h2 ^ ch, 1_597_334_677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2_246_822_507) ^ Math.imul(h2 ^ (h2 >>> 13), 3_266_489_909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2_246_822_507) ^ Math.imul(h1 ^ (h1 >>> 13), 3_266_489_909);
  return (4_294_967_296 * (2_097_151 & h2) + (h1 >>> 0)).toString(36);
}

const accumulators: Readonly<Record<AggregateKind, AccumulatorCode>> = {
  count: AccumulatorCode.Count,
  sum: AccumulatorCode.Sum,
  avg: AccumulatorCode.Sum,
  min: AccumulatorCode.Min,
  max: AccumulatorCode.Max,
  first: AccumulatorCode.First,
  last: AccumulatorCode.Last,
  mostFrequent: AccumulatorCode.Values,
  distinctCount: AccumulatorCode.Values,
};

/** What an aggregate accumulates, whatever its window: the key of its series. */
function seriesSignatureOf(aggregate: Omit<CompiledAggregate, 'seriesIndex'>): string {
  const d = aggregate.definition;
  return hash53(
    JSON.stringify([
      accumulators[aggregate.kind],
      aggregate.types,
      aggregate.events ?? null,
      d.where ?? [],
      d.property ?? null,
    ]),
  );
}

const numericKinds: ReadonlySet<AggregateKind> = new Set([
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'distinctCount',
]);

interface TagContext {
  readonly aggregates: ReadonlyMap<string, CompiledAggregate>;
  readonly tagIds: ReadonlySet<string>;
  /** Tags each tag reads, for ordering and cycle detection. */
  readonly reads: Set<string>;
  readonly isStatic: boolean;
  usesAge: boolean;
}

const operandKeys = ['aggregate', 'trait', 'derived', 'ratio', 'tag'] as const;

function compileOperand(
  c: Checker,
  node: Record<string, Json>,
  path: (string | number)[],
  ctx: TagContext,
): CompiledOperand | undefined {
  const present = operandKeys.filter((key) => node[key] !== undefined);
  if (present.length !== 1) {
    return c.fail(
      path,
      present.length === 0
        ? `a comparison needs one operand: ${operandKeys.join(', ')} (or all / any / not)`
        : `a comparison takes one operand, not ${present.join(' and ')}`,
    );
  }
  const which = present[0];
  const aggregateRef = (value: Json, at: (string | number)[]): CompiledAggregate | undefined => {
    if (typeof value !== 'string')
      return c.fail(at, `an aggregate id must be a string, not ${describe(value)}`);
    const aggregate = ctx.aggregates.get(value);
    if (!aggregate) return c.fail(at, `unknown aggregate "${value}"`);
    if (ctx.isStatic) return c.fail(at, `a static tag reads traits only, not aggregate "${value}"`);
    return aggregate;
  };
  switch (which) {
    case 'aggregate': {
      const aggregate = aggregateRef(node.aggregate, [...path, 'aggregate']);
      if (node.countOf !== undefined) {
        if (
          !Array.isArray(node.countOf) ||
          node.countOf.length === 0 ||
          !node.countOf.every(isScalar)
        ) {
          return c.fail([...path, 'countOf'], 'countOf must be a non-empty array of values');
        }
        if (aggregate && aggregate.kind !== 'mostFrequent' && aggregate.kind !== 'distinctCount') {
          return c.fail(
            [...path, 'countOf'],
            `countOf reads the value counts of a mostFrequent or distinctCount aggregate; "${aggregate.id}" is ${aggregate.kind}`,
          );
        }
        if (!aggregate) return undefined;
        const values = [...new Set(node.countOf.map((v) => String(v)))];
        return {
          kind: 'countOf',
          key: `aggregate:${aggregate.id}[${values.join(',')}]`,
          aggregate,
          values,
        };
      }
      return aggregate && { kind: 'aggregate', key: `aggregate:${aggregate.id}`, aggregate };
    }
    case 'trait': {
      const traitPath = c.path(node.trait, [...path, 'trait'], false);
      return traitPath && { kind: 'trait', key: `trait:${traitPath.text}`, path: traitPath.head };
    }
    case 'derived': {
      if (!(derivedValues as readonly Json[]).includes(node.derived)) {
        return c.fail(
          [...path, 'derived'],
          `unknown derived value ${describe(node.derived)}; expected ${derivedValues.join(', ')}`,
        );
      }
      ctx.usesAge = true;
      return {
        kind: 'derived',
        key: `derived:${node.derived as DerivedValue}`,
        derived: node.derived as DerivedValue,
      };
    }
    case 'ratio': {
      const ratio = node.ratio;
      if (!Array.isArray(ratio) || ratio.length !== 2) {
        return c.fail(
          [...path, 'ratio'],
          'ratio must be [numeratorAggregateId, denominatorAggregateId]',
        );
      }
      const numerator = aggregateRef(ratio[0], [...path, 'ratio', 0]);
      const denominator = aggregateRef(ratio[1], [...path, 'ratio', 1]);
      for (const [i, aggregate] of [numerator, denominator].entries()) {
        if (aggregate && !numericKinds.has(aggregate.kind)) {
          c.fail(
            [...path, 'ratio', i],
            `"${aggregate.id}" is ${aggregate.kind}, not a numeric aggregate`,
          );
          return undefined;
        }
      }
      if (!numerator || !denominator) return undefined;
      return {
        kind: 'ratio',
        key: `ratio:${numerator.id}/${denominator.id}`,
        numerator,
        denominator,
      };
    }
    case 'tag': {
      const tag = node.tag;
      if (typeof tag !== 'string' || !ctx.tagIds.has(tag)) {
        return c.fail([...path, 'tag'], `unknown tag ${describe(tag)}`);
      }
      ctx.reads.add(tag);
      return { kind: 'tag', key: `tag:${tag}`, tag };
    }
    default:
      return undefined;
  }
}

function compileCondition(
  c: Checker,
  node: Json,
  path: (string | number)[],
  ctx: TagContext,
  depth = 0,
): CompiledCondition | undefined {
  if (depth > 32) return c.fail(path, 'conditions nest deeper than 32 levels');
  if (!isObject(node)) return c.fail(path, `a condition must be an object, not ${describe(node)}`);
  for (const group of ['all', 'any'] as const) {
    if (node[group] !== undefined) {
      c.keys(node, [group], path);
      const list = node[group];
      if (!Array.isArray(list) || list.length === 0) {
        return c.fail([...path, group], `${group} needs a non-empty array of conditions`);
      }
      const conditions = list.map((child, i) =>
        compileCondition(c, child, [...path, group, i], ctx, depth + 1),
      );
      if (conditions.some((x) => x === undefined)) return undefined;
      return { kind: group, conditions: conditions as CompiledCondition[] };
    }
  }
  if (node.not !== undefined) {
    c.keys(node, ['not'], path);
    const condition = compileCondition(c, node.not, [...path, 'not'], ctx, depth + 1);
    return condition && { kind: 'not', condition };
  }
  c.keys(node, [...operandKeys, 'countOf', 'op', 'value'], path);
  const operand = compileOperand(c, node, path, ctx);
  const comparison = checkComparison(c, node, path);
  if (!operand || !comparison) return undefined;
  return { kind: 'compare', operand, op: comparison.op, value: comparison.value };
}

function compileValueSource(
  c: Checker,
  node: Json,
  path: (string | number)[],
  ctx: TagContext,
): CompiledValueSource | undefined {
  if (typeof node === 'string') {
    if (node.trim() === '') return c.fail(path, 'a constant value must not be empty');
    return { kind: 'constant', value: node };
  }
  if (!isObject(node)) {
    return c.fail(
      path,
      `then must be a string or { "trait": … } or { "aggregate": … }, not ${describe(node)}`,
    );
  }
  c.keys(node, ['trait', 'aggregate'], path);
  if (node.trait === undefined && node.aggregate === undefined) {
    return c.fail(path, 'then must be a string or { "trait": … } or { "aggregate": … }');
  }
  return compileOperand(c, node, path, ctx);
}

interface TagDraft {
  readonly tag: CompiledTag;
  readonly reads: ReadonlySet<string>;
  readonly index: number;
}

function compileTag(
  c: Checker,
  node: Json,
  index: number,
  aggregates: ReadonlyMap<string, CompiledAggregate>,
  tagIds: ReadonlySet<string>,
): (TagDraft & { usesAge: boolean }) | undefined {
  const path: (string | number)[] = ['tags', index];
  c.rule = isObject(node) && typeof node.id === 'string' ? node.id : undefined;
  if (!isObject(node)) return c.fail(path, `a tag must be an object, not ${describe(node)}`);
  const issuesBefore = c.issues.length;
  c.keys(
    node,
    ['id', 'labels', 'dimension', 'type', 'description', 'condition', 'value', 'valueLabels'],
    path,
  );
  const id = node.id;
  if (typeof id !== 'string' || !idPattern.test(id)) {
    c.fail(
      [...path, 'id'],
      `id must match ${idPattern} (lower-case snake_case), not ${describe(id)}`,
    );
  }
  c.labels(node.labels, [...path, 'labels']);
  if (!(tagDimensions as readonly Json[]).includes(node.dimension)) {
    c.fail(
      [...path, 'dimension'],
      `dimension must be one of ${tagDimensions.join(', ')}, not ${describe(node.dimension)}`,
    );
  }
  if (!(tagTypes as readonly Json[]).includes(node.type)) {
    c.fail(
      [...path, 'type'],
      `type must be "static" (from traits) or "dynamic" (from events), not ${describe(node.type)}`,
    );
  }
  if (node.description !== undefined)
    c.string(node.description, [...path, 'description'], 'description');
  const ctx: TagContext = {
    aggregates,
    tagIds,
    reads: new Set(),
    isStatic: node.type === 'static',
    usesAge: false,
  };
  let condition: CompiledCondition | undefined;
  const cases: { when: CompiledCondition | undefined; then: CompiledValueSource }[] = [];
  let otherwise: string | undefined;
  if ((node.condition === undefined) === (node.value === undefined)) {
    c.fail(path, 'a tag needs exactly one of "condition" (a boolean tag) or "value" (a value tag)');
  } else if (node.condition !== undefined) {
    condition = compileCondition(c, node.condition, [...path, 'condition'], ctx);
    if (node.valueLabels !== undefined)
      c.fail([...path, 'valueLabels'], 'only value tags have valueLabels');
  } else {
    const value = node.value;
    if (!isObject(value))
      c.fail([...path, 'value'], `value must be { "cases": [...] }, not ${describe(value)}`);
    else {
      c.keys(value, ['cases', 'else'], [...path, 'value']);
      if (!Array.isArray(value.cases) || value.cases.length === 0) {
        c.fail(
          [...path, 'value', 'cases'],
          'cases must be a non-empty array of { "when"?, "then" }',
        );
      } else {
        for (const [i, item] of value.cases.entries()) {
          const at = [...path, 'value', 'cases', i];
          if (!isObject(item)) {
            c.fail(at, `a case must be an object { "when"?, "then" }, not ${describe(item)}`);
            continue;
          }
          c.keys(item, ['when', 'then'], at);
          const when =
            item.when === undefined
              ? undefined
              : compileCondition(c, item.when, [...at, 'when'], ctx);
          const then = compileValueSource(c, item.then, [...at, 'then'], ctx);
          if (then) cases.push({ when, then });
        }
      }
      if (value.else !== undefined) {
        otherwise = c.string(value.else, [...path, 'value', 'else'], 'else');
      }
    }
    const constants = [
      ...cases.flatMap((x) => (x.then.kind === 'constant' ? [x.then.value] : [])),
      ...(otherwise === undefined ? [] : [otherwise]),
    ];
    const valueLabels = node.valueLabels;
    if (valueLabels === undefined) {
      if (constants.length > 0) {
        c.fail(
          [...path, 'valueLabels'],
          `labels are needed for the values ${constants.map((v) => `"${v}"`).join(', ')}`,
        );
      }
    } else if (!isObject(valueLabels)) {
      c.fail(
        [...path, 'valueLabels'],
        'valueLabels must map each constant value to { "zh-CN", "en" }',
      );
    } else {
      for (const constant of constants) {
        if (!Object.hasOwn(valueLabels, constant)) {
          c.fail([...path, 'valueLabels', constant], `no labels for the value "${constant}"`);
        }
      }
      for (const [key, labels] of Object.entries(valueLabels)) {
        if (!constants.includes(key))
          c.fail([...path, 'valueLabels', key], `"${key}" is not a value of this tag`);
        else c.labels(labels, [...path, 'valueLabels', key]);
      }
    }
  }
  if (c.issues.length > issuesBefore) return undefined;
  return {
    tag: {
      id: id as string,
      definition: node as unknown as TagDefinition,
      condition,
      cases,
      otherwise,
    },
    reads: ctx.reads,
    index,
    usesAge: ctx.usesAge,
  };
}

/** Orders tags so each comes after the tags it reads; reports cycles. */
function orderTags(c: Checker, drafts: readonly TagDraft[]): CompiledTag[] {
  const byId = new Map(drafts.map((d) => [d.tag.id, d]));
  const ordered: CompiledTag[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (draft: TagDraft, trail: string[]): void => {
    const seen = state.get(draft.tag.id);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      c.rule = draft.tag.id;
      c.fail(
        ['tags', draft.index],
        `tags read each other in a cycle: ${[...trail, draft.tag.id].join(' → ')}`,
      );
      return;
    }
    state.set(draft.tag.id, 'visiting');
    for (const read of draft.reads) {
      const target = byId.get(read);
      if (target) visit(target, [...trail, draft.tag.id]);
    }
    state.set(draft.tag.id, 'done');
    ordered.push(draft.tag);
  };
  for (const draft of drafts) visit(draft, []);
  return ordered;
}

/** Static tags may read only static tags. */
function checkStaticReads(c: Checker, drafts: readonly TagDraft[]): void {
  const byId = new Map(drafts.map((d) => [d.tag.id, d]));
  for (const draft of drafts) {
    if (draft.tag.definition.type !== 'static') continue;
    for (const read of draft.reads) {
      if (byId.get(read)?.tag.definition.type === 'dynamic') {
        c.rule = draft.tag.id;
        c.fail(
          ['tags', draft.index],
          `a static tag reads traits only, not the dynamic tag "${read}"`,
        );
      }
    }
  }
}

/**
 * Checks and compiles a rule catalogue (parsed JSON). Throws {@link RuleCatalogueError} listing
 * every problem found, each with the rule id and the JSON Pointer of the field.
 */
export function loadRuleCatalogue(json: unknown): RuleCatalogue {
  const c = new Checker();
  if (!isObject(json)) {
    c.fail(
      [],
      `the catalogue must be an object { "version": 1, "aggregates": [...], "tags": [...] }, not ${describe(json)}`,
    );
    throw new RuleCatalogueError(c.issues);
  }
  c.keys(json, ['$schema', 'version', 'description', 'aggregates', 'tags'], []);
  if (json.version !== 1) c.fail(['version'], `version must be 1, not ${describe(json.version)}`);
  const aggregateNodes = Array.isArray(json.aggregates) ? json.aggregates : [];
  const tagNodes = Array.isArray(json.tags) ? json.tags : [];
  if (!Array.isArray(json.aggregates)) c.fail(['aggregates'], 'aggregates must be an array');
  if (!Array.isArray(json.tags)) c.fail(['tags'], 'tags must be an array');

  const aggregates: CompiledAggregate[] = [];
  const aggregatesById = new Map<string, CompiledAggregate>();
  const seriesBySignature = new Map<string, Mutable<CompiledSeries> & { aggregates: string[] }>();
  for (const [i, node] of aggregateNodes.entries()) {
    const draft = compileAggregate(c, node, i);
    if (!draft) continue;
    if (aggregatesById.has(draft.id)) {
      c.fail(['aggregates', i, 'id'], `duplicate aggregate id "${draft.id}"`);
      continue;
    }
    const signature = seriesSignatureOf(draft);
    let series = seriesBySignature.get(signature);
    if (!series) {
      series = {
        index: seriesBySignature.size,
        signature,
        accumulator: accumulators[draft.kind],
        types: draft.types,
        events: draft.events,
        where: draft.where,
        property: draft.property,
        windowDays: 0,
        keepsTotal: false,
        aggregates: [],
      };
      seriesBySignature.set(signature, series);
    }
    series.windowDays = Math.max(series.windowDays, draft.windowDays);
    series.keepsTotal ||= draft.windowDays === 0;
    series.aggregates.push(draft.id);
    const compiled: CompiledAggregate = {
      ...draft,
      index: aggregates.length,
      seriesIndex: series.index,
    };
    aggregates.push(compiled);
    aggregatesById.set(compiled.id, compiled);
  }

  const tagIds = new Set<string>();
  for (const [i, node] of tagNodes.entries()) {
    if (isObject(node) && typeof node.id === 'string') {
      if (tagIds.has(node.id)) {
        c.rule = node.id;
        c.fail(['tags', i, 'id'], `duplicate tag id "${node.id}"`);
      }
      tagIds.add(node.id);
    }
  }
  const drafts: TagDraft[] = [];
  let readsAge = false;
  for (const [i, node] of tagNodes.entries()) {
    const draft = compileTag(c, node, i, aggregatesById, tagIds);
    if (draft) {
      drafts.push(draft);
      readsAge ||= draft.usesAge;
    }
  }
  checkStaticReads(c, drafts);
  const tags = orderTags(c, drafts);
  if (c.issues.length > 0) throw new RuleCatalogueError(c.issues);

  return buildCatalogue(
    json as unknown as RuleCatalogueDefinition,
    aggregates,
    [...seriesBySignature.values()],
    tags,
    readsAge,
  );
}

const maxCachedNames = 10_000;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function buildCatalogue(
  definition: RuleCatalogueDefinition,
  aggregates: readonly CompiledAggregate[],
  series: readonly CompiledSeries[],
  tags: readonly CompiledTag[],
  readsAge: boolean,
): RuleCatalogue {
  const trackCache = new Map<string, Int32Array>();
  const byCanonical = new Map<string, Int32Array>();
  const anyTrack = series.filter((a) => a.types.includes('track') && a.events === undefined);
  const routeFor = (canonical: string): Int32Array => {
    let route = byCanonical.get(canonical);
    if (!route) {
      route = Int32Array.from(
        series
          .filter(
            (a) =>
              a.types.includes('track') && (a.events === undefined || a.events.includes(canonical)),
          )
          .map((a) => a.index),
      );
      if (byCanonical.size < maxCachedNames) byCanonical.set(canonical, route);
    }
    return route;
  };
  const anyTrackRoute = Int32Array.from(anyTrack.map((a) => a.index));
  const typeRoutes = new Map<EventType, Int32Array>(
    eventTypes.map((type) => [
      type,
      Int32Array.from(series.filter((a) => a.types.includes(type)).map((a) => a.index)),
    ]),
  );
  const empty = new Int32Array(0);
  let lastName: string | undefined;
  let lastRoute: Int32Array = empty;
  let previousName: string | undefined;
  let previousRoute: Int32Array = empty;
  return {
    definition,
    aggregates,
    aggregatesById: new Map(aggregates.map((a) => [a.id, a])),
    series,
    tags,
    tagsById: new Map(tags.map((t) => [t.id, t])),
    longestWindowDays: aggregates.reduce((max, a) => Math.max(max, a.windowDays), 0),
    readsAge,
    trackRoute(eventName) {
      if (eventName === undefined) return anyTrackRoute;
      // Comparing with the last two names is cheaper than hashing a freshly parsed string.
      if (eventName === lastName) return lastRoute;
      if (eventName === previousName) return previousRoute;
      let route = trackCache.get(eventName);
      if (!route) {
        route = routeFor(canonicalEventName(eventName));
        if (trackCache.size < maxCachedNames) trackCache.set(eventName, route);
      }
      previousName = lastName;
      previousRoute = lastRoute;
      lastName = eventName;
      lastRoute = route;
      return route;
    },
    typeRoute(type) {
      return typeRoutes.get(type) ?? empty;
    },
  };
}
