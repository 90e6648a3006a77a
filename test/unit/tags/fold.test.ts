import { describe, expect, it } from 'vitest';
import type { JsonObject, PortraitEvent } from '../../../events/envelope.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import { diffTags, evaluateTags } from '../../../shared/domain/tags/evaluate.ts';
import { foldEvents, trimProfile } from '../../../shared/domain/tags/fold.ts';
import {
  aggregatesNeedingBackfill,
  emptyProfile,
  ProfileStateError,
  ProfileZoneMismatchError,
  profileFromJson,
  profileToJson,
} from '../../../shared/domain/tags/profile.ts';
import { loadRuleCatalogue } from '../../../shared/domain/tags/rule-catalogue.ts';
import { dateToDay } from '../../../shared/domain/tags/zone-calendar.ts';

const zone = 'Asia/Shanghai';
const catalogue = defaultRuleCatalogue();
let sequence = 0;

function track(event: string, timestamp: string, properties: JsonObject = {}): PortraitEvent {
  sequence += 1;
  return {
    messageId: `m-${String(sequence).padStart(5, '0')}`,
    type: 'track',
    userId: 'member-1',
    event,
    properties,
    timestamp,
    receivedAt: timestamp,
    sourceId: 'source-1',
  };
}

function identify(timestamp: string, traits: JsonObject, messageId?: string): PortraitEvent {
  sequence += 1;
  return {
    messageId: messageId ?? `i-${String(sequence).padStart(5, '0')}`,
    type: 'identify',
    userId: 'member-1',
    traits,
    timestamp,
    receivedAt: timestamp,
    sourceId: 'source-1',
  };
}

function order(timestamp: string, properties: JsonObject = {}): PortraitEvent {
  return track('Order Completed', timestamp, {
    orderId: `o-${sequence}`,
    revenue: '100.00',
    ...properties,
  });
}

function fold(events: PortraitEvent[], state = emptyProfile(catalogue, zone)) {
  return foldEvents(state, events, catalogue, zone);
}

function at(state: ReturnType<typeof fold>['state'], instant: string | number) {
  return evaluateTags(
    state,
    catalogue,
    typeof instant === 'number' ? instant : Date.parse(instant),
    zone,
  );
}

describe('foldEvents: values that do not fit', () => {
  it.each<[string, JsonObject, string, number]>([
    ['revenue "abc"', { revenue: 'abc' }, 'revenue_365d', 4],
    ['revenue with an exponent', { revenue: '1e3' }, 'revenue_all', 4],
    ['revenue as an object', { revenue: { amount: 1 } }, 'max_order_value_all', 4],
    ['revenue beyond 1e15', { revenue: '1000000000000000' }, 'avg_order_value_365d', 4],
    ['products that are not an array', { products: 'lots' }, 'favourite_category_365d', 2],
    [
      'a product that is not an object',
      { products: ['x', { category: 'food' }] },
      'distinct_categories_365d',
      2,
    ],
    [
      'a category that is a boolean',
      { products: [{ category: true }] },
      'favourite_category_365d',
      2,
    ],
    ['a store that is an object', { store: { id: 1 } }, 'last_order_store', 1],
  ])(
    'skips %s for the rule it breaks, counts it, and keeps the rest',
    (_name, properties, aggregate, expected) => {
      const result = fold([order('2024-05-01T02:00:00.000Z', properties)]);
      expect(result.problems).toBe(expected);
      expect(result.state.problems).toBe(expected);
      expect(result.problemSamples.flatMap((p) => p.aggregates)).toContain(aggregate);
      const evaluation = at(result.state, '2024-05-02T00:00:00.000Z');
      expect(evaluation.aggregates.orders_365d).toBe(1);
      expect(evaluation.tags.consumption_level).toBe('low');
    },
  );

  it('counts nothing for properties that are simply absent', () => {
    const result = fold([track('Order Completed', '2024-05-01T02:00:00.000Z', { orderId: 'o1' })]);
    expect(result.problems).toBe(0);
    expect(at(result.state, '2024-05-02T00:00:00.000Z').aggregates.revenue_365d).toBe('0');
  });

  it('skips a whole event with an unreadable timestamp and counts it once', () => {
    const bad = { ...order('2024-05-01T02:00:00.000Z'), timestamp: 'yesterday' };
    const result = fold([bad, order('2024-05-01T03:00:00.000Z')]);
    expect(result.problems).toBe(1);
    expect(result.problemSamples).toEqual([
      { aggregates: [], messageId: bad.messageId, reason: 'unreadable timestamp "yesterday"' },
    ]);
    expect(result.state.events).toBe(1);
  });

  it('counts a where comparison that meets a non-number as a problem of that rule', () => {
    const rules = loadRuleCatalogue({
      version: 1,
      aggregates: [
        {
          id: 'big_orders',
          kind: 'count',
          events: ['Order Completed'],
          where: [{ path: 'revenue', op: '>=', value: 1000 }],
          window: 'all',
        },
      ],
      tags: [],
    });
    const result = foldEvents(
      emptyProfile(rules, zone),
      [
        order('2024-05-01T02:00:00.000Z', { revenue: 'lots' }),
        order('2024-05-01T02:00:00.000Z', { revenue: 1000 }),
      ],
      rules,
      zone,
    );
    expect(result.problems).toBe(1);
    expect(
      evaluateTags(result.state, rules, Date.parse('2024-05-02T00:00:00Z'), zone).aggregates
        .big_orders,
    ).toBe(1);
  });
});

