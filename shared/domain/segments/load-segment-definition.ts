/**
 * Checking and compiling segment definitions (JSON, see docs/SEGMENTS.md) against the rule
 * catalogue and the segments that exist. Every problem is reported with a stable code and the
 * JSON Pointer of the field, in the style of `loadRuleCatalogue`.
 */
import type { CompiledTag, RuleCatalogue } from '../tags/rule-catalogue.ts';
import { exactDecimalOf, exactKey } from './exact-decimal.ts';
import {
  type CompiledExpression,
  type CompiledNumber,
  type CompiledOperand,
  type CompiledSegment,
  type CompiledTest,
  type RfmField,
  rfmClass8Names,
  rfmFields,
  rfmSegmentNames,
  type SegmentConstant,
  type SegmentDefinition,
  SegmentDefinitionError,
  type SegmentDefinitionErrorCode,
  type SegmentDefinitionIssue,
  type SegmentOp,
  type SegmentScalar,
  segmentIdPattern,
  segmentLimits,
  segmentOps,
  segmentPurposes,
  userTypeTag,
  valueTiers,
} from './segment-definition.ts';

export interface SegmentDefinitionContext {
  readonly catalogue: RuleCatalogue;
  /**
   * The segments that exist, each with the ids of the segments it reads (empty when none): a
   * `segment` leaf may name only these, and must not close a cycle through them. The entry of
   * the segment being edited, if present, is replaced by the new definition.
   * Build it with {@link segmentGraph}. Default: no other segment.
   */
  readonly segments?: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The `segments` of a {@link SegmentDefinitionContext}, from compiled segments. */
export function segmentGraph(
  segments: Iterable<CompiledSegment>,
): ReadonlyMap<string, ReadonlySet<string>> {
  return new Map([...segments].map((segment) => [segment.id, segment.segmentsRead]));
}

type Json = unknown;
type Path = readonly (string | number)[];

const maxIssues = 50;
const prototypeKeys = new Set(Object.getOwnPropertyNames(Object.prototype));
const combinators = ['all', 'any', 'not'] as const;
const operandKeys = [
  'tag',
  'trait',
  'aggregate',
  'rfm',
  'valueTier',
  'userType',
  'cluster',
  'segment',
] as const;
type OperandKey = (typeof operandKeys)[number];
const shorthandOps: readonly SegmentOp[] = ['=', '!=', 'in', 'not_in'];
const numericAggregateKinds = new Set(['count', 'sum', 'avg', 'min', 'max', 'distinctCount']);

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: Json): value is SegmentScalar {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function describe(value: Json): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function quoteAll(values: readonly string[]): string {
  return values.map((v) => `"${v}"`).join(', ');
}

/** JSON Pointer (RFC 6901) of a path. */
export function jsonPointer(path: Path): string {
  return path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** Constants each kind of operand can take, found from the catalogue and the format. */
interface OperandType {
  /** What the operand is, for messages: `the boolean tag "x"`. */
  readonly what: string;
  readonly ops: readonly SegmentOp[];
  /** JSON types a constant may have. */
  readonly constants: readonly ('string' | 'number' | 'boolean')[];
  /** The only values the operand can take, when known. */
  readonly values?: readonly SegmentScalar[];
  /** Scores: constants must be integers in [1, 5]. */
  readonly score?: boolean;
  /** RFM score text: constants must match `^[1-5]{3}$`. */
  readonly scoreText?: boolean;
}

const textOps: readonly SegmentOp[] = ['=', '!=', 'in', 'not_in', 'exists', 'not_exists'];

class Checker {
  readonly issues: SegmentDefinitionIssue[] = [];
  nodes = 0;
  private nodesReported = false;

  constructor(
    private readonly prefix: Path,
    private readonly segment: string | undefined,
  ) {}

  fail(path: Path, code: SegmentDefinitionErrorCode, message: string): undefined {
    if (this.issues.length < maxIssues) {
      this.issues.push({
        segment: this.segment,
        pointer: jsonPointer([...this.prefix, ...path]),
        code,
        message,
      });
    }
    return undefined;
  }

  keys(value: Record<string, Json>, allowed: readonly string[], path: Path): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.fail([...path, key], 'unknown_field', `unknown field; expected ${allowed.join(', ')}`);
      }
    }
  }

  text(value: Json, path: Path, what: string, maxLength: number): string | undefined {
    if (value === undefined) return this.fail(path, 'missing_field', `${what} is required`);
    if (typeof value !== 'string') {
      return this.fail(path, 'invalid_type', `${what} must be a string, not ${describe(value)}`);
    }
    if (value.trim() === '') return this.fail(path, 'invalid_value', `${what} must not be empty`);
    if (value.length > maxLength) {
      return this.fail(path, 'too_long', `${what} is longer than ${maxLength} characters`);
    }
    return value;
  }

  /** Counts a node; false once the definition has more than the limit. */
  countNode(): boolean {
    this.nodes += 1;
    if (this.nodes <= segmentLimits.maxNodes) return true;
    if (!this.nodesReported) {
      this.nodesReported = true;
      this.fail(
        ['expression'],
        'too_many_nodes',
        `the expression has more than ${segmentLimits.maxNodes} nodes`,
      );
    }
    return false;
  }
}

