/**
 * K-means for the nightly clustering: k-means++ seeding, Hamerly's bounds to skip most distance
 * computations, several restarts (lowest SSE wins; above 100,000 points they run on a sample and
 * only the best is iterated on all points), deterministic for a seed. Algorithm, rules and the k
 * criterion are described in docs/KMEANS.md; test/support/reference-kmeans.ts is the plain Lloyd
 * iteration this must agree with.
 *
 * Hot loops use typed arrays only, allocate nothing and call no closures; reading a typed array
 * under `noUncheckedIndexedAccess` is written `as number` since every index is in range.
 */
import type {
  ChooseKOptions,
  ChooseKResult,
  KMeans,
  KMeansOptions,
  KMeansResult,
} from './contracts.ts';
import { seededRandom } from './random.ts';

/** Points, dimensions or options k-means cannot work with; `message` names the field. */
export class KMeansInputError extends Error {
  readonly code = 'invalid_kmeans_input';
  constructor(message: string) {
    super(message);
    this.name = 'KMeansInputError';
  }
}

const defaultRestarts = 3;
const defaultSeed = 1;
const defaultMaxIterations = 300;
/** Above this many points the restarts run on a sample (docs/KMEANS.md, "Restarts"). */
const defaultSampleAbove = 100_000;
/** The restarts' sample: at least this many points per cluster… */
const sampledPointsPerCluster = 1_000;
/** …and at least this share of the points. */
const sampledShare = 0.05;

/**
 * Bounds are compared with this margin (relative to the data's bounding-box diagonal), so the
 * rounding of `sqrt` and of the cumulative drifts can never let a point skip a centroid that
 * is as near as its own: points that close to a tie get the exact scan instead.
 */
const boundMargin = 1e-10;

/** Scratch buffers of one `kmeans` call, reused by every restart. */
interface Workspace {
  readonly n: number;
  readonly d: number;
  readonly k: number;
  /** k-means++: squared distance of every point to its nearest seed so far. */
  readonly nearest: Float64Array;
  readonly assignments: Int32Array;
  /** Hamerly's upper bound on the distance to the own centroid, minus `drift[own]`. */
  readonly upper: Float64Array;
  /** Hamerly's lower bound on the distance to every other centroid, plus `otherDrift[own]`. */
  readonly lower: Float64Array;
  readonly centroids: Float64Array;
  readonly previous: Float64Array;
  readonly sums: Float64Array;
  readonly exactSums: Float64Array;
  readonly sizes: Int32Array;
  /** Per centroid, the distance it has moved so far in this run. */
  readonly drift: Float64Array;
  /** Per centroid, half the distance to its nearest other centroid. */
  readonly half: Float64Array;
  /**
   * Per centroid c, the sum over updates of the largest move of a centroid other than c: how
   * far the lower bound of a point of c has shrunk (Hamerly's refinement).
   */
  readonly otherDrift: Float64Array;
  readonly margin: number;
}

function workspace(points: Float64Array, n: number, d: number, k: number): Workspace {
  return {
    n,
    d,
    k,
    nearest: new Float64Array(n),
    assignments: new Int32Array(n),
    upper: new Float64Array(n),
    lower: new Float64Array(n),
    centroids: new Float64Array(k * d),
    previous: new Float64Array(k * d),
    sums: new Float64Array(k * d),
    exactSums: new Float64Array(k * d),
    sizes: new Int32Array(k),
    drift: new Float64Array(k),
    half: new Float64Array(k),
    otherDrift: new Float64Array(k),
    margin: boundMargin * diagonal(points, n, d),
  };
}

/** The bounding box's diagonal: the scale every distance in the data is measured against. */
function diagonal(points: Float64Array, n: number, d: number): number {
  let sum = 0;
  for (let j = 0; j < d; j += 1) {
    let low = points[j] as number;
    let high = low;
    for (let at = j; at < n * d; at += d) {
      const value = points[at] as number;
      if (value < low) low = value;
      else if (value > high) high = value;
    }
    sum += (high - low) * (high - low);
  }
  return Math.sqrt(sum);
}

