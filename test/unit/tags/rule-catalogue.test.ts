import { describe, expect, it } from 'vitest';
import {
  defaultCatalogueJson,
  defaultRuleCatalogue,
} from '../../../shared/domain/tags/default-catalogue.ts';
import {
  loadRuleCatalogue,
  RuleCatalogueError,
  type RuleCatalogueIssue,
} from '../../../shared/domain/tags/rule-catalogue.ts';
import kitchenSinkCatalogue from './kitchen-sink.catalogue.json' with { type: 'json' };

const labels = { 'zh-CN': '标签', en: 'Label' };
const orders = {
  id: 'orders_30d',
  kind: 'count',
  events: ['Order Completed'],
  window: { days: 30 },
};
const revenue = {
  id: 'revenue_all',
  kind: 'sum',
  events: ['Order Completed'],
  property: 'revenue',
  window: 'all',
};
const frequent = {
  id: 'frequent',
  labels,
  dimension: 'behaviour',
  type: 'dynamic',
  condition: { aggregate: 'orders_30d', op: '>=', value: 3 },
};

/** A value-tag case; built by a function because a literal `then` key reads as a thenable to lint. */
function thenCase(value: unknown): Record<string, unknown> {
  return Object.fromEntries([['then', value]]);
}

function catalogue(overrides: { aggregates?: unknown[]; tags?: unknown[] } = {}) {
  return {
    version: 1,
    aggregates: overrides.aggregates ?? [orders, revenue],
    tags: overrides.tags ?? [frequent],
  };
}

function issuesOf(json: unknown): RuleCatalogueIssue[] {
  try {
    loadRuleCatalogue(json);
  } catch (error) {
    expect(error).toBeInstanceOf(RuleCatalogueError);
    return [...(error as RuleCatalogueError).issues];
  }
  throw new Error('expected the catalogue to be rejected');
}