interface Compilation {
  readonly catalogue: RuleCatalogue;
  /** Ids a `segment` leaf may name. */
  readonly knownSegments: ReadonlySet<string>;
  readonly ownId: string | undefined;
  readonly dependencies: Set<string>;
  /** Segment id → pointer (within the definition) of the first leaf that reads it. */
  readonly segmentsRead: Map<string, Path>;
}

function compileNumber(value: number): CompiledNumber {
  return { number: value, exact: exactDecimalOf(value) ?? { coefficient: 0n, exponent: 0 } };
}

/** Checks that `value` fits `op` in general; returns the constant, or `undefined` (reported). */
function checkConstant(
  c: Checker,
  op: SegmentOp,
  node: Record<string, Json>,
  path: Path,
): { value: SegmentConstant | undefined } | undefined {
  const value = node.value;
  const at = [...path, 'value'];
  if (op === 'exists' || op === 'not_exists') {
    if (value !== undefined) return c.fail(at, 'unknown_field', `"${op}" takes no value`);
    return { value: undefined };
  }
  if (value === undefined) return c.fail(at, 'missing_field', `"${op}" needs a value`);
  const tooLong = (item: Json, itemPath: Path): boolean => {
    if (typeof item === 'string' && item.length > segmentLimits.maxStringLength) {
      c.fail(
        itemPath,
        'too_long',
        `a string constant is longer than ${segmentLimits.maxStringLength} characters`,
      );
      return true;
    }
    return false;
  };
  switch (op) {
    case '=':
    case '!=':
      if (!isScalar(value)) {
        return c.fail(
          at,
          'type_mismatch',
          `"${op}" compares with a string, number or boolean, not ${describe(value)}${
            Array.isArray(value) ? ` (use "${op === '=' ? 'in' : 'not_in'}" for a list)` : ''
          }${value === null ? ` (use "${op === '=' ? 'not_exists' : 'exists'}")` : ''}`,
        );
      }
      return tooLong(value, at) ? undefined : { value };
    case 'in':
    case 'not_in': {
      if (!Array.isArray(value)) {
        return c.fail(
          at,
          'type_mismatch',
          `"${op}" needs an array of strings, numbers or booleans, not ${describe(value)}`,
        );
      }
      if (value.length === 0)
        return c.fail(at, 'invalid_value', `"${op}" needs at least one value`);
      if (value.length > segmentLimits.maxListValues) {
        return c.fail(
          at,
          'too_many_values',
          `"${op}" lists ${value.length} values; at most ${segmentLimits.maxListValues} are allowed`,
        );
      }
      let ok = true;
      for (const [i, item] of value.entries()) {
        if (!isScalar(item)) {
          ok = false;
          c.fail(
            [...at, i],
            'type_mismatch',
            `a list holds strings, numbers or booleans, not ${describe(item)}`,
          );
        } else if (tooLong(item, [...at, i])) ok = false;
      }
      return ok ? { value: value as SegmentScalar[] } : undefined;
    }
    case 'between': {
      if (
        !Array.isArray(value) ||
        value.length !== 2 ||
        !value.every((v) => typeof v === 'number' && Number.isFinite(v))
      ) {
        return c.fail(
          at,
          'type_mismatch',
          `"between" needs two numbers [low, high], not ${Array.isArray(value) ? `an array of ${value.length}` : describe(value)}`,
        );
      }
      const [low, high] = value as [number, number];
      if (low > high) {
        return c.fail(at, 'invalid_value', `"between" needs low ≤ high, not [${low}, ${high}]`);
      }
      return { value: [low, high] };
    }
    case 'contains':
      if (typeof value !== 'string') {
        return c.fail(at, 'type_mismatch', `"contains" needs a string, not ${describe(value)}`);
      }
      if (value === '') return c.fail(at, 'invalid_value', '"contains" needs a non-empty string');
      return tooLong(value, at) ? undefined : { value };
    default:
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return c.fail(
          at,
          'type_mismatch',
          `"${op}" compares with a number, not ${describe(value)}`,
        );
      }
      return { value };
  }
}

