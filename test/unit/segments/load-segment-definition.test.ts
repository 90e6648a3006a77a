import { describe, expect, it } from 'vitest';
import {
  type CompiledSegment,
  dependenciesOf,
  loadSegmentDefinition,
  loadSegmentDefinitions,
  orderSegments,
  type SegmentDefinitionContext,
  SegmentDefinitionError,
  type SegmentDefinitionErrorCode,
  type SegmentDefinitionIssue,
  segmentDefinitionErrorCodes,
  segmentGraph,
  segmentLimits,
} from '../../../shared/domain/segments/index.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import { loadRuleCatalogue } from '../../../shared/domain/tags/rule-catalogue.ts';

const catalogue = defaultRuleCatalogue();
const labels = { 'zh-CN': '北京烧烤常客', en: 'Beijing barbecue regulars' };
const barbecue = {
  id: 'bbq_beijing_fans',
  labels,
  purpose: 'marketing',
  description: 'Orders in 365 days > 20, likes food, lives in 北京.',
  expression: {
    all: [
      { aggregate: 'orders_365d', op: '>', value: 20 },
      { tag: 'interest_food' },
      { trait: 'city', op: '=', value: '北京' },
    ],
  },
};
const context: SegmentDefinitionContext = {
  catalogue,
  segments: new Map([
    ['vip', new Set<string>()],
    ['lapsed', new Set(['vip'])],
  ]),
};

function withExpression(expression: unknown): Record<string, unknown> {
  return { ...barbecue, expression };
}

function issuesOf(
  json: unknown,
  ctx: SegmentDefinitionContext = context,
): { pointer: string; code: SegmentDefinitionErrorCode }[] {
  try {
    loadSegmentDefinition(json, ctx);
  } catch (error) {
    expect(error).toBeInstanceOf(SegmentDefinitionError);
    return (error as SegmentDefinitionError).issues.map(({ pointer, code }) => ({ pointer, code }));
  }
  throw new Error('expected the definition to be rejected');
}

function without(key: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...barbecue };
  delete copy[key];
  return copy;
}

function nested(depth: number): unknown {
  let node: unknown = { tag: 'interest_food' };
  for (let i = 1; i < depth; i += 1) node = { not: node };
  return node;
}

const leaves = (n: number) => Array.from({ length: n }, () => ({ tag: 'interest_food' }));
const notPath = (steps: number) => `/expression${'/not'.repeat(steps)}`;
const long = (n: number) => 'x'.repeat(n);

