/**
 * Materialised membership through the local runtime: events posted over HTTP become profiles,
 * the segmenter (profiles stream) moves members in and out of saved segments, and the backfill
 * job brings existing members into a segment created after them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

let t: TestRuntime;
let memberships: MembershipStore;

beforeAll(async () => {
  // The backfiller runs when the test says (`t.runtime.backfill()`), not on its timer.
  t = await startTestRuntime({ sweepEverySeconds: 0, backfillEverySeconds: 0 });
  memberships = new MembershipStore(t.documents, t.runtime.tables.memberships);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const labels = { 'zh-CN': '测试', en: 'Test' };

async function createSegment(id: string, expression: unknown): Promise<void> {
  const answer = await t.post('/v1/segments', { id, labels, purpose: 'marketing', expression });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
}

async function send(batch: unknown[]): Promise<void> {
  const answer = await t.post('/v1/batch', { batch });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  await t.runtime.idle();
}

/** The segment's membership state as the API shows it. */
async function membershipOf(id: string): Promise<unknown> {
  return ((await t.get(`/v1/segments/${id}`)).body as { membership: unknown }).membership;
}

const now = () => new Date().toISOString();
const order = (userId: string, n: number) => ({
  type: 'track',
  userId,
  event: 'Order Completed',
  messageId: `${userId}-order-${n}`,
  timestamp: now(),
  properties: { orderId: `${userId}-${n}`, revenue: 20, currency: 'CNY' },
});
const identify = (userId: string, city: string, n = 0) => ({
  type: 'identify',
  userId,
  messageId: `${userId}-identify-${n}`,
  timestamp: now(),
  traits: { city },
});

