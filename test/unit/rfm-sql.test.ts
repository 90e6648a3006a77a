import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeArchiverHandler } from '../../functions/archiver/archiver.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import type { RfmRow } from '../../shared/domain/analytics/contracts.ts';
import {
  checkRfmSegmentRules,
  standardRfmSegmentRules,
} from '../../shared/domain/analytics/rfm-segments.ts';
import { compactLakeDay } from '../../shared/jobs/compact-lake.ts';
import { readRfmRows, renderRfmSql, runRfmLocal } from '../../shared/jobs/rfm-job.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { lakeDays } from '../support/lake.ts';
import { insertRecord, stream } from '../support/tagger-stream.ts';

let scratch: string;
let lakeNo = 0;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'rfm-sql-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});
function newLake(): FolderLakeStore {
  lakeNo += 1;
  return new FolderLakeStore(join(scratch, `lake-${lakeNo}`));
}

// ---------------------------------------------------------------------------------------------
// A plain recomputation, written from docs/RFM.md without the SQL or its helpers.

/** The standard grid of docs/RFM.md, rows R = 5 … 1, columns FM = 1 … 5. */
const grid: Record<number, string[]> = {
  5: ['new_customers', 'potential_loyalists', 'loyal_customers', 'champions', 'champions'],
  4: ['promising', 'potential_loyalists', 'loyal_customers', 'champions', 'champions'],
  3: ['about_to_sleep', 'need_attention', 'loyal_customers', 'loyal_customers', 'loyal_customers'],
  2: ['hibernating', 'hibernating', 'at_risk', 'at_risk', 'at_risk'],
  1: ['lost', 'lost', 'at_risk', 'cannot_lose_them', 'cannot_lose_them'],
};

function localDate(iso: string, zone: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(iso));
}
const dayNumber = (date: string) => Date.parse(`${date}T00:00:00Z`) / 86_400_000;

/** Micro-units of a decimal text with at most six fraction digits. */
function micro(text: string): bigint {
  const [whole, fraction = ''] = text.split('.');
  return BigInt(whole ?? '0') * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}
