/**
 * UCI Online Retail (../shared/data/online_retail.csv.gz) through the real pipeline: invoices
 * become `Order Completed` events, the archiver handler writes them to a lake folder from
 * stream-shaped batches (one batch delivered twice, as a retry would), every day is compacted,
 * and the RFM SQL runs on DuckDB. The results are checked against the data set's published facts
 * and against a straightforward computation from the CSV lines.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineRetailPath, type RetailLine, readOnlineRetail } from '../../bench/online-retail.ts';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeArchiverHandler } from '../../functions/archiver/archiver.ts';
import { makeCompactorHandler } from '../../functions/compactor/compactor.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import type { RfmRow } from '../../shared/domain/analytics/contracts.ts';
import { readRfmRows, runRfmLocal } from '../../shared/jobs/rfm-job.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { lakeDays, readLakeFiles } from '../support/lake.ts';
import { insertRecord, stream } from '../support/tagger-stream.ts';

const zone = 'Europe/London';
const asOf = '2011-12-10';
const windowDays = 400;

/** Exact thousandths: prices have at most three decimals in this data set. */
function milli(text: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,3}))?$/.exec(text);
  if (!match) throw new Error(`unexpected price ${text}`);
  return BigInt(match[1] as string) * 1000n + BigInt((match[2] ?? '').padEnd(3, '0'));
}
function milliText(value: bigint): string {
  const fraction = (value % 1000n).toString().padStart(3, '0').replace(/0+$/, '');
  return fraction ? `${value / 1000n}.${fraction}` : `${value / 1000n}`;
}

/** The rows every RFM analysis of this data set keeps. */
function kept(lines: readonly RetailLine[]): RetailLine[] {
  return lines.filter(
    (line) =>
      line.customerId !== '' && !line.invoiceNo.startsWith('C') && milli(line.unitPrice) > 0n,
  );
}

function toEvents(lines: readonly RetailLine[]): PortraitEvent[] {
  const invoices = new Map<string, RetailLine[]>();
  for (const line of lines) {
    const invoice = invoices.get(line.invoiceNo) ?? [];
    invoice.push(line);
    invoices.set(line.invoiceNo, invoice);
  }
  return [...invoices.entries()].map(([invoiceNo, invoiceLines]) => {
    const first = invoiceLines[0] as RetailLine;
    const timestamp = `${first.invoiceDate.replace(' ', 'T')}.000Z`;
    const revenue = invoiceLines.reduce(
      (sum, line) => sum + BigInt(line.quantity) * milli(line.unitPrice),
      0n,
    );
    return {
      messageId: `invoice-${invoiceNo}`,
      type: 'track',
      event: 'Order Completed',
      userId: first.customerId,
      timestamp,
      receivedAt: timestamp,
      sourceId: 'online-retail',
      properties: {
        orderId: invoiceNo,
        revenue: milliText(revenue),
        currency: 'GBP',
        products: invoiceLines.map((line) => ({
          sku: line.stockCode,
          price: line.unitPrice,
          quantity: line.quantity,
        })),
      },
    };
  });
}

