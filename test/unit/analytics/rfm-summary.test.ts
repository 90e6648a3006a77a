import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRfmRowError, summariseRfm } from '../../../shared/domain/analytics/rfm-summary.ts';
import { rfmSegmentNames } from '../../../shared/domain/segments/segment-definition.ts';
import { rfmRow } from '../../support/rfm-rows.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 100);

const rowArbitrary = fc.record({
  r: fc.integer({ min: 1, max: 5 }),
  f: fc.integer({ min: 1, max: 5 }),
  m: fc.integer({ min: 1, max: 5 }),
  cents: fc.integer({ min: 0, max: 10_000_000 }),
  recencyDays: fc.integer({ min: 0, max: 400 }),
  frequency: fc.integer({ min: 1, max: 50 }),
  segment: fc.constantFrom(...rfmSegmentNames),
});

describe('RFM summary', () => {
  it('counts every member once in the grid and the scores, and sums money exactly per segment', () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { maxLength: 60 }), (specs) => {
        const rows = specs.map((spec, i) =>
          rfmRow(`m${i}`, {
            ...spec,
            score: `${spec.r}${spec.f}${spec.m}`,
            monetary: `${Math.floor(spec.cents / 100)}.${String(spec.cents % 100).padStart(2, '0')}`,
          }),
        );
        const summary = summariseRfm(rows);
        expect(summary.members).toBe(rows.length);
        for (let r = 1; r <= 5; r += 1) {
          for (let f = 1; f <= 5; f += 1) {
            const want = specs.filter((s) => s.r === r && s.f === f).length;
            expect(summary.grid[r - 1]?.[f - 1]).toBe(want);
          }
          expect(summary.scores.m[r - 1]).toBe(specs.filter((s) => s.m === r).length);
        }
        for (const line of summary.segments) {
          const members = specs.filter((s) => s.segment === line.segment);
          expect(line.members).toBe(members.length);
          const cents = members.reduce((sum, s) => sum + BigInt(s.cents), 0n);
          // Exact: total in cents as decimal text, trailing zeros trimmed.
          const whole = cents / 100n;
          const fraction = (cents % 100n).toString().padStart(2, '0').replace(/0+$/, '');
          expect(line.totalMonetary).toBe(fraction ? `${whole}.${fraction}` : `${whole}`);
        }
        expect(
          summary.segments.map((line) => line.segment).slice(0, rfmSegmentNames.length),
        ).toEqual([...rfmSegmentNames]);
      }),
      { numRuns: runs },
    );
  });

  it('rounds the mean monetary half away from zero at 1e-6', () => {
    const summary = summariseRfm([
      rfmRow('a', { segment: 'lost', monetary: '0.000001' }),
      rfmRow('b', { segment: 'lost', monetary: '0' }),
    ]);
    expect(summary.segments.find((line) => line.segment === 'lost')?.meanMonetary).toBe('0.000001');
  });

  it('refuses a score outside 1–5 with a stable code', () => {
    expect(() => summariseRfm([rfmRow('a', { r: 6 })])).toThrow(InvalidRfmRowError);
    expect(() => summariseRfm([rfmRow('a', { monetary: 'NaN' })])).toThrow(
      expect.objectContaining({ code: 'invalid_rfm_row' }),
    );
  });
});
