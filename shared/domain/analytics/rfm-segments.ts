/**
 * The RFM score → named segment mapping, as configuration: rules over the recency score R and
 * FM = floor((F + M) / 2), tried in order, the first match wins. A mapping must give every one of
 * the 25 (R, FM) cells a segment. Pure: no I/O.
 */
import { rfmSegmentNames } from '../segments/segment-definition.ts';

export type RfmSegmentName = (typeof rfmSegmentNames)[number];

export interface RfmSegmentRule {
  readonly segment: RfmSegmentName;
  /** Inclusive bounds, 1–5. */
  readonly r: readonly [number, number];
  readonly fm: readonly [number, number];
}

/**
 * The standard mapping (R rows, FM columns):
 *
 * | R \ FM | 1 | 2 | 3 | 4 | 5 |
 * | --- | --- | --- | --- | --- | --- |
 * | 5 | new_customers | potential_loyalists | loyal_customers | champions | champions |
 * | 4 | promising | potential_loyalists | loyal_customers | champions | champions |
 * | 3 | about_to_sleep | need_attention | loyal_customers | loyal_customers | loyal_customers |
 * | 2 | hibernating | hibernating | at_risk | at_risk | at_risk |
 * | 1 | lost | lost | at_risk | cannot_lose_them | cannot_lose_them |
 */
export const standardRfmSegmentRules: readonly RfmSegmentRule[] = [
  { segment: 'champions', r: [4, 5], fm: [4, 5] },
  { segment: 'loyal_customers', r: [3, 5], fm: [3, 5] },
  { segment: 'cannot_lose_them', r: [1, 1], fm: [4, 5] },
  { segment: 'at_risk', r: [1, 2], fm: [3, 5] },
  { segment: 'new_customers', r: [5, 5], fm: [1, 1] },
  { segment: 'potential_loyalists', r: [4, 5], fm: [2, 2] },
  { segment: 'promising', r: [4, 4], fm: [1, 1] },
  { segment: 'need_attention', r: [3, 3], fm: [2, 2] },
  { segment: 'about_to_sleep', r: [3, 3], fm: [1, 1] },
  { segment: 'hibernating', r: [2, 2], fm: [1, 2] },
  { segment: 'lost', r: [1, 1], fm: [1, 2] },
];

/** A segment mapping that names an unknown segment, has bad bounds or leaves a cell unmapped. */
export class InvalidRfmSegmentRulesError extends Error {
  readonly code = 'invalid_rfm_segment_rules';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRfmSegmentRulesError';
  }
}

function checkBounds(bounds: readonly [number, number], what: string): void {
  const [lo, hi] = bounds;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 5 || lo > hi) {
    throw new InvalidRfmSegmentRulesError(`${what} must be whole scores 1 ≤ lo ≤ hi ≤ 5`);
  }
}

/** The segment of a cell under the rules (first match), or `undefined`. */
export function rfmSegmentOf(
  rules: readonly RfmSegmentRule[],
  r: number,
  fm: number,
): RfmSegmentName | undefined {
  for (const rule of rules) {
    if (r >= rule.r[0] && r <= rule.r[1] && fm >= rule.fm[0] && fm <= rule.fm[1]) {
      return rule.segment;
    }
  }
  return undefined;
}

/** Checks a mapping: known names, bounds within 1–5, and every (R, FM) cell mapped. */
export function checkRfmSegmentRules(rules: readonly RfmSegmentRule[]): readonly RfmSegmentRule[] {
  for (const [i, rule] of rules.entries()) {
    if (!(rfmSegmentNames as readonly string[]).includes(rule.segment)) {
      throw new InvalidRfmSegmentRulesError(
        `rule ${i}: segment ${JSON.stringify(rule.segment)} is not one of ${rfmSegmentNames.join(', ')}`,
      );
    }
    checkBounds(rule.r, `rule ${i}: r`);
    checkBounds(rule.fm, `rule ${i}: fm`);
  }
  for (let r = 1; r <= 5; r += 1) {
    for (let fm = 1; fm <= 5; fm += 1) {
      if (rfmSegmentOf(rules, r, fm) === undefined) {
        throw new InvalidRfmSegmentRulesError(`no rule maps R = ${r}, FM = ${fm}`);
      }
    }
  }
  return rules;
}

/** FM of the mapping: the mean of F and M, rounded down. */
export function fmScore(f: number, m: number): number {
  return Math.floor((f + m) / 2);
}
