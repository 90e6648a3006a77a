import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KMeansResult } from '../../../shared/domain/analytics/contracts.ts';
import {
  kmeans,
  kmeansFromCentroids,
  sampledCandidates,
} from '../../../shared/domain/analytics/kmeans.ts';
import { referenceLloyd, referenceSquaredDistance } from '../../support/reference-kmeans.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 400);

interface Case {
  readonly d: number;
  readonly k: number;
  readonly points: Float64Array;
  readonly seed: number;
  readonly restarts: number;
}

/**
 * Small point sets: 1–4 dimensions, 1–60 points, k from 1 to min(n, 6). `coordinate` decides
 * the values: general doubles, or quarters of small integers (exact sums in any order, many
 * duplicate points and ties).
 */
function cases(coordinate: fc.Arbitrary<number>): fc.Arbitrary<Case> {
  return fc
    .record({ d: fc.integer({ min: 1, max: 4 }), n: fc.integer({ min: 1, max: 60 }) })
    .chain(({ d, n }) =>
      fc.record({
        d: fc.constant(d),
        k: fc.integer({ min: 1, max: Math.min(n, 6) }),
        points: fc
          .array(coordinate, { minLength: n * d, maxLength: n * d })
          .map((values) => Float64Array.from(values)),
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        restarts: fc.integer({ min: 1, max: 3 }),
      }),
    );
}

/**
 * The same cases with the restarts forced onto a sample (`sampleAbove: 0`) of k to n − 1 points
 * (or n when n = k, which leaves them on all points).
 */
function sampledCases(coordinate: fc.Arbitrary<number>) {
  return cases(coordinate).chain((c) =>
    fc.record({
      case: fc.constant(c),
      sampleSize: fc.integer({ min: c.k, max: Math.max(c.k, c.points.length / c.d - 1) }),
    }),
  );
}

const quarters = fc.integer({ min: -40, max: 40 }).map((value) => value / 4);
const doubles = fc.double({ min: -1e3, max: 1e3, noNaN: true, noDefaultInfinity: true });
const anyCoordinates = fc.oneof(quarters, doubles);

function squared(points: Float64Array, i: number, result: KMeansResult, c: number) {
  return referenceSquaredDistance(points, i, result.centroids, c, result.dimensions);
}

describe('kmeans properties', () => {
  it('never ends with a higher SSE than its seeding', () => {
    fc.assert(
      fc.property(cases(anyCoordinates), ({ d, k, points, seed, restarts }) => {
        const result = kmeans(points, d, { k, seed, restarts });
        // Means of identical points can round one unit in the last place away from the point
        // (0.1 · 3 / 3 ≠ 0.1), so a seeding that is already optimal may gain that much.
        const slack = 1e-9 * (result.seedingSse + 1e-300) + 1e-20;
        expect(result.sse).toBeLessThanOrEqual(result.seedingSse + slack);
      }),
      { numRuns: runs },
    );
  });

  it('leaves every point with its nearest centroid (the lowest index on a tie)', () => {
    fc.assert(
      fc.property(cases(anyCoordinates), ({ d, k, points, seed, restarts }) => {
        const result = kmeans(points, d, { k, seed, restarts });
        for (let i = 0; i < points.length / d; i += 1) {
          const own = result.assignments[i] ?? -1;
          const ownDistance = squared(points, i, result, own);
          for (let c = 0; c < k; c += 1) {
            const distance = squared(points, i, result, c);
            if (c < own) expect(distance).toBeGreaterThan(ownDistance);
            else expect(distance).toBeGreaterThanOrEqual(ownDistance);
          }
        }
      }),
      { numRuns: runs },
    );
  });

  it('reports sizes that sum to n and match the assignments, and the SSE of the assignments', () => {
    fc.assert(
      fc.property(cases(anyCoordinates), ({ d, k, points, seed, restarts }) => {
        const n = points.length / d;
        const result = kmeans(points, d, { k, seed, restarts });
        expect(result.assignments.length).toBe(n);
        expect(result.sizes.reduce((sum, size) => sum + size, 0)).toBe(n);
        const counted = new Int32Array(k);
        for (const c of result.assignments) counted[c] = (counted[c] ?? 0) + 1;
        expect([...result.sizes]).toEqual([...counted]);
        let sse = 0;
        for (let i = 0; i < n; i += 1)
          sse += squared(points, i, result, result.assignments[i] ?? 0);
        expect(result.sse).toBe(sse);
        expect(result.k).toBe(k);
        expect(result.centroids.length).toBe(k * d);
      }),
      { numRuns: runs },
    );
  });

  it('gives the identical result for the same seed', () => {
    fc.assert(
      fc.property(cases(anyCoordinates), ({ d, k, points, seed, restarts }) => {
        const first = kmeans(points, d, { k, seed, restarts });
        const second = kmeans(Float64Array.from(points), d, { k, seed, restarts });
        expect(second).toEqual(first);
      }),
      { numRuns: runs },
    );
  });

  it('reaches the same partition, centroids and SSE as plain Lloyd from the same centroids', () => {
    fc.assert(
      fc.property(
        cases(quarters).chain((c) =>
          fc.record({
            case: fc.constant(c),
            // Anywhere in a wider box than the points: far ones start empty and get relocated.
            start: fc
              .array(
                fc.integer({ min: -80, max: 80 }).map((value) => value / 4),
                { minLength: c.k * c.d, maxLength: c.k * c.d },
              )
              .map((values) => Float64Array.from(values)),
            maxIterations: fc.oneof(fc.constant(300), fc.integer({ min: 0, max: 4 })),
          }),
        ),
        ({ case: { d, points }, start, maxIterations }) => {
          const fast = kmeansFromCentroids(points, d, start, maxIterations);
          const plain = referenceLloyd(points, d, start, maxIterations);
          expect([...fast.assignments]).toEqual([...plain.assignments]);
          expect([...fast.centroids]).toEqual([...plain.centroids]);
          expect([...fast.sizes]).toEqual([...plain.sizes]);
          expect(fast.iterations).toBe(plain.iterations);
          expect(fast.sse).toBe(plain.sse);
          expect(fast.seedingSse).toBe(plain.seedingSse);
        },
      ),
      { numRuns: runs },
    );
  });

  it('ends, when it converged, with every non-empty centroid at the mean of its points', () => {
    fc.assert(
      fc.property(cases(anyCoordinates), ({ d, k, points, seed }) => {
        const result = kmeans(points, d, { k, seed, restarts: 1, maxIterations: 1_000 });
        if (result.iterations === 1_000) return;
        const sums = new Float64Array(k * d);
        result.assignments.forEach((c, i) => {
          for (let j = 0; j < d; j += 1)
            sums[c * d + j] = (sums[c * d + j] ?? 0) + (points[i * d + j] ?? 0);
        });
        for (let c = 0; c < k; c += 1) {
          const size = result.sizes[c] ?? 0;
          if (size === 0) continue;
          for (let j = 0; j < d; j += 1)
            expect(result.centroids[c * d + j]).toBe((sums[c * d + j] ?? 0) / size);
        }
      }),
      { numRuns: runs },
    );
  });
});