/** Checks the constant against what the operand can take. */
function checkConstantFits(
  c: Checker,
  type: OperandType,
  op: SegmentOp,
  value: SegmentConstant | undefined,
  path: Path,
): boolean {
  if (!type.ops.includes(op)) {
    c.fail(
      [...path, 'op'],
      'type_mismatch',
      `"${op}" does not apply to ${type.what}; use one of ${type.ops.join(', ')}`,
    );
    return false;
  }
  if (value === undefined) return true;
  const items: readonly SegmentScalar[] = Array.isArray(value)
    ? (value as readonly SegmentScalar[])
    : [value as SegmentScalar];
  const listed = Array.isArray(value) && op !== 'between';
  let ok = true;
  for (const [i, item] of items.entries()) {
    const at = listed ? [...path, 'value', i] : [...path, 'value'];
    if (!type.constants.includes(typeof item as 'string' | 'number' | 'boolean')) {
      ok = false;
      c.fail(
        at,
        'type_mismatch',
        `${type.what} is compared with ${type.constants.map((t) => `${t}s`).join(' or ')}, not ${describe(item)}`,
      );
    } else if (
      type.score &&
      (typeof item !== 'number' || !Number.isInteger(item) || item < 1 || item > 5)
    ) {
      ok = false;
      c.fail(at, 'invalid_value', `RFM scores are integers 1–5, not ${describe(item)}`);
    } else if (type.scoreText && (typeof item !== 'string' || !/^[1-5]{3}$/.test(item))) {
      ok = false;
      c.fail(
        at,
        'invalid_value',
        `an RFM score is three digits 1–5 such as "555", not ${describe(item)}`,
      );
    } else if (type.values && op !== 'contains' && !type.values.includes(item)) {
      ok = false;
      c.fail(
        at,
        'unknown_value',
        `${type.what} is never ${describe(item)}; its values are ${type.values.map((v) => describe(v)).join(', ')}`,
      );
    }
    if (!ok && listed && i >= 10) break;
  }
  return ok;
}

/** The values of a value tag when they are all constants; `undefined` when a case reads a trait or aggregate. */
function constantValuesOf(tag: CompiledTag): string[] | undefined {
  const values: string[] = [];
  for (const item of tag.cases) {
    if (item.then.kind !== 'constant') return undefined;
    values.push(item.then.value);
  }
  if (tag.otherwise !== undefined) values.push(tag.otherwise);
  return [...new Set(values)];
}

function tagType(tag: CompiledTag): OperandType {
  if (tag.condition) {
    return {
      what: `the boolean tag "${tag.id}" (true or absent)`,
      ops: ['exists', 'not_exists', '=', '!='],
      constants: ['boolean'],
      values: [true],
    };
  }
  const values = constantValuesOf(tag);
  return {
    what: `the tag "${tag.id}"`,
    ops: ['=', '!=', 'in', 'not_in', 'contains', 'exists', 'not_exists'],
    constants: ['string'],
    ...(values ? { values } : {}),
  };
}

function rfmType(field: RfmField): OperandType {
  switch (field) {
    case 'r':
    case 'f':
    case 'm':
      return {
        what: `the RFM score "${field}"`,
        ops: segmentOps.filter((op) => op !== 'contains'),
        constants: ['number'],
        score: true,
      };
    case 'score':
      return {
        what: 'the RFM score text',
        ops: textOps,
        constants: ['string'],
        scoreText: true,
      };
    case 'segment':
      return {
        what: 'the RFM segment',
        ops: textOps,
        constants: ['string'],
        values: rfmSegmentNames,
      };
    default:
      return {
        what: 'the RFM 8-class',
        ops: textOps,
        constants: ['string'],
        values: rfmClass8Names,
      };
  }
}