/**
 * k-means++ (Arthur & Vassilvitskii 2007): the first seed uniformly, each next one with
 * probability proportional to the squared distance to the nearest seed so far. One pass per
 * seed both updates `nearest` and draws the next seed, by weighted reservoir sampling with
 * exponential jumps: the current pick is replaced when the running total passes
 * `total / u` (u uniform in (0, 1]), which needs O(log n) random numbers per pass.
 */
function seedPlusPlus(points: Float64Array, ws: Workspace, random: () => number): void {
  const { n, d, k, nearest, centroids } = ws;
  let chosen = Math.floor(random() * n);
  for (let j = 0; j < d; j += 1) centroids[j] = points[chosen * d + j] as number;
  for (let c = 1; c < k; c += 1) {
    const last = (c - 1) * d;
    let total = 0;
    let threshold = 0;
    chosen = -1;
    for (let i = 0, base = 0; i < n; i += 1, base += d) {
      let distance = 0;
      for (let j = 0; j < d; j += 1) {
        const diff = (points[base + j] as number) - (centroids[last + j] as number);
        distance += diff * diff;
      }
      if (c > 1) {
        const known = nearest[i] as number;
        if (known < distance) distance = known;
      }
      nearest[i] = distance;
      total += distance;
      if (total > threshold) {
        chosen = i;
        threshold = total / (1 - random());
      }
    }
    // Every point sits on a seed already (fewer distinct points than k): any point will do.
    if (chosen < 0) chosen = Math.floor(random() * n);
    for (let j = 0; j < d; j += 1) centroids[c * d + j] = points[chosen * d + j] as number;
  }
}

/** Assigns every point by a full scan and sets the bounds; returns the SSE. */
function assignAll(points: Float64Array, ws: Workspace): number {
  const { n, d, k, assignments, upper, lower, centroids, sums, sizes, drift } = ws;
  sums.fill(0);
  sizes.fill(0);
  drift.fill(0);
  ws.otherDrift.fill(0);
  let sse = 0;
  for (let i = 0, base = 0; i < n; i += 1, base += d) {
    let best = 0;
    let first = Number.POSITIVE_INFINITY;
    let second = Number.POSITIVE_INFINITY;
    for (let c = 0, at = 0; c < k; c += 1, at += d) {
      let distance = 0;
      for (let j = 0; j < d; j += 1) {
        const diff = (points[base + j] as number) - (centroids[at + j] as number);
        distance += diff * diff;
      }
      if (distance < first) {
        second = first;
        first = distance;
        best = c;
      } else if (distance < second) second = distance;
    }
    assignments[i] = best;
    sizes[best] = (sizes[best] as number) + 1;
    for (let j = 0, at = best * d; j < d; j += 1) {
      sums[at + j] = (sums[at + j] as number) + (points[base + j] as number);
    }
    upper[i] = Math.sqrt(first);
    lower[i] = Math.sqrt(second);
    sse += first;
  }
  halfDistances(ws);
  return sse;
}

/** `half[c]`: half the distance from centroid c to its nearest other centroid. */
function halfDistances(ws: Workspace): void {
  const { d, k, centroids, half } = ws;
  half.fill(Number.POSITIVE_INFINITY);
  for (let a = 0; a < k; a += 1) {
    for (let b = a + 1; b < k; b += 1) {
      let distance = 0;
      for (let j = 0; j < d; j += 1) {
        const diff = (centroids[a * d + j] as number) - (centroids[b * d + j] as number);
        distance += diff * diff;
      }
      const halfDistance = Math.sqrt(distance) / 2;
      if (halfDistance < (half[a] as number)) half[a] = halfDistance;
      if (halfDistance < (half[b] as number)) half[b] = halfDistance;
    }
  }
}

/** Centroids ← means of the sums (an empty cluster keeps its centroid). */
function meansFromSums(ws: Workspace): void {
  const { d, k, centroids, sums, sizes } = ws;
  for (let c = 0; c < k; c += 1) {
    const size = sizes[c] as number;
    if (size === 0) continue;
    for (let j = 0, at = c * d; j < d; j += 1) centroids[at + j] = (sums[at + j] as number) / size;
  }
}

