import { describe, expect, it } from 'vitest';
import {
  changedFields,
  dependenciesOf,
  loadSegmentDefinitions,
  SegmentDependencyIndex,
  type SegmentInput,
} from '../../../shared/domain/segments/index.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';

const catalogue = defaultRuleCatalogue();
const labels = { 'zh-CN': '测试', en: 'Test' };
const definition = (id: string, expression: unknown) => ({
  id,
  labels,
  purpose: 'marketing',
  expression,
});

const [bbq, big, lapsed, winback, scored] = loadSegmentDefinitions(
  [
    definition('bbq', {
      all: [
        { aggregate: 'orders_365d', op: '>', value: 20 },
        { tag: 'interest_food' },
        { trait: 'address.city', op: '=', value: '北京' },
      ],
    }),
    definition('big', { any: [{ valueTier: 'high' }, { userType: 'core' }] }),
    definition('lapsed', { tag: 'activity_status', op: '=', value: 'dormant' }),
    definition('winback', { all: [{ segment: 'lapsed' }, { cluster: ['c1', 'c2'] }] }),
    definition('scored', { not: { rfm: 'class8', op: '=', value: '一般挽留客户' } }),
  ],
  { catalogue },
);
const all = [bbq, big, lapsed, winback, scored].filter((s) => s !== undefined);

function member(overrides: Partial<SegmentInput> = {}): SegmentInput {
  return { tags: {}, traits: {}, aggregates: {}, ...overrides };
}

describe('dependenciesOf', () => {
  it.each([
    ['bbq', ['aggregate:orders_365d', 'tag:interest_food', 'trait:address']],
    ['big', ['valueTier', 'tag:user_type']],
    ['lapsed', ['tag:activity_status']],
    ['winback', ['segment:lapsed', 'cluster']],
    ['scored', ['rfm']],
  ])('%s reads %j', (id, fields) => {
    const segment = all.find((s) => s.id === id);
    expect(segment && [...dependenciesOf(segment)]).toEqual(fields);
  });
});

describe('changedFields', () => {
  const base = member({
    tags: { interest_food: true, city: '北京' },
    traits: { address: { city: '北京' }, vip: true },
    aggregates: { orders_365d: 21, revenue_365d: '88.5' },
    rfm: { r: 5, f: 4, m: 3 },
    valueTier: 'high',
    cluster: 'c1',
    segments: new Set(['lapsed']),
  });
  it.each<[string, Partial<SegmentInput>, string[]]>([
    ['nothing', {}, []],
    ['a tag that leaves', { tags: { city: '北京' } }, ['tag:interest_food']],
    ['a tag value', { tags: { interest_food: true, city: '上海' } }, ['tag:city']],
    ['a nested trait', { traits: { address: { city: '上海' }, vip: true } }, ['trait:address']],
    ['the same trait rebuilt', { traits: { vip: true, address: { city: '北京' } } }, []],
    ['a trait set to null', { traits: { address: { city: '北京' }, vip: null } }, ['trait:vip']],
    [
      'an aggregate',
      { aggregates: { orders_365d: 22, revenue_365d: '88.5' } },
      ['aggregate:orders_365d'],
    ],
    [
      'an aggregate that becomes null (absent either way)',
      { aggregates: { orders_365d: 21, revenue_365d: '88.5', avg_order_value_365d: null } },
      [],
    ],
    ['one RFM score', { rfm: { r: 5, f: 4, m: 2 } }, ['rfm']],
    [
      'an RFM field set to null (absent either way)',
      { rfm: { r: 5, f: 4, m: 3, segment: null } },
      [],
    ],
    ['the value tier', { valueTier: null }, ['valueTier']],
    ['the cluster', { cluster: 'c2' }, ['cluster']],
    ['memberships', { segments: new Set(['vip']) }, ['segment:lapsed', 'segment:vip']],
  ])('sees %s', (_name, change, expected) => {
    expect([...changedFields(base, { ...base, ...change })].sort()).toEqual(expected.sort());
  });
});

describe('SegmentDependencyIndex', () => {
  it('finds the segments reading a changed field, then those reading them, in order', () => {
    const index = new SegmentDependencyIndex(all);
    expect([...index.affectedSegments(['tag:interest_food'])]).toEqual(['bbq']);
    expect([...index.affectedSegments(['tag:activity_status'])]).toEqual(['lapsed', 'winback']);
    expect([...index.affectedSegments(['cluster', 'tag:activity_status'])]).toEqual([
      'lapsed',
      'winback',
    ]);
    expect([...index.affectedSegments(['trait:city', 'aggregate:revenue_365d'])]).toEqual([]);
    expect([...index.readersOf('tag:user_type')]).toEqual(['big']);
  });

  it('follows edits and deletions', () => {
    const index = new SegmentDependencyIndex(all);
    expect(index.size).toBe(5);
    const [edited] = loadSegmentDefinitions([definition('bbq', { trait: 'city', op: 'exists' })], {
      catalogue,
    });
    if (edited) index.put(edited);
    expect(index.size).toBe(5);
    expect([...index.affectedSegments(['tag:interest_food'])]).toEqual([]);
    expect([...index.affectedSegments(['trait:city'])]).toEqual(['bbq']);
    expect(index.remove('lapsed')).toBe(true);
    expect(index.remove('lapsed')).toBe(false);
    expect([...index.affectedSegments(['tag:activity_status'])]).toEqual([]);
    expect([...index.affectedSegments(['segment:lapsed'])]).toEqual(['winback']);
  });
});