/** A trait path: dot-separated names, no array steps, no `Object.prototype` names. */
function checkTraitPath(c: Checker, value: Json, path: Path): string[] | undefined {
  const text = c.text(value, path, 'a trait path', segmentLimits.maxStringLength);
  if (text === undefined) return undefined;
  const segments = text.split('.');
  for (const segment of segments) {
    if (segment === '' || /[[\]]/.test(segment)) {
      return c.fail(
        path,
        'invalid_value',
        `"${text}" is not a trait path: use dot-separated names (city, address.city)`,
      );
    }
    if (prototypeKeys.has(segment)) {
      return c.fail(path, 'invalid_value', `"${segment}" cannot be a name in a trait path`);
    }
  }
  return segments;
}

function compileTest(op: SegmentOp, value: SegmentConstant | undefined): CompiledTest {
  switch (op) {
    case 'exists':
      return { kind: 'exists' };
    case 'not_exists':
      return { kind: 'not_exists' };
    case '=':
    case '!=': {
      const scalar = value as SegmentScalar;
      return {
        kind: 'equal',
        negate: op === '!=',
        scalar,
        number: typeof scalar === 'number' ? compileNumber(scalar) : undefined,
      };
    }
    case 'in':
    case 'not_in': {
      const list = value as readonly SegmentScalar[];
      const numbers = list.filter((v): v is number => typeof v === 'number');
      return {
        kind: 'member',
        negate: op === 'not_in',
        strings: new Set(list.filter((v): v is string => typeof v === 'string')),
        booleans: new Set(list.filter((v): v is boolean => typeof v === 'boolean')),
        numbers: new Set(numbers),
        exactKeys: new Set(numbers.map((n) => exactKey(compileNumber(n).exact))),
      };
    }
    case 'between': {
      const [low, high] = value as readonly [number, number];
      return { kind: 'between', low: compileNumber(low), high: compileNumber(high) };
    }
    case 'contains':
      return { kind: 'contains', text: value as string };
    default:
      return { kind: 'order', op, bound: compileNumber(value as number) };
  }
}

function compileOp(c: Checker, node: Record<string, Json>, path: Path): SegmentOp | undefined {
  const op = node.op;
  if (typeof op !== 'string' || !(segmentOps as readonly string[]).includes(op)) {
    return c.fail(
      [...path, 'op'],
      'unknown_operator',
      `unknown operator ${describe(op)}; expected one of ${segmentOps.join(', ')}`,
    );
  }
  return op as SegmentOp;
}

/** A comparison leaf: tag, trait, aggregate, rfm. */
function compileComparison(
  c: Checker,
  key: OperandKey,
  node: Record<string, Json>,
  path: Path,
  x: Compilation,
): CompiledExpression | undefined {
  c.keys(node, [key, 'op', 'value'], path);
  const selector = node[key];
  const at = [...path, key];
  let operand: CompiledOperand | undefined;
  let type: OperandType | undefined;
  switch (key) {
    case 'tag': {
      if (typeof selector !== 'string') {
        c.fail(at, 'invalid_type', `a tag id must be a string, not ${describe(selector)}`);
        break;
      }
      const tag = x.catalogue.tagsById.get(selector);
      if (!tag) {
        c.fail(at, 'unknown_tag', `unknown tag ${describe(selector)}: not in the rule catalogue`);
        break;
      }
      operand = { kind: 'tag', key: `tag:${tag.id}`, field: `tag:${tag.id}`, tag: tag.id };
      type = tagType(tag);
      break;
    }
    case 'trait': {
      const segments = checkTraitPath(c, selector, at);
      if (!segments) break;
      operand = {
        kind: 'trait',
        key: `trait:${segments.join('.')}`,
        field: `trait:${segments[0]}`,
        path: segments,
      };
      type = {
        what: `the trait "${segments.join('.')}"`,
        ops: segmentOps,
        constants: ['string', 'number', 'boolean'],
      };
      break;
    }
    case 'aggregate': {
      if (typeof selector !== 'string') {
        c.fail(at, 'invalid_type', `an aggregate id must be a string, not ${describe(selector)}`);
        break;
      }
      const aggregate = x.catalogue.aggregatesById.get(selector);
      if (!aggregate) {
        c.fail(
          at,
          'unknown_aggregate',
          `unknown aggregate ${describe(selector)}: not in the rule catalogue`,
        );
        break;
      }
      operand = {
        kind: 'aggregate',
        key: `aggregate:${aggregate.id}`,
        field: `aggregate:${aggregate.id}`,
        aggregate: aggregate.id,
      };
      type = numericAggregateKinds.has(aggregate.kind)
        ? {
            what: `the ${aggregate.kind} aggregate "${aggregate.id}"`,
            ops: segmentOps.filter((op) => op !== 'contains'),
            constants: ['number'],
          }
        : {
            what: `the ${aggregate.kind} aggregate "${aggregate.id}"`,
            ops: segmentOps,
            constants: ['string', 'number', 'boolean'],
          };
      break;
    }
    default: {
      if (typeof selector !== 'string' || !(rfmFields as readonly string[]).includes(selector)) {
        c.fail(
          at,
          'invalid_value',
          `an RFM field is one of ${rfmFields.join(', ')}, not ${describe(selector)}`,
        );
        break;
      }
      const field = selector as RfmField;
      operand = { kind: 'rfm', key: `rfm:${field}`, field: 'rfm', rfm: field };
      type = rfmType(field);
    }
  }
  let op: SegmentOp | undefined;
  if (node.op === undefined) {
    if (key === 'tag') op = 'exists';
    else c.fail([...path, 'op'], 'missing_field', `a ${key} leaf needs an "op"`);
  } else {
    op = compileOp(c, node, path);
  }
  if (op === undefined) return undefined;
  if (node.op === undefined && node.value !== undefined) {
    c.fail([...path, 'op'], 'missing_field', 'a value needs an "op" to compare it with');
    return undefined;
  }
  const constant = checkConstant(c, op, node, path);
  if (!constant || !operand || !type) return undefined;
  if (!checkConstantFits(c, type, op, constant.value, path)) return undefined;
  x.dependencies.add(operand.field);
  return {
    kind: 'compare',
    pointer: jsonPointer(path),
    operand,
    op,
    value: constant.value,
    test: compileTest(op, constant.value),
  };
}

