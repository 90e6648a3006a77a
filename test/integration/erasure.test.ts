/**
 * Erasure through the local runtime over HTTP (docs/PRIVACY.md): a member with events, an alias
 * linked by identify, tags, tag history and segment memberships is erased; when its receipt says
 * done, no DynamoDB table holds anything of it (by id or alias, in keys or values, profile state
 * inflated), the receipt's counts equal what a scan counted before, other members are unchanged,
 * the ledgers still replay to the memberships, and later events of the member are rejected with
 * `member_suppressed` until it is unsuppressed. The lake too: after the erasure no lake file
 * (raw archiver files, a compacted day, a nightly RFM run) holds a row of the member, every
 * other row is as it was, and the receipt's lake count equals the rows a scan counted before.
 * Erasing twice and erasing an unknown id.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { replayLedger } from '../../shared/domain/segments/ledger.ts';
import { compactLakeDay } from '../../shared/jobs/compact-lake.ts';
import { runRfmLocal } from '../../shared/jobs/rfm-job.ts';
import { type ErasureApi, erasureApi } from '../support/erasure-http.ts';
import { lakeDays } from '../support/lake.ts';
import { countMentions, lakeSnapshot, withoutMentions } from '../support/lake-scan.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';
import {
  receiptRemoved,
  type StoredItem,
  scanTables,
  storedMemberCounts,
  itemText as textOf,
} from '../support/table-scan.ts';

let t: TestRuntime;
let call: ErasureApi['call'];
let erase: ErasureApi['erase'];

const TARGET = 'tgt-7f3';
const TARGET_ANON = 'tgtanon-19';
const OTHER = 'keep-1';
const OTHER_ANON = 'keepanon-2';
const targetKeys = [`u#${TARGET}`, `a#${TARGET_ANON}`];

beforeAll(async () => {
  t = await startTestRuntime({ sweepEverySeconds: 0, backfillEverySeconds: 0 });
  ({ call, erase } = await erasureApi(t));
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const labels = { 'zh-CN': '测试', en: 'Test' };
let n = 0;
const at = () => new Date().toISOString();
const order = (userId: string) => ({
  type: 'track',
  userId,
  event: 'Order Completed',
  messageId: `${userId}-order-${++n}`,
  timestamp: at(),
  properties: { orderId: `o-${n}`, revenue: 20, currency: 'CNY' },
});
const identify = (userId: string, city: string, anonymousId?: string) => ({
  type: 'identify',
  userId,
  ...(anonymousId ? { anonymousId } : {}),
  messageId: `${userId}-identify-${++n}`,
  timestamp: at(),
  traits: { city },
});
const page = (anonymousId: string) => ({
  type: 'page',
  anonymousId,
  name: 'Home',
  messageId: `${anonymousId}-page-${++n}`,
  timestamp: at(),
});

async function send(batch: unknown[]): Promise<void> {
  const answer = await t.post('/v1/batch', { batch });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  await t.runtime.idle();
}

const scanAll = () => scanTables(t.documents, t.runtime.tables);

const mentionsTarget = (item: StoredItem) => {
  const text = textOf(item);
  return text.includes(TARGET) || text.includes(TARGET_ANON);
};

describe('erasure over HTTP', () => {
  it('leaves nothing of the member, counts what was there, changes no one else, suppresses it', async () => {
    for (const [id, expression] of [
      ['regulars', { aggregate: 'orders_365d', op: '>=', value: 2 }],
      ['beijing', { trait: 'city', op: '=', value: '北京' }],
    ] as const) {
      const created = await t.post('/v1/segments', {
        id,
        labels,
        purpose: 'marketing',
        expression,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    }
    await t.runtime.backfill();
    // The target: anonymous history, then an identify linking it, orders, a move away from
    // Beijing and back (so its ledger has several entries per segment).
    await send([page(TARGET_ANON), page(TARGET_ANON)]);
    await send([identify(TARGET, '北京', TARGET_ANON), order(TARGET), order(TARGET)]);
    await send([identify(TARGET, '上海')]);
    // The lake gets a compacted day with the member's first events; later ones stay in the
    // archiver's raw files.
    const lake = new FolderLakeStore(join(t.runtime.dataDir, 'lake'));
    const days = await lakeDays(lake);
    for (const day of days) await compactLakeDay({ lake }, day);
    await send([identify(TARGET, '北京'), order(TARGET)]);
    await send([page(OTHER_ANON)]);
    await send([identify(OTHER, '北京', OTHER_ANON), order(OTHER), order(OTHER)]);

    const memberships = new MembershipStore(t.documents, t.runtime.tables.memberships);
    expect(await memberships.members('beijing')).toEqual([`u#${OTHER}`, `u#${TARGET}`].sort());
    expect(await memberships.members('regulars')).toEqual([`u#${OTHER}`, `u#${TARGET}`].sort());
    const member = await t.get(`/v1/members/${TARGET}`);
    expect(member.status).toBe(200);

    // A nightly RFM run, whose rows name members by userId.
    const today = new Date().toISOString().slice(0, 10);
    await runRfmLocal(
      { lake },
      { runId: 'before-erasure', asOf: today, windowDays: 30, zone: 'UTC' },
    );
    const lakeBefore = await lakeSnapshot(lake);
    const targetIds = [TARGET, TARGET_ANON];
    const lakeRows = countMentions(lakeBefore, targetIds);
    const lakeKeys = [...lakeBefore.keys()];
    expect(lakeKeys.some((key) => key.includes('/compact-'))).toBe(true);
    expect(lakeKeys.some((key) => key.includes('/part-'))).toBe(true);
    expect(lakeKeys.some((key) => key.startsWith('analytics/runs/before-erasure/rfm/'))).toBe(true);
    // 8 events (one row each, or more when a retried batch was archived twice) and an RFM row.
    expect(lakeRows).toBeGreaterThanOrEqual(9);

    // Counted independently of the eraser, from a scan of every table.
    const before = await scanAll();
    const expected = storedMemberCounts(before, targetKeys);
    // The history this test built is really there.
    // 2 pages, 3 identifies, 3 orders.
    expect(expected).toMatchObject({ events: 8, profiles: 1, identityLinks: 1, memberships: 2 });
    expect(expected.tagHistory).toBeGreaterThan(0);
    expect(expected.ledgerEntries).toBeGreaterThanOrEqual(4);
    const untouched = (items: StoredItem[]) =>
      items
        .filter((item) => !mentionsTarget(item) && !String(item.pk).startsWith('sc#'))
        .map(textOf)
        .sort();
    const othersBefore = new Map([...before].map(([id, items]) => [id, untouched(items)]));

    const receipt = await erase(TARGET);
    expect(receipt).toMatchObject({
      status: 'done',
      memberFound: true,
      previouslyErased: false,
      suppressedIds: 2,
      removed: receiptRemoved(expected, lakeRows),
    });
    const lakeAfter = await lakeSnapshot(lake);
    expect(countMentions(lakeAfter, targetIds)).toBe(0);
    expect(lakeAfter).toEqual(withoutMentions(lakeBefore, targetIds));
    expect(Date.parse(receipt.finishedAt)).toBeGreaterThanOrEqual(Date.parse(receipt.requestedAt));
    expect(JSON.stringify(receipt)).not.toContain(TARGET);

    const after = await scanAll();
    for (const [id, items] of after) {
      expect(items.filter(mentionsTarget), `table ${id}`).toEqual([]);
      // Nothing of anyone else changed (new items are the erasure's own: receipts, suppressions,
      // the pseudonym key and the pseudonymised ledger entries).
      const now = untouched(items);
      expect(
        (othersBefore.get(id) ?? []).filter((text) => !now.includes(text)),
        `table ${id}`,
      ).toEqual([]);
    }
    expect((await t.get(`/v1/members/${TARGET}`)).status).toBe(404);
    expect((await t.get(`/v1/members/${OTHER}`)).status).toBe(200);
    for (const segment of ['beijing', 'regulars']) {
      expect(await memberships.members(segment)).toEqual([`u#${OTHER}`]);
      expect(await memberships.count(segment)).toBe(1);
      const ledger = await memberships.ledger(segment);
      expect([...replayLedger(ledger)]).toEqual([`u#${OTHER}`]);
      const erased = ledger.filter((entry) => entry.memberKey.startsWith('e#'));
      expect(erased.at(-1)).toMatchObject({ change: 'exit', cause: { kind: 'erasure' } });
    }

    // Suppressed: rejected alone, and beside a good event in a batch (which is kept).
    const alone = await t.post('/v1/track', { userId: TARGET, event: 'Shared' });
    expect(alone.status).toBe(403);
    expect(alone.body).toMatchObject({ success: false, code: 'member_suppressed' });
    const viaAlias = await t.post('/v1/page', { anonymousId: TARGET_ANON, name: 'Home' });
    expect(viaAlias.body).toMatchObject({ code: 'member_suppressed' });
    const mixed = await t.post('/v1/batch', {
      batch: [
        { type: 'track', userId: OTHER, event: 'Shared', messageId: 'after-erase-ok' },
        { type: 'track', userId: TARGET, event: 'Shared', messageId: 'after-erase-no' },
      ],
    });
    expect(mixed.status).toBe(207);
    expect((mixed.body as { results: unknown[] }).results).toEqual([
      { index: 0, messageId: 'after-erase-ok', status: 'accepted' },
      expect.objectContaining({ index: 1, status: 'rejected', code: 'member_suppressed' }),
    ]);
    await t.runtime.idle();
    const stored = (await scanAll()).get('events') ?? [];
    expect(stored.map((item) => item.sk)).toContain('after-erase-ok');
    expect(stored.filter(mentionsTarget)).toEqual([]);

    // Erasing again: harmless, a new receipt that found nothing and says it was erased before.
    const again = await erase(TARGET);
    expect(again).toMatchObject({ status: 'done', memberFound: false, previouslyErased: true });
    expect(Object.values(again.removed.events)).toEqual([0]);
    expect(Object.values(again.removed.profiles)).toEqual([0, 0, 0]);
    expect(Object.values(again.removed.memberships)).toEqual([0, 0, 0]);
    expect(again.removed.lake).toEqual({ rows: 0 });

    // Unsuppressed: the member's events are accepted again.
    const lifted = await call('DELETE', `/v1/suppressions/${TARGET}`);
    expect(lifted).toEqual({ status: 200, body: { unsuppressed: 1 } });
    expect((await t.post('/v1/track', { userId: TARGET, event: 'Shared' })).status).toBe(200);
  }, 180_000);

  it('answers a receipt for an unknown member that says nothing was found, and suppresses it', async () => {
    const receipt = await erase('nobody-ever-seen');
    expect(receipt).toMatchObject({
      status: 'done',
      memberFound: false,
      previouslyErased: false,
      suppressedIds: 1,
    });
    expect(Object.values(receipt.removed.events)).toEqual([0]);
    const later = await t.post('/v1/track', { userId: 'nobody-ever-seen', event: 'Shared' });
    expect(later.body).toMatchObject({ code: 'member_suppressed' });
  });

  it('answers 404 erasure_not_found for an unknown receipt, and 400 for an over-long id', async () => {
    const unknown = await call('GET', '/v1/erasures/er_AAAAAAAAAAAAAAAAAAAAAA');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'erasure_not_found' });
    const malformed = await call('GET', '/v1/erasures/nope');
    expect(malformed.body).toMatchObject({ code: 'erasure_not_found' });
    const long = await call('DELETE', `/v1/members/${'x'.repeat(300)}`);
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ code: 'invalid_member_id' });
  });
});
