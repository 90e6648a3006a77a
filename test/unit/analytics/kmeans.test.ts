import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  chooseK,
  KMeansInputError,
  kmeans,
  meanSilhouettes,
  sampledCandidates,
  sampleIndexes,
} from '../../../shared/domain/analytics/kmeans.ts';
import { seededRandom } from '../../../shared/domain/analytics/random.ts';
import { referenceMeanSilhouette } from '../../support/reference-kmeans.ts';
import { hasSharedData, sharedDataFile } from '../../support/shared-data.ts';

const irisFound = hasSharedData('iris.csv');

/** The 150 iris flowers' four measurements (cm), row-major, from the shared data folder. */
function iris(): Float64Array {
  const path = sharedDataFile('iris.csv');
  const rows = readFileSync(path, 'utf8').trim().split('\n').slice(1);
  return Float64Array.from(rows.flatMap((row) => row.split(',').slice(0, 4).map(Number)));
}

/** SSE of a partition against its own means, computed here from the assignments alone. */
function partitionSse(points: Float64Array, d: number, assignments: Int32Array, k: number) {
  const sums = new Float64Array(k * d);
  const sizes = new Float64Array(k);
  assignments.forEach((c, i) => {
    sizes[c] = (sizes[c] ?? 0) + 1;
    for (let j = 0; j < d; j += 1)
      sums[c * d + j] = (sums[c * d + j] ?? 0) + (points[i * d + j] ?? 0);
  });
  let sse = 0;
  assignments.forEach((c, i) => {
    for (let j = 0; j < d; j += 1) {
      const diff = (points[i * d + j] ?? 0) - (sums[c * d + j] ?? 0) / (sizes[c] ?? 1);
      sse += diff * diff;
    }
  });
  return sse;
}

/** `perBlob` points around each centre, standard deviation 1 per coordinate. */
function blobs(centres: readonly (readonly number[])[], perBlob: number, seed: number) {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const d = centres[0]?.length ?? 0;
  const points = new Float64Array(centres.length * perBlob * d);
  let at = 0;
  for (const centre of centres)
    for (let p = 0; p < perBlob; p += 1) for (const x of centre) points[at++] = x + normal();
  return points;
}

function inputError(run: () => unknown): KMeansInputError {
  try {
    run();
  } catch (error) {
    if (error instanceof KMeansInputError) return error;
    throw error;
  }
  throw new Error('expected a KMeansInputError');
}

describe.runIf(irisFound)('kmeans on iris', () => {
  it('finds the known optimum for k = 3 on the raw measurements: sizes 50 / 62 / 38, SSE 78.85144', () => {
    const points = iris();
    expect(points.length).toBe(150 * 4);
    const result = kmeans(points, 4, { k: 3, restarts: 10, seed: 1 });
    expect([...result.sizes].sort((a, b) => a - b)).toEqual([38, 50, 62]);
    const recomputed = partitionSse(points, 4, result.assignments, 3);
    expect(Math.abs(recomputed - 78.85144)).toBeLessThan(1e-4);
    expect(Math.abs(result.sse - recomputed)).toBeLessThan(1e-9);
    // The 50 setosa flowers (the first 50 rows) form one cluster on their own.
    const setosa = result.assignments[0];
    expect(result.assignments.slice(0, 50).every((c) => c === setosa)).toBe(true);
    expect(result.sizes[setosa ?? 0]).toBe(50);
  });

  it('reports the seeding SSE and the updates it took', () => {
    const result = kmeans(iris(), 4, { k: 3, restarts: 1, seed: 3 });
    expect(result.seedingSse).toBeGreaterThanOrEqual(result.sse);
    expect(result.iterations).toBeGreaterThan(0);
    const capped = kmeans(iris(), 4, { k: 3, restarts: 1, seed: 3, maxIterations: 0 });
    expect(capped.iterations).toBe(0);
    expect(capped.sse).toBe(capped.seedingSse);
    expect(capped.seedingSse).toBe(result.seedingSse);
  });
});

describe('kmeans on many points', () => {
  it.runIf(irisFound)(
    'keeps the restarts on all points at or below 100,000 points (iris among them)',
    () => {
      expect(sampledCandidates(iris(), 4, { k: 3, restarts: 10 })).toEqual([]);
      const points = blobs([[0], [5]], 50_000, 3);
      expect(sampledCandidates(points, 1, { k: 2 })).toEqual([]);
    },
  );

  it('above 100,000 points runs the restarts on a sample and ends as well as restarts on all', () => {
    const centres = [
      [0, 0, 0],
      [4, 0, 0],
      [0, 4, 0],
      [0, 0, 4],
      [4, 4, 4],
    ];
    const points = blobs(centres, 24_000, 13);
    const candidates = sampledCandidates(points, 3, { k: 5, seed: 4 });
    expect(candidates.length).toBe(3);
    const sampled = kmeans(points, 3, { k: 5, seed: 4 });
    expect(sampled.seedingSse).toBe(Math.min(...candidates.map((c) => c.sse)));
    expect(sampled.sse).toBeLessThanOrEqual(sampled.seedingSse);
    expect(Math.abs(sampled.sse - partitionSse(points, 3, sampled.assignments, 5))).toBeLessThan(
      1e-6 * sampled.sse,
    );
    const everywhere = kmeans(points, 3, { k: 5, seed: 4, sampleAbove: 120_000 });
    expect(sampledCandidates(points, 3, { k: 5, seed: 4, sampleAbove: 120_000 })).toEqual([]);
    expect(sampled.sse).toBeLessThanOrEqual(everywhere.sse * (1 + 1e-12));
    expect(kmeans(points, 3, { k: 5, seed: 4 })).toEqual(sampled);
  });
});

