/**
 * The engine's main invariant: folding a member's events incrementally — in any order, in any
 * batches, with the clock moving between batches, trimmed and stored as JSON along the way —
 * gives the aggregates, tags and reasons that the reference recomputes from the raw events at the
 * same instant; and nothing changes before `nextChangeAt` without a new event.
 *
 * Runs: PORTRAIT_PROPERTY_RUNS (default 600 per catalogue: about 20 s for this file on a 2-core EPYC VM).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue, PortraitEvent } from '../../../events/envelope.ts';
import { defaultCatalogueJson } from '../../../shared/domain/tags/default-catalogue.ts';
import { evaluateTags } from '../../../shared/domain/tags/evaluate.ts';
import { foldEvents, trimProfile } from '../../../shared/domain/tags/fold.ts';
import {
  emptyProfile,
  mergeProfiles,
  type ProfileState,
  profileFromJson,
  profileToJson,
} from '../../../shared/domain/tags/profile.ts';
import {
  loadRuleCatalogue,
  type RuleCatalogue,
  type RuleCatalogueDefinition,
} from '../../../shared/domain/tags/rule-catalogue.ts';
import kitchenSinkCatalogue from './kitchen-sink.catalogue.json' with { type: 'json' };
import { referenceAt } from './reference.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 600);
/** Generous per-test time: runs take about 15 ms each here, more on a busy machine. */
const timeout = 60_000 + runs * 100;
const DAY = 86_400_000;
const T0 = Date.UTC(2023, 0, 1);
const SPAN_DAYS = 730;
const zones = [
  'Asia/Shanghai',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe',
  'Asia/Kathmandu',
] as const;

// ---------------------------------------------------------------------------------------------
// Random events.

const instant = fc.oneof(
  // A few shared instants, so timestamps tie and messageId order decides.
  {
    weight: 1,
    arbitrary: fc.constantFrom(T0 + 100 * DAY, T0 + 400 * DAY + 3_600_000, T0 + 700 * DAY),
  },
  {
    weight: 3,
    arbitrary: fc.integer({ min: -5 * DAY, max: SPAN_DAYS * DAY }).map((ms) => T0 + ms),
  },
  {
    // Around quarter hours: every local midnight of the zones above is on one.
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.integer({ min: -5, max: SPAN_DAYS }),
        fc.integer({ min: 0, max: 95 }),
        fc.constantFrom(-1, 0, 1),
      )
      .map(([day, quarter, nudge]) => T0 + day * DAY + quarter * 900_000 + nudge),
  },
);

const timestamp = fc.oneof(
  { weight: 20, arbitrary: instant.map((ms) => new Date(ms).toISOString()) },
  { weight: 1, arbitrary: instant.map((ms) => `${new Date(ms).toISOString().slice(0, 19)}Z`) },
  { weight: 1, arbitrary: fc.constantFrom('not a date', '2024-13-01T00:00:00.000Z', '') },
);

const badValue: fc.Arbitrary<JsonValue> = fc.constantFrom(true, null, {}, [], 'abc', '', ' 1');

const money: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300_000 }).map((cents) => cents / 100) },
  {
    weight: 4,
    arbitrary: fc.integer({ min: 0, max: 300_000 }).map((cents) => (cents / 100).toFixed(2)),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<JsonValue>(
      '1e5',
      '0.0000005',
      '-0.0000005',
      '999999999999999.9999999',
      '1000000000000000',
      '-12.5',
      '007.10',
      '1.',
      '.5',
      0.1 + 0.2,
      1e-7,
      5e-7,
      -3.25,
      1e21,
      Number('123456789.123456789'),
      4e9 + 0.5,
      999_999_999_999_999,
    ),
  },
  {
    weight: 1,
    arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e7, max: 1e7 }),
  },
  { weight: 1, arbitrary: badValue },
);

const category: fc.Arbitrary<JsonValue> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      'tech',
      '数码',
      'beauty',
      'food',
      'misc',
      'travel',
      '美妆',
      'sports',
      'baby',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom<JsonValue>(5, 2.5, null, {}, true) },
);

const product = fc.record(
  {
    sku: fc.constantFrom('A', 'B', 'C'),
    category,
    price: money,
    quantity: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom<JsonValue>('x', -1)),
  },
  { requiredKeys: ['sku'] },
);