describe('foldEvents: purity and order', () => {
  it('leaves its input state unchanged', () => {
    const first = fold([order('2024-05-01T02:00:00.000Z')]).state;
    const before = JSON.stringify(profileToJson(first));
    fold(
      [order('2024-05-02T02:00:00.000Z'), identify('2024-05-02T00:00:00.000Z', { city: '上海' })],
      first,
    );
    expect(JSON.stringify(profileToJson(first))).toBe(before);
  });

  it('keeps the latest trait by timestamp, then by messageId, whatever the arrival order', () => {
    const events = [
      identify('2024-05-01T00:00:00.000Z', { city: '北京', gender: 'male' }, 'id-b'),
      identify('2024-05-01T00:00:00.000Z', { city: '上海' }, 'id-c'),
      identify('2024-04-01T00:00:00.000Z', { city: '杭州', gender: 'female' }, 'id-z'),
      identify('2024-05-01T00:00:00.000Z', { city: '深圳' }, 'id-a'),
    ];
    for (const ordering of [
      events,
      [...events].reverse(),
      [events[2], events[0], events[3], events[1]],
    ]) {
      const state = fold(ordering as PortraitEvent[]).state;
      expect(state.traits.get('city')?.value).toBe('上海');
      expect(state.traits.get('gender')?.value).toBe('male');
    }
  });

  it('breaks first/last ties on equal timestamps by messageId', () => {
    const t = '2024-05-01T02:00:00.000Z';
    const a = { ...order(t, { store: 'S-a' }), messageId: 'a' };
    const b = { ...order(t, { store: 'S-b' }), messageId: 'b' };
    for (const events of [
      [a, b],
      [b, a],
    ]) {
      const evaluation = at(fold(events).state, '2024-05-02T00:00:00.000Z');
      expect(evaluation.aggregates.last_order_store).toBe('S-b');
      expect(evaluation.aggregates.first_order_id).toBe(a.properties?.orderId);
    }
  });

  it('refuses a profile built in another zone', () => {
    const berlin = emptyProfile(catalogue, 'Europe/Berlin');
    expect(() => foldEvents(berlin, [], catalogue, zone)).toThrow(ProfileZoneMismatchError);
    expect(() => evaluateTags(berlin, catalogue, 0, zone)).toThrow(ProfileZoneMismatchError);
  });
});