/** `valueTier`, `userType`, `cluster`: the value(s) in place of a selector, `op` optional. */
function compileShorthand(
  c: Checker,
  key: 'valueTier' | 'userType' | 'cluster',
  node: Record<string, Json>,
  path: Path,
  x: Compilation,
): CompiledExpression | undefined {
  c.keys(node, [key, 'op'], path);
  const value = node[key];
  const at = [...path, key];
  const isList = Array.isArray(value);
  if (!isList && typeof value !== 'string') {
    return c.fail(
      at,
      'invalid_type',
      `${key} takes a string or an array of strings, not ${describe(value)}`,
    );
  }
  let op: SegmentOp | undefined = isList ? 'in' : '=';
  if (node.op !== undefined) {
    op = compileOp(c, node, path);
    if (op === undefined) return undefined;
    if (!shorthandOps.includes(op)) {
      return c.fail(
        [...path, 'op'],
        'type_mismatch',
        `"${op}" does not apply to ${key}; use one of ${shorthandOps.join(', ')}`,
      );
    }
    if ((op === 'in' || op === 'not_in') !== isList) {
      return c.fail(
        [...path, 'op'],
        'type_mismatch',
        isList
          ? `"${op}" compares with one value; a list needs "in" or "not_in"`
          : `"${op}" needs a list of values; one value needs "=" or "!="`,
      );
    }
  }
  const items: Json[] = isList ? (value as Json[]) : [value];
  if (isList && items.length === 0) {
    return c.fail(at, 'invalid_value', `${key} needs at least one value`);
  }
  if (items.length > segmentLimits.maxListValues) {
    return c.fail(
      at,
      'too_many_values',
      `${key} lists ${items.length} values; at most ${segmentLimits.maxListValues} are allowed`,
    );
  }
  let operand: CompiledOperand;
  let known: readonly string[] | undefined;
  if (key === 'valueTier') {
    operand = { kind: 'valueTier', key: 'valueTier', field: 'valueTier' };
    known = valueTiers;
  } else if (key === 'cluster') {
    operand = { kind: 'cluster', key: 'cluster', field: 'cluster' };
  } else {
    const tag = x.catalogue.tagsById.get(userTypeTag);
    if (!tag || tag.condition) {
      return c.fail(
        at,
        'unknown_tag',
        `userType reads the value tag "${userTypeTag}", which the rule catalogue does not have`,
      );
    }
    operand = { kind: 'tag', key: `tag:${tag.id}`, field: `tag:${tag.id}`, tag: tag.id };
    known = constantValuesOf(tag);
  }
  let ok = true;
  for (const [i, item] of items.entries()) {
    const itemAt = isList ? [...at, i] : at;
    if (typeof item !== 'string') {
      ok = false;
      c.fail(itemAt, 'type_mismatch', `${key} values are strings, not ${describe(item)}`);
    } else if (item.trim() === '') {
      ok = false;
      c.fail(itemAt, 'invalid_value', `${key} values must not be empty`);
    } else if (item.length > segmentLimits.maxStringLength) {
      ok = false;
      c.fail(
        itemAt,
        'too_long',
        `a ${key} value is longer than ${segmentLimits.maxStringLength} characters`,
      );
    } else if (known && !known.includes(item)) {
      ok = false;
      c.fail(
        itemAt,
        'unknown_value',
        `${key} is never ${describe(item)}; its values are ${quoteAll(known)}`,
      );
    }
    if (!ok && i >= 10) break;
  }
  if (!ok) return undefined;
  const constant = (isList ? items : items[0]) as SegmentConstant;
  x.dependencies.add(operand.field);
  return {
    kind: 'compare',
    pointer: jsonPointer(path),
    operand,
    op,
    value: constant,
    test: compileTest(op, constant),
  };
}

