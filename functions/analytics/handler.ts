import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type AnalyticsApiDeps, makeAnalyticsHandler } from './analytics.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): AnalyticsApiDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  const store = new AnalyticsStore(clients.documents, config.analyticsTable);
  return {
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    latestSucceeded: () => store.latestSucceeded(),
    run: (runId) => store.run(runId),
    recentRuns: (limit) => store.recentRuns(limit),
    rfm: (runId) => store.rfm(runId),
    personas: (runId) => store.personas(runId),
    logger: createLogger({ service: 'analytics', level: config.logLevel }),
  };
}

export const handler = makeAnalyticsHandler(defaultDeps());
