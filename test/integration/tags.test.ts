/**
 * The tag engine through the local runtime: events posted over HTTP reach the tagger through the
 * events table's stream; the member is read over HTTP with its tags and their reasons; moving the
 * runtime's clock forward makes windowed tags expire with no new event, read at once by the API
 * and stored by the sweeper with the clock as the cause.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import { DAY_MS } from '../../shared/domain/tags/zone-calendar.ts';
import { basicAuth, startTestRuntime, type TestRuntime } from '../support/runtime.ts';

let t: TestRuntime;
/** The runtime's clock: frozen, moved only by the test. */
const start = Date.now();
let nowMs = start;

beforeAll(async () => {
  // The sweeper timer is off: the test runs each sweep itself, at the instant it chose.
  t = await startTestRuntime({ clock: () => nowMs, sweepEverySeconds: 0 });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

interface TagView {
  id: string;
  value: true | string;
  labels: { en: string };
  valueLabels?: { en: string };
  reason: { rule: string; values: Record<string, unknown>; definition: unknown };
}
interface MemberBody {
  memberKey: string;
  traits: Record<string, unknown>;
  aggregates: Record<string, unknown>;
  tags: TagView[];
  nextChangeAt: string | null;
}
interface HistoryBody {
  changes: {
    at: string;
    cause: { kind: string; messageIds?: string[] };
    changes: { tag: string; from: unknown; to: unknown }[];
  }[];
  next?: string;
}

const tagOf = (body: MemberBody, id: string) => body.tags.find((tag) => tag.id === id);

async function member(id: string): Promise<MemberBody> {
  const answer = await t.get(`/v1/members/${encodeURIComponent(id)}`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body as MemberBody;
}

async function history(id: string): Promise<HistoryBody> {
  // The historian records changes from the profiles stream: let it catch up first.
  await t.runtime.idle();
  const answer = await t.get(`/v1/members/${encodeURIComponent(id)}/tags/history`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body as HistoryBody;
}

describe('tags through the local runtime', () => {
  it('tags a member from events posted over HTTP and explains each tag', async () => {
    const at = new Date(nowMs).toISOString();
    const batch = {
      batch: [
        {
          type: 'identify',
          userId: 'it-m1',
          messageId: 'it-m1-identify',
          timestamp: at,
          traits: { gender: '女', city: '北京' },
        },
        ...[1, 2, 3].map((n) => ({
          type: 'track',
          userId: 'it-m1',
          event: 'Consultation',
          messageId: `it-m1-consult-${n}`,
          timestamp: at,
          properties: { topic: 'car' },
        })),
        {
          type: 'track',
          userId: 'it-m1',
          event: 'Order Completed',
          messageId: 'it-m1-order-1',
          timestamp: at,
          properties: { orderId: 'o-1', revenue: '88.50', currency: 'CNY' },
        },
      ],
    };
    const posted = await t.post('/v1/batch', batch);
    expect(posted.status).toBe(200);
    await t.runtime.idle();

    const body = await member('it-m1');
    expect(body.memberKey).toBe('u#it-m1');
    expect(body.traits).toMatchObject({ gender: '女', city: '北京' });
    expect(body.aggregates).toMatchObject({ car_consultations_30d: 3, orders_all: 1 });
    expect(tagOf(body, 'gender')).toMatchObject({
      value: 'female',
      valueLabels: { en: 'Female' },
      reason: { rule: 'case 0', values: { 'trait:gender': '女' } },
    });
    expect(tagOf(body, 'city')?.value).toBe('北京');
    expect(tagOf(body, 'activity_status')?.value).toBe('active');
    expect(tagOf(body, 'car_purchase_intent')).toMatchObject({
      value: true,
      reason: {
        rule: 'condition',
        values: { 'aggregate:car_consultations_30d': 3 },
        definition: { aggregate: 'car_consultations_30d', op: '>=', value: 3 },
      },
    });
    expect(body.nextChangeAt).not.toBeNull();

    const changes = (await history('it-m1')).changes;
    const added = changes.flatMap((entry) => entry.changes.map((change) => change.tag));
    expect(added).toEqual(expect.arrayContaining(['car_purchase_intent', 'gender', 'city']));
    for (const entry of changes) {
      expect(entry.cause.kind).toBe('events');
      expect(entry.cause.messageIds?.every((id) => id.startsWith('it-m1-'))).toBe(true);
    }
  });

  it('expires a windowed tag when the clock passes its window, with no new event', async () => {
    const before = await member('it-m1');
    const due = Date.parse(before.nextChangeAt as string);
    // Just before the first instant a tag can change: nothing changes, the sweep finds no one.
    nowMs = due - 1;
    expect((await member('it-m1')).tags).toEqual(before.tags);
    expect((await t.runtime.sweep()).changed).toBe(0);

    // 31 days on, the three consultations have left the 30-day window.
    nowMs = start + 31 * DAY_MS;
    const read = await member('it-m1');
    expect(tagOf(read, 'car_purchase_intent')).toBeUndefined();
    expect(tagOf(read, 'activity_status')?.value).toBe('active');

    const sweep = await t.runtime.sweep();
    expect(sweep).toMatchObject({ changed: 1, failed: 0, partial: false });
    const latest = (await history('it-m1')).changes[0];
    expect(latest?.cause).toEqual({ kind: 'clock' });
    expect(latest?.changes).toEqual([{ tag: 'car_purchase_intent', from: true, to: null }]);

    // 91 days after the last event the member turns dormant.
    nowMs = start + 91 * DAY_MS;
    expect((await t.runtime.sweep()).changed).toBe(1);
    const dormant = (await history('it-m1')).changes[0];
    expect(dormant).toMatchObject({
      cause: { kind: 'clock' },
      changes: [{ tag: 'activity_status', from: 'active', to: 'dormant' }],
    });
    expect(tagOf(await member('it-m1'), 'activity_status')?.value).toBe('dormant');
    // Swept twice at the same instant: the second finds nothing to do.
    expect((await t.runtime.sweep()).changed).toBe(0);
  });

  it('answers 404 with a code for an unknown member, and refuses keys without members:read', async () => {
    const missing = await t.get('/v1/members/nobody-here');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'member_not_found' });
    // Ids are taken literally once decoded: a percent sign is not decoded twice.
    const percent = await t.get('/v1/members/100%25');
    expect(percent.status).toBe(404);
    expect(percent.body).toMatchObject({ code: 'member_not_found', id: '100%' });
    expect((await t.get('/v1/members/%E0%A4%A')).status).toBe(400);

    const noKey = await fetch(`${t.runtime.apiUrl}/v1/members/it-m1`);
    expect(noKey.status).toBe(401);

    const writeOnly = generateWriteKey('test');
    await new WriteKeyStore(t.documents, t.runtime.tables['write-keys']).create(writeOnly, {
      sourceId: 'test',
      name: 'write only',
      scopes: ['events:write'],
    });
    for (const authorization of [basicAuth(writeOnly), `Bearer ${writeOnly}`]) {
      const refused = await t.get('/v1/members/it-m1', { authorization });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_scope',
        requiredScope: 'members:read',
      });
    }
    const badLimit = await t.get('/v1/members/it-m1/tags/history?limit=0');
    expect(badLimit.status).toBe(400);
    expect(badLimit.body).toMatchObject({ code: 'invalid_query_parameter' });
    const badCursor = await t.get('/v1/members/it-m1/tags/history?cursor=bm9wZQ');
    expect(badCursor.status).toBe(400);
  });

  it('pages history with an opaque cursor, newest first', async () => {
    const all = (await history('it-m1')).changes;
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const answer = await t.get(
        `/v1/members/it-m1/tags/history?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      const page = answer.body as HistoryBody;
      seen.push(...page.changes.map((entry) => entry.at));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(all.map((entry) => entry.at));
    expect([...seen].sort().reverse()).toEqual(seen);
  });
});
