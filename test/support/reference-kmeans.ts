/**
 * The deliberately simple k-means the tests compare the accelerated one with: plain Lloyd
 * iteration (every point against every centroid, sums recomputed from scratch), plain k-means++
 * seeding, and an O(n²) silhouette. Slow and obviously right; never used by the product.
 *
 * It follows the same rules as `shared/domain/analytics/kmeans.ts`:
 * - a point goes to the nearest centroid, the lowest index on a tie;
 * - `iterations` counts centroid updates; iteration stops when an assignment pass changes
 *   nothing or after `maxIterations` updates, so the returned centroids are always the ones the
 *   returned assignments are nearest to;
 * - a cluster left empty by an update takes the point farthest from its own cluster's mean
 *   (lowest index on a tie), from clusters of two or more points, if that distance is above 0.
 */

export interface ReferenceRun {
  readonly centroids: Float64Array;
  readonly assignments: Int32Array;
  readonly sizes: Int32Array;
  readonly sse: number;
  readonly seedingSse: number;
  readonly iterations: number;
}

export function referenceSquaredDistance(
  a: Float64Array,
  i: number,
  b: Float64Array,
  c: number,
  d: number,
): number {
  let sum = 0;
  for (let j = 0; j < d; j += 1) {
    const diff = (a[i * d + j] ?? 0) - (b[c * d + j] ?? 0);
    sum += diff * diff;
  }
  return sum;
}

function nearest(points: Float64Array, i: number, centroids: Float64Array, k: number, d: number) {
  let best = 0;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (let c = 0; c < k; c += 1) {
    const distance = referenceSquaredDistance(points, i, centroids, c, d);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = c;
    }
  }
  return { best, bestDistance };
}

/** Means of the clusters, sums taken in point order; an empty cluster keeps `previous`. */
function means(
  points: Float64Array,
  d: number,
  k: number,
  assignments: Int32Array,
  previous: Float64Array,
) {
  const n = assignments.length;
  const sums = new Float64Array(k * d);
  const sizes = new Int32Array(k);
  for (let i = 0; i < n; i += 1) {
    const c = assignments[i] ?? 0;
    sizes[c] = (sizes[c] ?? 0) + 1;
    for (let j = 0; j < d; j += 1)
      sums[c * d + j] = (sums[c * d + j] ?? 0) + (points[i * d + j] ?? 0);
  }
  const centroids = Float64Array.from(previous);
  for (let c = 0; c < k; c += 1) {
    const size = sizes[c] ?? 0;
    if (size > 0)
      for (let j = 0; j < d; j += 1) centroids[c * d + j] = (sums[c * d + j] ?? 0) / size;
  }
  return { centroids, sizes };
}

/** Lloyd iteration from the given centroids (`k × d`, row-major; not modified). */
export function referenceLloyd(
  points: Float64Array,
  d: number,
  initialCentroids: Float64Array,
  maxIterations: number,
): ReferenceRun {
  const n = points.length / d;
  const k = initialCentroids.length / d;
  let centroids = Float64Array.from(initialCentroids);
  const assignments = new Int32Array(n);
  const assign = () => {
    let moved = 0;
    let sse = 0;
    for (let i = 0; i < n; i += 1) {
      const { best, bestDistance } = nearest(points, i, centroids, k, d);
      if (assignments[i] !== best) moved += 1;
      assignments[i] = best;
      sse += bestDistance;
    }
    return { moved, sse };
  };
  const seeding = assign();
  let sse = seeding.sse;
  let iterations = 0;
  while (iterations < maxIterations) {
    let updated = means(points, d, k, assignments, centroids);
    for (let empty = 0; empty < k; empty += 1) {
      if ((updated.sizes[empty] ?? 0) > 0) continue;
      let far = -1;
      let farDistance = 0;
      for (let i = 0; i < n; i += 1) {
        const own = assignments[i] ?? 0;
        if ((updated.sizes[own] ?? 0) < 2) continue;
        const distance = referenceSquaredDistance(points, i, updated.centroids, own, d);
        if (distance > farDistance) {
          farDistance = distance;
          far = i;
        }
      }
      if (far < 0) continue;
      assignments[far] = empty;
      const relocated = Float64Array.from(updated.centroids);
      relocated.set(points.subarray(far * d, far * d + d), empty * d);
      updated = means(points, d, k, assignments, relocated);
    }
    centroids = updated.centroids;
    iterations += 1;
    const pass = assign();
    sse = pass.sse;
    if (pass.moved === 0) break;
  }
  const sizes = new Int32Array(k);
  for (let i = 0; i < n; i += 1) {
    const c = assignments[i] ?? 0;
    sizes[c] = (sizes[c] ?? 0) + 1;
  }
  return { centroids, assignments, sizes, sse, seedingSse: seeding.sse, iterations };
}

