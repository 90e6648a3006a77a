/**
 * The cluster step: the RFM rows' standardised features, k chosen in 3–6 by the mean silhouette
 * on a seeded sample, k-means with k-means++ seeding and restarts (deterministic for the seed),
 * and the clustering written to the lake for the persona step.
 */
import { KMEANS_RESTARTS, KMEANS_SEED, SILHOUETTE_SAMPLE } from '../../config/nightly.ts';
import type {
  ChooseKOptions,
  ChooseKResult,
  KMeans,
  LakeStore,
  RfmRow,
  RfmStepOutput,
} from '../../domain/analytics/contracts.ts';
import { type FeatureScaling, featureMatrix } from '../../domain/analytics/features.ts';
import { chooseK, kmeans } from '../../domain/analytics/kmeans.ts';
import { putJson, runPrefix } from './lake-files.ts';
import type { RunPlan } from './run-plan.ts';

export interface ClusterStepDeps {
  readonly lake: LakeStore;
  /** The RFM step's rows, in file then line order. */
  readonly readRows: (keys: readonly string[]) => Promise<RfmRow[]>;
  readonly kmeans: KMeans;
  readonly chooseK: (
    points: Float64Array,
    dimensions: number,
    options?: ChooseKOptions,
  ) => ChooseKResult;
  /** @default 8 */
  readonly restarts?: number;
  /** @default 42 */
  readonly seed?: number;
  /** Points the silhouette is computed on. @default 2000 */
  readonly sampleSize?: number;
}

export interface ClusterStepInput {
  readonly run: RunPlan;
  /**
   * Where the RFM rows are: the RFM step's own list of keys, or the lake prefix it wrote under
   * (Athena's UNLOAD names its files itself; every `.gz` file under it is read, in key order).
   */
  readonly rfm: Pick<RfmStepOutput, 'rowKeys'> | { readonly rowPrefix: string };
}

export interface ClusterStepOutput {
  readonly clustersKey: string;
  readonly members: number;
  readonly k: number;
  readonly sse: number;
  readonly silhouettes: Readonly<Record<string, number>>;
}

/** The clustering as the lake keeps it. */
export interface StoredClustering {
  readonly runId: string;
  readonly rowKeys: readonly string[];
  readonly k: number;
  readonly centroids: readonly number[];
  readonly scaling: FeatureScaling;
  /** The k-means index of each row, in row order. */
  readonly assignments: readonly number[];
  readonly sse: number;
  readonly silhouettes: Readonly<Record<string, number>>;
}

/** The lake key of a run's clustering. */
export function clustersKey(runId: string): string {
  return `${runPrefix(runId)}clusters.json.gz`;
}

/**
 * The clustering every nightly run uses (the Lambda, `npm run nightly` and the benchmarks): the
 * accelerated k-means and silhouette k choice with the settings of `shared/config/nightly.ts`.
 */
export const configuredClustering = {
  kmeans,
  chooseK,
  restarts: KMEANS_RESTARTS,
  seed: KMEANS_SEED,
  sampleSize: SILHOUETTE_SAMPLE,
} as const satisfies Omit<ClusterStepDeps, 'lake' | 'readRows'>;

export const K_MIN = 3;
export const K_MAX = 6;

export async function runClusterStep(
  deps: ClusterStepDeps,
  input: ClusterStepInput,
): Promise<ClusterStepOutput> {
  const rowKeys =
    'rowKeys' in input.rfm
      ? input.rfm.rowKeys
      : (await deps.lake.list(input.rfm.rowPrefix)).filter((key) => key.endsWith('.gz'));
  const rows = await deps.readRows(rowKeys);
  const matrix = featureMatrix(rows);
  const seed = deps.seed ?? 42;
  let k = 0;
  let silhouettes: Readonly<Record<string, number>> = {};
  let centroids: readonly number[] = [];
  let assignments: readonly number[] = [];
  let sse = 0;
  if (matrix.n > 0) {
    // Fewer members than clusters: each member its own cluster, up to K_MAX.
    if (matrix.n <= K_MIN) {
      k = matrix.n;
    } else {
      const chosen = deps.chooseK(matrix.points, matrix.dimensions, {
        kMin: K_MIN,
        kMax: Math.min(K_MAX, matrix.n - 1),
        seed,
        sampleSize: deps.sampleSize ?? 2000,
      });
      k = chosen.k;
      silhouettes = Object.fromEntries(
        Object.entries(chosen.silhouettes).map(([key, value]) => [
          key,
          Math.round(value * 1e4) / 1e4,
        ]),
      );
    }
    const result = deps.kmeans(matrix.points, matrix.dimensions, {
      k,
      restarts: deps.restarts ?? 8,
      seed,
    });
    centroids = Array.from(result.centroids);
    assignments = Array.from(result.assignments);
    sse = result.sse;
  }
  const key = clustersKey(input.run.runId);
  const stored: StoredClustering = {
    runId: input.run.runId,
    rowKeys,
    k,
    centroids,
    scaling: matrix.scaling,
    assignments,
    sse,
    silhouettes,
  };
  await putJson(deps.lake, key, stored);
  return { clustersKey: key, members: matrix.n, k, sse: Math.round(sse * 1e6) / 1e6, silhouettes };
}