/**
 * An empty cluster takes the point farthest from its own cluster's mean, from clusters of two
 * or more points (lowest index on a tie), if that distance is above 0; that point's bounds are
 * reset so the next pass scans it in full. Rare, so a plain pass per empty cluster.
 */
function relocateEmpty(points: Float64Array, ws: Workspace): void {
  const { n, d, k, assignments, upper, lower, centroids, sums, sizes } = ws;
  for (let empty = 0; empty < k; empty += 1) {
    if ((sizes[empty] as number) > 0) continue;
    let far = -1;
    let farDistance = 0;
    for (let i = 0, base = 0; i < n; i += 1, base += d) {
      const own = assignments[i] as number;
      if ((sizes[own] as number) < 2) continue;
      let distance = 0;
      for (let j = 0, at = own * d; j < d; j += 1) {
        const diff = (points[base + j] as number) - (centroids[at + j] as number);
        distance += diff * diff;
      }
      if (distance > farDistance) {
        farDistance = distance;
        far = i;
      }
    }
    if (far < 0) continue;
    const donor = assignments[far] as number;
    assignments[far] = empty;
    sizes[donor] = (sizes[donor] as number) - 1;
    sizes[empty] = 1;
    for (let j = 0; j < d; j += 1) {
      const value = points[far * d + j] as number;
      sums[donor * d + j] = (sums[donor * d + j] as number) - value;
      sums[empty * d + j] = value;
    }
    upper[far] = Number.POSITIVE_INFINITY;
    lower[far] = Number.NEGATIVE_INFINITY;
    meansFromSums(ws);
  }
}

/** Moves the centroids to the means and records how far each moved. */
function update(points: Float64Array, ws: Workspace): void {
  const { d, k, centroids, previous, sizes, drift } = ws;
  previous.set(centroids);
  meansFromSums(ws);
  for (let c = 0; c < k; c += 1) {
    if ((sizes[c] as number) === 0) {
      relocateEmpty(points, ws);
      break;
    }
  }
  let largest = 0;
  let secondLargest = 0;
  let fastest = -1;
  for (let c = 0; c < k; c += 1) {
    let distance = 0;
    for (let j = 0, at = c * d; j < d; j += 1) {
      const diff = (centroids[at + j] as number) - (previous[at + j] as number);
      distance += diff * diff;
    }
    const moved = Math.sqrt(distance);
    drift[c] = (drift[c] as number) + moved;
    if (moved > largest) {
      secondLargest = largest;
      largest = moved;
      fastest = c;
    } else if (moved > secondLargest) secondLargest = moved;
  }
  const { otherDrift } = ws;
  for (let c = 0; c < k; c += 1) {
    otherDrift[c] = (otherDrift[c] as number) + (c === fastest ? secondLargest : largest);
  }
  halfDistances(ws);
}

/**
 * Hamerly's assignment pass. A point whose upper bound is below both its lower bound and half
 * the distance from its centroid to the nearest other one cannot change cluster, and is skipped
 * without a distance computation or a write; otherwise the upper bound is tightened, and only if
 * that is not enough are all k centroids scanned. Sums move with the points that change cluster.
 * Returns how many changed.
 */
