import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterFeatureNames } from '../../../shared/domain/analytics/contracts.ts';
import {
  featureMatrix,
  InvalidFeatureError,
  rawFeatures,
  toOriginalUnits,
} from '../../../shared/domain/analytics/features.ts';
import { rfmRow } from '../../support/rfm-rows.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 100);

const rowArbitrary = fc
  .record({
    recencyDays: fc.integer({ min: 0, max: 730 }),
    frequency: fc.integer({ min: 1, max: 500 }),
    cents: fc.integer({ min: 1, max: 100_000_000 }),
    tenureDays: fc.integer({ min: 0, max: 3650 }),
    distinctProducts: fc.integer({ min: 0, max: 300 }),
  })
  .map((v) =>
    rfmRow(`m${v.recencyDays}-${v.cents}`, {
      recencyDays: v.recencyDays,
      frequency: v.frequency,
      monetary: (v.cents / 100).toFixed(2),
      averageOrderValue: v.cents / 100 / v.frequency,
      tenureDays: v.tenureDays,
      distinctProducts: v.distinctProducts,
    }),
  );

describe('cluster features', () => {
  it('puts the raw features in clusterFeatureNames order', () => {
    const row = rfmRow('a', {
      recencyDays: 7,
      frequency: 4,
      monetary: '1234.50',
      averageOrderValue: 308.625,
      tenureDays: 90,
      distinctProducts: 11,
    });
    expect(clusterFeatureNames).toEqual([
      'recencyDays',
      'frequency',
      'monetary',
      'averageOrderValue',
      'tenureDays',
      'distinctProducts',
    ]);
    expect(rawFeatures(row)).toEqual([7, 4, 1234.5, 308.625, 90, 11]);
  });

  it('log-transforms the skewed features and standardises every column', () => {
    const rows = [
      rfmRow('a', { recencyDays: 0, frequency: 0, monetary: '0', averageOrderValue: 0 }),
      rfmRow('b', { recencyDays: 10, frequency: Math.E - 1, monetary: '0', averageOrderValue: 0 }),
    ];
    const matrix = featureMatrix(rows);
    // recency: values 0 and 10 → mean 5, sd 5 → z = -1, +1.
    expect(matrix.points[0]).toBeCloseTo(-1, 12);
    expect(matrix.points[6]).toBeCloseTo(1, 12);
    // frequency: log1p → 0 and 1 → mean 0.5, sd 0.5.
    expect(matrix.scaling.means[1]).toBeCloseTo(0.5, 12);
    expect(matrix.scaling.sds[1]).toBeCloseTo(0.5, 12);
  });

  it('gives a constant feature z-scores of 0 (no division by zero)', () => {
    const rows = [rfmRow('a'), rfmRow('b'), rfmRow('c')];
    const matrix = featureMatrix(rows);
    expect([...matrix.points].every((value) => value === 0)).toBe(true);
    expect(matrix.scaling.sds.every((sd) => sd === 0)).toBe(true);
    expect(toOriginalUnits(matrix.points.subarray(0, 6), matrix.scaling).monetary).toBeCloseTo(
      100,
      9,
    );
  });

  it('refuses a row whose monetary is not a number, with a stable code', () => {
    const error = (() => {
      try {
        featureMatrix([rfmRow('bad', { monetary: 'lots' })]);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidFeatureError);
    expect((error as InvalidFeatureError).code).toBe('invalid_cluster_feature');
  });

  it('standardised columns have mean 0 and sd 1 (or 0 when constant), and map back to the rows', () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { minLength: 2, maxLength: 40 }), (rows) => {
        const matrix = featureMatrix(rows);
        const d = matrix.dimensions;
        for (let j = 0; j < d; j += 1) {
          let sum = 0;
          let squares = 0;
          for (let i = 0; i < rows.length; i += 1) sum += matrix.points[i * d + j] as number;
          for (let i = 0; i < rows.length; i += 1) {
            squares += ((matrix.points[i * d + j] as number) - sum / rows.length) ** 2;
          }
          expect(Math.abs(sum / rows.length)).toBeLessThan(1e-9);
          const sd = Math.sqrt(squares / rows.length);
          if (matrix.scaling.sds[j] === 0) expect(sd).toBe(0);
          else expect(sd).toBeCloseTo(1, 9);
        }
        // Every row's z-scores map back to its own raw features.
        rows.forEach((row, i) => {
          const back = toOriginalUnits(matrix.points.subarray(i * d, i * d + d), matrix.scaling);
          const raw = rawFeatures(row);
          clusterFeatureNames.forEach((name, j) => {
            const want = raw[j] as number;
            expect(Math.abs(back[name] - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, want));
          });
        });
      }),
      { numRuns: runs },
    );
  });
});