const orderProperties = fc.record(
  {
    orderId: fc.constantFrom('o1', 'o2', 'o3', 'o4'),
    revenue: money,
    currency: fc.constantFrom<JsonValue>('CNY', 'CNY', 'USD', 5),
    coupon: fc.constantFrom('C1', 'C2'),
    store: fc.constantFrom<JsonValue>('S1', 'S2', 'S3', 7, true),
    products: fc.oneof(
      { weight: 6, arbitrary: fc.array(product, { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.constantFrom<JsonValue>('x', [1, null, 'y'], {}) },
    ),
  },
  { requiredKeys: [] },
);

const interestProperties = fc.record(
  {
    category,
    labels: fc.oneof(
      fc.array(fc.oneof(fc.constantFrom<JsonValue>('tech', '数码', 'food', 5, 'x'), badValue), {
        maxLength: 4,
      }),
      badValue,
    ),
  },
  { requiredKeys: [] },
);

const consultationProperties = fc.record(
  {
    topic: fc.constantFrom<JsonValue>('car', 'cars', '汽车', 'auto', 'tech', 7, '7', null),
    channel: fc.constantFrom<JsonValue>('wecom', 'spam', null),
  },
  { requiredKeys: [] },
);

const visitProperties = fc.record(
  {
    store: fc.constantFrom('S1', 'S2'),
    where: fc.oneof(
      fc.record({ city: fc.constantFrom<JsonValue>('上海', '北京', 5, {}) }),
      badValue,
    ),
    durationSeconds: money,
  },
  { requiredKeys: [] },
);

const traits = fc.record(
  {
    gender: fc.constantFrom<JsonValue>('female', 'f', '女', 'male', 'M', 'other', null, 3),
    birthday: fc.oneof(
      fc
        .tuple(
          fc.integer({ min: 1940, max: 2026 }),
          fc.integer({ min: 1, max: 12 }),
          fc.integer({ min: 1, max: 31 }),
        )
        .map(([y, m, d]) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`),
      fc.constantFrom<JsonValue>('2000-02-29', '2001-02-29', '1990-1-1', 'abc', null, 19900101),
    ),
    age: fc.oneof(fc.integer({ min: -2, max: 120 }), fc.constantFrom<JsonValue>('30', 30.5, null)),
    city: fc.constantFrom<JsonValue>('上海', '北京', '', null, 5),
    address: fc.oneof(
      fc.record({ city: fc.constantFrom<JsonValue>('杭州', 'Berlin', null) }),
      fc.constant<JsonValue>('street 1'),
    ),
    vip: fc.constantFrom<JsonValue>(true, false, 'true'),
    level: fc.constantFrom<JsonValue>(1, 4, '5', 'gold'),
    plan: fc.constantFrom<JsonValue>('gold', 'free', 3),
  },
  { requiredKeys: [] },
);

type Draft = Omit<PortraitEvent, 'messageId' | 'receivedAt' | 'sourceId' | 'timestamp'>;

const eventDraft: fc.Arbitrary<Draft> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      event: fc.constantFrom(
        'Order Completed',
        'order_completed',
        'OrderCompleted',
        'order-completed',
      ),
      properties: orderProperties,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      event: fc.constantFrom('Product Viewed', 'product_viewed', 'Content Liked'),
      properties: interestProperties,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      event: fc.constant('Consultation'),
      properties: consultationProperties,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      event: fc.constant('Store Visited'),
      properties: visitProperties,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      event: fc.constantFrom('Coupon Redeemed', 'Wishlist Added', '下单'),
      properties: fc.constant({}),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constantFrom('page' as const, 'screen' as const),
      properties: fc.constant({}),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('identify' as const), traits }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('group' as const),
      groupId: fc.constant('g1'),
      traits,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('alias' as const),
      previousId: fc.constant('anon-1'),
    }),
  },
);

interface Delivery {
  readonly member: number;
  readonly event: PortraitEvent;
  readonly order: number;
  readonly cutAfter: boolean;
}

const history = fc
  .array(
    fc.record({
      member: fc.integer({ min: 0, max: 2 }),
      draft: eventDraft,
      timestamp,
      // Few distinct ids, so timestamp ties fall back to messageId order.
      idPrefix: fc.constantFrom('a', 'b', 'c'),
      order: fc.integer(),
      cutAfter: fc.boolean(),
    }),
    { maxLength: 70 },
  )
  .map((items) =>
    items.map(
      (item, i): Delivery => ({
        member: item.member,
        order: item.order,
        cutAfter: item.cutAfter,
        event: {
          ...item.draft,
          messageId: `${item.idPrefix}-${i}`,
          userId: `member-${item.member}`,
          timestamp: item.timestamp,
          receivedAt: item.timestamp,
          sourceId: 'source-1',
        } as PortraitEvent,
      }),
    ),
  );

type Advance =
  | { readonly kind: 'by'; readonly ms: number }
  | { readonly kind: 'toNextChange'; readonly offset: -1 | 0 | 1 };

const advance: fc.Arbitrary<Advance> = fc.oneof(
  fc.record({ kind: fc.constant('by' as const), ms: fc.integer({ min: 0, max: 3_600_000 }) }),
  fc.record({ kind: fc.constant('by' as const), ms: fc.integer({ min: 0, max: 60 * DAY }) }),
  fc.record({
    kind: fc.constant('toNextChange' as const),
    offset: fc.constantFrom(-1 as const, 0 as const, 1 as const),
  }),
);

const step = fc.record({
  advance,
  trim: fc.boolean(),
  roundTrip: fc.boolean(),
  probes: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
});

// ---------------------------------------------------------------------------------------------
// Checks.

function expectSameAsReference(
  state: ProfileState,
  events: readonly PortraitEvent[],
  catalogue: RuleCatalogue,
  definition: RuleCatalogueDefinition,
  now: number,
  zone: string,
): ReturnType<typeof evaluateTags> {
  const fast = evaluateTags(state, catalogue, now, zone);
  const reference = referenceAt(definition, events, now, zone);
  const at = `at ${new Date(now).toISOString()} in ${zone}`;
  expect(fast.aggregates, `aggregates ${at}`).toEqual(reference.aggregates);
  expect(fast.tags, `tags ${at}`).toEqual(reference.tags);
  expect(fast.reasons, `reasons ${at}`).toEqual(reference.reasons);
  expect(state.events, `events ${at}`).toBe(reference.events);
  expect(state.problems, `problems ${at}`).toBe(reference.problems);
  return fast;
}

/** Nothing the reference sees may change in [now, nextChangeAt) without a new event. */
function expectStableUntilNextChange(
  events: readonly PortraitEvent[],
  definition: RuleCatalogueDefinition,
  now: number,
  nextChangeAt: number | undefined,
  zone: string,
  fractions: readonly number[],
): void {
  if (nextChangeAt !== undefined) expect(nextChangeAt).toBeGreaterThan(now);
  const end = nextChangeAt ?? now + 3 * 366 * DAY;
  const probes = new Set<number>([end - 1]);
  for (let t = now + 12 * 3_600_000; t < end && probes.size < 8; t += 12 * 3_600_000) probes.add(t);
  for (const f of fractions) probes.add(Math.min(end - 1, now + Math.floor(f * (end - now))));
  const base = referenceAt(definition, events, now, zone);
  for (const probe of probes) {
    if (probe < now) continue;
    const later = referenceAt(definition, events, probe, zone);
    const at = `at ${new Date(probe).toISOString()}, before nextChangeAt ${nextChangeAt === undefined ? 'none' : new Date(nextChangeAt).toISOString()} (now ${new Date(now).toISOString()}, ${zone})`;
    expect(later.aggregates, at).toEqual(base.aggregates);
    expect(later.tags, at).toEqual(base.tags);
  }
}

function incrementalFoldMatchesReference(definition: RuleCatalogueDefinition): void {
  const catalogue = loadRuleCatalogue(definition);
  fc.assert(
    fc.property(
      history,
      fc.constantFrom(...zones),
      fc
        .integer({ min: -10, max: SPAN_DAYS + 30 })
        .chain((day) => fc.integer({ min: 0, max: DAY - 1 }).map((ms) => T0 + day * DAY + ms)),
      fc.array(step, { minLength: 72, maxLength: 72 }),
      (deliveries, zone, start, steps) => {
        const shuffled = [...deliveries].sort((a, b) => a.order - b.order);
        const batches: Delivery[][] = [[]];
        for (const delivery of shuffled) {
          (batches[batches.length - 1] as Delivery[]).push(delivery);
          if (delivery.cutAfter) batches.push([]);
        }
        const states = new Map<number, ProfileState>();
        const delivered = new Map<number, PortraitEvent[]>();
        const members = [...new Set(deliveries.map((d) => d.member))];
        for (const member of members) {
          states.set(member, emptyProfile(catalogue, zone));
          delivered.set(member, []);
        }
        let now = start;
        for (const [i, batch] of batches.entries()) {
          const plan = steps[i % steps.length] as (typeof steps)[number];
          for (const member of members) {
            const events = batch.filter((d) => d.member === member).map((d) => d.event);
            if (events.length === 0) continue;
            const before = states.get(member) as ProfileState;
            const snapshot = plan.roundTrip ? JSON.stringify(profileToJson(before)) : '';
            const result = foldEvents(before, events, catalogue, zone);
            // The fold is pure: copy-on-write never touches the state it was given.
            if (plan.roundTrip) expect(JSON.stringify(profileToJson(before))).toBe(snapshot);
            states.set(member, result.state);
            delivered.get(member)?.push(...events);
          }
          let earliestChange = Number.POSITIVE_INFINITY;
          for (const member of members) {
            let state = states.get(member) as ProfileState;
            if (plan.roundTrip)
              state = profileFromJson(JSON.parse(JSON.stringify(profileToJson(state))));
            if (plan.trim) state = trimProfile(state, catalogue, now, zone);
            states.set(member, state);
            const events = delivered.get(member) as PortraitEvent[];
            const fast = expectSameAsReference(state, events, catalogue, definition, now, zone);
            expectStableUntilNextChange(
              events,
              definition,
              now,
              fast.nextChangeAt,
              zone,
              plan.probes,
            );
            if (fast.nextChangeAt !== undefined)
              earliestChange = Math.min(earliestChange, fast.nextChangeAt);
          }
          const move = plan.advance;
          if (move.kind === 'by') now += move.ms;
          else if (Number.isFinite(earliestChange))
            now = Math.max(now, earliestChange + move.offset);
        }
      },
    ),
    { numRuns: runs },
  );
}

describe('incremental fold equals recomputation from raw events', () => {
  it(
    `default catalogue: every batch order, split and clock advance (${runs} runs)`,
    () => {
      incrementalFoldMatchesReference(defaultCatalogueJson as RuleCatalogueDefinition);
    },
    timeout,
  );

  it(
    `kitchen-sink catalogue: every kind, filter and operand over short windows (${runs} runs)`,
    () => {
      incrementalFoldMatchesReference(kitchenSinkCatalogue as unknown as RuleCatalogueDefinition);
    },
    timeout,
  );

  it('merging two folded halves equals folding everything, and state JSON is canonical', () => {
    const catalogue = loadRuleCatalogue(kitchenSinkCatalogue);
    fc.assert(
      fc.property(history, fc.constantFrom(...zones), instant, (deliveries, zone, now) => {
        const events = deliveries.map((d) => d.event);
        const half = deliveries.filter((d) => d.cutAfter).map((d) => d.event);
        const rest = deliveries.filter((d) => !d.cutAfter).map((d) => d.event);
        const empty = emptyProfile(catalogue, zone);
        const whole = foldEvents(empty, events, catalogue, zone).state;
        const reversed = foldEvents(empty, [...events].reverse(), catalogue, zone).state;
        const merged = mergeProfiles(
          foldEvents(empty, half, catalogue, zone).state,
          foldEvents(empty, rest, catalogue, zone).state,
          catalogue,
        );
        const canonical = JSON.stringify(profileToJson(whole));
        expect(JSON.stringify(profileToJson(reversed))).toBe(canonical);
        expect(JSON.stringify(profileToJson(merged))).toBe(canonical);
        expect(evaluateTags(merged, catalogue, now, zone)).toEqual(
          evaluateTags(whole, catalogue, now, zone),
        );
      }),
      { numRuns: Math.max(50, runs) },
    );
  });
});