function assignPass(points: Float64Array, ws: Workspace): number {
  const { n, d, k, assignments, upper, lower, centroids, sums, sizes, drift, half, margin } = ws;
  const { otherDrift } = ws;
  let moved = 0;
  for (let i = 0, base = 0; i < n; i += 1, base += d) {
    const own = assignments[i] as number;
    const ownDrift = drift[own] as number;
    const lowerBound = (lower[i] as number) - (otherDrift[own] as number);
    const ownHalf = half[own] as number;
    const limit = Math.max(lowerBound, ownHalf) - margin;
    if ((upper[i] as number) + ownDrift < limit) continue;
    let ownDistance = 0;
    for (let j = 0, at = own * d; j < d; j += 1) {
      const diff = (points[base + j] as number) - (centroids[at + j] as number);
      ownDistance += diff * diff;
    }
    const tightened = Math.sqrt(ownDistance);
    if (tightened < limit) {
      upper[i] = tightened - ownDrift;
      continue;
    }
    // The own distance is known: scan the others, a lower index winning a tie as in a full scan.
    let best = own;
    let first = ownDistance;
    let second = Number.POSITIVE_INFINITY;
    for (let c = 0, at = 0; c < k; c += 1, at += d) {
      if (c === own) continue;
      let distance = 0;
      for (let j = 0; j < d; j += 1) {
        const diff = (points[base + j] as number) - (centroids[at + j] as number);
        distance += diff * diff;
      }
      if (distance < first || (distance === first && c < best)) {
        second = first;
        first = distance;
        best = c;
      } else if (distance < second) second = distance;
    }
    upper[i] = Math.sqrt(first) - (drift[best] as number);
    lower[i] = Math.sqrt(second) + (otherDrift[best] as number);
    if (best !== own) {
      moved += 1;
      assignments[i] = best;
      sizes[own] = (sizes[own] as number) - 1;
      sizes[best] = (sizes[best] as number) + 1;
      for (let j = 0, from = own * d, to = best * d; j < d; j += 1) {
        const value = points[base + j] as number;
        sums[from + j] = (sums[from + j] as number) - value;
        sums[to + j] = (sums[to + j] as number) + value;
      }
    }
  }
  return moved;
}

/**
 * Replaces the running sums (kept up to date by adding and subtracting moved points) by sums
 * taken in point order; true when that changes a centroid, i.e. rounding had drifted them.
 */
function resumFromScratch(points: Float64Array, ws: Workspace): boolean {
  const { n, d, k, assignments, sums, exactSums, sizes, centroids } = ws;
  exactSums.fill(0);
  for (let i = 0, base = 0; i < n; i += 1, base += d) {
    const at = (assignments[i] as number) * d;
    for (let j = 0; j < d; j += 1) {
      exactSums[at + j] = (exactSums[at + j] as number) + (points[base + j] as number);
    }
  }
  sums.set(exactSums);
  for (let c = 0; c < k; c += 1) {
    const size = sizes[c] as number;
    if (size === 0) continue;
    for (let j = 0, at = c * d; j < d; j += 1) {
      if ((exactSums[at + j] as number) / size !== centroids[at + j]) return true;
    }
  }
  return false;
}

function finalSse(points: Float64Array, ws: Workspace): number {
  const { n, d, assignments, centroids } = ws;
  let sse = 0;
  for (let i = 0, base = 0; i < n; i += 1, base += d) {
    const at = (assignments[i] as number) * d;
    let distance = 0;
    for (let j = 0; j < d; j += 1) {
      const diff = (points[base + j] as number) - (centroids[at + j] as number);
      distance += diff * diff;
    }
    sse += distance;
  }
  return sse;
}

interface Run {
  readonly sse: number;
  readonly seedingSse: number;
  readonly iterations: number;
}

/**
 * Lloyd iteration, accelerated, from the centroids in `ws.centroids`; `assignedSse` when
 * `assignAll` has just been run for them and returned it.
 */
function iterate(
  points: Float64Array,
  ws: Workspace,
  maxIterations: number,
  assignedSse?: number,
): Run {
  const seedingSse = assignedSse ?? assignAll(points, ws);
  let iterations = 0;
  while (iterations < maxIterations) {
    update(points, ws);
    iterations += 1;
    if (assignPass(points, ws) === 0 && !resumFromScratch(points, ws)) break;
  }
  return { sse: finalSse(points, ws), seedingSse, iterations };
}