describe('chooseK', () => {
  it.runIf(irisFound)(
    'scores k = 3 on iris with the published mean silhouette of its k-means clustering (0.5528)',
    () => {
      const choice = chooseK(iris(), 4, { seed: 1 });
      expect(Object.keys(choice.silhouettes).map(Number)).toEqual([3, 4, 5, 6]);
      expect(Math.abs((choice.silhouettes[3] ?? 0) - 0.5528)).toBeLessThan(1e-4);
      expect(choice.k).toBe(3);
    },
  );

  it('finds four well separated groups from a sample of 20,000 points', () => {
    const points = blobs(
      [
        [0, 0, 0],
        [12, 0, 0],
        [0, 12, 0],
        [0, 0, 12],
      ],
      5_000,
      7,
    );
    const choice = chooseK(points, 3, { seed: 5, sampleSize: 500 });
    expect(choice.k).toBe(4);
    for (const score of Object.values(choice.silhouettes)) {
      expect(score).toBeGreaterThanOrEqual(-1);
      expect(score).toBeLessThanOrEqual(1);
    }
    expect(choice).toEqual(chooseK(points, 3, { seed: 5, sampleSize: 500 }));
  });

  it('computes the silhouettes of several clusterings as the plain O(n²) definition does', () => {
    const points = blobs(
      [
        [0, 0],
        [3, 1],
        [1, 4],
      ],
      40,
      11,
    );
    const clusterings = [2, 3, 5].map((k) => kmeans(points, 2, { k, seed: 2 }));
    const scores = meanSilhouettes(points, 2, clusterings);
    clusterings.forEach((clustering, at) => {
      const expected = referenceMeanSilhouette(points, 2, clustering.assignments, clustering.k);
      expect(Math.abs((scores[at] ?? 0) - expected)).toBeLessThan(1e-12);
    });
  });

  it('samples distinct indexes in ascending order, all of them when the sample is larger', () => {
    const indexes = sampleIndexes(1_000_000, 2_000, seededRandom(9));
    expect(indexes.length).toBe(2_000);
    for (let s = 1; s < indexes.length; s += 1)
      expect(indexes[s] ?? 0).toBeGreaterThan(indexes[s - 1] ?? 0);
    expect(indexes[0]).toBeGreaterThanOrEqual(0);
    expect(indexes[indexes.length - 1]).toBeLessThan(1_000_000);
    expect([...sampleIndexes(5, 10, seededRandom(9))]).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('bad input', () => {
  const points = Float64Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
  it.each([
    [
      'a non-finite value',
      () => kmeans(Float64Array.from([0, Number.NaN]), 1, { k: 1 }),
      /point 1/,
    ],
    [
      'a length that is not a multiple of the dimensions',
      () => kmeans(points, 3, { k: 1 }),
      /multiple of 3/,
    ],
    ['no points', () => kmeans(new Float64Array(0), 2, { k: 1 }), /positive multiple/],
    ['zero dimensions', () => kmeans(points, 0, { k: 1 }), /dimensions/],
    ['k above the number of points', () => kmeans(points, 2, { k: 5 }), /^k must/],
    ['k of 0', () => kmeans(points, 2, { k: 0 }), /^k must/],
    ['a fractional k', () => kmeans(points, 2, { k: 1.5 }), /^k must/],
    ['no restarts', () => kmeans(points, 2, { k: 2, restarts: 0 }), /restarts/],
    ['negative iterations', () => kmeans(points, 2, { k: 2, maxIterations: -1 }), /maxIterations/],
    ['a fractional seed', () => kmeans(points, 2, { k: 2, seed: 0.5 }), /seed/],
    ['a negative sampleAbove', () => kmeans(points, 2, { k: 2, sampleAbove: -1 }), /sampleAbove/],
    ['a sample smaller than k', () => kmeans(points, 2, { k: 3, sampleSize: 2 }), /sampleSize/],
    [
      'points that are not a Float64Array',
      // biome-ignore lint/suspicious/noExplicitAny: deliberately the wrong type, as untyped callers could pass
      () => kmeans([0, 1] as any, 1, { k: 1 }),
      /Float64Array/,
    ],
    ['kMin below 2', () => chooseK(points, 2, { kMin: 1, kMax: 2 }), /kMin/],
    ['kMax below kMin', () => chooseK(points, 2, { kMin: 3, kMax: 2 }), /kMax/],
    [
      'too few points for kMax',
      () => chooseK(points, 2, { kMin: 2, kMax: 4 }),
      /at least 5 points/,
    ],
    [
      'a sample too small for kMax',
      () => chooseK(points, 2, { kMin: 2, kMax: 3, sampleSize: 3 }),
      /sampleSize/,
    ],
  ])('rejects %s with invalid_kmeans_input', (_name, run, message) => {
    const error = inputError(run);
    expect(error.code).toBe('invalid_kmeans_input');
    expect(error.message).toMatch(message);
  });
});