function compileMembership(
  c: Checker,
  node: Record<string, Json>,
  path: Path,
  x: Compilation,
): CompiledExpression | undefined {
  for (const key of Object.keys(node)) {
    if (key !== 'segment') {
      c.fail(
        [...path, key],
        'unknown_field',
        'a segment leaf takes only "segment" (membership); negate it with "not"',
      );
    }
  }
  const id = node.segment;
  const at = [...path, 'segment'];
  if (typeof id !== 'string') {
    return c.fail(at, 'invalid_type', `a segment id must be a string, not ${describe(id)}`);
  }
  if (id === x.ownId) return c.fail(at, 'cycle', 'a segment cannot read itself');
  if (!x.knownSegments.has(id)) return c.fail(at, 'unknown_segment', `unknown segment "${id}"`);
  if (!x.segmentsRead.has(id)) x.segmentsRead.set(id, at);
  x.dependencies.add(`segment:${id}`);
  return { kind: 'segment', pointer: jsonPointer(path), segment: id, key: `segment:${id}` };
}

function compileExpression(
  c: Checker,
  node: Json,
  path: Path,
  x: Compilation,
  depth: number,
): CompiledExpression | undefined {
  if (depth > segmentLimits.maxDepth) {
    return c.fail(
      path,
      'too_deep',
      `the expression nests deeper than ${segmentLimits.maxDepth} levels`,
    );
  }
  if (!c.countNode()) return undefined;
  if (!isObject(node)) {
    return c.fail(
      path,
      'invalid_type',
      `an expression must be an object ({ "all": […] }, { "tag": … }…), not ${describe(node)}`,
    );
  }
  const kinds = Object.keys(node).filter(
    (key) =>
      (combinators as readonly string[]).includes(key) ||
      (operandKeys as readonly string[]).includes(key),
  );
  const kind = kinds[0];
  if (kind === undefined) {
    return c.fail(
      path,
      'missing_field',
      `an expression needs one of ${[...combinators, ...operandKeys].join(', ')}`,
    );
  }
  if (kinds.length > 1) {
    for (const extra of kinds.slice(1)) {
      c.fail(
        [...path, extra],
        'conflicting_fields',
        `a node is one combinator or one leaf: it already has "${kind}"`,
      );
    }
    return undefined;
  }
  switch (kind) {
    case 'all':
    case 'any': {
      c.keys(node, [kind], path);
      const list = node[kind];
      if (!Array.isArray(list)) {
        return c.fail(
          [...path, kind],
          'invalid_type',
          `${kind} needs an array of expressions, not ${describe(list)}`,
        );
      }
      if (list.length === 0) {
        return c.fail([...path, kind], 'invalid_value', `${kind} needs at least one expression`);
      }
      const nodes: CompiledExpression[] = [];
      for (const [i, child] of list.entries()) {
        const compiled = compileExpression(c, child, [...path, kind, i], x, depth + 1);
        if (compiled) nodes.push(compiled);
        if (c.nodes > segmentLimits.maxNodes) return undefined;
      }
      return nodes.length === list.length ? { kind, pointer: jsonPointer(path), nodes } : undefined;
    }
    case 'not': {
      c.keys(node, ['not'], path);
      const inner = compileExpression(c, node.not, [...path, 'not'], x, depth + 1);
      return inner && { kind: 'not', pointer: jsonPointer(path), node: inner };
    }
    case 'valueTier':
    case 'userType':
    case 'cluster':
      return compileShorthand(c, kind, node, path, x);
    case 'segment':
      return compileMembership(c, node, path, x);
    default:
      return compileComparison(c, kind as OperandKey, node, path, x);
  }
}