describe('segment membership through the local runtime', () => {
  it('moves members in as their profiles change, and backfills a segment created later', async () => {
    await createSegment('regulars', { aggregate: 'orders_365d', op: '>=', value: 2 });
    expect(await membershipOf('regulars')).toEqual({
      state: 'backfill_pending',
      count: 0,
      withheld: 0,
    });
    expect(await t.runtime.backfill()).toMatchObject({ state: 'finished', stepped: 0 });
    expect(await membershipOf('regulars')).toEqual({ state: 'incremental', count: 0, withheld: 0 });
    await send([
      identify('sm-1', '北京'),
      order('sm-1', 1),
      order('sm-1', 2),
      identify('sm-2', '上海'),
      order('sm-2', 1),
      order('sm-2', 2),
      order('sm-2', 3),
      identify('sm-3', '北京'),
    ]);
    expect(await memberships.members('regulars')).toEqual(['u#sm-1', 'u#sm-2']);
    expect(await memberships.count('regulars')).toBe(2);
    expect((await t.get('/v1/segments/regulars')).body).toMatchObject({
      membership: { state: 'incremental', count: 2 },
    });

    // Created after the members: nobody is in it until the backfiller (or their next change).
    await createSegment('beijing', { trait: 'city', op: '=', value: '北京' });
    expect(await memberships.members('beijing')).toEqual([]);
    expect(await membershipOf('beijing')).toEqual({
      state: 'backfill_pending',
      count: 0,
      withheld: 0,
    });
    expect(await t.runtime.backfill()).toMatchObject({ state: 'finished', stepped: 3 });
    expect(await memberships.members('beijing')).toEqual(['u#sm-1', 'u#sm-3']);
    expect(await membershipOf('beijing')).toEqual({ state: 'incremental', count: 2, withheld: 0 });
    expect(await membershipOf('regulars')).toEqual({ state: 'incremental', count: 2, withheld: 0 });
    const listed = (await t.get('/v1/segments')).body as {
      segments: { id: string; membership: { count: number } }[];
    };
    expect(Object.fromEntries(listed.segments.map((s) => [s.id, s.membership.count]))).toEqual({
      beijing: 2,
      regulars: 2,
    });
    // Nothing changed since: a run costs two reads.
    expect(await t.runtime.backfill()).toMatchObject({ state: 'idle', stepped: 0 });

    // The read API: pages merged over the shards, stable cursors, the count kept.
    const seen: unknown[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.get(
        `/v1/segments/regulars/members?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      const body = page.body as { count: number; members: { userId: string }[]; next?: string };
      expect(body.count).toBe(2);
      seen.push(...body.members.map((m) => m.userId));
      cursor = body.next;
    } while (cursor);
    expect(seen).toEqual(['sm-1', 'sm-2']);
    expect((await t.get('/v1/segments/regulars/members?cursor=bm9wZQ')).status).toBe(400);
    expect((await t.get('/v1/segments/regulars/members?limit=1001')).status).toBe(400);
    expect((await t.get('/v1/segments/nothing/members')).status).toBe(404);

    // In or out, for a list of ids (unknown ids are out).
    const check = await t.post('/v1/segments/regulars/check', {
      memberIds: ['sm-1', 'sm-3', 'nobody'],
    });
    expect(check.status, JSON.stringify(check.body)).toBe(200);
    expect(check.body).toEqual({
      segment: 'regulars',
      results: [
        { id: 'sm-1', in: true },
        { id: 'sm-3', in: false },
        { id: 'nobody', in: false },
      ],
    });
    const tooMany = await t.post('/v1/segments/regulars/check', {
      memberIds: Array.from({ length: 1001 }, (_, i) => `m${i}`),
    });
    expect(tooMany.status).toBe(400);
    expect((await t.post('/v1/segments/regulars/check', { memberIds: [7] })).body).toMatchObject({
      issues: [{ pointer: '/memberIds/0' }],
    });
    const manyIds = Array.from({ length: 1000 }, (_, i) => (i === 999 ? 'sm-2' : `m${i}`));
    const many = await t.post('/v1/segments/regulars/check', { memberIds: manyIds });
    const results = (many.body as { results: { id: string; in: boolean }[] }).results;
    expect(results.filter((r) => r.in).map((r) => r.id)).toEqual(['sm-2']);

    // Why a member is in its segments, from the values it has now.
    const mine = await t.get('/v1/members/sm-1/segments');
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    const segments = (
      mine.body as { segments: { id: string; why: unknown[]; holdsNow: boolean }[] }
    ).segments;
    expect(segments.map((s) => s.id).sort()).toEqual(['beijing', 'regulars']);
    expect(segments.find((s) => s.id === 'regulars')).toMatchObject({
      holdsNow: true,
      why: [{ operand: 'aggregate:orders_365d', op: '>=', value: 2, actual: 2, holds: true }],
    });

    // A move to Beijing reaches the segment through the profiles stream alone.
    await send([identify('sm-2', '北京', 1)]);
    expect(await memberships.members('beijing')).toEqual(['u#sm-1', 'u#sm-2', 'u#sm-3']);

    // A dry run of an edit: who would enter and leave, compared with today's members.
    const preview = await t.post('/v1/segments/preview', {
      id: 'regulars',
      labels,
      purpose: 'marketing',
      expression: { aggregate: 'orders_365d', op: '>=', value: 3 },
    });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body).toEqual({
      id: 'regulars',
      comparedWith: { version: 1 },
      count: 1,
      withheld: 0,
      exact: true,
      coverage: 1,
      scanned: 3,
      sample: [{ userId: 'sm-2' }],
      enter: { count: 0, sample: [] },
      leave: { count: 1, sample: [{ userId: 'sm-1' }] },
    });
    // Of a new segment reading another: everyone it holds would enter; nothing is saved.
    const fresh = await t.post('/v1/segments/preview', {
      id: 'beijing_regulars',
      labels,
      purpose: 'marketing',
      expression: { all: [{ segment: 'regulars' }, { trait: 'city', op: '=', value: '北京' }] },
    });
    expect(fresh.body).toMatchObject({
      comparedWith: null,
      count: 2,
      exact: true,
      enter: { count: 2, sample: [{ userId: 'sm-1' }, { userId: 'sm-2' }] },
      leave: { count: 0 },
    });
    expect((await t.get('/v1/segments/beijing_regulars')).status).toBe(404);
    const invalid = await t.post('/v1/segments/preview', {
      id: 'x',
      labels,
      purpose: 'marketing',
      expression: { aggregate: 'no_such_aggregate', op: '>=', value: 3 },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ issues: [{ pointer: '/expression/aggregate' }] });

    // Deleted: its members leave at the backfill, and the ledger says when and why.
    const deleted = await fetch(`${t.runtime.apiUrl}/v1/segments/beijing`, {
      method: 'DELETE',
      headers: { authorization: t.authorization },
    });
    expect(deleted.status).toBe(200);
    expect(await t.runtime.backfill()).toMatchObject({ state: 'finished', stepped: 3 });
    expect(await memberships.members('beijing')).toEqual([]);
    expect(await memberships.count('beijing')).toBe(0);
    const ledger = await memberships.ledger('beijing');
    expect(ledger.filter((e) => e.change === 'enter')).toHaveLength(3);
    expect(ledger.filter((e) => e.change === 'exit')).toHaveLength(3);
    expect(
      ledger.find((e) => e.memberKey === 'u#sm-3' && e.change === 'enter')?.cause,
    ).toMatchObject({
      kind: 'definitions',
    });
    expect(
      ledger.find((e) => e.memberKey === 'u#sm-2' && e.change === 'enter')?.cause,
    ).toMatchObject({
      kind: 'profile',
    });
  });
});