function checkPoints(points: Float64Array, dimensions: number): number {
  if (!(points instanceof Float64Array)) {
    throw new KMeansInputError('points must be a Float64Array (n × dimensions, row-major)');
  }
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new KMeansInputError(`dimensions must be a positive integer, got ${dimensions}`);
  }
  if (points.length === 0 || points.length % dimensions !== 0) {
    throw new KMeansInputError(
      `points must hold a positive multiple of ${dimensions} values, got ${points.length}`,
    );
  }
  for (let at = 0; at < points.length; at += 1) {
    if (!Number.isFinite(points[at] as number)) {
      throw new KMeansInputError(
        `point ${Math.floor(at / dimensions)} has a non-finite value in dimension ${at % dimensions}`,
      );
    }
  }
  return points.length / dimensions;
}

function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new KMeansInputError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

function result(ws: Workspace, run: Run): KMeansResult {
  return {
    k: ws.k,
    dimensions: ws.d,
    centroids: Float64Array.from(ws.centroids),
    assignments: Int32Array.from(ws.assignments),
    sizes: Int32Array.from(ws.sizes),
    ...run,
  };
}

/** The rows of `points` at `indexes`, in that order. */
function gather(points: Float64Array, d: number, indexes: Int32Array): Float64Array {
  const gathered = new Float64Array(indexes.length * d);
  for (let s = 0; s < indexes.length; s += 1) {
    const i = indexes[s] as number;
    gathered.set(points.subarray(i * d, i * d + d), s * d);
  }
  return gathered;
}

/** Validated options of one `kmeans` call, defaults applied. */
interface Plan {
  readonly n: number;
  readonly k: number;
  readonly restarts: number;
  readonly seed: number;
  readonly maxIterations: number;
  /** The restarts' sample size, or 0 when they run on all points. */
  readonly sampleSize: number;
}

function plan(points: Float64Array, dimensions: number, options: KMeansOptions): Plan {
  const n = checkPoints(points, dimensions);
  const { k } = options;
  const restarts = options.restarts ?? defaultRestarts;
  const seed = options.seed ?? defaultSeed;
  const maxIterations = options.maxIterations ?? defaultMaxIterations;
  const sampleAbove = options.sampleAbove ?? defaultSampleAbove;
  checkInteger('k', k, 1, n);
  checkInteger('restarts', restarts, 1);
  checkInteger('seed', seed, Number.MIN_SAFE_INTEGER);
  checkInteger('maxIterations', maxIterations, 0);
  checkInteger('sampleAbove', sampleAbove, 0);
  const sampleSize =
    options.sampleSize ?? Math.max(sampledPointsPerCluster * k, Math.ceil(sampledShare * n));
  checkInteger('sampleSize', sampleSize, k);
  const sampled = n > sampleAbove && sampleSize < n;
  return { n, k, restarts, seed, maxIterations, sampleSize: sampled ? sampleSize : 0 };
}

/**
 * The restarts on a sample: draws the sample, then per restart seeds k-means++ on it, iterates
 * on it, and measures the SSE on all points of the resulting centroids (one full assignment
 * pass, which leaves `ws` ready to iterate from them). Calls `candidate` with each restart's
 * centroids and that SSE, in restart order.
 */
function sampledRestarts(
  points: Float64Array,
  ws: Workspace,
  p: Plan,
  random: () => number,
  candidate: (centroids: Float64Array, sse: number) => void,
): void {
  const sample = gather(points, ws.d, sampleIndexes(p.n, p.sampleSize, random));
  const sampleWs = workspace(sample, p.sampleSize, ws.d, p.k);
  for (let restart = 0; restart < p.restarts; restart += 1) {
    seedPlusPlus(sample, sampleWs, random);
    iterate(sample, sampleWs, p.maxIterations);
    ws.centroids.set(sampleWs.centroids);
    candidate(sampleWs.centroids, assignAll(points, ws));
  }
}

/**
 * Clusters `points` (`n × dimensions`, row-major) into `options.k` clusters: k-means++ restarts,
 * on all points or, above `sampleAbove` points, on a sample with the best one iterated on all
 * points (docs/KMEANS.md).
 */
