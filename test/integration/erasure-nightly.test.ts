/**
 * Erasure through the next nightly run (issue #6, "How it must be shown"), in the local runtime
 * over HTTP: a member with anonymous events, an identity link, personal traits (e-mail and name
 * encrypted, phone hashed), orders, tags, segment memberships (one fed by its RFM results),
 * lake rows (raw files, a compacted day) and a nightly run's results (written back to its
 * profile, RFM row and persona id in `analytics/runs/…`) is erased; then the next nightly
 * run runs. A scan of every table and every lake file finds nothing of the member — by id, by
 * alias, by personal value in clear, as the cipher's token or as its salted hash, computed with
 * the runtime's own key — except what docs/PRIVACY.md keeps by design (the receipt, the
 * suppression hashes, the ledger entries under the pseudonym); the same scan found all of it
 * before the erasure. The receipt's counts equal what was there; the write-back brought nothing
 * back, and every other member's results of the next night are there.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { localFileCipher } from '../../shared/adapters/personal-data-cipher.ts';
import { type EnvironmentConfig, environments } from '../../shared/config/environments.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { memberResultsOf } from '../../shared/domain/analytics/member-results.ts';
import { ERASED_KEY_PREFIX } from '../../shared/domain/privacy/erasure.ts';
import {
  ENCRYPTED_PREFIX,
  HASHED_PREFIX,
  hashInput,
} from '../../shared/domain/privacy/protect-personal.ts';
import { getNdjson } from '../../shared/jobs/nightly/lake-files.ts';
import {
  type MemberClusterLine,
  memberClustersKey,
} from '../../shared/jobs/nightly/personas-step.ts';
import { readRfmRows } from '../../shared/jobs/rfm-rows.ts';
import { type ErasureApi, erasureApi } from '../support/erasure-http.ts';
import { countMentions, lakeSnapshot, withoutMentions } from '../support/lake-scan.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';
import { itemText, receiptRemoved, scanTables, storedMemberCounts } from '../support/table-scan.ts';

const DAY = 86_400_000;
const TARGET = 'tgt-e2n';
const TARGET_ANON = 'tgtanon-e2n';
const targetIds = [TARGET, TARGET_ANON];
const targetKeys = [`u#${TARGET}`, `a#${TARGET_ANON}`];
const targetTraits = { email: 'lin.xiaoyu@example.com', phone: '+8613912345678', name: '林小雨' };
const OTHERS = ['keep-a', 'keep-b', 'keep-c', 'keep-d', 'keep-e'];

// The local environment as a brand might configure it: phones stored as salted hashes, the other
// personal fields encrypted (the default), so the lake and tables hold both kinds of token. The
// runtime's handlers load in this test file's module graph and read it when they start.
const configured = environments as Record<string, EnvironmentConfig>;
const localEnvironment = configured.local as EnvironmentConfig;

let t: TestRuntime;
let erasures: ErasureApi;
beforeAll(async () => {
  configured.local = { ...localEnvironment, personalFieldStorage: { phone: 'hash' } };
  t = await startTestRuntime({ sweepEverySeconds: 0, backfillEverySeconds: 0 });
  erasures = await erasureApi(t);
}, 120_000);
afterAll(async () => {
  await t?.close();
  configured.local = localEnvironment;
});

let n = 0;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const order = (userId: string, days: number, revenue: number) => ({
  type: 'track',
  userId,
  event: 'Order Completed',
  messageId: `${userId}-order-${++n}`,
  timestamp: daysAgo(days),
  properties: {
    orderId: `${userId}-o-${n}`,
    revenue: String(revenue),
    currency: 'CNY',
    products: [{ sku: `sku-${n % 3}`, category: n % 2 === 0 ? '咖啡' : '茶', quantity: 1 }],
  },
});
const identify = (
  userId: string,
  days: number,
  traits: Record<string, string>,
  anonymousId?: string,
) => ({
  type: 'identify',
  userId,
  ...(anonymousId ? { anonymousId } : {}),
  messageId: `${userId}-identify-${++n}`,
  timestamp: daysAgo(days),
  traits,
});
const page = (anonymousId: string, days: number) => ({
  type: 'page',
  anonymousId,
  name: 'Home',
  messageId: `${anonymousId}-page-${++n}`,
  timestamp: daysAgo(days),
});

async function send(batch: unknown[]): Promise<void> {
  const answer = await t.post('/v1/batch', { batch });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  await t.runtime.idle();
}

async function nightly(): Promise<string> {
  const result = await t.runtime.nightly();
  expect(result.status, JSON.stringify(result.output)).toBe('succeeded');
  await t.runtime.idle();
  return String(result.runId);
}

interface MemberBody {
  readonly analytics: Record<string, unknown> | null;
}

describe('erasure through the next nightly run', () => {
  it('leaves nothing of the member in any table or lake file, in any stored form', async () => {
    for (const [id, purpose, expression] of [
      ['regulars', 'marketing', { aggregate: 'orders_365d', op: '>=', value: 2 }],
      ['scored', 'analytics', { rfm: 'r', op: '>=', value: 1 }],
    ] as const) {
      const created = await t.post('/v1/segments', {
        id,
        labels: { 'zh-CN': '测试', en: 'Test' },
        purpose,
        expression,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    }
    await t.runtime.backfill();

    // The member: anonymous visits, an identify linking them with its personal traits, orders
    // (one yesterday, so the nightly compaction writes it into a Parquet day).
    await send([page(TARGET_ANON, 25), page(TARGET_ANON, 21)]);
    await send([
      identify(TARGET, 20, { ...targetTraits, city: '北京' }, TARGET_ANON),
      order(TARGET, 20, 120),
      order(TARGET, 9, 80),
      order(TARGET, 1, 60),
    ]);
    const otherEvents = OTHERS.flatMap((id, i) => [
      identify(id, 30, {
        email: `${id}@example.com`,
        phone: `+861380000000${i}`,
        name: `会员${i}`,
        city: '上海',
      }),
      ...Array.from({ length: 1 + i }, (_, o) => order(id, 2 + i * 11 + o * 5, 30 + i * 70)),
    ]);
    await send(otherEvents);

    // The night before the erasure: results written back to every profile, into the RFM
    // segment, and into the run's lake files.
    const firstRun = await nightly();
    const memberships = new MembershipStore(t.documents, t.runtime.tables.memberships);
    const everyone = [TARGET, ...OTHERS].map((id) => `u#${id}`).sort();
    expect(await memberships.members('scored')).toEqual(everyone);
    expect(await memberships.members('regulars')).toContain(`u#${TARGET}`);
    const before = await t.get(`/v1/members/${TARGET}`);
    expect(before.status).toBe(200);
    expect((before.body as MemberBody).analytics).toMatchObject({ runId: firstRun });

    const lake = new FolderLakeStore(join(t.runtime.dataDir, 'lake'));
    const lakeBefore = await lakeSnapshot(lake);
    const tablesBefore = await scanTables(t.documents, t.runtime.tables);

    // Every stored form of the member's personal values, made with the runtime's own key file
    // and environment name (what its handlers read): in clear, as the cipher's token, as its
    // salted hash.
    const keyFile = String(process.env[runtimeEnvNames.personalKeyFile]);
    expect(keyFile).toBe(join(t.runtime.dataDir, 'personal-data.key'));
    const cipher = localFileCipher(keyFile, String(process.env[runtimeEnvNames.environment]));
    const forms = Object.values(targetTraits).flatMap((value) => [
      value,
      `${ENCRYPTED_PREFIX}${cipher.encrypt(JSON.stringify(value))}`,
      `${HASHED_PREFIX}${cipher.hash(hashInput(value))}`,
    ]);
    const needles = [...targetIds, ...forms];
    const storedText = (items: Record<string, unknown>[]) => items.map(itemText).join('\n');
    const lakeText = (snapshot: Map<string, string[]>) => [...snapshot.values()].flat().join('\n');

    // The scan is not vacuous: before the erasure it finds the member by id, alias, encrypted
    // e-mail and name, and hashed phone, in the events and profiles tables and in the lake (raw,
    // compacted and nightly files); personal values are nowhere in clear.
    const token = (value: string) => `${ENCRYPTED_PREFIX}${cipher.encrypt(JSON.stringify(value))}`;
    const hashed = (value: string) => `${HASHED_PREFIX}${cipher.hash(hashInput(value))}`;
    const storedForms = [
      token(targetTraits.email),
      token(targetTraits.name),
      hashed(targetTraits.phone),
    ];
    for (const text of [
      storedText(tablesBefore.get('events') ?? []),
      storedText(tablesBefore.get('profiles') ?? []),
      lakeText(lakeBefore),
    ]) {
      for (const needle of [...targetIds, ...storedForms]) expect(text).toContain(needle);
    }
    const everythingBefore = [
      ...[...tablesBefore.values()].map(storedText),
      lakeText(lakeBefore),
    ].join('\n');
    for (const value of Object.values(targetTraits)) expect(everythingBefore).not.toContain(value);
    const lakeKeys = [...lakeBefore.keys()];
    const mentioned = (key: string) =>
      (lakeBefore.get(key) ?? []).some((row) => targetIds.some((id) => row.includes(id)));
    expect(lakeKeys.some((key) => key.startsWith('events/') && mentioned(key))).toBe(true);
    expect(lakeKeys.some((key) => key.startsWith('events-parquet/') && mentioned(key))).toBe(true);
    const runFiles = lakeKeys.filter((key) => key.startsWith(`analytics/runs/${firstRun}/`));
    expect(runFiles.filter(mentioned).length).toBeGreaterThanOrEqual(2);
    // Every lake row holding a personal form of the member names it by id, so the receipt's
    // count of rows by id is the count of its rows.
    for (const rows of lakeBefore.values()) {
      for (const row of rows) {
        if (forms.some((form) => row.includes(form))) {
          expect(targetIds.some((id) => row.includes(id))).toBe(true);
        }
      }
    }

    const expected = storedMemberCounts(tablesBefore, targetKeys);
    // 2 pages, 1 identify, 3 orders; the profile, the link from its anonymousId; 2 segments.
    expect(expected).toMatchObject({ events: 6, profiles: 1, identityLinks: 1, memberships: 2 });
    // 6 events (more when a retried batch was archived twice), its RFM row, its member results.
    const lakeRows = countMentions(lakeBefore, targetIds);
    expect(lakeRows).toBeGreaterThanOrEqual(8);

    const receipt = await erasures.erase(TARGET);
    expect(receipt).toMatchObject({
      status: 'done',
      memberFound: true,
      suppressedIds: 2,
      removed: receiptRemoved(expected, lakeRows),
    });
    expect(await lakeSnapshot(lake)).toEqual(withoutMentions(lakeBefore, targetIds));

    // The next night.
    const nextRun = await nightly();
    expect(nextRun).not.toBe(firstRun);

    const tablesAfter = await scanTables(t.documents, t.runtime.tables);
    const lakeAfter = await lakeSnapshot(lake);
    for (const [table, items] of tablesAfter) {
      const found = items.map(itemText).filter((text) => needles.some((n) => text.includes(n)));
      expect(found, `table ${table}`).toEqual([]);
    }
    for (const [key, rows] of lakeAfter) {
      expect(
        rows.filter((row) => needles.some((needle) => row.includes(needle))),
        key,
      ).toEqual([]);
    }
    expect(lakeAfter.size).toBeGreaterThan(lakeBefore.size);

    // What docs/PRIVACY.md keeps of it, and nothing more: the receipt, a suppression hash per
    // source key and the pseudonym key in the erasures table; its ledger entries under the
    // pseudonym (each it had, and an exit per segment it was in).
    const kept = (tablesAfter.get('erasures') ?? []).map((item) => `${item.pk}`.split('#')[0]);
    expect(kept.sort()).toEqual(['r', 's', 's', 'secret']);
    const pseudonymised = (tablesAfter.get('memberships') ?? []).filter(
      (item) =>
        String(item.pk).startsWith('sl#') && String(item.memberKey).startsWith(ERASED_KEY_PREFIX),
    );
    expect(pseudonymised).toHaveLength(expected.ledgerEntries + expected.memberships);
    expect(new Set(pseudonymised.map((item) => item.memberKey)).size).toBe(1);

    // The write-back brought nothing back; every other member has the next night's results.
    expect((await t.get(`/v1/members/${TARGET}`)).status).toBe(404);
    // Each member's expected results: its RFM row of the run with the persona the run gave it.
    const analytics = new AnalyticsStore(t.documents, t.runtime.tables.analytics);
    const cards = (await analytics.personas(nextRun))?.cards ?? [];
    const personaOf = new Map(
      ((await getNdjson<MemberClusterLine>(lake, memberClustersKey(nextRun))) ?? []).map((line) => [
        line.memberId,
        line.cluster,
      ]),
    );
    const nextRows = await readRfmRows(lake, await lake.list(`analytics/runs/${nextRun}/rfm/`));
    const nextResults = nextRows.map((row) => {
      const id = personaOf.get(row.memberId) ?? null;
      return {
        memberId: row.memberId,
        memberKey: `u#${row.memberId}`,
        results: memberResultsOf(
          row,
          { runId: nextRun, asOf: '' },
          id,
          cards.find((card) => card.id === id)?.name ?? null,
        ),
      };
    });
    expect(nextResults.map((line) => line.memberKey).sort()).toEqual(
      OTHERS.map((id) => `u#${id}`).sort(),
    );
    for (const line of nextResults) {
      const member = await t.get(`/v1/members/${line.memberId}`);
      expect(member.status).toBe(200);
      // A member whose results did not change keeps the run id that last changed them.
      const { runId: _runId, asOf: _asOf, ...results } = line.results;
      expect((member.body as MemberBody).analytics, line.memberId).toMatchObject(results);
    }
    const others = OTHERS.map((id) => `u#${id}`).sort();
    expect(await memberships.members('scored')).toEqual(others);
    expect(await analytics.run(nextRun)).toMatchObject({
      status: 'succeeded',
      members: OTHERS.length,
    });
    const size = (cards: readonly { size: number }[] = []) =>
      cards.reduce((sum, card) => sum + card.size, 0);
    expect(size((await analytics.personas(nextRun))?.cards)).toBe(OTHERS.length);
    // The night before the erasure keeps its aggregates (no id, no personal value, as the scan
    // shows): the erased member is still counted in them.
    expect(await analytics.run(firstRun)).toMatchObject({ members: OTHERS.length + 1 });
    expect(size((await analytics.personas(firstRun))?.cards)).toBe(OTHERS.length + 1);
  }, 180_000);
});
