/**
 * The JSON Schema and the validator agree: samples both accept, samples both reject, the checks
 * only the validator can make, every random valid definition, and random mutations of them
 * (whatever the schema rejects, the validator rejects).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  loadSegmentDefinition,
  SegmentDefinitionError,
  segmentDefinitionSchema,
} from '../../../shared/domain/segments/index.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import { definitionArb, otherSegments } from './arbitraries.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 3_000);
const context = {
  catalogue: defaultRuleCatalogue(),
  segments: new Map(otherSegments.map((id) => [id, new Set<string>()])),
};
const schemaAccepts = new Ajv2020({ strict: true, allErrors: true }).compile(
  segmentDefinitionSchema,
);

function validatorAccepts(json: unknown): boolean {
  try {
    loadSegmentDefinition(json, context);
    return true;
  } catch (error) {
    if (!(error instanceof SegmentDefinitionError)) throw error;
    return false;
  }
}

const labels = { 'zh-CN': '北京烧烤常客', en: 'Beijing barbecue regulars' };
const withExpression = (expression: unknown) => ({
  id: 'bbq_beijing_fans',
  labels,
  purpose: 'marketing',
  expression,
});

const bothAccept: unknown[] = [
  {
    id: 'bbq_beijing_fans',
    labels,
    purpose: 'marketing',
    description: '近一年订单 > 20，美食爱好者，北京',
    expression: {
      all: [
        { aggregate: 'orders_365d', op: '>', value: 20 },
        { tag: 'interest_food' },
        { trait: 'city', op: '=', value: '北京' },
      ],
    },
  },
  withExpression({
    not: { any: [{ segment: 'vip' }, { tag: 'high_frequency', op: 'not_exists' }] },
  }),
  withExpression({ tag: 'consumption_level', op: 'in', value: ['high', 'mid'] }),
  withExpression({ tag: 'interest_food', op: '=', value: true }),
  withExpression({ aggregate: 'revenue_365d', op: 'between', value: [2000, 10000.5] }),
  withExpression({ trait: 'address.city', op: 'contains', value: '北' }),
  withExpression({ rfm: 'r', op: '>=', value: 4 }),
  withExpression({ rfm: 'score', op: 'in', value: ['555', '554'] }),
  withExpression({ rfm: 'segment', op: '=', value: 'champions' }),
  withExpression({ rfm: 'class8', op: '!=', value: '一般挽留客户' }),
  withExpression({ valueTier: ['high', 'mid'], op: 'not_in' }),
  withExpression({ userType: 'core' }),
  withExpression({ cluster: 'c3', op: '!=' }),
];

const bothReject: [string, unknown][] = [
  ['no id', { labels, purpose: 'marketing', expression: { tag: 'interest_food' } }],
  ['an upper-case id', { ...withExpression({ tag: 'interest_food' }), id: 'BBQ' }],
  ['an unknown field', { ...withExpression({ tag: 'interest_food' }), owner: 'x' }],
  ['no en label', { ...withExpression({ tag: 'interest_food' }), labels: { 'zh-CN': '烧烤' } }],
  [
    'a blank label',
    { ...withExpression({ tag: 'interest_food' }), labels: { ...labels, en: ' ' } },
  ],
  ['a blank description', { ...withExpression({ tag: 'interest_food' }), description: '\n' }],
  ['an unknown purpose', { ...withExpression({ tag: 'interest_food' }), purpose: 'sales' }],
  ['an empty all', withExpression({ all: [] })],
  ['two operands', withExpression({ tag: 'interest_food', trait: 'city', op: 'exists' })],
  ['an empty node', withExpression({})],
  ['a value with exists', withExpression({ trait: 'city', op: 'exists', value: 1 })],
  ['a value without op', withExpression({ tag: 'city', value: '北京' })],
  ['a trait without op', withExpression({ trait: 'city' })],
  ['= with a list', withExpression({ trait: 'city', op: '=', value: ['北京'] })],
  ['in with nothing', withExpression({ trait: 'city', op: 'in', value: [] })],
  [
    'in with 1,001 values',
    withExpression({ trait: 'city', op: 'in', value: Array.from({ length: 1001 }, String) }),
  ],
  ['between with three numbers', withExpression({ trait: 'age', op: 'between', value: [1, 2, 3] })],
  ['> with a string', withExpression({ trait: 'age', op: '>', value: '3' })],
  ['an empty contains', withExpression({ trait: 'city', op: 'contains', value: '' })],
  ['an unknown operator', withExpression({ trait: 'age', op: '≥', value: 3 })],
  ['an RFM score of 6', withExpression({ rfm: 'f', op: '=', value: 6 })],
  ['an RFM score text of two digits', withExpression({ rfm: 'score', op: '=', value: '55' })],
  ['an RFM score text with <', withExpression({ rfm: 'score', op: '<', value: 3 })],
  ['an unknown RFM segment', withExpression({ rfm: 'segment', op: '=', value: 'whales' })],
  ['an unknown value tier', withExpression({ valueTier: 'top' })],
  ['one tier with in', withExpression({ valueTier: 'high', op: 'in' })],
  ['a segment leaf with op', withExpression({ segment: 'vip', op: '=' })],
  ['a trait path with an empty step', withExpression({ trait: 'a..b', op: 'exists' })],
  ['a tag compared with a number', withExpression({ tag: 'city', op: '=', value: 1 })],
  ['a tag compared with <', withExpression({ tag: 'high_frequency', op: '<', value: 1 })],
];

/** What only the validator can check: the catalogue, saved segments, bounds, depth, size. */
const validatorOnly: [string, unknown][] = [
  ['an unknown tag', withExpression({ tag: 'likes_new_flavours' })],
  ['an unknown aggregate', withExpression({ aggregate: 'orders_7d', op: '>', value: 1 })],
  ['an unknown segment', withExpression({ segment: 'gold' })],
  ['a segment reading itself', withExpression({ segment: 'bbq_beijing_fans' })],
  ['between bounds reversed', withExpression({ trait: 'age', op: 'between', value: [30, 18] })],
  [
    'a value tag value that does not exist',
    withExpression({ tag: 'consumption_level', op: '=', value: 'top' }),
  ],
  [
    'a boolean tag compared with a string',
    withExpression({ tag: 'interest_food', op: '=', value: 'yes' }),
  ],
  [
    'a count compared with a string',
    withExpression({ aggregate: 'orders_365d', op: '=', value: '1' }),
  ],
  ['an unknown user type', withExpression({ userType: 'vip' })],
  ['a prototype name in a path', withExpression({ trait: 'constructor', op: 'exists' })],
  [
    'depth 13',
    withExpression(
      Array.from({ length: 12 }).reduce<unknown>((node) => ({ not: node }), {
        tag: 'interest_food',
      }),
    ),
  ],
  [
    '201 nodes',
    withExpression({ all: Array.from({ length: 200 }, () => ({ tag: 'interest_food' })) }),
  ],
];