interface Draft {
  readonly compiled: CompiledSegment;
  /** Segment id → pointer (within the definition) of the first leaf reading it. */
  readonly reads: ReadonlyMap<string, Path>;
}

/** Checks one definition's fields and expression; no cycle check beyond self-reads. */
function compileDefinition(
  c: Checker,
  input: Json,
  catalogue: RuleCatalogue,
  knownSegments: ReadonlySet<string>,
): Draft | undefined {
  // The compiled form keeps constants by reference: compile a copy the caller cannot change.
  let json: Json;
  try {
    json = structuredClone(input);
  } catch {
    return c.fail([], 'invalid_type', 'a segment definition must be JSON');
  }
  if (!isObject(json)) {
    return c.fail(
      [],
      'invalid_type',
      `a segment definition must be an object { "id", "labels", "purpose", "expression" }, not ${describe(json)}`,
    );
  }
  const issuesBefore = c.issues.length;
  c.keys(json, ['id', 'labels', 'purpose', 'description', 'expression'], []);
  const id = json.id;
  if (id === undefined) c.fail(['id'], 'missing_field', 'id is required');
  else if (typeof id !== 'string' || !segmentIdPattern.test(id)) {
    c.fail(
      ['id'],
      'invalid_id',
      `id must match ${segmentIdPattern} (lower-case snake_case, at most 64 characters), not ${describe(id)}`,
    );
  }
  const labels = json.labels;
  if (labels === undefined)
    c.fail(['labels'], 'missing_field', 'labels { "zh-CN", "en" } are required');
  else if (!isObject(labels)) {
    c.fail(
      ['labels'],
      'invalid_type',
      `labels must be an object { "zh-CN": …, "en": … }, not ${describe(labels)}`,
    );
  } else {
    c.keys(labels, ['zh-CN', 'en'], ['labels']);
    c.text(labels['zh-CN'], ['labels', 'zh-CN'], 'the zh-CN label', segmentLimits.maxLabelLength);
    c.text(labels.en, ['labels', 'en'], 'the en label', segmentLimits.maxLabelLength);
  }
  const purpose = json.purpose;
  if (purpose === undefined) c.fail(['purpose'], 'missing_field', 'purpose is required');
  else if (typeof purpose !== 'string') {
    c.fail(['purpose'], 'invalid_type', `purpose must be a string, not ${describe(purpose)}`);
  } else if (!(segmentPurposes as readonly string[]).includes(purpose)) {
    c.fail(
      ['purpose'],
      'invalid_value',
      `purpose must be one of ${segmentPurposes.join(', ')}, not ${describe(purpose)}`,
    );
  }
  if (json.description !== undefined) {
    c.text(json.description, ['description'], 'description', segmentLimits.maxDescriptionLength);
  }
  const x: Compilation = {
    catalogue,
    knownSegments,
    ownId: typeof id === 'string' ? id : undefined,
    dependencies: new Set(),
    segmentsRead: new Map(),
  };
  const expression =
    json.expression === undefined
      ? c.fail(['expression'], 'missing_field', 'expression is required')
      : compileExpression(c, json.expression, ['expression'], x, 1);
  if (c.issues.length > issuesBefore || !expression) return undefined;
  return {
    compiled: {
      id: id as string,
      definition: json as unknown as SegmentDefinition,
      expression,
      dependencies: x.dependencies,
      segmentsRead: new Set(x.segmentsRead.keys()),
    },
    reads: x.segmentsRead,
  };
}