/** Days between two `YYYY-MM-DD` dates. */
const daysBetween = (from: string, to: string) =>
  (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;

const londonDate = new Intl.DateTimeFormat('en-CA', {
  timeZone: zone,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

interface Expected {
  recencyDays: number;
  frequency: number;
  monetary: bigint;
  r: number;
  f: number;
  m: number;
  class8: string;
  valueTier: string;
}

/**
 * A straightforward computation from the CSV lines: per customer the last invoice day, distinct
 * invoices and Σ quantity × price; a score is 1 + floor(5 × (members with a worse value) / members)
 * found by binary search in the sorted values; classes by comparison with the means.
 */
function straightforward(lines: readonly RetailLine[]): Map<string, Expected> {
  const customers = new Map<string, { last: string; invoices: Set<string>; money: bigint }>();
  const dates = new Map<string, string>();
  for (const line of lines) {
    let date = dates.get(line.invoiceDate);
    if (date === undefined) {
      date = londonDate.format(new Date(`${line.invoiceDate.replace(' ', 'T')}Z`));
      dates.set(line.invoiceDate, date);
    }
    const customer = customers.get(line.customerId) ?? {
      last: date,
      invoices: new Set<string>(),
      money: 0n,
    };
    if (date > customer.last) customer.last = date;
    customer.invoices.add(line.invoiceNo);
    customer.money += BigInt(line.quantity) * milli(line.unitPrice);
    customers.set(line.customerId, customer);
  }
  const n = customers.size;
  const recency = [...customers.values()].map((c) => daysBetween(c.last, asOf));
  const frequency = [...customers.values()].map((c) => c.invoices.size);
  const money = [...customers.values()].map((c) => c.money);
  const ascending = <T extends number | bigint>(values: T[]) =>
    [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const recencySorted = ascending(recency);
  const frequencySorted = ascending(frequency);
  const moneySorted = ascending(money);
  /** Values in a sorted list strictly below `value`. */
  const below = <T extends number | bigint>(sorted: T[], value: T) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] as T) < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const score = (worse: number) => 1 + Math.floor((5 * worse) / n);
  const recencySum = recency.reduce((s, v) => s + v, 0);
  const frequencySum = frequency.reduce((s, v) => s + v, 0);
  const moneySum = money.reduce((s, v) => s + v, 0n);
  const out = new Map<string, Expected>();
  for (const [id, c] of customers) {
    const days = daysBetween(c.last, asOf);
    // Worse recency is longer: the members strictly above it.
    const r = score(n - below(recencySorted, days + 1));
    const f = score(below(frequencySorted, c.invoices.size));
    const m = score(below(moneySorted, c.money));
    const recent = days * n < recencySum;
    const frequent = c.invoices.size * n > frequencySum;
    const valuable = c.money * BigInt(n) > moneySum;
    const names: Record<string, string> = {
      'true,true': '价值',
      'true,false': '发展',
      'false,true': '保持',
      'false,false': '挽留',
    };
    out.set(id, {
      recencyDays: days,
      frequency: c.invoices.size,
      monetary: c.money,
      r,
      f,
      m,
      class8: `${valuable ? '重要' : '一般'}${names[`${recent},${frequent}`]}客户`,
      valueTier: m === 5 ? 'high' : m >= 3 ? 'mid' : 'low',
    });
  }
  return out;
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'online-retail-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.runIf(existsSync(onlineRetailPath))(
  'online retail through the lake and the RFM SQL',
  () => {
    it('finds 4,338 customers, revenue 8,911,407.904 and the RFM scores of a straightforward computation', async () => {
      const lines = kept(readOnlineRetail());
      expect(lines).toHaveLength(397_884);
      const events = toEvents(lines);
      expect(events).toHaveLength(18_532);

      const lake = new FolderLakeStore(join(scratch, 'lake'));
      const archiver = makeArchiverHandler({ lake, logger: silentLogger });
      const records = stream(events).map(insertRecord);
      for (let i = 0; i < records.length; i += 1000) {
        const response = await archiver({ Records: records.slice(i, i + 1000) });
        expect(response.batchItemFailures).toEqual([]);
      }
      // A retry of a stretch of the stream, split differently from the first delivery.
      const replay = await archiver({ Records: records.slice(500, 1700) });
      expect(replay.batchItemFailures).toEqual([]);

      const compactor = makeCompactorHandler({ lake, logger: silentLogger });
      const days = await lakeDays(lake);
      for (let i = 0; i < days.length; i += 31) await compactor({ days: days.slice(i, i + 31) });
      const files = await readLakeFiles(lake);
      expect(files).toHaveLength(days.length);
      expect(files.reduce((sum, file) => sum + file.rows.length, 0)).toBe(events.length);

      const output = await runRfmLocal(
        { lake },
        { runId: 'online-retail', asOf, windowDays, zone, currency: 'GBP' },
      );
      expect(output.members).toBe(4_338);
      const rows = await readRfmRows(lake, output.rowKeys);
      expect(rows).toHaveLength(4_338);
      const total = rows.reduce((sum, row) => sum + milli(row.monetary), 0n);
      expect(milliText(total)).toBe('8911407.904');
      expect(rows.reduce((sum, row) => sum + row.frequency, 0)).toBe(18_532);

      const expected = straightforward(lines);
      const actual = new Map<string, Omit<Expected, 'monetary'> & { monetary: bigint }>(
        rows.map((row: RfmRow) => [
          row.memberId,
          {
            recencyDays: row.recencyDays,
            frequency: row.frequency,
            monetary: milli(row.monetary),
            r: row.r,
            f: row.f,
            m: row.m,
            class8: row.class8,
            valueTier: row.valueTier,
          },
        ]),
      );
      expect(actual).toEqual(expected);
      // Quintiles: with ties sharing a score, every score is used and the top one is about a fifth.
      const topM = rows.filter((row) => row.m === 5).length;
      expect(topM).toBeGreaterThan(4_338 * 0.15);
      expect(topM).toBeLessThanOrEqual(Math.ceil(4_338 / 5));
      // 305 days compacted to Parquet one by one: ~15 s alone, up to ~40 s on a busy machine.
    }, 180_000);
  },
);