export const kmeans: KMeans = (points, dimensions, options: KMeansOptions): KMeansResult => {
  const p = plan(points, dimensions, options);
  const ws = workspace(points, p.n, dimensions, p.k);
  const random = seededRandom(p.seed);
  if (p.sampleSize > 0) {
    const start = new Float64Array(p.k * dimensions);
    let startSse = Number.POSITIVE_INFINITY;
    let lastWins = false;
    sampledRestarts(points, ws, p, random, (centroids, sse) => {
      lastWins = sse < startSse;
      if (lastWins) {
        startSse = sse;
        start.set(centroids);
      }
    });
    // `ws` is still assigned to the last candidate: when that one won, it need not be redone.
    if (lastWins) return result(ws, iterate(points, ws, p.maxIterations, startSse));
    ws.centroids.set(start);
    return result(ws, iterate(points, ws, p.maxIterations));
  }
  let best: KMeansResult | undefined;
  for (let restart = 0; restart < p.restarts; restart += 1) {
    seedPlusPlus(points, ws, random);
    const run = iterate(points, ws, p.maxIterations);
    if (!best || run.sse < best.sse) best = result(ws, run);
  }
  return best as KMeansResult;
};

/**
 * The candidates `kmeans` chooses its start from when its restarts run on a sample: each
 * restart's centroids and their SSE on all points, in restart order, drawn exactly as `kmeans`
 * draws them for the same points and options; empty when the restarts run on all points.
 * @internal
 */
export function sampledCandidates(
  points: Float64Array,
  dimensions: number,
  options: KMeansOptions,
): { readonly centroids: Float64Array; readonly sse: number }[] {
  const p = plan(points, dimensions, options);
  const candidates: { centroids: Float64Array; sse: number }[] = [];
  if (p.sampleSize === 0) return candidates;
  const ws = workspace(points, p.n, dimensions, p.k);
  sampledRestarts(points, ws, p, seededRandom(p.seed), (centroids, sse) => {
    candidates.push({ centroids: Float64Array.from(centroids), sse });
  });
  return candidates;
}

/**
 * One accelerated run from the given centroids (`k × dimensions`, row-major; not modified):
 * the entry the tests use to compare with the reference Lloyd from the same start.
 * @internal
 */
export function kmeansFromCentroids(
  points: Float64Array,
  dimensions: number,
  initialCentroids: Float64Array,
  maxIterations = defaultMaxIterations,
): KMeansResult {
  const n = checkPoints(points, dimensions);
  const k = initialCentroids.length / dimensions;
  checkInteger('k', k, 1, n);
  checkInteger('maxIterations', maxIterations, 0);
  const ws = workspace(points, n, dimensions, k);
  ws.centroids.set(initialCentroids);
  return result(ws, iterate(points, ws, maxIterations));
}

/**
 * Mean silhouette of several clusterings of the same points, computing each pairwise distance
 * once: for every point, the mean distance `a` to the rest of its cluster and `b` to the
 * nearest other cluster give `(b − a) / max(a, b)`; a point alone in its cluster (or with no
 * other non-empty cluster) scores 0. O(n² · d) time, O(n · Σk) memory.
 */