/** A path from `from` to `to` in the graph (ids, both ends included), if there is one. */
function findPath(
  graph: ReadonlyMap<string, ReadonlySet<string>>,
  from: string,
  to: string,
): string[] | undefined {
  const parent = new Map<string, string | undefined>([[from, undefined]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i += 1) {
    const id = queue[i] as string;
    if (id === to) {
      const path: string[] = [];
      for (let at: string | undefined = id; at !== undefined; at = parent.get(at)) path.push(at);
      return path.reverse();
    }
    for (const next of graph.get(id) ?? []) {
      if (!parent.has(next)) {
        parent.set(next, id);
        queue.push(next);
      }
    }
  }
  return undefined;
}

/** Reports every segment leaf of `draft` that closes a cycle in `graph`. */
function checkCycles(
  c: Checker,
  draft: Draft,
  graph: ReadonlyMap<string, ReadonlySet<string>>,
): void {
  for (const [read, at] of draft.reads) {
    const path = findPath(graph, read, draft.compiled.id);
    if (path) {
      c.fail(
        at,
        'cycle',
        `segments read each other in a cycle: ${[draft.compiled.id, ...path].join(' → ')}`,
      );
    }
  }
}

/**
 * Checks and compiles one segment definition (parsed JSON) against the rule catalogue and the
 * segments that exist. Throws {@link SegmentDefinitionError} listing every problem found, each
 * with a stable code and the JSON Pointer of the field.
 */
export function loadSegmentDefinition(
  json: unknown,
  context: SegmentDefinitionContext,
): CompiledSegment {
  const existing = context.segments ?? new Map<string, ReadonlySet<string>>();
  const ownId = isObject(json) && typeof json.id === 'string' ? json.id : undefined;
  const c = new Checker([], ownId);
  const draft = compileDefinition(c, json, context.catalogue, new Set(existing.keys()));
  if (draft) {
    const graph = new Map(existing);
    graph.set(draft.compiled.id, draft.compiled.segmentsRead);
    checkCycles(c, draft, graph);
  }
  if (c.issues.length > 0 || !draft) throw new SegmentDefinitionError(c.issues);
  return draft.compiled;
}

/**
 * Checks and compiles a set of definitions that may read each other (and the segments of
 * `context.segments`, which the set's own ids override). Returns them so that every segment
 * comes after the segments it reads; throws one {@link SegmentDefinitionError} for the whole set,
 * pointers prefixed with the definition's index (`/3/expression/…`).
 */
export function loadSegmentDefinitions(
  jsons: readonly unknown[],
  context: SegmentDefinitionContext,
): CompiledSegment[] {
  const issues: SegmentDefinitionIssue[] = [];
  const existing = context.segments ?? new Map<string, ReadonlySet<string>>();
  const ids = new Map<string, number>();
  const duplicates = new Set<number>();
  for (const [i, json] of jsons.entries()) {
    if (isObject(json) && typeof json.id === 'string') {
      if (ids.has(json.id)) {
        duplicates.add(i);
        issues.push({
          segment: json.id,
          pointer: jsonPointer([i, 'id']),
          code: 'duplicate_id',
          message: `duplicate segment id "${json.id}" (also at /${ids.get(json.id)})`,
        });
      } else ids.set(json.id, i);
    }
  }
  const known = new Set([...existing.keys(), ...ids.keys()]);
  const drafts: { draft: Draft; checker: Checker }[] = [];
  for (const [i, json] of jsons.entries()) {
    const checker = new Checker(
      [i],
      isObject(json) && typeof json.id === 'string' ? json.id : undefined,
    );
    const draft = compileDefinition(checker, json, context.catalogue, known);
    issues.push(...checker.issues);
    if (draft && !duplicates.has(i)) drafts.push({ draft, checker });
  }
  const graph = new Map(existing);
  for (const { draft } of drafts) graph.set(draft.compiled.id, draft.compiled.segmentsRead);
  for (const { draft, checker } of drafts) {
    const before = checker.issues.length;
    checkCycles(checker, draft, graph);
    issues.push(...checker.issues.slice(before));
  }
  if (issues.length > 0) throw new SegmentDefinitionError(issues.slice(0, maxIssues));
  return orderSegments(drafts.map(({ draft }) => draft.compiled));
}

/**
 * Segments in evaluation order: each after the segments of the list it reads (reads of segments
 * outside the list are ignored). Throws {@link SegmentDefinitionError} (`cycle`) when they read
 * each other in a cycle, which definitions checked together never do.
 */
export function orderSegments(segments: Iterable<CompiledSegment>): CompiledSegment[] {
  const byId = new Map([...segments].map((segment) => [segment.id, segment]));
  const state = new Map<string, 'visiting' | 'done'>();
  const ordered: CompiledSegment[] = [];
  const visit = (segment: CompiledSegment, trail: readonly string[]): void => {
    const seen = state.get(segment.id);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      throw new SegmentDefinitionError([
        {
          segment: segment.id,
          pointer: '',
          code: 'cycle',
          message: `segments read each other in a cycle: ${[...trail, segment.id].join(' → ')}`,
        },
      ]);
    }
    state.set(segment.id, 'visiting');
    for (const read of segment.segmentsRead) {
      const target = byId.get(read);
      if (target) visit(target, [...trail, segment.id]);
    }
    state.set(segment.id, 'done');
    ordered.push(segment);
  };
  for (const segment of byId.values()) visit(segment, []);
  return ordered;
}