describe('windows slide with the clock', () => {
  it('counts an event on its brand-local date: 23:59 in Shanghai is that day, not the next', () => {
    // 2024-05-01T15:59Z is 23:59 on 1 May in Shanghai; the 30-day window of 30 May still holds it.
    const state = fold([
      track('Consultation', '2024-05-01T15:59:00.000Z', { topic: 'car' }),
      track('Consultation', '2024-05-01T15:59:30.000Z', { topic: 'cars' }),
      track('Consultation', '2024-05-01T15:59:59.999Z', { topic: '汽车' }),
    ]).state;
    const lastDay = at(state, '2024-05-30T15:59:59.999Z');
    expect(lastDay.tags.car_purchase_intent).toBe(true);
    expect(new Date(lastDay.nextChangeAt as number).toISOString()).toBe('2024-05-30T16:00:00.000Z');
    expect(at(state, '2024-05-30T16:00:00.000Z').tags.car_purchase_intent).toBeUndefined();
  });

  it('drops high frequency the moment the 21st-newest order leaves the 365-day window', () => {
    const orders = Array.from({ length: 21 }, (_, i) =>
      order(new Date(Date.parse('2023-06-01T04:00:00.000Z') + i * 86_400_000).toISOString()),
    );
    const state = fold(orders).state;
    const before = at(state, '2024-05-30T12:00:00.000Z');
    expect(before.tags.high_frequency).toBe(true);
    expect(before.reasons.high_frequency).toEqual({
      rule: 'condition',
      values: { 'aggregate:orders_365d': 21 },
    });
    // The first order (local 2023-06-01) leaves on local 2024-05-31 = 2024-05-30T16:00Z.
    expect(new Date(before.nextChangeAt as number).toISOString()).toBe('2024-05-30T16:00:00.000Z');
    const after = at(state, before.nextChangeAt as number);
    expect(after.tags.high_frequency).toBeUndefined();
    expect(after.aggregates.orders_365d).toBe(20);
    expect(diffTags(before.tags, after.tags)).toContainEqual({
      tag: 'high_frequency',
      from: true,
      to: null,
    });
  });

  it('turns a member dormant 90 local days after the last event, with no new event', () => {
    const state = fold([
      track('Product Viewed', '2024-01-10T02:00:00.000Z', { category: 'tech' }),
    ]).state;
    const active = at(state, '2024-04-08T12:00:00.000Z');
    expect(active.tags.activity_status).toBe('active');
    expect(new Date(active.nextChangeAt as number).toISOString()).toBe('2024-04-08T16:00:00.000Z');
    const dormant = at(state, '2024-04-08T16:00:00.000Z');
    expect(dormant.tags.activity_status).toBe('dormant');
    expect(dormant.reasons.activity_status).toEqual({
      rule: 'case 1',
      values: { 'aggregate:activity_90d': 0, 'aggregate:activity_all': 1 },
    });
    expect(dormant.nextChangeAt).toBeUndefined();
  });

  it('slides across a DST change in Europe/Berlin at local midnight', () => {
    const berlin = 'Europe/Berlin';
    const rules = loadRuleCatalogue({
      version: 1,
      aggregates: [
        { id: 'views_1d', kind: 'count', events: ['Product Viewed'], window: { days: 1 } },
      ],
      tags: [],
    });
    // 2024-03-30T23:30Z is 00:30 on 31 March (CET); 31 March has 23 hours.
    const state = foldEvents(
      emptyProfile(rules, berlin),
      [track('Product Viewed', '2024-03-30T23:30:00.000Z')],
      rules,
      berlin,
    ).state;
    const evaluation = evaluateTags(state, rules, Date.parse('2024-03-31T12:00:00Z'), berlin);
    expect(evaluation.aggregates.views_1d).toBe(1);
    expect(new Date(evaluation.nextChangeAt as number).toISOString()).toBe(
      '2024-03-31T22:00:00.000Z',
    );
    expect(
      evaluateTags(state, rules, Date.parse('2024-03-30T22:59:59.999Z'), berlin).aggregates
        .views_1d,
    ).toBe(0);
  });

  it('counts a late event in the window of its own date', () => {
    const first = fold([order('2024-05-20T02:00:00.000Z')]).state;
    const late = fold([order('2023-05-25T02:00:00.000Z')], first).state;
    const evaluation = at(late, '2024-05-21T00:00:00.000Z');
    expect(evaluation.aggregates.orders_365d).toBe(2);
    expect(evaluation.aggregates.orders_90d).toBe(1);
    // The late order (local 2023-05-25) leaves the 365-day window on local 2024-05-24.
    expect(new Date(evaluation.nextChangeAt as number).toISOString()).toBe(
      '2024-05-23T16:00:00.000Z',
    );
  });

  it('lets a future-dated event enter its window on its own date', () => {
    const state = fold([order('2024-05-02T01:00:00.000Z')]).state;
    const evaluation = at(state, '2024-05-01T12:00:00.000Z');
    expect(evaluation.aggregates.orders_90d).toBe(0);
    expect(evaluation.aggregates.orders_all).toBe(1);
    expect(new Date(evaluation.nextChangeAt as number).toISOString()).toBe(
      '2024-05-01T16:00:00.000Z',
    );
  });
});

