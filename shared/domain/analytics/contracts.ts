/**
 * The contracts between the nightly analytics steps (lake → RFM SQL → k-means → personas →
 * write-back), so each step can be built, tested and replaced on its own. Pure types only.
 */
import type { ValueTier } from '../segments/segment-definition.ts';

/** The RFM SQL's output: one row per member who ordered in the window, as of `asOf`. */
export interface RfmRow {
  readonly memberId: string;
  /** The last order's date in the brand zone, `YYYY-MM-DD` (recency is derived from it at read time). */
  readonly lastOrderDate: string;
  /** The first order's date in the window, `YYYY-MM-DD`. */
  readonly firstOrderDate: string;
  /** Whole days from `lastOrderDate` to `asOf`, in the brand zone. */
  readonly recencyDays: number;
  /** Distinct orders in the window. */
  readonly frequency: number;
  /** Revenue in the window, exact decimal text (`"1234.50"`). */
  readonly monetary: string;
  /** Scores 1–5 (5 best) by quintiles; the rule is documented with the SQL. */
  readonly r: number;
  readonly f: number;
  readonly m: number;
  /** `"555"`. */
  readonly score: string;
  /** One of `rfmSegmentNames` (the mapping is configuration). */
  readonly segment: string;
  /** One of `rfmClass8Names`. */
  readonly class8: string;
  readonly valueTier: ValueTier;
  /** Distinct products ordered in the window (a clustering feature). */
  readonly distinctProducts: number;
  /** `monetary / frequency`, as a number (a clustering feature). */
  readonly averageOrderValue: number;
  /** Whole days from `firstOrderDate` to `asOf` (a clustering feature). */
  readonly tenureDays: number;
}

/**
 * The features k-means clusters on, in this order; skewed ones are log-transformed
 * (`log1p`) and all are standardised before clustering.
 */
export const clusterFeatureNames = [
  'recencyDays',
  'frequency',
  'monetary',
  'averageOrderValue',
  'tenureDays',
  'distinctProducts',
] as const;
export type ClusterFeatureName = (typeof clusterFeatureNames)[number];

export interface KMeansOptions {
  readonly k: number;
  /** Independent k-means++ seedings, each iterated; the lowest SSE wins. @default 3 */
  readonly restarts?: number;
  /** The same seed and points give the same result. @default 1 */
  readonly seed?: number;
  /** Centroid updates per run, on the sample and on all points alike. @default 300 */
  readonly maxIterations?: number;
  /**
   * Above this many points, every restart (seeding and iteration) runs on one seeded sample of
   * `sampleSize` points, and only the restart whose centroids fit all points best is iterated
   * on all points (docs/KMEANS.md, "Restarts"); at or below it, every restart runs on all points.
   * @default 100_000
   */
  readonly sampleAbove?: number;
  /**
   * The size of that sample (at least k); all points when it is not below their number.
   * @default max(1,000 · k, ⌈5 % of the points⌉)
   */
  readonly sampleSize?: number;
}

export interface KMeansResult {
  readonly k: number;
  readonly dimensions: number;
  /** `k × dimensions`, row-major. */
  readonly centroids: Float64Array;
  /** The cluster (0 … k-1) of every point. */
  readonly assignments: Int32Array;
  readonly sizes: Int32Array;
  /** Within-cluster sum of squared distances of the winning run, on all points. */
  readonly sse: number;
  /**
   * The SSE on all points of the centroids the final iteration on all points started from,
   * before any update: the winning k-means++ seeding, or, when the restarts ran on a sample, the
   * winning restart's converged sample centroids.
   */
  readonly seedingSse: number;
  /** Centroid updates of the final iteration on all points. */
  readonly iterations: number;
}

/** `points` is `n × dimensions`, row-major. */
export type KMeans = (
  points: Float64Array,
  dimensions: number,
  options: KMeansOptions,
) => KMeansResult;

export interface ChooseKOptions {
  readonly kMin?: number;
  readonly kMax?: number;
  readonly seed?: number;
  /** Points the silhouette is computed on (a seeded sample). @default 2000 */
  readonly sampleSize?: number;
}

export interface ChooseKResult {
  readonly k: number;
  /** Mean silhouette on the sample for each k tried. */
  readonly silhouettes: Readonly<Record<number, number>>;
}

/**
 * Where the lake and the nightly steps keep files: a local folder locally, an S3 bucket on AWS.
 * Keys are `/`-separated relative paths (`events/dt=2026-11-25/part-….ndjson.gz`).
 */
export interface LakeStore {
  put(key: string, body: Uint8Array): Promise<void>;
  /** `undefined` when there is no such file. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Every key under `prefix`, in key order. */
  list(prefix: string): Promise<string[]>;
  delete(keys: readonly string[]): Promise<void>;
}

/** What the RFM step hands to the next ones (Step Functions passes references, not rows). */
export interface RfmStepOutput {
  readonly runId: string;
  /** `YYYY-MM-DD` in the brand zone. */
  readonly asOf: string;
  readonly windowDays: number;
  /** Lake keys of the RFM rows (gzip NDJSON, one `RfmRow` per line). */
  readonly rowKeys: readonly string[];
  readonly members: number;
}
