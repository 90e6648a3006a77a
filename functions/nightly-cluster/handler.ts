import { lakeLocationOf, lakeStoreAt } from '../../shared/config/lake.ts';
import { KMEANS_RESTARTS, KMEANS_SEED, SILHOUETTE_SAMPLE } from '../../shared/config/nightly.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { chooseK, kmeans } from '../../shared/domain/analytics/kmeans.ts';
import { readRfmRows } from '../../shared/jobs/rfm-job.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeNightlyClusterHandler, type NightlyClusterDeps } from './nightly-cluster.ts';

export function defaultDeps(): NightlyClusterDeps {
  const lake = lakeStoreAt(lakeLocationOf(readRuntimeConfig()));
  return {
    lake,
    readRows: (keys) => readRfmRows(lake, keys),
    kmeans,
    chooseK,
    restarts: KMEANS_RESTARTS,
    seed: KMEANS_SEED,
    sampleSize: SILHOUETTE_SAMPLE,
    logger: createLogger({ service: 'nightly-cluster', level: readRuntimeConfig().logLevel }),
  };
}

export const handler = makeNightlyClusterHandler(defaultDeps());