describe('age', () => {
  it('counts age on the brand-local date and changes it on the birthday', () => {
    const state = fold([identify('2024-01-01T00:00:00.000Z', { birthday: '2006-05-02' })]).state;
    const before = at(state, '2024-05-01T15:59:59.999Z');
    expect(before.tags.age_band).toBe('under_18');
    expect(before.reasons.age_band?.values).toEqual({ 'derived:age': 17 });
    expect(new Date(before.nextChangeAt as number).toISOString()).toBe('2024-05-01T16:00:00.000Z');
    expect(at(state, '2024-05-01T16:00:00.000Z').tags.age_band).toBe('18_24');
  });

  it('counts a 29 February birthday on 1 March in common years', () => {
    const state = fold([identify('2024-01-01T00:00:00.000Z', { birthday: '2008-02-29' })]).state;
    const evaluation = at(state, '2025-02-28T12:00:00.000Z');
    expect(evaluation.reasons.age_band?.values).toEqual({ 'derived:age': 16 });
    expect(new Date(evaluation.nextChangeAt as number).toISOString()).toBe(
      '2025-02-28T16:00:00.000Z',
    );
    expect(at(state, '2025-03-01T12:00:00.000Z').reasons.age_band?.values).toEqual({
      'derived:age': 17,
    });
  });

  it('falls back to the age trait when the birthday is not a date', () => {
    const state = fold([
      identify('2024-01-01T00:00:00.000Z', { birthday: '2001-02-29', age: 40 }),
    ]).state;
    const evaluation = at(state, '2024-05-01T00:00:00.000Z');
    expect(evaluation.tags.age_band).toBe('35_44');
    expect(evaluation.nextChangeAt).toBeUndefined();
  });
});

describe('reasons and the default rules', () => {
  it('explains a value tag with every value it read, in order', () => {
    const orders = Array.from({ length: 4 }, (_, i) =>
      order(`2024-05-0${i + 1}T02:00:00.000Z`, {
        revenue: '1500.50',
        ...(i < 2 ? { coupon: 'SPRING' } : {}),
      }),
    );
    const evaluation = at(fold(orders).state, '2024-05-10T00:00:00.000Z');
    expect(evaluation.tags.consumption_level).toBe('mid');
    expect(evaluation.reasons.consumption_level).toEqual({
      rule: 'case 1',
      values: { 'aggregate:revenue_365d': '6002' },
    });
    expect(evaluation.tags.promotion_sensitive).toBe(true);
    expect(evaluation.reasons.promotion_sensitive?.values).toEqual({
      'aggregate:orders_365d': 4,
      'ratio:coupon_orders_365d/orders_365d': '0.5',
    });
    expect(evaluation.tags.user_type).toBe('loyal');
    expect(evaluation.aggregates.avg_order_value_365d).toBe('1500.5');
  });

  it('leaves orders in another currency out of CNY amounts', () => {
    const evaluation = at(
      fold([order('2024-05-01T02:00:00.000Z', { revenue: '20000', currency: 'USD' })]).state,
      '2024-05-02T00:00:00.000Z',
    );
    expect(evaluation.aggregates.revenue_365d).toBe('0');
    expect(evaluation.tags.consumption_level).toBe('low');
  });

  it('reads interest tags from viewed and liked categories', () => {
    const events = [
      track('Product Viewed', '2024-05-01T02:00:00.000Z', { category: 'tech' }),
      track('Content Liked', '2024-05-02T02:00:00.000Z', { category: '数码' }),
      track('product_viewed', '2024-05-03T02:00:00.000Z', { category: '科技' }),
      track('Product Viewed', '2024-05-03T03:00:00.000Z', { category: 'food' }),
    ];
    const evaluation = at(fold(events).state, '2024-05-04T00:00:00.000Z');
    expect(evaluation.tags.interest_tech).toBe(true);
    expect(evaluation.reasons.interest_tech?.values).toEqual({
      'aggregate:interest_categories_90d[tech,electronics,digital,数码,科技,电子产品]': 3,
    });
    expect(evaluation.tags.top_interest).toBe('food');
    expect(evaluation.tags.user_type).toBe('potential');
  });
});

