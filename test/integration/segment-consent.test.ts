/**
 * Consent per purpose through the local runtime, over HTTP: a member of a marketing segment who
 * withdraws marketing consent leaves it at once — the exit is in `changes?since=` with its cause,
 * the count drops and `withheld` rises, check says why — while segments of other purposes keep
 * it; granting again brings it back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

let t: TestRuntime;
// The runtime's clock runs ahead of real time when the test moves it, so ledger entries settle
// (5 s) without waiting.
let offset = 0;

beforeAll(async () => {
  t = await startTestRuntime({
    sweepEverySeconds: 0,
    backfillEverySeconds: 0,
    clock: () => Date.now() + offset,
  });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const labels = { 'zh-CN': '测试', en: 'Test' };
const base = Date.now() - 60_000;
const at = (seconds: number) => new Date(base + seconds * 1_000).toISOString();

async function send(batch: unknown[]): Promise<void> {
  const answer = await t.post('/v1/batch', { batch });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect((answer.body as { success?: boolean }).success, JSON.stringify(answer.body)).toBe(true);
  await t.runtime.idle();
}

const order = (userId: string, n: number) => ({
  type: 'track',
  userId,
  event: 'Order Completed',
  messageId: `${userId}-order-${n}`,
  timestamp: at(n),
  properties: { orderId: `${userId}-${n}`, revenue: 20, currency: 'CNY' },
});

interface Membership {
  state: string;
  count: number;
  withheld: number;
}
async function membershipOf(id: string): Promise<Membership> {
  const answer = await t.get(`/v1/segments/${id}`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return (answer.body as { membership: Membership }).membership;
}

async function membersOf(id: string): Promise<string[]> {
  const body = (await t.get(`/v1/segments/${id}/members?limit=1000`)).body as {
    members: { userId: string }[];
  };
  return body.members.map((member) => member.userId).sort();
}

interface Change {
  type: 'enter' | 'exit';
  userId: string;
  cause: Record<string, unknown>;
}
/** Every settled change after `since`, and the cursor to continue from. */
async function changesSince(id: string, since?: string) {
  offset += 6_000;
  const changes: Change[] = [];
  let next = since;
  for (;;) {
    const answer = await t.get(
      `/v1/segments/${id}/changes?limit=1000${next ? `&since=${encodeURIComponent(next)}` : ''}`,
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const body = answer.body as { changes: Change[]; next: string; more: boolean };
    changes.push(...body.changes);
    next = body.next;
    if (!body.more) return { changes, next };
  }
}

describe('consent per purpose through the local runtime', () => {
  it('withholds a member who withdraws consent, records the exit, and serves it again on re-grant', async () => {
    for (const [id, purpose] of [
      ['promo_buyers', 'marketing'],
      ['buyer_stats', 'analytics'],
    ] as const) {
      const created = await t.post('/v1/segments', {
        id,
        labels,
        purpose,
        expression: { aggregate: 'orders_365d', op: '>=', value: 1 },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    }
    expect(await t.runtime.backfill()).toMatchObject({ state: 'finished' });
    await send([order('cs-1', 1), order('cs-2', 2)]);
    expect(await membersOf('promo_buyers')).toEqual(['cs-1', 'cs-2']);
    const first = await changesSince('promo_buyers');
    expect(first.changes.map((c) => [c.type, c.userId]).sort()).toEqual([
      ['enter', 'cs-1'],
      ['enter', 'cs-2'],
    ]);

    // Withdrawn, the way Segment's consent tools say it: a category their mapping calls marketing.
    await send([
      {
        type: 'track',
        userId: 'cs-1',
        event: 'Segment Consent Preference Updated',
        messageId: 'cs-1-consent-1',
        timestamp: at(10),
        context: { consent: { categoryPreferences: { Advertising: false, Analytics: true } } },
      },
    ]);
    expect(await membersOf('promo_buyers')).toEqual(['cs-2']);
    expect(await membershipOf('promo_buyers')).toMatchObject({ count: 1, withheld: 1 });
    // Other purposes keep the member.
    expect(await membersOf('buyer_stats')).toEqual(['cs-1', 'cs-2']);
    expect(await membershipOf('buyer_stats')).toMatchObject({ count: 2, withheld: 0 });
    const listed = (await t.get('/v1/segments')).body as {
      segments: { id: string; membership: Membership }[];
    };
    expect(listed.segments.find((s) => s.id === 'promo_buyers')?.membership).toMatchObject({
      count: 1,
      withheld: 1,
    });
    const withdrawn = await changesSince('promo_buyers', first.next);
    expect(withdrawn.changes).toEqual([
      {
        type: 'exit',
        userId: 'cs-1',
        at: expect.any(String),
        cause: {
          kind: 'consent_withdrawn',
          purpose: 'marketing',
          profileVersion: expect.any(Number),
        },
      },
    ]);
    const check = await t.post('/v1/segments/promo_buyers/check', {
      memberIds: ['cs-1', 'cs-2', 'nobody'],
    });
    expect(check.body).toEqual({
      segment: 'promo_buyers',
      results: [
        { id: 'cs-1', in: false, reason: 'consent' },
        { id: 'cs-2', in: true },
        { id: 'nobody', in: false },
      ],
    });
    const mine = (await t.get('/v1/members/cs-1/segments')).body as {
      consent: Record<string, boolean>;
      segments: { id: string }[];
    };
    expect(mine.consent).toMatchObject({ marketing: false, analytics: true });
    expect(mine.segments.map((s) => s.id)).toEqual(['buyer_stats']);
    // A dry run counts the withheld member apart, and never as one who would enter.
    const preview = await t.post('/v1/segments/preview', {
      id: 'promo_buyers',
      labels,
      purpose: 'marketing',
      expression: { aggregate: 'orders_365d', op: '>=', value: 1 },
    });
    expect(preview.body).toMatchObject({ count: 1, withheld: 1, enter: { count: 0 } });

    // An older statement arriving late changes nothing: the latest by event time wins.
    await send([
      {
        type: 'identify',
        userId: 'cs-1',
        messageId: 'cs-1-consent-0',
        timestamp: at(5),
        traits: { consent: { marketing: true } },
      },
    ]);
    expect(await membersOf('promo_buyers')).toEqual(['cs-2']);

    // Granted again with the consent event: back in, with an enter saying why.
    await send([
      {
        type: 'track',
        userId: 'cs-1',
        event: 'Consent Updated',
        messageId: 'cs-1-consent-2',
        timestamp: at(20),
        properties: { categoryPreferences: { marketing: true } },
      },
    ]);
    expect(await membersOf('promo_buyers')).toEqual(['cs-1', 'cs-2']);
    expect(await membershipOf('promo_buyers')).toMatchObject({ count: 2, withheld: 0 });
    const regranted = await changesSince('promo_buyers', withdrawn.next);
    expect(regranted.changes).toMatchObject([
      { type: 'enter', userId: 'cs-1', cause: { kind: 'consent_granted', purpose: 'marketing' } },
    ]);

    // Malformed consent is refused at the edge, never read as a grant or a refusal.
    const bad = await t.post('/v1/track', {
      userId: 'cs-2',
      event: 'Consent Updated',
      properties: { categoryPreferences: { marketing: 'no' } },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('/properties/categoryPreferences/marketing');
  }, 120_000);
});
