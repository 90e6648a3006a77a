/**
 * JSON Schema (2020-12, the dialect of OpenAPI 3.1) of a segment definition, for the API
 * document. It checks the structure; `loadSegmentDefinition` checks the same and what a schema
 * cannot: tag, aggregate and segment ids against the catalogue and the saved segments, the
 * constants a tag or operand can take, the operators that fit the operand, `between` bounds in
 * order, nesting depth and node count, `Object.prototype` names in trait paths, and cycles.
 * Whatever the schema rejects, the validator rejects too (tested on samples and on random
 * definitions).
 */
import {
  rfmClass8Names,
  rfmSegmentNames,
  segmentLimits,
  segmentOps,
  segmentPurposes,
  valueTiers,
} from './segment-definition.ts';

const idPattern = '^[a-z][a-z0-9_]{0,63}$';
const notBlank = '\\S';
const ref = (name: string) => ({ $ref: `#/$defs/${name}` });
const opIs = (ops: readonly string[]) => ({
  type: 'object',
  required: ['op'],
  properties: { op: { enum: ops } },
});
/** `{ if, then }`, built so that no object literal has a `then` key (lint reads it as a thenable). */
function ifThen(condition: object, consequence: object): object {
  return Object.fromEntries([
    ['if', condition],
    ['then', consequence],
  ]);
}

const rfmIs = (fields: readonly string[]) => ({
  type: 'object',
  required: ['rfm'],
  properties: { rfm: { enum: fields } },
});
const noValue = { not: { type: 'object', required: ['value'], properties: { value: true } } };
const needsValue = (value: object) => ({
  type: 'object',
  required: ['value'],
  properties: { value },
});
const listOf = (items: object) => ({
  type: 'array',
  minItems: 1,
  maxItems: segmentLimits.maxListValues,
  items,
});

/** A comparison leaf: `{ OPERAND: selector, "op", "value"? }`, op and value named as given. */
const comparisonLeaf = (
  operand: string,
  selector: object,
  ops: readonly string[],
  opRequired: boolean,
) => ({
  type: 'object',
  required: opRequired ? [operand, 'op'] : [operand],
  additionalProperties: false,
  properties: { [operand]: selector, op: { enum: ops }, value: true },
  allOf: [ref('comparison')],
});

/** `valueTier`, `userType`, `cluster`: a value (`=`) or a list (`in`), negated by `op`. */
const shorthandLeaf = (operand: string, value: object) => ({
  type: 'object',
  required: [operand],
  additionalProperties: false,
  properties: {
    [operand]: { anyOf: [value, listOf(value)] },
    op: { enum: ['=', '!=', 'in', 'not_in'] },
  },
  allOf: [
    ifThen(opIs(['=', '!=']), { type: 'object', properties: { [operand]: { type: 'string' } } }),
    ifThen(opIs(['in', 'not_in']), {
      type: 'object',
      properties: { [operand]: { type: 'array' } },
    }),
  ],
});

const scoreValue = { type: 'integer', minimum: 1, maximum: 5 };
const textOps = ['=', '!=', 'in', 'not_in', 'exists', 'not_exists'];
const rfmText = (value: object) => ({
  type: 'object',
  properties: {
    op: { enum: textOps },
    value: { anyOf: [value, listOf(value)] },
  },
});