describe('diffTags', () => {
  it('lists added, removed and changed tags in id order', () => {
    expect(diffTags({ a: true, b: 'mid', c: 'x' }, { b: 'high', c: 'x', d: true })).toEqual([
      { tag: 'a', from: true, to: null },
      { tag: 'b', from: 'mid', to: 'high' },
      { tag: 'd', from: null, to: true },
    ]);
    expect(diffTags({ a: true }, { a: true })).toEqual([]);
  });
});

describe('stored state', () => {
  it('round-trips through JSON and keeps folding to the same state', () => {
    const events = [
      order('2024-05-01T02:00:00.000Z', {
        products: [{ sku: 'a', category: 'food' }],
        store: 'S1',
      }),
      identify('2024-05-01T00:00:00.000Z', { city: '上海', address: { city: '杭州' } }),
    ];
    const state = fold(events).state;
    const restored = profileFromJson(JSON.parse(JSON.stringify(profileToJson(state))));
    expect(profileToJson(restored)).toEqual(profileToJson(state));
    const more = [
      order('2024-05-03T02:00:00.000Z', { products: [{ sku: 'b', category: 'food' }] }),
    ];
    expect(profileToJson(fold(more, restored).state)).toEqual(
      profileToJson(fold(more, state).state),
    );
  });

  it.each([
    null,
    { v: 2 },
    {
      v: 1,
      zone: 'Asia/Shanghai',
      events: 0,
      problems: 0,
      traits: [],
      aggregates: { x: { s: 'a', k: 1, w: 0, d: [[0, 1, 'x', 0]] } },
    },
  ])('refuses unreadable state %j with a typed error', (json) => {
    expect(() => profileFromJson(json)).toThrow(ProfileStateError);
  });

  it('trims day buckets no window can reach again', () => {
    const state = fold([
      order('2023-01-01T02:00:00.000Z'),
      order('2024-05-01T02:00:00.000Z'),
    ]).state;
    const trimmed = trimProfile(state, catalogue, Date.parse('2024-05-02T00:00:00Z'), zone);
    const orders = catalogue.series[catalogue.aggregatesById.get('orders_365d')?.seriesIndex ?? -1];
    const held = trimmed.series.get(orders?.signature ?? '');
    expect(held?.buckets.map((b) => b.day)).toEqual([dateToDay('2024-05-01')]);
    expect(held?.total?.count).toBe(2);
    expect(state.series.get(orders?.signature ?? '')?.buckets).toHaveLength(2);
    expect(at(trimmed, '2024-05-02T00:00:00.000Z')).toEqual(at(state, '2024-05-02T00:00:00.000Z'));
  });

  it('flags aggregates added or changed after the profile had events', () => {
    const state = fold([order('2024-05-01T02:00:00.000Z')]).state;
    expect(aggregatesNeedingBackfill(state, catalogue)).toEqual([]);
    const edited = loadRuleCatalogue({
      version: 1,
      aggregates: [
        { id: 'orders_365d', kind: 'count', events: ['Order Completed'], window: { days: 366 } },
        { id: 'orders_all', kind: 'count', events: ['Order Completed'], window: 'all' },
        {
          id: 'stores_all',
          kind: 'distinctCount',
          events: ['Order Completed'],
          property: 'store',
          window: 'all',
        },
      ],
      tags: [],
    });
    // orders_all shares its series with orders_365d, whose window grew: both need the replay.
    const expected = ['orders_365d', 'orders_all', 'stores_all'];
    expect(aggregatesNeedingBackfill(state, edited)).toEqual(expected);
    const next = foldEvents(state, [order('2024-05-02T02:00:00.000Z')], edited, zone).state;
    expect(aggregatesNeedingBackfill(next, edited)).toEqual(expected);
    expect(aggregatesNeedingBackfill(emptyProfile(edited, zone), edited)).toEqual([]);
  });
});