describe('loadRuleCatalogue', () => {
  it('loads the default catalogue and the kitchen-sink test catalogue', () => {
    const loaded = defaultRuleCatalogue();
    expect(loaded.aggregates.length).toBeGreaterThan(10);
    expect(loaded.tags.map((t) => t.id)).toEqual(
      expect.arrayContaining([
        'gender',
        'age_band',
        'city',
        'activity_status',
        'car_purchase_intent',
        'high_frequency',
        'consumption_level',
        'promotion_sensitive',
        'favourite_category',
        'interest_tech',
        'user_type',
      ]),
    );
    expect(loaded.longestWindowDays).toBe(365);
    expect(loaded.readsAge).toBe(true);
    expect(() => loadRuleCatalogue(kitchenSinkCatalogue)).not.toThrow();
  });

  it('routes a track event to its aggregates whatever the spelling of its name', () => {
    const loaded = loadRuleCatalogue(defaultCatalogueJson);
    const ids = (name: string) =>
      [...loaded.trackRoute(name)].flatMap((i) => loaded.series[i]?.aggregates ?? []);
    for (const spelling of [
      'Order Completed',
      'order_completed',
      'OrderCompleted',
      'order-completed',
    ]) {
      expect(ids(spelling)).toEqual(ids('Order Completed'));
    }
    expect(ids('Order Completed')).toContain('revenue_365d');
    expect(ids('Order Completed')).toContain('activity_90d');
    expect(ids('Something Custom')).toEqual(['activity_90d', 'activity_all']);
    expect([...loaded.typeRoute('identify')]).toEqual([]);
  });

  it('orders tags after the tags they read', () => {
    const loaded = loadRuleCatalogue(kitchenSinkCatalogue);
    const order = loaded.tags.map((t) => t.id);
    expect(order.indexOf('adult')).toBeLessThan(order.indexOf('age_exact'));
    expect(order.indexOf('spender')).toBeLessThan(order.indexOf('composite'));
    expect(order.indexOf('top_category')).toBeLessThan(order.indexOf('store_loyal'));
  });

  it('shares one series among aggregates that differ only in window, or sum and avg', () => {
    const loaded = defaultRuleCatalogue();
    const seriesOf = (id: string) => loaded.aggregatesById.get(id)?.seriesIndex;
    expect(seriesOf('orders_90d')).toBe(seriesOf('orders_365d'));
    expect(seriesOf('orders_all')).toBe(seriesOf('orders_365d'));
    expect(seriesOf('revenue_365d')).toBe(seriesOf('avg_order_value_365d'));
    expect(seriesOf('favourite_category_365d')).toBe(seriesOf('distinct_categories_365d'));
    expect(seriesOf('coupon_orders_365d')).not.toBe(seriesOf('orders_365d'));
    const orders = loaded.series[seriesOf('orders_365d') ?? -1];
    expect(orders).toMatchObject({ windowDays: 365, keepsTotal: true });
    expect(orders?.aggregates).toEqual(['orders_90d', 'orders_180d', 'orders_365d', 'orders_all']);
    expect(loaded.series.length).toBeLessThan(loaded.aggregates.length);
  });

  it('gives a series a new signature when what it accumulates changes, not its labels or windows', () => {
    const signature = (json: unknown) => loadRuleCatalogue(json).series[0]?.signature;
    const base = signature(catalogue());
    expect(
      signature(catalogue({ aggregates: [{ ...orders, labels, description: 'x' }, revenue] })),
    ).toBe(base);
    expect(
      signature(catalogue({ aggregates: [{ ...orders, events: ['order_completed'] }, revenue] })),
    ).toBe(base);
    expect(
      signature(catalogue({ aggregates: [{ ...orders, window: { days: 31 } }, revenue] })),
    ).toBe(base);
    expect(
      signature(
        catalogue({
          aggregates: [{ ...orders, where: [{ path: 'coupon', op: 'exists' }] }, revenue],
        }),
      ),
    ).not.toBe(base);
    expect(
      signature(catalogue({ aggregates: [{ ...orders, events: ['Order Refunded'] }, revenue] })),
    ).not.toBe(base);
  });

  const rejected: [string, unknown, Partial<RuleCatalogueIssue>][] = [
    ['a catalogue that is not an object', [], { path: '', rule: undefined }],
    ['an unknown version', { ...catalogue(), version: 2 }, { path: '/version' }],
    ['an unknown top-level field', { ...catalogue(), rules: [] }, { path: '/rules' }],
    [
      'an unknown aggregate kind',
      catalogue({ aggregates: [{ ...orders, kind: 'median' }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/kind' },
    ],
    [
      'an aggregate id that is not snake_case',
      catalogue({ aggregates: [{ ...orders, id: 'Orders-30d' }, revenue], tags: [] }),
      { rule: 'Orders-30d', path: '/aggregates/0/id' },
    ],
    [
      'a duplicate aggregate id',
      catalogue({ aggregates: [orders, { ...revenue, id: 'orders_30d' }] }),
      { rule: 'orders_30d', path: '/aggregates/1/id' },
    ],
    [
      'a sum without a property',
      catalogue({ aggregates: [orders, { ...revenue, property: undefined }] }),
      { rule: 'revenue_all', path: '/aggregates/1/property' },
    ],
    [
      'a count with a property',
      catalogue({ aggregates: [{ ...orders, property: 'revenue' }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/property' },
    ],
    [
      'a window of zero days',
      catalogue({ aggregates: [{ ...orders, window: { days: 0 } }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/window/days' },
    ],
    [
      'a window of a fractional number of days',
      catalogue({ aggregates: [{ ...orders, window: { days: 1.5 } }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/window/days' },
    ],
    [
      'a window that is neither "all" nor { days }',
      catalogue({ aggregates: [{ ...orders, window: 'forever' }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/window' },
    ],
    [
      'an event name that is only punctuation',
      catalogue({ aggregates: [{ ...orders, events: ['---'] }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/events/0' },
    ],
    [
      'event names on a page aggregate',
      catalogue({ aggregates: [{ ...orders, types: ['page'] }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/events' },
    ],
    [
      'an unknown event type',
      catalogue({ aggregates: [{ ...orders, types: ['click'], events: undefined }, revenue] }),
      { rule: 'orders_30d', path: '/aggregates/0/types' },
    ],
    [
      'two array steps in a property',
      catalogue({ aggregates: [orders, { ...revenue, property: 'a[].b[].c' }] }),
      { rule: 'revenue_all', path: '/aggregates/1/property' },
    ],
    [
      'an array step in a where path',
      catalogue({
        aggregates: [{ ...orders, where: [{ path: 'products[].sku', op: 'exists' }] }, revenue],
      }),
      { rule: 'orders_30d', path: '/aggregates/0/where/0/path' },
    ],
    [
      'a prototype name in a path',
      catalogue({ aggregates: [orders, { ...revenue, property: 'constructor.name' }] }),
      { rule: 'revenue_all', path: '/aggregates/1/property' },
    ],
    [
      'an unknown where operator',
      catalogue({
        aggregates: [{ ...orders, where: [{ path: 'coupon', op: '=>', value: 1 }] }, revenue],
      }),
      { rule: 'orders_30d', path: '/aggregates/0/where/0/op' },
    ],
    [
      'an ordering comparison with a string',
      catalogue({
        aggregates: [{ ...orders, where: [{ path: 'revenue', op: '>', value: '10' }] }, revenue],
      }),
      { rule: 'orders_30d', path: '/aggregates/0/where/0/value' },
    ],
    [
      'an empty in-list',
      catalogue({
        aggregates: [{ ...orders, where: [{ path: 'topic', op: 'in', value: [] }] }, revenue],
      }),
      { rule: 'orders_30d', path: '/aggregates/0/where/0/value' },
    ],
    [
      'a value on exists',
      catalogue({
        aggregates: [
          { ...orders, where: [{ path: 'coupon', op: 'exists', value: true }] },
          revenue,
        ],
      }),
      { rule: 'orders_30d', path: '/aggregates/0/where/0/value' },
    ],
    [
      'a number beyond 1e15',
      catalogue({
        aggregates: [{ ...orders, where: [{ path: 'revenue', op: '<', value: 1e16 }] }, revenue],
      }),
      { rule: 'orders_30d', path: '/aggregates/0/where/0/value' },
    ],
    [
      'a tag without labels in English',
      catalogue({ tags: [{ ...frequent, labels: { 'zh-CN': '高频' } }] }),
      { rule: 'frequent', path: '/tags/0/labels/en' },
    ],
    [
      'an unknown dimension',
      catalogue({ tags: [{ ...frequent, dimension: 'lifestyle' }] }),
      { rule: 'frequent', path: '/tags/0/dimension' },
    ],
    [
      'an unknown tag type',
      catalogue({ tags: [{ ...frequent, type: 'realtime' }] }),
      { rule: 'frequent', path: '/tags/0/type' },
    ],
    [
      'a tag with both a condition and a value',
      catalogue({ tags: [{ ...frequent, value: { cases: [thenCase('x')] } }] }),
      { rule: 'frequent', path: '/tags/0' },
    ],
    [
      'an unknown aggregate in a condition',
      catalogue({
        tags: [{ ...frequent, condition: { aggregate: 'orders_31d', op: '>=', value: 3 } }],
      }),
      { rule: 'frequent', path: '/tags/0/condition/aggregate' },
    ],
    [
      'a comparison with two operands',
      catalogue({
        tags: [
          { ...frequent, condition: { aggregate: 'orders_30d', trait: 'city', op: 'exists' } },
        ],
      }),
      { rule: 'frequent', path: '/tags/0/condition' },
    ],
    [
      'a bad operator deep in a condition',
      catalogue({
        tags: [
          {
            ...frequent,
            condition: { all: [{ not: { aggregate: 'orders_30d', op: '≥', value: 3 } }] },
          },
        ],
      }),
      { rule: 'frequent', path: '/tags/0/condition/all/0/not/op' },
    ],
    [
      'an empty all',
      catalogue({ tags: [{ ...frequent, condition: { all: [] } }] }),
      { rule: 'frequent', path: '/tags/0/condition/all' },
    ],
    [
      'a ratio over a non-numeric aggregate',
      catalogue({
        aggregates: [
          orders,
          revenue,
          { id: 'top', kind: 'mostFrequent', property: 'category', window: 'all' },
        ],
        tags: [{ ...frequent, condition: { ratio: ['top', 'orders_30d'], op: '>', value: 0.5 } }],
      }),
      { rule: 'frequent', path: '/tags/0/condition/ratio/0' },
    ],
    [
      'countOf on a count',
      catalogue({
        tags: [
          {
            ...frequent,
            condition: { aggregate: 'orders_30d', countOf: ['x'], op: '>', value: 1 },
          },
        ],
      }),
      { rule: 'frequent', path: '/tags/0/condition/countOf' },
    ],
    [
      'a static tag reading an aggregate',
      catalogue({ tags: [{ ...frequent, type: 'static' }] }),
      { rule: 'frequent', path: '/tags/0/condition/aggregate' },
    ],
    [
      'an unknown derived value',
      catalogue({ tags: [{ ...frequent, condition: { derived: 'zodiac', op: 'exists' } }] }),
      { rule: 'frequent', path: '/tags/0/condition/derived' },
    ],
    [
      'a reference to an unknown tag',
      catalogue({ tags: [{ ...frequent, condition: { tag: 'ghost', op: 'exists' } }] }),
      { rule: 'frequent', path: '/tags/0/condition/tag' },
    ],
    [
      'tags that read each other in a cycle',
      catalogue({
        tags: [
          { ...frequent, id: 'a', condition: { tag: 'b', op: 'exists' } },
          { ...frequent, id: 'b', condition: { tag: 'a', op: 'exists' } },
        ],
      }),
      { path: '/tags/0' },
    ],
    [
      'a value tag without labels for a constant',
      catalogue({
        tags: [{ ...frequent, condition: undefined, value: { cases: [thenCase('often')] } }],
      }),
      { rule: 'frequent', path: '/tags/0/valueLabels' },
    ],
    [
      'labels for a value the tag never takes',
      catalogue({
        tags: [
          {
            ...frequent,
            condition: undefined,
            value: { cases: [thenCase('often')] },
            valueLabels: { often: labels, rarely: labels },
          },
        ],
      }),
      { rule: 'frequent', path: '/tags/0/valueLabels/rarely' },
    ],
    [
      'a case whose then is a number',
      catalogue({ tags: [{ ...frequent, condition: undefined, value: { cases: [thenCase(3)] } }] }),
      { rule: 'frequent', path: '/tags/0/value/cases/0/then' },
    ],
  ];

  it.each(rejected)('rejects %s, naming the rule and the field', (_name, json, expected) => {
    const issues = issuesOf(json);
    expect(issues).toContainEqual(expect.objectContaining(expected));
  });

  it('reports every issue at once, each line naming the rule and the JSON Pointer', () => {
    const json = catalogue({
      aggregates: [
        { ...orders, kind: 'median' },
        { ...revenue, window: { days: -1 } },
      ],
      tags: [{ ...frequent, dimension: 'x' }],
    });
    let message = '';
    try {
      loadRuleCatalogue(json);
    } catch (error) {
      message = (error as Error).message;
      expect((error as RuleCatalogueError).code).toBe('invalid_rule_catalogue');
    }
    expect(message).toContain('rule "orders_30d", /aggregates/0/kind: unknown kind "median"');
    expect(message).toContain('rule "revenue_all", /aggregates/1/window/days');
    expect(message).toContain('rule "frequent", /tags/0/dimension');
  });
});
