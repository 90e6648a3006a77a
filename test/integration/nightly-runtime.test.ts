/**
 * The nightly analytics in the running local runtime: events posted over HTTP reach the lake,
 * `runtime.nightly()` runs the declared state machine, and the results are served by the
 * analytics API, shown by the member API, and put members into a segment on their RFM fields
 * through the segmenter — the whole path, nothing stubbed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

let t: TestRuntime;
beforeAll(async () => {
  t = await startTestRuntime({ sweepEverySeconds: 0, backfillEverySeconds: 0 });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const DAY = 86_400_000;

describe('nightly analytics in the local runtime', () => {
  it('runs over posted events and feeds the analytics API, the member API and segments', async () => {
    const created = await t.post('/v1/segments', {
      id: 'scored',
      labels: { 'zh-CN': '已评分', en: 'Scored' },
      purpose: 'analytics',
      expression: { rfm: 'r', op: '>=', value: 1 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await t.runtime.backfill();

    const batch: unknown[] = [];
    for (let m = 0; m < 8; m += 1) {
      for (let o = 0; o <= m % 4; o += 1) {
        const at = new Date(Date.now() - (2 + m * 9 + o * 3) * DAY).toISOString();
        batch.push({
          type: 'track',
          messageId: `nr-${m}-${o}`,
          userId: `nr-${m}`,
          event: 'Order Completed',
          timestamp: at,
          properties: {
            orderId: `nr-${m}-${o}`,
            revenue: String(20 + m * 15),
            currency: 'CNY',
            products: [{ sku: `s${o}`, category: '咖啡' }],
          },
        });
      }
    }
    const sent = await t.post('/v1/batch', { batch });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    await t.runtime.idle();
    expect((await t.get('/v1/analytics/rfm')).status).toBe(404);

    const result = await t.runtime.nightly();
    expect(result.status, JSON.stringify(result.output)).toBe('succeeded');
    await t.runtime.idle();

    const rfm = await t.get('/v1/analytics/rfm');
    expect(rfm.status, JSON.stringify(rfm.body)).toBe(200);
    const summary = rfm.body as {
      run: { runId: string; status: string };
      members: number;
      grid: number[][];
    };
    expect(summary.run).toMatchObject({ runId: result.runId, status: 'succeeded' });
    expect(summary.members).toBe(8);
    expect(summary.grid.flat().reduce((a, b) => a + b, 0)).toBe(8);

    const personas = await t.get('/v1/analytics/personas');
    expect(personas.status).toBe(200);
    const cards = (personas.body as { cards: { id: string; size: number }[] }).cards;
    expect(cards.reduce((sum, card) => sum + card.size, 0)).toBe(8);

    const member = await t.get('/v1/members/nr-3');
    expect(member.status).toBe(200);
    const analytics = (
      member.body as { analytics: { recencyDays: number; cluster: string; score: string } | null }
    ).analytics;
    expect(analytics?.score).toMatch(/^[1-5]{3}$/);
    expect(cards.map((card) => card.id)).toContain(analytics?.cluster);
    // Its last order was 2 + 3·9 = 29 days ago (in UTC; the brand day may differ by one).
    expect(Math.abs((analytics?.recencyDays ?? 0) - 29)).toBeLessThanOrEqual(1);

    const scored = await t.get('/v1/segments/scored/members?limit=100');
    expect(scored.status, JSON.stringify(scored.body)).toBe(200);
    const ids = (scored.body as { members: { userId: string }[] }).members
      .map((m) => m.userId)
      .sort();
    expect(ids).toEqual(Array.from({ length: 8 }, (_, m) => `nr-${m}`).sort());
  }, 180_000);
});