/** Plain k-means++ seeding: each new centroid drawn with probability ∝ squared distance. */
export function referenceSeeding(
  points: Float64Array,
  d: number,
  k: number,
  random: () => number,
): Float64Array {
  const n = points.length / d;
  const centroids = new Float64Array(k * d);
  const nearestDistance = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let chosen = Math.floor(random() * n);
  for (let c = 0; c < k; c += 1) {
    centroids.set(points.subarray(chosen * d, chosen * d + d), c * d);
    let total = 0;
    for (let i = 0; i < n; i += 1) {
      const distance = referenceSquaredDistance(points, i, centroids, c, d);
      if (distance < (nearestDistance[i] ?? 0)) nearestDistance[i] = distance;
      total += nearestDistance[i] ?? 0;
    }
    let target = random() * total;
    chosen = n - 1;
    for (let i = 0; i < n; i += 1) {
      target -= nearestDistance[i] ?? 0;
      if (target < 0) {
        chosen = i;
        break;
      }
    }
  }
  return centroids;
}

/** Restarts of seeding + Lloyd; the lowest SSE wins. */
export function referenceKMeans(
  points: Float64Array,
  d: number,
  k: number,
  restarts: number,
  random: () => number,
  maxIterations = 300,
): ReferenceRun {
  let best: ReferenceRun | undefined;
  for (let restart = 0; restart < restarts; restart += 1) {
    const run = referenceLloyd(points, d, referenceSeeding(points, d, k, random), maxIterations);
    if (!best || run.sse < best.sse) best = run;
  }
  if (!best) throw new RangeError('referenceKMeans needs at least one restart');
  return best;
}

/**
 * Mean silhouette (Rousseeuw 1987) with Euclidean distances: a point alone in its cluster, or
 * with no other non-empty cluster, scores 0.
 */
export function referenceMeanSilhouette(
  points: Float64Array,
  d: number,
  assignments: Int32Array,
  k: number,
): number {
  const n = assignments.length;
  const sizes = new Int32Array(k);
  for (const c of assignments) sizes[c] = (sizes[c] ?? 0) + 1;
  let total = 0;
  for (let i = 0; i < n; i += 1) {
    const within = new Float64Array(k);
    for (let o = 0; o < n; o += 1) {
      if (o === i) continue;
      const c = assignments[o] ?? 0;
      within[c] = (within[c] ?? 0) + Math.sqrt(referenceSquaredDistance(points, i, points, o, d));
    }
    const own = assignments[i] ?? 0;
    if ((sizes[own] ?? 0) < 2) continue;
    const a = (within[own] ?? 0) / ((sizes[own] ?? 0) - 1);
    let b = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c += 1) {
      if (c !== own && (sizes[c] ?? 0) > 0) b = Math.min(b, (within[c] ?? 0) / (sizes[c] ?? 1));
    }
    if (b === Number.POSITIVE_INFINITY || Math.max(a, b) === 0) continue;
    total += (b - a) / Math.max(a, b);
  }
  return total / n;
}
