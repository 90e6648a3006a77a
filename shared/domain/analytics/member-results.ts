/**
 * A member's nightly analytics results as the write-back stores them on its profile, and what
 * segments and the member API read of them. Recency is not stored: it changes every day with no
 * new order, so it is derived at read time from `lastOrderDate` — only members whose scores,
 * segment, tier or cluster changed are rewritten by a night's run. Pure.
 */
import type { RfmScores } from '../segments/evaluate-segment.ts';
import { dateToDay, zoneCalendar } from '../tags/zone-calendar.ts';
import type { RfmRow } from './contracts.ts';
import type { BilingualText } from './personas.ts';

/** The RFM row's fields a profile keeps (recency is derived, the clustering features are not kept). */
type StoredRfmFields =
  | 'lastOrderDate'
  | 'frequency'
  | 'monetary'
  | 'r'
  | 'f'
  | 'm'
  | 'score'
  | 'segment'
  | 'class8'
  | 'valueTier';

export interface MemberAnalytics extends Pick<RfmRow, StoredRfmFields> {
  /** The run that last changed these results (a rerun of the same results keeps the older id). */
  readonly runId: string;
  /** That run's as-of date, `YYYY-MM-DD` in the brand zone. */
  readonly asOf: string;
  /** Cluster id (`c1`…), `null` when the member was not clustered. */
  readonly cluster: string | null;
  /** The cluster's persona name. */
  readonly persona: BilingualText | null;
}

/** The results of one RFM row with its cluster and persona, stamped with the run. */
export function memberResultsOf(
  row: RfmRow,
  run: { readonly runId: string; readonly asOf: string },
  cluster: string | null,
  persona: BilingualText | null,
): MemberAnalytics {
  return {
    runId: run.runId,
    asOf: run.asOf,
    lastOrderDate: row.lastOrderDate,
    frequency: row.frequency,
    monetary: row.monetary,
    r: row.r,
    f: row.f,
    m: row.m,
    score: row.score,
    segment: row.segment,
    class8: row.class8,
    valueTier: row.valueTier,
    cluster,
    persona,
  };
}

/**
 * Whether two results say the same about the member: every field but the run's id and date, so
 * a night that changes nothing for a member writes nothing for it.
 */
export function sameResults(
  a: MemberAnalytics | undefined,
  b: MemberAnalytics | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.lastOrderDate === b.lastOrderDate &&
    a.frequency === b.frequency &&
    a.monetary === b.monetary &&
    a.r === b.r &&
    a.f === b.f &&
    a.m === b.m &&
    a.score === b.score &&
    a.segment === b.segment &&
    a.class8 === b.class8 &&
    a.valueTier === b.valueTier &&
    a.cluster === b.cluster &&
    (a.persona?.en ?? null) === (b.persona?.en ?? null) &&
    (a.persona?.['zh-CN'] ?? null) === (b.persona?.['zh-CN'] ?? null)
  );
}

/** Whole brand-local days from `lastOrderDate` to the instant `now`. */
export function recencyDaysAt(lastOrderDate: string, now: number, zone: string): number | null {
  const last = dateToDay(lastOrderDate);
  if (last === undefined) return null;
  return zoneCalendar(zone).localDay(now) - last;
}

/** The RFM fields segments read. */
export function rfmScoresOf(analytics: MemberAnalytics): RfmScores {
  return {
    r: analytics.r,
    f: analytics.f,
    m: analytics.m,
    score: analytics.score,
    segment: analytics.segment,
    class8: analytics.class8,
  };
}

/** What the member API shows: the stored results with recency derived for `now`. */
export function analyticsView(analytics: MemberAnalytics, now: number, zone: string) {
  return { ...analytics, recencyDays: recencyDaysAt(analytics.lastOrderDate, now, zone) };
}