describe('kmeans properties, restarts on a sample', () => {
  it('ends at a Lloyd fixed point on all points: nearest centroids, centroids at the means', () => {
    fc.assert(
      fc.property(
        sampledCases(anyCoordinates),
        ({ case: { d, k, points, seed, restarts }, sampleSize }) => {
          const n = points.length / d;
          const options = { k, seed, restarts, sampleAbove: 0, sampleSize, maxIterations: 1_000 };
          const result = kmeans(points, d, options);
          if (result.iterations === 1_000) return;
          const sums = new Float64Array(k * d);
          const sizes = new Int32Array(k);
          for (let i = 0; i < n; i += 1) {
            const own = result.assignments[i] ?? -1;
            sizes[own] = (sizes[own] ?? 0) + 1;
            for (let j = 0; j < d; j += 1)
              sums[own * d + j] = (sums[own * d + j] ?? 0) + (points[i * d + j] ?? 0);
            const ownDistance = squared(points, i, result, own);
            for (let c = 0; c < k; c += 1) {
              const distance = squared(points, i, result, c);
              if (c < own) expect(distance).toBeGreaterThan(ownDistance);
              else expect(distance).toBeGreaterThanOrEqual(ownDistance);
            }
          }
          expect([...result.sizes]).toEqual([...sizes]);
          for (let c = 0; c < k; c += 1) {
            const size = sizes[c] ?? 0;
            if (size === 0) continue;
            for (let j = 0; j < d; j += 1)
              expect(result.centroids[c * d + j]).toBe((sums[c * d + j] ?? 0) / size);
          }
          expect(kmeans(Float64Array.from(points), d, options)).toEqual(result);
        },
      ),
      { numRuns: runs },
    );
  });

  it('starts from the candidate that fits all points best and ends no worse than any candidate', () => {
    fc.assert(
      fc.property(
        sampledCases(anyCoordinates),
        ({ case: { d, k, points, seed, restarts }, sampleSize }) => {
          const n = points.length / d;
          const options = { k, seed, restarts, sampleAbove: 0, sampleSize };
          const result = kmeans(points, d, options);
          const candidates = sampledCandidates(points, d, options);
          expect(candidates.length).toBe(sampleSize < n ? restarts : 0);
          if (candidates.length === 0) return;
          for (const candidate of candidates) {
            // A candidate's SSE is that of its centroids on all points, each point at its nearest.
            let sse = 0;
            for (let i = 0; i < n; i += 1) {
              let nearest = Number.POSITIVE_INFINITY;
              for (let c = 0; c < k; c += 1)
                nearest = Math.min(
                  nearest,
                  referenceSquaredDistance(points, i, candidate.centroids, c, d),
                );
              sse += nearest;
            }
            expect(candidate.sse).toBe(sse);
            const slack = 1e-9 * (candidate.sse + 1e-300) + 1e-20;
            expect(result.sse).toBeLessThanOrEqual(candidate.sse + slack);
          }
          expect(result.seedingSse).toBe(Math.min(...candidates.map((candidate) => candidate.sse)));
        },
      ),
      { numRuns: runs },
    );
  });

  it('iterates on all points from the best candidate exactly as plain Lloyd does', () => {
    fc.assert(
      fc.property(
        sampledCases(quarters),
        ({ case: { d, k, points, seed, restarts }, sampleSize }) => {
          const options = { k, seed, restarts, sampleAbove: 0, sampleSize };
          const candidates = sampledCandidates(points, d, options);
          if (candidates.length === 0) return;
          let best = candidates[0];
          for (const candidate of candidates)
            if (candidate.sse < (best?.sse ?? 0)) best = candidate;
          const result = kmeans(points, d, options);
          const plain = referenceLloyd(points, d, best?.centroids ?? new Float64Array(0), 300);
          expect([...result.assignments]).toEqual([...plain.assignments]);
          expect([...result.centroids]).toEqual([...plain.centroids]);
          expect([...result.sizes]).toEqual([...plain.sizes]);
          expect(result.iterations).toBe(plain.iterations);
          expect(result.sse).toBe(plain.sse);
          expect(result.seedingSse).toBe(plain.seedingSse);
        },
      ),
      { numRuns: runs },
    );
  });
});