function microText(value: bigint): string {
  const whole = value / 1_000_000n;
  const fraction = (value % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : `${whole}`;
}

function scoreOf(worse: number, members: number): number {
  return 1 + Math.floor((5 * worse) / members);
}

function referenceRfm(
  events: readonly PortraitEvent[],
  options: { asOf: string; windowDays: number; zone: string; currency: string },
): RfmRow[] {
  const seen = new Set<string>();
  const orders = new Map<string, PortraitEvent>();
  const sorted = [...events].sort((a, b) =>
    a.timestamp === b.timestamp
      ? a.messageId < b.messageId
        ? -1
        : 1
      : a.timestamp < b.timestamp
        ? -1
        : 1,
  );
  for (const event of sorted) {
    const key = `${event.userId ?? ''}|${event.anonymousId ?? ''}|${event.messageId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // The two spellings the test sends of the catalogue's one event.
    const isOrder = event.event === 'Order Completed' || event.event === 'order_completed';
    if (event.type !== 'track' || !isOrder || !event.userId) continue;
    const orderKey = `${event.userId}|${String(event.properties?.orderId)}`;
    if (!orders.has(orderKey)) orders.set(orderKey, event);
  }
  const asOfDay = dayNumber(options.asOf);
  const members = new Map<
    string,
    { last: string; first: string; orders: number; money: bigint; skus: Set<string> }
  >();
  for (const event of orders.values()) {
    const date = localDate(event.timestamp, options.zone);
    const day = dayNumber(date);
    if (day > asOfDay || day <= asOfDay - options.windowDays) continue;
    const id = event.userId as string;
    const member = members.get(id) ?? {
      last: date,
      first: date,
      orders: 0,
      money: 0n,
      skus: new Set<string>(),
    };
    if (date > member.last) member.last = date;
    if (date < member.first) member.first = date;
    member.orders += 1;
    const currency = event.properties?.currency;
    if (currency === undefined || currency === options.currency) {
      member.money += micro(String(event.properties?.revenue));
    }
    for (const product of (event.properties?.products ?? []) as { sku: string }[]) {
      member.skus.add(product.sku);
    }
    members.set(id, member);
  }
  const list = [...members.entries()].map(([id, m]) => ({
    id,
    ...m,
    recency: asOfDay - dayNumber(m.last),
    tenure: asOfDay - dayNumber(m.first),
  }));
  const n = list.length;
  const recencyTotal = list.reduce((s, m) => s + m.recency, 0);
  const frequencyTotal = list.reduce((s, m) => s + m.orders, 0);
  const moneyTotal = list.reduce((s, m) => s + m.money, 0n);
  return list
    .map((m): RfmRow => {
      const r = scoreOf(list.filter((o) => o.recency > m.recency).length, n);
      const f = scoreOf(list.filter((o) => o.orders < m.orders).length, n);
      const mScore = scoreOf(list.filter((o) => o.money < m.money).length, n);
      const rHigh = m.recency * n < recencyTotal;
      const fHigh = m.orders * n > frequencyTotal;
      const mHigh = m.money * BigInt(n) > moneyTotal;
      const kind = rHigh ? (fHigh ? '价值' : '发展') : fHigh ? '保持' : '挽留';
      return {
        memberId: m.id,
        lastOrderDate: m.last,
        firstOrderDate: m.first,
        recencyDays: m.recency,
        frequency: m.orders,
        monetary: microText(m.money),
        r,
        f,
        m: mScore,
        score: `${r}${f}${mScore}`,
        segment: grid[r]?.[Math.floor((f + mScore) / 2) - 1] as string,
        class8: `${mHigh ? '重要' : '一般'}${kind}客户`,
        valueTier: mScore === 5 ? 'high' : mScore >= 3 ? 'mid' : 'low',
        distinctProducts: m.skus.size,
        averageOrderValue: Number(m.money) / 1e6 / m.orders,
        tenureDays: m.tenure,
      };
    })
    .sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
}

/** Rows with the one binary-floating-point feature rounded, so the exact fields compare exactly. */
function comparable(rows: readonly RfmRow[]) {
  return rows.map((row) => ({ ...row, averageOrderValue: row.averageOrderValue.toPrecision(12) }));
}

// ---------------------------------------------------------------------------------------------

async function archive(lake: FolderLakeStore, events: readonly PortraitEvent[]): Promise<void> {
  const archiver = makeArchiverHandler({ lake, logger: silentLogger });
  const records = stream(events).map(insertRecord);
  for (let i = 0; i < records.length; i += 50) {
    const response = await archiver({ Records: records.slice(i, i + 50) });
    expect(response.batchItemFailures).toEqual([]);
  }
}

const zones = ['Asia/Shanghai', 'America/New_York', 'UTC'] as const;
const amounts = ['0', '1', '9.99', '9.99', '100', '0.000001', '123456789.123456', '50.5'];

describe('RFM SQL through DuckDB', () => {
  it('equals a plain TypeScript recomputation on random members, orders, dates and amounts, over raw and compacted days (property)', async () => {
    let caseNo = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            member: fc.integer({ min: 0, max: 14 }),
            kind: fc.constantFrom('order', 'order', 'order', 'anonymous', 'view'),
            // 2026-09-01 … 2026-11-27 UTC, at any minute.
            minute: fc.integer({ min: 0, max: 88 * 1440 - 1 }),
            amount: fc.oneof(
              fc.constantFrom(...amounts),
              fc.integer({ min: 0, max: 99_999 }).map(String),
            ),
            currency: fc.constantFrom('CNY', 'CNY', 'CNY', 'USD', undefined),
            order: fc.integer({ min: 0, max: 40 }),
            skus: fc.array(fc.constantFrom('a', 'b', 'c', 'd', '商品'), { maxLength: 3 }),
            copies: fc.integer({ min: 1, max: 2 }),
          }),
          { maxLength: 80 },
        ),
        fc.integer({ min: 1, max: 90 }),
        fc.constantFrom(...zones),
        // Which days are compacted to Parquet first (the rest stay raw NDJSON).
        fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
        async (specs, windowDays, zone, compacted) => {
          caseNo += 1;
          const start = Date.parse('2026-09-01T00:00:00Z');
          const events: PortraitEvent[] = [];
          specs.forEach((spec, i) => {
            const timestamp = new Date(start + spec.minute * 60_000).toISOString();
            const base = {
              messageId: `m${i}`,
              timestamp,
              receivedAt: timestamp,
              sourceId: 'prop',
            };
            const user = `member-${spec.member}`;
            const properties = {
              // Orders repeat ids across messages: the same order sent twice counts once.
              orderId: `order-${spec.member}-${spec.order}`,
              revenue: spec.amount,
              ...(spec.currency ? { currency: spec.currency } : {}),
              products: spec.skus.map((sku) => ({ sku })),
            };
            const event: PortraitEvent =
              spec.kind === 'view'
                ? { ...base, type: 'track', event: 'Product Viewed', userId: user, properties }
                : spec.kind === 'anonymous'
                  ? {
                      ...base,
                      type: 'track',
                      event: 'Order Completed',
                      anonymousId: user,
                      properties,
                    }
                  : { ...base, type: 'track', event: 'order_completed', userId: user, properties };
            for (let copy = 0; copy < spec.copies; copy += 1) events.push(event);
          });
          const lake = newLake();
          await archive(lake, events);
          for (const [i, day] of (await lakeDays(lake)).entries()) {
            if (compacted[i % compacted.length]) await compactLakeDay({ lake }, day);
          }
          const options = { asOf: '2026-11-25', windowDays, zone, currency: 'CNY' };
          const output = await runRfmLocal({ lake }, { runId: `p${caseNo}`, ...options });
          const rows = await readRfmRows(lake, output.rowKeys);
          const expected = referenceRfm(events, options);
          expect(output.members).toBe(expected.length);
          expect(comparable(rows)).toEqual(comparable(expected));
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 15) },
    );
  });

  it('gives an empty result, not an error, over an empty lake', async () => {
    const lake = newLake();
    const output = await runRfmLocal(
      { lake },
      { runId: 'empty', asOf: '2026-11-25', windowDays: 30, zone: 'UTC' },
    );
    expect(output).toMatchObject({
      members: 0,
      rowKeys: ['analytics/runs/empty/rfm/part-00000.ndjson.gz'],
    });
    expect(await readRfmRows(lake, output.rowKeys)).toEqual([]);
  });

  it('gives all tied members one score', async () => {
    const lake = newLake();
    const events: PortraitEvent[] = ['x', 'y', 'z', 'w'].map((user, i) => ({
      messageId: `t${i}`,
      type: 'track',
      event: 'Order Completed',
      userId: user,
      timestamp: '2026-11-20T04:00:00.000Z',
      receivedAt: '2026-11-20T04:00:00.000Z',
      sourceId: 'ties',
      properties: { orderId: `o${i}`, revenue: '10' },
    }));
    await archive(lake, events);
    const output = await runRfmLocal(
      { lake },
      { runId: 'ties', asOf: '2026-11-25', windowDays: 30, zone: 'Asia/Shanghai' },
    );
    const rows = await readRfmRows(lake, output.rowKeys);
    expect(rows.map((row) => row.score)).toEqual(['111', '111', '111', '111']);
  });

  it('runs under a memory limit it is given, and refuses one that is not a size', async () => {
    const lake = newLake();
    const events: PortraitEvent[] = Array.from({ length: 60 }, (_, i) => ({
      messageId: `l${i}`,
      type: 'track',
      event: 'Order Completed',
      userId: `member-${i % 17}`,
      timestamp: new Date(Date.parse('2026-11-01T00:00:00Z') + i * 3_600_000).toISOString(),
      receivedAt: '2026-11-20T04:00:00.000Z',
      sourceId: 'limits',
      properties: { orderId: `o${i % 40}`, revenue: String(10 + i) },
    }));
    await archive(lake, events);
    const options = { asOf: '2026-11-25', windowDays: 30, zone: 'Asia/Shanghai' };
    const unlimited = await runRfmLocal({ lake }, { runId: 'default-limit', ...options });
    const limited = await runRfmLocal(
      { lake, memoryLimit: '256MB' },
      { runId: 'small-limit', ...options },
    );
    expect(limited.members).toBe(17);
    expect(await readRfmRows(lake, limited.rowKeys)).toEqual(
      await readRfmRows(lake, unlimited.rowKeys),
    );
    for (const memoryLimit of ['lots', '1GB; DROP TABLE x', '']) {
      await expect(
        runRfmLocal({ lake, memoryLimit }, { runId: 'bad-limit', ...options }),
      ).rejects.toMatchObject({ code: 'invalid_rfm_options' });
    }
  });
});

describe('rendering the RFM SQL', () => {
  const parameters = { asOf: '2026-11-25', windowDays: 365, zone: 'Asia/Shanghai' };

  it('wraps the same query in UNLOAD for Athena and COPY for DuckDB', () => {
    const athena = renderRfmSql({
      ...parameters,
      engine: 'athena',
      output: 's3://portrait-lake/analytics/runs/r1/rfm/',
    });
    const duckdb = renderRfmSql({ ...parameters, engine: 'duckdb', output: '/tmp/rfm.ndjson' });
    expect(athena).toMatch(/^UNLOAD \(\n/);
    expect(athena).toMatch(
      /\n\) TO 's3:\/\/portrait-lake\/analytics\/runs\/r1\/rfm\/' WITH \(format = 'JSON', compression = 'GZIP'\)$/,
    );
    expect(duckdb).toMatch(/\n\) TO '\/tmp\/rfm.ndjson' \(FORMAT JSON\)$/);
    const inner = (text: string) => text.slice(text.indexOf('(\n') + 2, text.lastIndexOf('\n)'));
    expect(inner(athena)).toBe(inner(duckdb));
    expect(inner(athena)).not.toContain('{{');
    // The window is 365 brand-zone days ending on asOf; dt (UTC days) is read a day wider.
    expect(inner(athena)).toContain("DATE '2025-11-26' AND DATE '2026-11-25'");
    expect(inner(athena)).toContain("dt BETWEEN '2025-11-25' AND '2026-11-26'");
  });

  it('refuses parameters that cannot be run, with a stable code', () => {
    const bad = [
      { ...parameters, asOf: '2026-02-30' },
      { ...parameters, windowDays: 0 },
      { ...parameters, windowDays: 1.5 },
      { ...parameters, zone: "UTC'; DROP TABLE x; --" },
      { ...parameters, zone: 'Mars/Olympus' },
      { ...parameters, currency: 'cny' },
    ];
    for (const p of bad) {
      expect(() => renderRfmSql({ ...p, engine: 'duckdb', output: '/tmp/x' })).toThrow(
        expect.objectContaining({ code: 'invalid_rfm_options' }),
      );
    }
    expect(() =>
      renderRfmSql({ ...parameters, engine: 'athena', output: "s3://bucket/x' --/" }),
    ).toThrow(expect.objectContaining({ code: 'invalid_rfm_options' }));
  });

  it('takes the segment mapping as configuration and checks it covers every cell', () => {
    expect(checkRfmSegmentRules(standardRfmSegmentRules)).toBe(standardRfmSegmentRules);
    expect(() => checkRfmSegmentRules(standardRfmSegmentRules.slice(0, -1))).toThrow(
      expect.objectContaining({ code: 'invalid_rfm_segment_rules' }),
    );
    expect(() =>
      checkRfmSegmentRules([{ segment: 'vip' as never, r: [1, 5], fm: [1, 5] }]),
    ).toThrow(expect.objectContaining({ code: 'invalid_rfm_segment_rules' }));
    const everyoneLoyal = renderRfmSql({
      ...parameters,
      engine: 'duckdb',
      output: '/tmp/x',
      segmentRules: [{ segment: 'loyal_customers', r: [1, 5], fm: [1, 5] }],
    });
    expect(everyoneLoyal).toContain(
      "CASE WHEN r BETWEEN 1 AND 5 AND fm BETWEEN 1 AND 5 THEN 'loyal_customers' END",
    );
  });
});
