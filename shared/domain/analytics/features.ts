/**
 * The clustering features of a member, from its RFM row: in `clusterFeatureNames` order, skewed
 * ones through `log1p`, then standardised (z-scores) so no feature outweighs another by its unit;
 * and the way back, from a centroid in z-scores to the features' own units. Pure.
 */
import { type ClusterFeatureName, clusterFeatureNames, type RfmRow } from './contracts.ts';

/**
 * Features whose distribution has a long right tail (a few members order or spend far more than
 * the rest): clustered on `log1p(x)` so the tail does not make a cluster of its own.
 */
export const skewedFeatures: ReadonlySet<ClusterFeatureName> = new Set<ClusterFeatureName>([
  'frequency',
  'monetary',
  'averageOrderValue',
  'distinctProducts',
]);

/**
 * A feature value that is not a finite number ≥ 0 (a malformed RFM row). Said by the row's
 * place, not its member: a failed run's error is kept in its run record, which an erasure does
 * not reach.
 */
export class InvalidFeatureError extends Error {
  readonly code = 'invalid_cluster_feature';
  override readonly name = 'InvalidFeatureError';
}

/**
 * The features of one row in original units, in `clusterFeatureNames` order; `place` (1-based)
 * says which row a refusal is about.
 */
export function rawFeatures(row: RfmRow, place?: number): number[] {
  return clusterFeatureNames.map((name) => {
    const value = name === 'monetary' ? Number(row.monetary) : row[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new InvalidFeatureError(
        `${place === undefined ? 'An RFM row' : `RFM row ${place}`}: feature ${name} is ${JSON.stringify(row[name])}, not a finite number ≥ 0`,
      );
    }
    return value;
  });
}

/** How the features were scaled: the per-feature mean and standard deviation after the log step. */
export interface FeatureScaling {
  readonly names: readonly ClusterFeatureName[];
  readonly means: readonly number[];
  /** Population standard deviations; a constant feature has 0 here and 0 as every z-score. */
  readonly sds: readonly number[];
}

export interface FeatureMatrix {
  readonly n: number;
  readonly dimensions: number;
  /** `n × dimensions`, row-major: z-scores of the (log-)transformed features. */
  readonly points: Float64Array;
  readonly scaling: FeatureScaling;
}

/** The transform applied to a feature before standardising (`log1p` for skewed ones). */
export function transformFeature(name: ClusterFeatureName, value: number): number {
  return skewedFeatures.has(name) ? Math.log1p(value) : value;
}

/** The inverse of {@link transformFeature}. */
export function untransformFeature(name: ClusterFeatureName, value: number): number {
  return skewedFeatures.has(name) ? Math.expm1(value) : value;
}

/** The standardised feature matrix of `rows`, in row order. */
export function featureMatrix(rows: readonly RfmRow[]): FeatureMatrix {
  const names = clusterFeatureNames;
  const dimensions = names.length;
  const n = rows.length;
  const points = new Float64Array(n * dimensions);
  for (let i = 0; i < n; i += 1) {
    const raw = rawFeatures(rows[i] as RfmRow, i + 1);
    for (let j = 0; j < dimensions; j += 1) {
      points[i * dimensions + j] = transformFeature(
        names[j] as ClusterFeatureName,
        raw[j] as number,
      );
    }
  }
  const means = new Array<number>(dimensions).fill(0);
  const sds = new Array<number>(dimensions).fill(0);
  for (let j = 0; j < dimensions; j += 1) {
    let sum = 0;
    for (let i = 0; i < n; i += 1) sum += points[i * dimensions + j] as number;
    const mean = n > 0 ? sum / n : 0;
    let squares = 0;
    for (let i = 0; i < n; i += 1) {
      const diff = (points[i * dimensions + j] as number) - mean;
      squares += diff * diff;
    }
    const sd = n > 0 ? Math.sqrt(squares / n) : 0;
    means[j] = mean;
    // Relative to the mean's size, a spread this small is rounding noise: treat it as constant.
    sds[j] = sd > 1e-12 * Math.max(1, Math.abs(mean)) ? sd : 0;
    const scale = sds[j] as number;
    for (let i = 0; i < n; i += 1) {
      const at = i * dimensions + j;
      points[at] = scale === 0 ? 0 : ((points[at] as number) - mean) / scale;
    }
  }
  return { n, dimensions, points, scaling: { names, means, sds } };
}

/** A point in z-scores back in the features' own units (days, orders, money, products). */
export function toOriginalUnits(
  zScores: ArrayLike<number>,
  scaling: FeatureScaling,
): Record<ClusterFeatureName, number> {
  const out = {} as Record<ClusterFeatureName, number>;
  scaling.names.forEach((name, j) => {
    const transformed = (zScores[j] ?? 0) * (scaling.sds[j] ?? 0) + (scaling.means[j] ?? 0);
    out[name] = untransformFeature(name, transformed);
  });
  return out;
}
