/**
 * K-means with k-means++ seeding and restarts, deterministic for a seed. This first version is
 * plain Lloyd iteration; the accelerated one replaces it behind the same signature.
 */
import type {
  ChooseKOptions,
  ChooseKResult,
  KMeans,
  KMeansOptions,
  KMeansResult,
} from './contracts.ts';
import { seededRandom } from './random.ts';

function squaredDistance(
  points: Float64Array,
  i: number,
  centroids: Float64Array,
  c: number,
  d: number,
): number {
  let sum = 0;
  for (let j = 0; j < d; j += 1) {
    const diff = (points[i * d + j] ?? 0) - (centroids[c * d + j] ?? 0);
    sum += diff * diff;
  }
  return sum;
}

function seedCentroids(points: Float64Array, d: number, k: number, random: () => number) {
  const n = points.length / d;
  const centroids = new Float64Array(k * d);
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let chosen = Math.floor(random() * n);
  for (let c = 0; c < k; c += 1) {
    centroids.set(points.subarray(chosen * d, chosen * d + d), c * d);
    let total = 0;
    for (let i = 0; i < n; i += 1) {
      const distance = squaredDistance(points, i, centroids, c, d);
      if (distance < (nearest[i] ?? 0)) nearest[i] = distance;
      total += nearest[i] ?? 0;
    }
    let target = random() * total;
    chosen = n - 1;
    for (let i = 0; i < n; i += 1) {
      target -= nearest[i] ?? 0;
      if (target < 0) {
        chosen = i;
        break;
      }
    }
  }
  return centroids;
}

function lloyd(points: Float64Array, d: number, k: number, centroids: Float64Array, max: number) {
  const n = points.length / d;
  const assignments = new Int32Array(n);
  const sizes = new Int32Array(k);
  let sse = 0;
  let seedingSse = Number.NaN;
  let iterations = 0;
  for (; iterations <= max; iterations += 1) {
    let moved = 0;
    sse = 0;
    for (let i = 0; i < n; i += 1) {
      let best = 0;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (let c = 0; c < k; c += 1) {
        const distance = squaredDistance(points, i, centroids, c, d);
        if (distance < bestDistance) {
          bestDistance = distance;
          best = c;
        }
      }
      if (assignments[i] !== best || iterations === 0) moved += 1;
      assignments[i] = best;
      sse += bestDistance;
    }
    if (iterations === 0) seedingSse = sse;
    if (moved === 0 && iterations > 0) break;
    sizes.fill(0);
    const sums = new Float64Array(k * d);
    for (let i = 0; i < n; i += 1) {
      const c = assignments[i] ?? 0;
      sizes[c] = (sizes[c] ?? 0) + 1;
      for (let j = 0; j < d; j += 1)
        sums[c * d + j] = (sums[c * d + j] ?? 0) + (points[i * d + j] ?? 0);
    }
    for (let c = 0; c < k; c += 1) {
      const size = sizes[c] ?? 0;
      if (size > 0)
        for (let j = 0; j < d; j += 1) centroids[c * d + j] = (sums[c * d + j] ?? 0) / size;
    }
  }
  sizes.fill(0);
  for (let i = 0; i < n; i += 1) {
    const c = assignments[i] ?? 0;
    sizes[c] = (sizes[c] ?? 0) + 1;
  }
  return { assignments, sizes, sse, seedingSse, iterations };
}

/** Clusters `points` (`n × dimensions`, row-major) into `options.k` clusters. */
export const kmeans: KMeans = (points, dimensions, options: KMeansOptions): KMeansResult => {
  const random = seededRandom(options.seed ?? 1);
  let best: KMeansResult | undefined;
  for (let restart = 0; restart < (options.restarts ?? 3); restart += 1) {
    const centroids = seedCentroids(points, dimensions, options.k, random);
    const run = lloyd(points, dimensions, options.k, centroids, options.maxIterations ?? 300);
    if (!best || run.sse < best.sse) {
      best = { k: options.k, dimensions, centroids, ...run };
    }
  }
  if (!best) throw new RangeError('kmeans needs at least one restart');
  return best;
};

/** Picks k in [kMin, kMax] by the highest mean silhouette on a seeded sample. */
export function chooseK(
  points: Float64Array,
  dimensions: number,
  options: ChooseKOptions = {},
): ChooseKResult {
  const n = points.length / dimensions;
  const random = seededRandom(options.seed ?? 1);
  const sampleSize = Math.min(n, options.sampleSize ?? 2000);
  const sample = new Float64Array(sampleSize * dimensions);
  for (let s = 0; s < sampleSize; s += 1) {
    const i = Math.floor(random() * n);
    sample.set(points.subarray(i * dimensions, i * dimensions + dimensions), s * dimensions);
  }
  const silhouettes: Record<number, number> = {};
  let bestK = options.kMin ?? 3;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let k = options.kMin ?? 3; k <= (options.kMax ?? 6); k += 1) {
    const result = kmeans(sample, dimensions, { k, seed: options.seed ?? 1 });
    let total = 0;
    for (let i = 0; i < sampleSize; i += 1) {
      const within = new Float64Array(k);
      for (let o = 0; o < sampleSize; o += 1) {
        if (o === i) continue;
        let sum = 0;
        for (let j = 0; j < dimensions; j += 1) {
          const diff = (sample[i * dimensions + j] ?? 0) - (sample[o * dimensions + j] ?? 0);
          sum += diff * diff;
        }
        const c = result.assignments[o] ?? 0;
        within[c] = (within[c] ?? 0) + Math.sqrt(sum);
      }
      const own = result.assignments[i] ?? 0;
      const ownSize = (result.sizes[own] ?? 0) - 1;
      if (ownSize <= 0) continue;
      const a = (within[own] ?? 0) / ownSize;
      let b = Number.POSITIVE_INFINITY;
      for (let c = 0; c < k; c += 1) {
        if (c !== own && (result.sizes[c] ?? 0) > 0)
          b = Math.min(b, (within[c] ?? 0) / (result.sizes[c] ?? 1));
      }
      total += (b - a) / Math.max(a, b);
    }
    silhouettes[k] = total / sampleSize;
    if (total / sampleSize > bestScore) {
      bestScore = total / sampleSize;
      bestK = k;
    }
  }
  return { k: bestK, silhouettes };
}
