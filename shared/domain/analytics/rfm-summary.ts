/**
 * What the RFM API shows of a run: the R×F grid (members per recency score and frequency score),
 * the members per score of each of R, F and M, and the segment table (per named segment: members,
 * share, mean recency, frequency and monetary). Money is summed exactly, in micro-units. Pure.
 */
import { rfmSegmentNames, valueTiers } from '../segments/segment-definition.ts';
import { decimalToMicro, divideMicro, formatMicro } from '../tags/decimal.ts';
import type { RfmRow } from './contracts.ts';

export interface RfmSegmentLine {
  readonly segment: string;
  readonly members: number;
  /** Of all members in the output, 0–1. */
  readonly share: number;
  readonly meanRecencyDays: number;
  readonly meanFrequency: number;
  /** Exact decimal text, rounded half away from zero to 1e-6. */
  readonly meanMonetary: string;
  readonly totalMonetary: string;
}

export interface RfmSummary {
  readonly members: number;
  readonly totalMonetary: string;
  /** `grid[r-1][f-1]`: members with recency score r and frequency score f. */
  readonly grid: readonly (readonly number[])[];
  /** Members per score 1–5 (index 0 is score 1) of each dimension. */
  readonly scores: {
    readonly r: readonly number[];
    readonly f: readonly number[];
    readonly m: readonly number[];
  };
  /** Every named segment, in `rfmSegmentNames` order, then any other segment name met. */
  readonly segments: readonly RfmSegmentLine[];
  readonly class8: Readonly<Record<string, number>>;
  readonly valueTiers: Readonly<Record<string, number>>;
}

/**
 * An RFM row whose score is not an integer 1–5, or whose monetary is not a decimal. Said by the
 * row's place, not its member: a failed run's error is kept in its run record, which an erasure
 * does not reach.
 */
export class InvalidRfmRowError extends Error {
  readonly code = 'invalid_rfm_row';
  override readonly name = 'InvalidRfmRowError';
}

function scoreIndex(row: RfmRow, place: number, field: 'r' | 'f' | 'm'): number {
  const score = row[field];
  if (!Number.isInteger(score) || score < 1 || score > 5) {
    throw new InvalidRfmRowError(`RFM row ${place}: ${field} is ${score}, not 1–5`);
  }
  return score - 1;
}

/** Summarises one run's RFM rows. */
export function summariseRfm(rows: Iterable<RfmRow>): RfmSummary {
  const grid = Array.from({ length: 5 }, () => new Array<number>(5).fill(0));
  const scores = {
    r: new Array<number>(5).fill(0),
    f: new Array<number>(5).fill(0),
    m: new Array<number>(5).fill(0),
  };
  const bySegment = new Map<
    string,
    { members: number; recency: number; frequency: number; money: bigint }
  >();
  for (const name of rfmSegmentNames) {
    bySegment.set(name, { members: 0, recency: 0, frequency: 0, money: 0n });
  }
  const class8: Record<string, number> = {};
  const tiers: Record<string, number> = Object.fromEntries(valueTiers.map((tier) => [tier, 0]));
  let members = 0;
  let total = 0n;
  for (const row of rows) {
    const place = members + 1;
    const r = scoreIndex(row, place, 'r');
    const f = scoreIndex(row, place, 'f');
    const m = scoreIndex(row, place, 'm');
    const money = decimalToMicro(row.monetary);
    if (money === undefined) {
      throw new InvalidRfmRowError(
        `RFM row ${place}: monetary ${JSON.stringify(row.monetary)} is not a decimal`,
      );
    }
    members += 1;
    total += money;
    (grid[r] as number[])[f] = ((grid[r] as number[])[f] as number) + 1;
    scores.r[r] = (scores.r[r] as number) + 1;
    scores.f[f] = (scores.f[f] as number) + 1;
    scores.m[m] = (scores.m[m] as number) + 1;
    let line = bySegment.get(row.segment);
    if (!line) {
      line = { members: 0, recency: 0, frequency: 0, money: 0n };
      bySegment.set(row.segment, line);
    }
    line.members += 1;
    line.recency += row.recencyDays;
    line.frequency += row.frequency;
    line.money += money;
    class8[row.class8] = (class8[row.class8] ?? 0) + 1;
    tiers[row.valueTier] = (tiers[row.valueTier] ?? 0) + 1;
  }
  const segments = [...bySegment.entries()].map(([segment, line]) => ({
    segment,
    members: line.members,
    share: members > 0 ? Math.round((line.members / members) * 10_000) / 10_000 : 0,
    meanRecencyDays: line.members > 0 ? Math.round((line.recency / line.members) * 100) / 100 : 0,
    meanFrequency: line.members > 0 ? Math.round((line.frequency / line.members) * 100) / 100 : 0,
    meanMonetary:
      line.members > 0 ? formatMicro(divideMicro(line.money, BigInt(line.members))) : '0',
    totalMonetary: formatMicro(line.money),
  }));
  return {
    members,
    totalMonetary: formatMicro(total),
    grid,
    scores,
    segments,
    class8,
    valueTiers: tiers,
  };
}
