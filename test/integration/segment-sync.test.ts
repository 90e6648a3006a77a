/**
 * A marketing tool syncing a segment over HTTP through the local runtime: it reads
 * `GET /v1/segments/{id}/changes?since=` in a loop while events keep arriving, applies each
 * enter and exit to its own copy, and must end with exactly the true membership (computed here
 * from the events sent). `members?asOf=` must answer, for every earlier instant, who was in then.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

let t: TestRuntime;

beforeAll(async () => {
  t = await startTestRuntime({ sweepEverySeconds: 0 });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

type MemberId = { userId?: string; anonymousId?: string };
interface ChangesPage {
  changes: ({ type: 'enter' | 'exit'; at: string } & MemberId)[];
  next: string;
  more: boolean;
  settledUntil: string;
}

/** The tool: its copy of the segment and its cursor. */
class SyncingTool {
  readonly members = new Set<string>();
  cursor: string | undefined;
  pages = 0;

  async syncOnce(segment: string): Promise<ChangesPage> {
    for (;;) {
      const answer = await t.get(
        `/v1/segments/${segment}/changes?limit=7${this.cursor ? `&since=${this.cursor}` : ''}`,
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const page = answer.body as ChangesPage;
      this.pages += 1;
      for (const change of page.changes) {
        const id = change.userId ?? `anon:${change.anonymousId}`;
        if (change.type === 'enter') {
          expect(this.members.has(id), `${id} entered twice`).toBe(false);
          this.members.add(id);
        } else {
          expect(this.members.delete(id), `${id} exited while out`).toBe(true);
        }
      }
      this.cursor = page.next;
      if (!page.more) return page;
    }
  }
}

const users = Array.from({ length: 8 }, (_, i) => `sync-${i}`);
const cities = ['北京', '上海'] as const;

describe('syncing a segment with changes?since=', () => {
  it('ends with exactly the true membership while events keep arriving, and asOf answers every earlier instant', async () => {
    const created = await t.post('/v1/segments', {
      id: 'beijing_regulars',
      labels: { 'zh-CN': '北京常客', en: 'Beijing regulars' },
      purpose: 'marketing',
      expression: {
        all: [
          { aggregate: 'orders_365d', op: '>=', value: 2 },
          { trait: 'city', op: '=', value: '北京' },
        ],
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    // Rounds of random events: orders, and moves between cities.
    const rounds = fc.sample(
      fc.array(
        fc.tuple(fc.integer({ min: 0, max: users.length - 1 }), fc.integer({ min: 0, max: 2 })),
        { minLength: 6, maxLength: 16 },
      ),
      { numRuns: 6, seed: 20261125 },
    );
    const orders = new Map<string, number>();
    const city = new Map<string, string>();
    const truth = () =>
      new Set(users.filter((u) => (orders.get(u) ?? 0) >= 2 && city.get(u) === '北京'));

    const tool = new SyncingTool();
    let sending = true;
    const syncing = (async () => {
      while (sending) {
        await tool.syncOnce('beijing_regulars');
        await sleep(150);
      }
    })();

    const instants: { at: string; members: Set<string> }[] = [];
    let n = 0;
    for (const round of rounds) {
      const batch = round.map(([user, kind]) => {
        n += 1;
        const userId = users[user] as string;
        const timestamp = new Date(Date.now() - 60_000 + n).toISOString();
        if (kind === 2) {
          const next = cities[n % 3 === 0 ? 1 : 0] as string;
          city.set(userId, next);
          return {
            type: 'identify',
            userId,
            messageId: `sync-${n}`,
            timestamp,
            traits: { city: next },
          };
        }
        orders.set(userId, (orders.get(userId) ?? 0) + 1);
        return {
          type: 'track',
          userId,
          event: 'Order Completed',
          messageId: `sync-${n}`,
          timestamp,
          properties: { orderId: `sync-o-${n}`, revenue: 30, currency: 'CNY' },
        };
      });
      const sent = await t.post('/v1/batch', { batch });
      expect(sent.status, JSON.stringify(sent.body)).toBe(200);
      await t.runtime.idle();
      instants.push({ at: new Date().toISOString(), members: truth() });
      await sleep(20);
    }
    sending = false;
    await syncing;
    expect(truth().size, 'the scenario puts someone in the segment').toBeGreaterThan(0);

    // Once the last change is settled, one more sync brings the tool to the truth.
    const lastInstant = Date.parse(instants[instants.length - 1]?.at as string);
    for (;;) {
      const page = await tool.syncOnce('beijing_regulars');
      if (Date.parse(page.settledUntil) >= lastInstant) break;
      await sleep(500);
    }
    expect([...tool.members].sort()).toEqual([...truth()].sort());
    expect(tool.pages).toBeGreaterThan(rounds.length);

    // The segment's own pages agree.
    const now = (await t.get('/v1/segments/beijing_regulars/members?limit=1000')).body as {
      count: number;
      members: MemberId[];
    };
    expect(now.members.map((m) => m.userId).sort()).toEqual([...truth()].sort());
    expect(now.count).toBe(truth().size);

    // Who was in at each earlier instant, paged three at a time.
    for (const { at, members } of instants) {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const answer = await t.get(
          `/v1/segments/beijing_regulars/members?limit=3&asOf=${encodeURIComponent(at)}${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        const body = answer.body as { members: MemberId[]; next?: string; asOf: string };
        expect(body.asOf).toBe(at);
        seen.push(...body.members.map((m) => m.userId as string));
        cursor = body.next;
      } while (cursor);
      expect(seen.sort(), `as of ${at}`).toEqual([...members].sort());
    }
  }, 120_000);

  it('refuses cursors of another segment, unsettled instants and malformed parameters', async () => {
    for (const id of ['a_one', 'a_two']) {
      const created = await t.post('/v1/segments', {
        id,
        labels: { 'zh-CN': '测试', en: 'Test' },
        purpose: 'marketing',
        expression: { trait: 'city', op: '=', value: '北京' },
      });
      expect(created.status).toBe(201);
    }
    const first = (await t.get('/v1/segments/a_one/changes')).body as ChangesPage;
    const other = await t.get(`/v1/segments/a_two/changes?since=${first.next}`);
    expect(other.status).toBe(400);
    expect(other.body).toMatchObject({ code: 'invalid_query_parameter' });
    for (const query of ['since=nope', 'limit=0', 'limit=1001']) {
      const answer = await t.get(`/v1/segments/a_one/changes?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.body, query).toMatchObject({ code: 'invalid_query_parameter' });
    }
    const future = await t.get(
      `/v1/segments/a_one/members?asOf=${encodeURIComponent(new Date().toISOString())}`,
    );
    expect(future.status).toBe(400);
    expect(JSON.stringify(future.body)).toContain('settled');
    const bad = await t.get('/v1/segments/a_one/members?asOf=yesterday');
    expect(bad.status).toBe(400);
    expect((await t.get('/v1/segments/nope/changes')).status).toBe(404);
  });
});
