import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { clock } from '../../shared/config/clock.ts';
import { DEFAULT_RFM_WINDOW_DAYS } from '../../shared/config/nightly.ts';
import {
  MissingConfigurationError,
  readRuntimeConfig,
  runtimeEnvNames,
} from '../../shared/config/runtime.ts';
import { renderRfmSql, rfmOutputPrefix } from '../../shared/jobs/rfm-job.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeNightlyRunHandler, type NightlyRunDeps } from './nightly-run.ts';

/** Production wiring: the analytics table and the lake bucket Athena unloads the RFM rows to. */
export function defaultDeps(): NightlyRunDeps {
  const config = readRuntimeConfig();
  const bucket = config.lakeBucket;
  if (!bucket) throw new MissingConfigurationError(runtimeEnvNames.lakeBucket);
  const store = new AnalyticsStore(awsClients().documents, config.analyticsTable);
  return {
    saveRun: (run) => store.saveRun(run),
    now: clock.now,
    zone: config.brandTimeZone,
    windowDays: DEFAULT_RFM_WINDOW_DAYS,
    rfmQuery: (plan) =>
      renderRfmSql({
        engine: 'athena',
        asOf: plan.asOf,
        windowDays: plan.windowDays,
        zone: plan.zone,
        output: `s3://${bucket}/${rfmOutputPrefix(plan.runId)}`,
      }),
    logger: createLogger({ service: 'nightly-run', level: config.logLevel }),
  };
}

export const handler = makeNightlyRunHandler(defaultDeps());