/** [case, definition, expected issues (pointer, code) in order]. */
const rejected: [string, unknown, [string, SegmentDefinitionErrorCode][]][] = [
  // missing_field
  ['no id', without('id'), [['/id', 'missing_field']]],
  ['no labels', without('labels'), [['/labels', 'missing_field']]],
  ['no en label', { ...barbecue, labels: { 'zh-CN': '烧烤' } }, [['/labels/en', 'missing_field']]],
  ['no purpose', without('purpose'), [['/purpose', 'missing_field']]],
  ['no expression', without('expression'), [['/expression', 'missing_field']]],
  ['an empty node', withExpression({ all: [{}] }), [['/expression/all/0', 'missing_field']]],
  [
    'a trait leaf without op',
    withExpression({ trait: 'city', value: '北京' }),
    [['/expression/op', 'missing_field']],
  ],
  [
    'a comparison without value',
    withExpression({ aggregate: 'orders_365d', op: '>' }),
    [['/expression/value', 'missing_field']],
  ],
  [
    'a tag value without op',
    withExpression({ tag: 'consumption_level', value: 'high' }),
    [['/expression/op', 'missing_field']],
  ],
  // unknown_field
  ['a top-level field', { ...barbecue, colour: 'red' }, [['/colour', 'unknown_field']]],
  [
    'a third label language',
    { ...barbecue, labels: { ...labels, fr: 'Barbecue' } },
    [['/labels/fr', 'unknown_field']],
  ],
  [
    'a field beside all',
    withExpression({ all: [{ tag: 'interest_food' }], label: 'x' }),
    [['/expression/label', 'unknown_field']],
  ],
  [
    'a field in a leaf',
    withExpression({ any: [{ tag: 'interest_food', weight: 2 }] }),
    [['/expression/any/0/weight', 'unknown_field']],
  ],
  [
    'a value with exists',
    withExpression({ trait: 'city', op: 'exists', value: '北京' }),
    [['/expression/value', 'unknown_field']],
  ],
  [
    'an op on a segment leaf',
    withExpression({ segment: 'vip', op: '=' }),
    [['/expression/op', 'unknown_field']],
  ],
  [
    'a value on a shorthand leaf',
    withExpression({ valueTier: 'high', value: 'mid' }),
    [['/expression/value', 'unknown_field']],
  ],
  [
    'countOf, a tag-rule operand',
    withExpression({
      aggregate: 'interest_categories_90d',
      countOf: ['food'],
      op: '>=',
      value: 3,
    }),
    [['/expression/countOf', 'unknown_field']],
  ],
  // conflicting_fields
  [
    'two operands',
    withExpression({ tag: 'interest_food', trait: 'city', op: 'exists' }),
    [['/expression/trait', 'conflicting_fields']],
  ],
  [
    'a combinator and another',
    withExpression({ all: [{ tag: 'interest_food' }], not: { tag: 'interest_food' } }),
    [['/expression/not', 'conflicting_fields']],
  ],
  // invalid_type
  ['not an object', ['bbq'], [['', 'invalid_type']]],
  ['labels as text', { ...barbecue, labels: '烧烤' }, [['/labels', 'invalid_type']]],
  ['purpose as a number', { ...barbecue, purpose: 1 }, [['/purpose', 'invalid_type']]],
  ['description as a number', { ...barbecue, description: 1 }, [['/description', 'invalid_type']]],
  [
    'all as an object',
    withExpression({ all: { tag: 'x' } }),
    [['/expression/all', 'invalid_type']],
  ],
  [
    'a node as text',
    withExpression({ any: [{ tag: 'interest_food' }, 'interest_food'] }),
    [['/expression/any/1', 'invalid_type']],
  ],
  ['a tag id as a number', withExpression({ tag: 7 }), [['/expression/tag', 'invalid_type']]],
  [
    'a value tier as a number',
    withExpression({ valueTier: 1 }),
    [['/expression/valueTier', 'invalid_type']],
  ],
  [
    'a segment id as a list',
    withExpression({ segment: ['vip'] }),
    [['/expression/segment', 'invalid_type']],
  ],
  // invalid_value
  [
    'a blank label',
    { ...barbecue, labels: { ...labels, 'zh-CN': '  ' } },
    [['/labels/zh-CN', 'invalid_value']],
  ],
  ['an unknown purpose', { ...barbecue, purpose: 'spam' }, [['/purpose', 'invalid_value']]],
  ['an empty all', withExpression({ all: [] }), [['/expression/all', 'invalid_value']]],
  [
    'an unknown RFM field',
    withExpression({ rfm: 'x', op: '=', value: 1 }),
    [['/expression/rfm', 'invalid_value']],
  ],
  [
    'a trait path with an empty step',
    withExpression({ trait: 'address..city', op: 'exists' }),
    [['/expression/trait', 'invalid_value']],
  ],
  [
    'a trait path with an array step',
    withExpression({ trait: 'orders[].sku', op: 'exists' }),
    [['/expression/trait', 'invalid_value']],
  ],
  [
    'a trait path through the prototype',
    withExpression({ trait: 'address.constructor', op: 'exists' }),
    [['/expression/trait', 'invalid_value']],
  ],
  [
    'between bounds reversed',
    withExpression({ aggregate: 'orders_365d', op: 'between', value: [10, 5] }),
    [['/expression/value', 'invalid_value']],
  ],
  [
    'an empty in list',
    withExpression({ trait: 'city', op: 'in', value: [] }),
    [['/expression/value', 'invalid_value']],
  ],
  [
    'an empty contains',
    withExpression({ trait: 'city', op: 'contains', value: '' }),
    [['/expression/value', 'invalid_value']],
  ],
  [
    'an RFM score of 6',
    withExpression({ rfm: 'r', op: '>=', value: 6 }),
    [['/expression/value', 'invalid_value']],
  ],
  [
    'an RFM score of 2.5',
    withExpression({ rfm: 'f', op: '<', value: 2.5 }),
    [['/expression/value', 'invalid_value']],
  ],
  [
    'a malformed RFM score text',
    withExpression({ rfm: 'score', op: 'in', value: ['555', '56'] }),
    [['/expression/value/1', 'invalid_value']],
  ],
  [
    'an empty cluster id',
    withExpression({ cluster: ' ' }),
    [['/expression/cluster', 'invalid_value']],
  ],
  // invalid_id
  ['an upper-case id', { ...barbecue, id: 'BBQ' }, [['/id', 'invalid_id']]],
  ['an id starting with a digit', { ...barbecue, id: '1bbq' }, [['/id', 'invalid_id']]],
  ['an id of 65 characters', { ...barbecue, id: `b${long(64)}` }, [['/id', 'invalid_id']]],
  ['an id as a number', { ...barbecue, id: 1 }, [['/id', 'invalid_id']]],
  // unknown_operator
  [
    'a typographic operator',
    withExpression({ aggregate: 'orders_365d', op: '≥', value: 20 }),
    [['/expression/op', 'unknown_operator']],
  ],
  [
    "the tag rules' spelling",
    withExpression({ trait: 'city', op: 'notIn', value: ['北京'] }),
    [['/expression/op', 'unknown_operator']],
  ],
  // unknown_tag, unknown_aggregate, unknown_segment
  [
    'an unknown tag',
    withExpression({ tag: 'likes_new_flavours' }),
    [['/expression/tag', 'unknown_tag']],
  ],
  [
    'an unknown aggregate',
    withExpression({ all: [{ aggregate: 'orders_7d', op: '>', value: 1 }] }),
    [['/expression/all/0/aggregate', 'unknown_aggregate']],
  ],
  [
    'an unknown segment',
    withExpression({ segment: 'gold' }),
    [['/expression/segment', 'unknown_segment']],
  ],
  // unknown_value
  [
    'a value tag value that does not exist',
    withExpression({ tag: 'consumption_level', op: '=', value: 'hgih' }),
    [['/expression/value', 'unknown_value']],
  ],
  [
    'one in a list',
    withExpression({ tag: 'consumption_level', op: 'in', value: ['high', 'top'] }),
    [['/expression/value/1', 'unknown_value']],
  ],
  [
    'a boolean tag compared with false',
    withExpression({ tag: 'interest_food', op: '=', value: false }),
    [['/expression/value', 'unknown_value']],
  ],
  [
    'an unknown value tier',
    withExpression({ valueTier: 'top' }),
    [['/expression/valueTier', 'unknown_value']],
  ],
  [
    'an unknown value tier in a list',
    withExpression({ valueTier: ['high', 'top'] }),
    [['/expression/valueTier/1', 'unknown_value']],
  ],
  [
    'an unknown user type',
    withExpression({ userType: 'vip' }),
    [['/expression/userType', 'unknown_value']],
  ],
  [
    'an unknown RFM segment',
    withExpression({ rfm: 'segment', op: '=', value: 'champion' }),
    [['/expression/value', 'unknown_value']],
  ],
  [
    'an unknown 8-class',
    withExpression({ rfm: 'class8', op: '=', value: '重要客户' }),
    [['/expression/value', 'unknown_value']],
  ],
  // type_mismatch
  [
    'a boolean tag with <',
    withExpression({ tag: 'high_frequency', op: '<', value: 3 }),
    [['/expression/op', 'type_mismatch']],
  ],
  [
    'a value tag with a number',
    withExpression({ tag: 'city', op: '=', value: 10 }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    'a value tag with an order',
    withExpression({ tag: 'favourite_category', op: '>', value: 1 }),
    [['/expression/op', 'type_mismatch']],
  ],
  [
    'a count with a string',
    withExpression({ aggregate: 'orders_365d', op: '=', value: '20' }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    'a sum with contains',
    withExpression({ aggregate: 'revenue_365d', op: 'contains', value: '88' }),
    [['/expression/op', 'type_mismatch']],
  ],
  [
    '= with a list',
    withExpression({ trait: 'city', op: '=', value: ['北京'] }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    '= with null',
    withExpression({ trait: 'city', op: '=', value: null }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    '> with a string',
    withExpression({ trait: 'age', op: '>', value: '30' }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    'between with one number',
    withExpression({ trait: 'age', op: 'between', value: [30] }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    'between with strings',
    withExpression({ trait: 'age', op: 'between', value: ['18', '30'] }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    'an object in a list',
    withExpression({ trait: 'city', op: 'in', value: ['北京', { city: '上海' }] }),
    [['/expression/value/1', 'type_mismatch']],
  ],
  [
    'contains with a number',
    withExpression({ trait: 'city', op: 'contains', value: 1 }),
    [['/expression/value', 'type_mismatch']],
  ],
  [
    'a value tier with <',
    withExpression({ valueTier: 'high', op: '<' }),
    [['/expression/op', 'type_mismatch']],
  ],
  [
    'one value tier with in',
    withExpression({ valueTier: 'high', op: 'in' }),
    [['/expression/op', 'type_mismatch']],
  ],
  [
    'a list of tiers with =',
    withExpression({ valueTier: ['high'], op: '=' }),
    [['/expression/op', 'type_mismatch']],
  ],
  [
    'a cluster id as a number',
    withExpression({ cluster: [1] }),
    [['/expression/cluster/0', 'type_mismatch']],
  ],
  [
    'an RFM score text with >',
    withExpression({ rfm: 'score', op: '>', value: 3 }),
    [['/expression/op', 'type_mismatch']],
  ],
  [
    'an RFM score with a string',
    withExpression({ rfm: 'm', op: '=', value: '5' }),
    [['/expression/value', 'type_mismatch']],
  ],
  // limits
  ['depth 13', withExpression(nested(13)), [[notPath(12), 'too_deep']]],
  [
    `${segmentLimits.maxNodes + 1} nodes`,
    withExpression({ all: leaves(segmentLimits.maxNodes) }),
    [['/expression', 'too_many_nodes']],
  ],
  [
    `${segmentLimits.maxListValues + 1} values in a list`,
    withExpression({
      trait: 'store',
      op: 'in',
      value: Array.from({ length: 1001 }, (_, i) => `s${i}`),
    }),
    [['/expression/value', 'too_many_values']],
  ],
  [
    `${segmentLimits.maxListValues + 1} clusters`,
    withExpression({ cluster: Array.from({ length: 1001 }, (_, i) => `c${i}`) }),
    [['/expression/cluster', 'too_many_values']],
  ],
  [
    'a long label',
    { ...barbecue, labels: { ...labels, en: long(201) } },
    [['/labels/en', 'too_long']],
  ],
  ['a long description', { ...barbecue, description: long(2001) }, [['/description', 'too_long']]],
  [
    'a long constant',
    withExpression({ trait: 'city', op: '=', value: long(1001) }),
    [['/expression/value', 'too_long']],
  ],
  [
    'a long trait path',
    withExpression({ trait: long(1001), op: 'exists' }),
    [['/expression/trait', 'too_long']],
  ],
  // cycle
  [
    'a segment reading itself',
    withExpression({ not: { segment: 'bbq_beijing_fans' } }),
    [['/expression/not/segment', 'cycle']],
  ],
];

describe('loadSegmentDefinition', () => {
  it('loads the barbecue example: its dependencies and a copy of the definition', () => {
    const json = structuredClone(barbecue);
    const compiled = loadSegmentDefinition(json, context);
    expect(compiled.id).toBe('bbq_beijing_fans');
    expect([...dependenciesOf(compiled)]).toEqual([
      'aggregate:orders_365d',
      'tag:interest_food',
      'trait:city',
    ]);
    json.expression.all.pop();
    expect(compiled.definition.expression).toEqual(barbecue.expression);
  });

  it.each(rejected)('rejects %s', (_name, json, expected) => {
    expect(issuesOf(json)).toEqual(expected.map(([pointer, code]) => ({ pointer, code })));
  });

  it('has a table case for every error code but duplicate_id (sets only)', () => {
    const covered = new Set(rejected.flatMap(([, , expected]) => expected.map(([, code]) => code)));
    expect(segmentDefinitionErrorCodes.filter((code) => !covered.has(code))).toEqual([
      'duplicate_id',
    ]);
  });

  it('accepts every limit exactly', () => {
    const atLimits = [
      withExpression(nested(segmentLimits.maxDepth)),
      withExpression({ all: leaves(segmentLimits.maxNodes - 1) }),
      withExpression({
        trait: 'store',
        op: 'not_in',
        value: Array.from({ length: 1000 }, (_, i) => i),
      }),
      {
        ...barbecue,
        id: `b${long(63)}`,
        labels: { 'zh-CN': long(200), en: long(200) },
        description: long(2000),
      },
      withExpression({ trait: 'city', op: 'contains', value: long(1000) }),
    ];
    for (const json of atLimits) expect(() => loadSegmentDefinition(json, context)).not.toThrow();
  });

  it('stops counting at the node limit, however large the expression', () => {
    const huge = withExpression({ any: leaves(100_000) });
    expect(issuesOf(huge)).toEqual([{ pointer: '/expression', code: 'too_many_nodes' }]);
  });

  it('reports every problem at once, with the segment id and a readable message', () => {
    let error: SegmentDefinitionError | undefined;
    try {
      loadSegmentDefinition(
        {
          ...barbecue,
          purpose: 'sales',
          expression: {
            all: [
              { tag: 'high_frequency', op: '<', value: 3 },
              { aggregate: 'orders_7d', op: '>', value: 1 },
              { trait: 'city' },
            ],
          },
        },
        context,
      );
    } catch (caught) {
      error = caught as SegmentDefinitionError;
    }
    expect(error?.code).toBe('invalid_segment_definition');
    expect(
      error?.issues.map((i: SegmentDefinitionIssue) => [i.segment, i.pointer, i.code]),
    ).toEqual([
      ['bbq_beijing_fans', '/purpose', 'invalid_value'],
      ['bbq_beijing_fans', '/expression/all/0/op', 'type_mismatch'],
      ['bbq_beijing_fans', '/expression/all/1/aggregate', 'unknown_aggregate'],
      ['bbq_beijing_fans', '/expression/all/2/op', 'missing_field'],
    ]);
    expect(error?.message).toContain(
      'segment "bbq_beijing_fans", /expression/all/0/op: "<" does not apply to the boolean tag "high_frequency" (true or absent)',
    );
  });

  it('escapes pointers as RFC 6901 says', () => {
    expect(issuesOf({ ...barbecue, 'a/b~c': 1 })).toEqual([
      { pointer: '/a~1b~0c', code: 'unknown_field' },
    ]);
  });

  it('reads userType from the user_type tag, and refuses it when the catalogue has none', () => {
    const compiled = loadSegmentDefinition(
      withExpression({ userType: ['core', 'loyal'] }),
      context,
    );
    expect([...compiled.dependencies]).toEqual(['tag:user_type']);
    const small = loadRuleCatalogue({
      version: 1,
      aggregates: [],
      tags: [
        {
          id: 'vip',
          labels,
          dimension: 'demographic',
          type: 'static',
          condition: { trait: 'vip', op: '==', value: true },
        },
      ],
    });
    expect(issuesOf(withExpression({ userType: 'core' }), { catalogue: small })).toEqual([
      { pointer: '/expression/userType', code: 'unknown_tag' },
    ]);
  });

  it('accepts any string for a value tag whose values come from traits or aggregates', () => {
    const compiled = loadSegmentDefinition(
      withExpression({ tag: 'city', op: 'in', value: ['北京', 'Beijing'] }),
      context,
    );
    expect([...compiled.dependencies]).toEqual(['tag:city']);
  });

  it('checks contains fragments against no list of values', () => {
    expect(() =>
      loadSegmentDefinition(
        withExpression({ tag: 'consumption_level', op: 'contains', value: 'hi' }),
        context,
      ),
    ).not.toThrow();
  });

  it('keeps nothing of the input: editing it afterwards changes no constant', () => {
    const json = withExpression({ trait: 'city', op: 'in', value: ['北京'] });
    const compiled = loadSegmentDefinition(json, context);
    ((json.expression as { value: string[] }).value as string[]).push('上海');
    expect(compiled.expression).toMatchObject({ value: ['北京'] });
    expect(compiled.definition.expression).toEqual({ trait: 'city', op: 'in', value: ['北京'] });
  });

  it('refuses what is not JSON with a definition error', () => {
    expect(issuesOf({ ...barbecue, description: () => 'x' })).toEqual([
      { pointer: '', code: 'invalid_type' },
    ]);
  });

  it('names the top-level trait as the field a path reads', () => {
    const compiled = loadSegmentDefinition(
      withExpression({ trait: 'address.city', op: '=', value: '北京' }),
      context,
    );
    expect([...compiled.dependencies]).toEqual(['trait:address']);
  });

  it('refuses a segment that closes a cycle through saved segments, naming the path', () => {
    // lapsed reads vip; vip, edited to read something that reads lapsed, would loop.
    const ctx: SegmentDefinitionContext = {
      catalogue,
      segments: new Map([
        ['vip', new Set<string>()],
        ['lapsed', new Set(['vip'])],
        ['winback', new Set(['lapsed'])],
      ]),
    };
    let error: SegmentDefinitionError | undefined;
    try {
      loadSegmentDefinition(
        {
          ...barbecue,
          id: 'vip',
          expression: { any: [{ tag: 'interest_food' }, { segment: 'winback' }] },
        },
        ctx,
      );
    } catch (caught) {
      error = caught as SegmentDefinitionError;
    }
    expect(error?.issues).toEqual([
      {
        segment: 'vip',
        pointer: '/expression/any/1/segment',
        code: 'cycle',
        message: 'segments read each other in a cycle: vip → winback → lapsed → vip',
      },
    ]);
    // The same edit without the loop is fine: the old entry of vip is replaced.
    const edited = loadSegmentDefinition(
      { ...barbecue, id: 'vip', expression: { tag: 'interest_food' } },
      ctx,
    );
    expect([...edited.segmentsRead]).toEqual([]);
  });
});

describe('loadSegmentDefinitions', () => {
  const segment = (id: string, expression: unknown) => ({ ...barbecue, id, expression });

  it('loads a set in evaluation order', () => {
    const loaded = loadSegmentDefinitions(
      [
        segment('c', { all: [{ segment: 'b' }, { segment: 'a' }] }),
        segment('b', { segment: 'a' }),
        segment('a', { tag: 'interest_food' }),
      ],
      { catalogue },
    );
    expect(loaded.map((s) => s.id)).toEqual(['a', 'b', 'c']);
    expect(segmentGraph(loaded)).toEqual(
      new Map([
        ['a', new Set()],
        ['b', new Set(['a'])],
        ['c', new Set(['b', 'a'])],
      ]),
    );
  });

  it('points into the set, and reports each leaf that closes a cycle', () => {
    let error: SegmentDefinitionError | undefined;
    try {
      loadSegmentDefinitions(
        [
          segment('a', { segment: 'b' }),
          segment('b', { any: [{ tag: 'interest_food' }, { segment: 'a' }] }),
          segment('a', { tag: 'interest_food' }),
          segment('d', { segment: 'zzz' }),
        ],
        { catalogue },
      );
    } catch (caught) {
      error = caught as SegmentDefinitionError;
    }
    expect(error?.issues.map((i) => [i.segment, i.pointer, i.code])).toEqual([
      ['a', '/2/id', 'duplicate_id'],
      ['d', '/3/expression/segment', 'unknown_segment'],
      ['a', '/0/expression/segment', 'cycle'],
      ['b', '/1/expression/any/1/segment', 'cycle'],
    ]);
  });

  it('reads saved segments from the context, overriding those the set redefines', () => {
    const ctx: SegmentDefinitionContext = {
      catalogue,
      segments: new Map([
        ['vip', new Set<string>()],
        ['lapsed', new Set(['vip'])],
      ]),
    };
    const loaded = loadSegmentDefinitions([segment('winback', { segment: 'lapsed' })], ctx);
    expect(loaded.map((s) => s.id)).toEqual(['winback']);
    expect(() =>
      loadSegmentDefinitions([segment('vip', { not: { segment: 'lapsed' } })], ctx),
    ).toThrow(/vip → lapsed → vip/);
  });

  it('orderSegments refuses segments assembled into a cycle', () => {
    const a = loadSegmentDefinition(segment('a', { tag: 'interest_food' }), { catalogue });
    const b = loadSegmentDefinition(segment('b', { segment: 'a' }), {
      catalogue,
      segments: new Map([['a', new Set<string>()]]),
    });
    const looped: CompiledSegment = { ...a, segmentsRead: new Set(['b']) };
    expect(orderSegments([b, a]).map((s) => s.id)).toEqual(['a', 'b']);
    expect(() => orderSegments([b, looped])).toThrow(SegmentDefinitionError);
  });
});
