import { describe, expect, it } from 'vitest';
import {
  type CompiledSegment,
  evaluateSegment,
  evaluateSegments,
  loadSegmentDefinition,
  loadSegmentDefinitions,
  type SegmentInput,
  segmentMatches,
  segmentOps,
} from '../../../shared/domain/segments/index.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';

const catalogue = defaultRuleCatalogue();
const labels = { 'zh-CN': '测试', en: 'Test' };
const segments = new Map([['vip', new Set<string>()]]);

function segment(expression: unknown): CompiledSegment {
  return loadSegmentDefinition(
    { id: 'test_segment', labels, purpose: 'marketing', expression },
    { catalogue, segments },
  );
}

function member(overrides: Partial<SegmentInput> = {}): SegmentInput {
  return { tags: {}, traits: {}, aggregates: {}, ...overrides };
}

const barbecue = segment({
  all: [
    { aggregate: 'orders_365d', op: '>', value: 20 },
    { tag: 'interest_food' },
    { trait: 'city', op: '=', value: '北京' },
  ],
});

describe('evaluateSegment', () => {
  it('puts a Beijing foodie with 23 orders in the barbecue segment, and says why', () => {
    const regular = member({
      tags: { interest_food: true, city: '北京' },
      traits: { city: '北京' },
      aggregates: { orders_365d: 23 },
    });
    expect(evaluateSegment(barbecue, regular)).toEqual({
      in: true,
      why: [
        {
          pointer: '/expression/all/0',
          operand: 'aggregate:orders_365d',
          op: '>',
          value: 20,
          actual: 23,
          holds: true,
        },
        {
          pointer: '/expression/all/1',
          operand: 'tag:interest_food',
          op: 'exists',
          actual: true,
          holds: true,
        },
        {
          pointer: '/expression/all/2',
          operand: 'trait:city',
          op: '=',
          value: '北京',
          actual: '北京',
          holds: true,
        },
      ],
    });
  });

  it('says which part kept a member out', () => {
    const shanghai = member({
      tags: { interest_food: true },
      traits: { city: '上海' },
      aggregates: { orders_365d: 23 },
    });
    expect(evaluateSegment(barbecue, shanghai)).toEqual({
      in: false,
      why: [
        {
          pointer: '/expression/all/2',
          operand: 'trait:city',
          op: '=',
          value: '北京',
          actual: '上海',
          holds: false,
        },
      ],
    });
  });

  it('explains any by its first part that holds, and every part when none does', () => {
    const either = segment({
      any: [{ valueTier: 'high' }, { userType: ['core', 'loyal'] }, { cluster: 'c2' }],
    });
    const loyal = member({ tags: { user_type: 'loyal' }, valueTier: 'mid', cluster: 'c2' });
    expect(evaluateSegment(either, loyal).why.map((r) => [r.pointer, r.operand, r.op])).toEqual([
      ['/expression/any/1', 'tag:user_type', 'in'],
    ]);
    const nobody = member({ valueTier: 'low' });
    const result = evaluateSegment(either, nobody);
    expect(result.in).toBe(false);
    expect(result.why.map((r) => [r.operand, r.actual, r.holds])).toEqual([
      ['valueTier', 'low', false],
      ['tag:user_type', null, false],
      ['cluster', null, false],
    ]);
  });

  it('passes the reasons of a negated part through not', () => {
    const notVip = segment({ not: { segment: 'vip' } });
    expect(evaluateSegment(notVip, member({ segments: new Set(['vip']) }))).toEqual({
      in: false,
      why: [
        {
          pointer: '/expression/not',
          operand: 'segment:vip',
          op: '=',
          value: true,
          actual: true,
          holds: true,
        },
      ],
    });
  });

  it('asks the resolver about other segments before member.segments', () => {
    const vip = segment({ segment: 'vip' });
    const listed = member({ segments: new Set(['vip']) });
    expect(evaluateSegment(vip, listed).in).toBe(true);
    expect(evaluateSegment(vip, listed, () => false).in).toBe(false);
    expect(evaluateSegment(vip, member(), (id) => id === 'vip').in).toBe(true);
    expect(segmentMatches(vip, member())).toBe(false);
  });

  describe('missing values', () => {
    const constants: Record<string, unknown> = {
      '=': '北京',
      '!=': '北京',
      '<': 1,
      '<=': 1,
      '>': 1,
      '>=': 1,
      in: ['北京'],
      not_in: ['北京'],
      between: [0, 1],
      contains: '北',
    };
    const cases = segmentOps.map((op) => [op, op === 'not_exists'] as const);
    it.each(cases)('%s on an absent or null trait is %s', (op, expected) => {
      const leaf = segment({
        trait: 'city',
        op,
        ...(constants[op] === undefined ? {} : { value: constants[op] }),
      });
      expect(segmentMatches(leaf, member())).toBe(expected);
      expect(segmentMatches(leaf, member({ traits: { city: null } }))).toBe(expected);
      expect(evaluateSegment(leaf, member()).why[0]?.actual).toBeNull();
    });

    it('counts a member without a city out of city != 北京; not(city = 北京) keeps them', () => {
      const nobody = member();
      expect(segmentMatches(segment({ trait: 'city', op: '!=', value: '北京' }), nobody)).toBe(
        false,
      );
      expect(
        segmentMatches(segment({ not: { trait: 'city', op: '=', value: '北京' } }), nobody),
      ).toBe(true);
    });

    it('reads no RFM, tier or cluster of a member the nightly job has not scored', () => {
      const unscored = member({ rfm: null, valueTier: null });
      expect(segmentMatches(segment({ rfm: 'r', op: 'not_exists' }), unscored)).toBe(true);
      expect(segmentMatches(segment({ valueTier: 'low', op: '!=' }), unscored)).toBe(false);
      expect(segmentMatches(segment({ cluster: ['c1'], op: 'not_in' }), member())).toBe(false);
    });
  });

  describe('numbers', () => {
    const revenue = (op: string, value: unknown) =>
      segment({ aggregate: 'revenue_365d', op, value });
    const cases: [string, unknown, unknown, boolean][] = [
      ['=', 88.5, '88.5', true],
      ['=', 88.5, '88.50', true],
      ['=', 88.5, '088.500', true],
      ['>=', 88.5, '88.49', false],
      ['<', 88.5, '88.49', true],
      ['<', 88.5, '88.4999999999999999999', true],
      ['>', 1e21, '1000000000000000000001', true],
      ['=', 1e21, '1000000000000000000000', true],
      ['>', 0, '0.0000001', true],
      ['=', 0, '-0', true],
      ['=', 0.3, 0.1 + 0.2, false],
      ['=', 0.3, '0.3', true],
      ['between', [10, 20], '20.000', true],
      ['between', [10, 20], '20.001', false],
      ['in', [1, 88.5], '88.50', true],
      ['not_in', [1, 88.5], '88.50', false],
      ['>', 1, '1e3', false],
      ['<', 1, '1e3', false],
      ['=', 1000, '1e3', false],
      ['!=', 1000, '1e3', true],
      ['!=', 1, 'abc', true],
      ['>', 1, true, false],
      ['>', 1, ' 2', false],
      ['>', 1, '+2', false],
    ];
    it.each(cases)('revenue %s %j with %j is %s', (op, constant, actual, expected) => {
      const leaf = revenue(op, constant);
      const input = member({ aggregates: { revenue_365d: actual as string | number | boolean } });
      expect(segmentMatches(leaf, input)).toBe(expected);
    });

    it('compares integer RFM scores and decimal-string traits alike', () => {
      expect(
        segmentMatches(
          segment({ rfm: 'r', op: 'between', value: [4, 5] }),
          member({ rfm: { r: 4 } }),
        ),
      ).toBe(true);
      expect(
        segmentMatches(
          segment({ trait: 'age', op: '>=', value: 18 }),
          member({ traits: { age: '18' } }),
        ),
      ).toBe(true);
    });
  });

  describe('text', () => {
    it('matches contains on a string, or on an element of a list trait', () => {
      const likesBbq = segment({ trait: 'interests', op: 'contains', value: '烧烤' });
      expect(segmentMatches(likesBbq, member({ traits: { interests: '烧烤,火锅' } }))).toBe(true);
      expect(segmentMatches(likesBbq, member({ traits: { interests: ['火锅', '烧烤'] } }))).toBe(
        true,
      );
      expect(segmentMatches(likesBbq, member({ traits: { interests: ['烧烤串'] } }))).toBe(false);
      expect(segmentMatches(likesBbq, member({ traits: { interests: { 烧烤: true } } }))).toBe(
        false,
      );
    });

    it('compares a string constant with strings only', () => {
      const twenty = segment({ trait: 'code', op: '=', value: '20' });
      expect(segmentMatches(twenty, member({ traits: { code: 20 } }))).toBe(false);
      expect(segmentMatches(twenty, member({ traits: { code: '20' } }))).toBe(true);
    });

    it('reads nested traits through objects only, and never the prototype', () => {
      const city = segment({ trait: 'address.city', op: '=', value: '北京' });
      expect(segmentMatches(city, member({ traits: { address: { city: '北京' } } }))).toBe(true);
      expect(segmentMatches(city, member({ traits: { address: [{ city: '北京' }] } }))).toBe(false);
      const length = segment({ trait: 'name.length', op: 'exists' });
      expect(segmentMatches(length, member({ traits: { name: '王' } }))).toBe(false);
      const inherited = segment({ tag: 'city', op: 'exists' });
      expect(segmentMatches(inherited, member({ tags: Object.create({ city: '北京' }) }))).toBe(
        false,
      );
    });
  });

  it('evaluates a set in order, feeding each membership to the segments that read it', () => {
    const set = loadSegmentDefinitions(
      [
        {
          id: 'winback',
          labels,
          purpose: 'marketing',
          expression: { all: [{ segment: 'lapsed' }, { not: { segment: 'vip' } }] },
        },
        {
          id: 'lapsed',
          labels,
          purpose: 'marketing',
          expression: { tag: 'activity_status', op: '=', value: 'dormant' },
        },
      ],
      { catalogue, segments },
    );
    const dormant = member({ tags: { activity_status: 'dormant' } });
    const results = evaluateSegments(set, dormant);
    expect([...results].map(([id, r]) => [id, r.in])).toEqual([
      ['lapsed', true],
      ['winback', true],
    ]);
    expect(
      evaluateSegments(set, { ...dormant, segments: new Set(['vip']) }).get('winback')?.in,
    ).toBe(false);
  });
});