/** Paths to every value inside a JSON document. */
function pathsOf(json: unknown, at: (string | number)[] = []): (string | number)[][] {
  const here = [at];
  if (Array.isArray(json)) return [...here, ...json.flatMap((v, i) => pathsOf(v, [...at, i]))];
  if (typeof json === 'object' && json !== null) {
    return [...here, ...Object.entries(json).flatMap(([k, v]) => pathsOf(v, [...at, k]))];
  }
  return here;
}

type Mutation = { kind: 'delete' } | { kind: 'add' } | { kind: 'replace'; value: unknown };

/** `json` with one mutation at `path` (the root cannot be deleted). */
function mutate(json: unknown, path: (string | number)[], mutation: Mutation): unknown {
  const copy = structuredClone(json);
  if (path.length === 0) return mutation.kind === 'replace' ? mutation.value : copy;
  let parent = copy as Record<string | number, unknown>;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (mutation.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (mutation.kind === 'add') {
    const target = parent[last];
    if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
      (target as Record<string, unknown>).extra = 1;
    } else if (Array.isArray(target)) target.push({ tag: 'interest_food' });
  } else {
    parent[last] = mutation.value;
  }
  return copy;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'delete' }),
  fc.constant<Mutation>({ kind: 'add' }),
  fc
    .oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom('', ' ', 'high', '555', 'r', 'in', 'between', 'exists', 0, 6, [], [1, 0]),
    )
    .map((value): Mutation => ({ kind: 'replace', value })),
);

describe('segmentDefinitionSchema', () => {
  it.each(bothAccept.map((json) => [json]))('accepts, as the validator does: %j', (json) => {
    expect(schemaAccepts(json), JSON.stringify(schemaAccepts.errors)).toBe(true);
    expect(validatorAccepts(json)).toBe(true);
  });

  it.each(bothReject)('rejects, as the validator does: %s', (_name, json) => {
    expect(schemaAccepts(json)).toBe(false);
    expect(validatorAccepts(json)).toBe(false);
  });

  it.each(validatorOnly)('leaves to the validator: %s', (_name, json) => {
    expect(schemaAccepts(json), JSON.stringify(schemaAccepts.errors)).toBe(true);
    expect(validatorAccepts(json)).toBe(false);
  });

  it('accepts every random definition the validator accepts', () => {
    fc.assert(
      fc.property(definitionArb(), (definition) => {
        expect(validatorAccepts(definition)).toBe(true);
        expect(schemaAccepts(definition), JSON.stringify(schemaAccepts.errors)).toBe(true);
      }),
      { numRuns: runs },
    );
  });

  it('never rejects a mutated definition the validator accepts', () => {
    fc.assert(
      fc.property(
        definitionArb().chain((definition) =>
          fc.tuple(fc.constant(definition), fc.constantFrom(...pathsOf(definition)), mutationArb),
        ),
        ([definition, path, mutation]) => {
          const mutated = mutate(definition, path, mutation);
          if (!schemaAccepts(mutated)) expect(validatorAccepts(mutated)).toBe(false);
        },
      ),
      { numRuns: runs },
    );
  });
});