export function meanSilhouettes(
  points: Float64Array,
  dimensions: number,
  clusterings: readonly { readonly k: number; readonly assignments: Int32Array }[],
): number[] {
  const n = checkPoints(points, dimensions);
  const d = dimensions;
  const q = clusterings.length;
  const offsets = new Int32Array(q + 1);
  for (let c = 0; c < q; c += 1) {
    const clustering = clusterings[c] as (typeof clusterings)[number];
    if (clustering.assignments.length !== n) {
      throw new KMeansInputError(
        `clustering ${c} has ${clustering.assignments.length} assignments for ${n} points`,
      );
    }
    for (const cluster of clustering.assignments)
      checkInteger('cluster', cluster, 0, clustering.k - 1);
    offsets[c + 1] = (offsets[c] as number) + clustering.k;
  }
  const width = offsets[q] as number;
  const labels = new Int32Array(n * q);
  const sizes = new Int32Array(width);
  for (let c = 0; c < q; c += 1) {
    const { assignments } = clusterings[c] as (typeof clusterings)[number];
    const offset = offsets[c] as number;
    for (let i = 0; i < n; i += 1) {
      const label = offset + (assignments[i] as number);
      labels[i * q + c] = label;
      sizes[label] = (sizes[label] as number) + 1;
    }
  }
  // within[i · width + label]: the sum of distances from point i to the points of that cluster.
  const within = new Float64Array(n * width);
  for (let i = 0; i < n; i += 1) {
    const iBase = i * d;
    for (let o = i + 1; o < n; o += 1) {
      let squared = 0;
      for (let j = 0, oBase = o * d; j < d; j += 1) {
        const diff = (points[iBase + j] as number) - (points[oBase + j] as number);
        squared += diff * diff;
      }
      const distance = Math.sqrt(squared);
      for (let c = 0; c < q; c += 1) {
        const toO = i * width + (labels[o * q + c] as number);
        const toI = o * width + (labels[i * q + c] as number);
        within[toO] = (within[toO] as number) + distance;
        within[toI] = (within[toI] as number) + distance;
      }
    }
  }
  const means: number[] = [];
  for (let c = 0; c < q; c += 1) {
    const first = offsets[c] as number;
    const end = offsets[c + 1] as number;
    let total = 0;
    for (let i = 0; i < n; i += 1) {
      const own = labels[i * q + c] as number;
      const ownSize = sizes[own] as number;
      if (ownSize < 2) continue;
      const a = (within[i * width + own] as number) / (ownSize - 1);
      let b = Number.POSITIVE_INFINITY;
      for (let label = first; label < end; label += 1) {
        const size = sizes[label] as number;
        if (label === own || size === 0) continue;
        const mean = (within[i * width + label] as number) / size;
        if (mean < b) b = mean;
      }
      const scale = Math.max(a, b);
      if (b === Number.POSITIVE_INFINITY || scale === 0) continue;
      total += (b - a) / scale;
    }
    means.push(total / n);
  }
  return means;
}

/** `size` distinct indexes in [0, n), ascending, drawn uniformly (Floyd's algorithm). */
export function sampleIndexes(n: number, size: number, random: () => number): Int32Array {
  if (size >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const chosen = new Set<number>();
  for (let j = n - size; j < n; j += 1) {
    const pick = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(pick) ? j : pick);
  }
  return Int32Array.from(chosen).sort();
}

/**
 * Picks k in [kMin, kMax] by the highest mean silhouette (ties: the smaller k) of a k-means
 * clustering of a seeded uniform sample of `sampleSize` points (all points when there are
 * fewer); the caller then runs `kmeans` with that k on all points.
 */
export function chooseK(
  points: Float64Array,
  dimensions: number,
  options: ChooseKOptions = {},
): ChooseKResult {
  const n = checkPoints(points, dimensions);
  const kMin = options.kMin ?? 3;
  const kMax = options.kMax ?? 6;
  const seed = options.seed ?? defaultSeed;
  const sampleSize = options.sampleSize ?? 2000;
  checkInteger('kMin', kMin, 2);
  checkInteger('kMax', kMax, kMin);
  checkInteger('seed', seed, Number.MIN_SAFE_INTEGER);
  checkInteger('sampleSize', sampleSize, kMax + 1);
  if (n < kMax + 1) {
    throw new KMeansInputError(
      `choosing k up to ${kMax} needs at least ${kMax + 1} points, got ${n}`,
    );
  }
  const random = seededRandom(seed);
  const sample = gather(points, dimensions, sampleIndexes(n, sampleSize, random));
  const clusterings: KMeansResult[] = [];
  for (let k = kMin; k <= kMax; k += 1) clusterings.push(kmeans(sample, dimensions, { k, seed }));
  const scores = meanSilhouettes(sample, dimensions, clusterings);
  const silhouettes: Record<number, number> = {};
  let bestK = kMin;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let k = kMin; k <= kMax; k += 1) {
    const score = scores[k - kMin] as number;
    silhouettes[k] = score;
    if (score > bestScore) {
      bestScore = score;
      bestK = k;
    }
  }
  return { k: bestK, silhouettes };
}
