import { lakeLocationOf, lakeStoreAt } from '../../shared/config/lake.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredClustering } from '../../shared/jobs/nightly/cluster-step.ts';
import { readRfmRows } from '../../shared/jobs/rfm-rows.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeNightlyClusterHandler, type NightlyClusterDeps } from './nightly-cluster.ts';

export function defaultDeps(): NightlyClusterDeps {
  const lake = lakeStoreAt(lakeLocationOf(readRuntimeConfig()));
  return {
    lake,
    readRows: (keys) => readRfmRows(lake, keys),
    ...configuredClustering,
    logger: createLogger({ service: 'nightly-cluster', level: readRuntimeConfig().logLevel }),
  };
}

export const handler = makeNightlyClusterHandler(defaultDeps());