/** The JSON Schema of a segment definition (docs/SEGMENTS.md). */
export const segmentDefinitionSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:portrait:schema:segment-definition',
  title: 'Segment definition',
  type: 'object',
  required: ['id', 'labels', 'purpose', 'expression'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: idPattern },
    labels: {
      type: 'object',
      required: ['zh-CN', 'en'],
      additionalProperties: false,
      properties: {
        'zh-CN': ref('label'),
        en: ref('label'),
      },
    },
    purpose: { enum: segmentPurposes },
    description: {
      type: 'string',
      pattern: notBlank,
      maxLength: segmentLimits.maxDescriptionLength,
    },
    expression: ref('expression'),
  },
  $defs: {
    label: { type: 'string', pattern: notBlank, maxLength: segmentLimits.maxLabelLength },
    scalar: {
      anyOf: [
        { type: 'string', maxLength: segmentLimits.maxStringLength },
        { type: 'number' },
        { type: 'boolean' },
      ],
    },
    expression: {
      oneOf: [
        ref('all'),
        ref('any'),
        ref('not'),
        ref('tagLeaf'),
        ref('traitLeaf'),
        ref('aggregateLeaf'),
        ref('rfmLeaf'),
        ref('valueTierLeaf'),
        ref('userTypeLeaf'),
        ref('clusterLeaf'),
        ref('segmentLeaf'),
      ],
    },
    all: {
      type: 'object',
      required: ['all'],
      additionalProperties: false,
      properties: { all: { type: 'array', minItems: 1, items: ref('expression') } },
    },
    any: {
      type: 'object',
      required: ['any'],
      additionalProperties: false,
      properties: { any: { type: 'array', minItems: 1, items: ref('expression') } },
    },
    not: {
      type: 'object',
      required: ['not'],
      additionalProperties: false,
      properties: { not: ref('expression') },
    },
    /** How `value` must look for each `op`. */
    comparison: {
      allOf: [
        ifThen(opIs(['exists', 'not_exists']), noValue),
        ifThen(opIs(['=', '!=']), needsValue(ref('scalar'))),
        ifThen(opIs(['in', 'not_in']), needsValue(listOf(ref('scalar')))),
        ifThen(
          opIs(['between']),
          needsValue({
            type: 'array',
            prefixItems: [{ type: 'number' }, { type: 'number' }],
            minItems: 2,
            items: false,
          }),
        ),
        ifThen(opIs(['<', '<=', '>', '>=']), needsValue({ type: 'number' })),
        ifThen(
          opIs(['contains']),
          needsValue({ type: 'string', minLength: 1, maxLength: segmentLimits.maxStringLength }),
        ),
        ifThen({ not: { type: 'object', required: ['op'], properties: { op: true } } }, noValue),
      ],
    },
    tagLeaf: {
      ...comparisonLeaf(
        'tag',
        { type: 'string', pattern: idPattern },
        ['=', '!=', 'in', 'not_in', 'contains', 'exists', 'not_exists'],
        false,
      ),
      properties: {
        tag: { type: 'string', pattern: idPattern },
        op: { enum: ['=', '!=', 'in', 'not_in', 'contains', 'exists', 'not_exists'] },
        value: {
          anyOf: [
            { type: 'string' },
            { type: 'boolean' },
            { type: 'array', items: { type: 'string' } },
          ],
        },
      },
      description:
        'A tag of the rule catalogue: alone, the tag is set; a boolean tag compares with true, a value tag with strings.',
    },
    traitLeaf: comparisonLeaf(
      'trait',
      {
        type: 'string',
        allOf: [{ pattern: '^[^.\\[\\]]+(\\.[^.\\[\\]]+)*$' }, { pattern: notBlank }],
        maxLength: segmentLimits.maxStringLength,
      },
      segmentOps,
      true,
    ),
    aggregateLeaf: comparisonLeaf(
      'aggregate',
      { type: 'string', pattern: idPattern },
      segmentOps,
      true,
    ),
    rfmLeaf: {
      ...comparisonLeaf(
        'rfm',
        { enum: ['r', 'f', 'm', 'score', 'segment', 'class8'] },
        segmentOps,
        true,
      ),
      allOf: [
        ref('comparison'),
        ifThen(rfmIs(['r', 'f', 'm']), {
          type: 'object',
          properties: {
            op: { not: { const: 'contains' } },
            value: { anyOf: [scoreValue, listOf(scoreValue)] },
          },
        }),
        ifThen(rfmIs(['score']), rfmText({ type: 'string', pattern: '^[1-5]{3}$' })),
        ifThen(rfmIs(['segment']), rfmText({ enum: rfmSegmentNames })),
        ifThen(rfmIs(['class8']), rfmText({ enum: rfmClass8Names })),
      ],
    },
    valueTierLeaf: shorthandLeaf('valueTier', { enum: valueTiers }),
    userTypeLeaf: shorthandLeaf('userType', {
      type: 'string',
      pattern: notBlank,
      maxLength: segmentLimits.maxStringLength,
    }),
    clusterLeaf: shorthandLeaf('cluster', {
      type: 'string',
      pattern: notBlank,
      maxLength: segmentLimits.maxStringLength,
    }),
    segmentLeaf: {
      type: 'object',
      required: ['segment'],
      additionalProperties: false,
      properties: { segment: { type: 'string' } },
    },
  },
} as const;
