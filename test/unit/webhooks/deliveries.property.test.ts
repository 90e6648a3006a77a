import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deliveryBody,
  deliveryIdOf,
  deliveryRouteOf,
  eventIdOf,
  planDeliveries,
  retryDelaySeconds,
  type WebhookLedgerEntry,
  webhookUrlProblem,
} from '../../../shared/domain/webhooks/deliveries.ts';

const segmentIds = ['vip', 'lapsed', 'beijing'] as const;
const subscriptionsBySegment: Record<string, readonly string[]> = {
  vip: ['wh_a', 'wh_b'],
  lapsed: ['wh_c'],
  beijing: [],
};

const entryArb: fc.Arbitrary<WebhookLedgerEntry> = fc
  .record({
    segmentId: fc.constantFrom(...segmentIds),
    memberKey: fc.oneof(
      fc.string({ minLength: 1, maxLength: 40 }).map((id) => `u#${id}`),
      fc.string({ minLength: 1, maxLength: 40 }).map((id) => `a#${id}`),
    ),
    change: fc.constantFrom('enter' as const, 'exit' as const),
    at: fc.integer({ min: 1_700_000_000_000, max: 1_800_000_000_000 }),
    seq: fc.integer({ min: 1, max: 1000 }),
    cause: fc.oneof(
      fc.record({ kind: fc.constant('profile'), profileVersion: fc.nat() }),
      fc.record({ kind: fc.constant('definitions'), setTag: fc.string({ maxLength: 16 }) }),
    ),
  })
  .map((entry) => ({
    ...entry,
    key: `sl#${entry.segmentId}#0|${String(entry.at).padStart(15, '0')}#${entry.memberKey}#${entry.seq}`,
  }));

const limitsArb = fc.record({
  maxEvents: fc.integer({ min: 1, max: 7 }),
  maxBytes: fc.integer({ min: 300, max: 3000 }),
});

describe('planning deliveries', () => {
  it('puts every (entry, subscription) pair in exactly one delivery, none lost or duplicated', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 60 }), limitsArb, (entries, limits) => {
        const deliveries = planDeliveries(
          entries,
          (segment) => subscriptionsBySegment[segment] ?? [],
          limits,
        );
        const expected = new Set<string>();
        for (const entry of entries) {
          for (const subscription of subscriptionsBySegment[entry.segmentId] ?? []) {
            expected.add(`${subscription} ${eventIdOf(entry.key)}`);
          }
        }
        const delivered: string[] = [];
        for (const delivery of deliveries) {
          expect(delivery.events.length).toBeGreaterThan(0);
          expect(delivery.events.length).toBeLessThanOrEqual(limits.maxEvents);
          if (delivery.events.length > 1) {
            expect(Buffer.byteLength(deliveryBody(delivery))).toBeLessThanOrEqual(limits.maxBytes);
          }
          expect(subscriptionsBySegment[delivery.segment]).toContain(delivery.subscription);
          expect(delivery.id).toBe(
            deliveryIdOf(
              delivery.subscription,
              delivery.events.map((event) => event.id),
            ),
          );
          for (const event of delivery.events)
            delivered.push(`${delivery.subscription} ${event.id}`);
        }
        expect(delivered.length).toBe(new Set(delivered).size);
        expect(new Set(delivered)).toEqual(expected);
        expect(new Set(deliveries.map((d) => d.id)).size).toBe(deliveries.length);
      }),
    );
  });

  it('plans the same deliveries, with the same ids, for the same entries in any order', () => {
    fc.assert(
      fc.property(
        fc
          .array(entryArb, { maxLength: 30 })
          .chain((entries) =>
            fc.tuple(
              fc.constant(entries),
              fc.shuffledSubarray(entries, { minLength: entries.length }),
            ),
          ),
        ([entries, shuffled]) => {
          const of = (segment: string) => subscriptionsBySegment[segment] ?? [];
          const ids = (list: WebhookLedgerEntry[]) =>
            planDeliveries(list, of)
              .map((delivery) => delivery.id)
              .sort();
          expect(ids(shuffled)).toEqual(ids(entries));
        },
      ),
    );
  });

  it('shows members as userId or anonymousId, changes as entered or exited, instants in ISO', () => {
    const [delivery] = planDeliveries(
      [
        {
          key: 'k2',
          segmentId: 'lapsed',
          memberKey: 'a#anon-1',
          change: 'exit',
          at: Date.parse('2026-11-25T10:00:01Z'),
          seq: 2,
          cause: { kind: 'profile', profileVersion: 3 },
        },
        {
          key: 'k1',
          segmentId: 'lapsed',
          memberKey: 'u#会员-1',
          change: 'enter',
          at: Date.parse('2026-11-25T10:00:00Z'),
          seq: 1,
          cause: { kind: 'definitions', setTag: 'abc' },
        },
      ],
      () => ['wh_c'],
    );
    expect(delivery).toMatchObject({
      segment: 'lapsed',
      subscription: 'wh_c',
      events: [
        {
          id: eventIdOf('k1'),
          type: 'segment.entered',
          memberId: { userId: '会员-1' },
          at: '2026-11-25T10:00:00.000Z',
          cause: { kind: 'definitions', setTag: 'abc' },
        },
        {
          type: 'segment.exited',
          memberId: { anonymousId: 'anon-1' },
          at: '2026-11-25T10:00:01.000Z',
        },
      ],
    });
    expect(delivery && deliveryRouteOf(deliveryBody(delivery))).toEqual({
      id: delivery?.id,
      segment: 'lapsed',
      subscription: 'wh_c',
      events: 2,
    });
  });
});

describe('retry schedule', () => {
  it('doubles from the base per attempt, capped at 12 hours', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelaySeconds(n, 60))).toEqual([
      60, 120, 240, 480, 960, 1920, 3840,
    ]);
    expect(retryDelaySeconds(40, 60)).toBe(12 * 3600);
    expect(retryDelaySeconds(3, 0)).toBe(0);
  });
});

describe('webhook URLs', () => {
  it('accepts https anywhere, and http to loopback only when allowed', () => {
    expect(webhookUrlProblem('https://hooks.example.com/portrait', false)).toBeUndefined();
    expect(webhookUrlProblem('http://127.0.0.1:8080/x', true)).toBeUndefined();
    expect(webhookUrlProblem('http://localhost/x', true)).toBeUndefined();
    expect(webhookUrlProblem('http://127.0.0.1:8080/x', false)).toBe('must be https://');
    expect(webhookUrlProblem('http://example.com/x', true)).toMatch(/https/);
    expect(webhookUrlProblem('ftp://example.com/x', false)).toBe('must be https://');
    expect(webhookUrlProblem('https://user:pw@example.com/', false)).toMatch(/credentials/);
    expect(webhookUrlProblem('/relative', false)).toBe('not an absolute URL');
    expect(webhookUrlProblem(42, false)).toBe('a URL string is required');
    expect(webhookUrlProblem(`https://e.com/${'a'.repeat(2100)}`, false)).toMatch(/at most/);
  });
});
