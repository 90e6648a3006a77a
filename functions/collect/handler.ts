import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { SqsEventQueue } from '../../shared/adapters/event-queue.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type CollectDeps, makeCollectHandler } from './collect.ts';

/** Production wiring: configuration read and clients created once per cold start. */
export function defaultDeps(): CollectDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  const erasures = config.erasuresTable
    ? new ErasureStore(clients.documents, config.erasuresTable)
    : undefined;
  return {
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    queue: new SqsEventQueue(clients.sqs, config.eventsQueueUrl),
    logger: createLogger({ service: 'collect', level: config.logLevel }),
    maxFutureSkewSeconds: config.maxFutureSkewSeconds,
    eventRetentionDays: config.eventRetentionDays,
    now: () => new Date(clock.now()),
    ...(erasures ? { suppressedAmong: (memberKeys) => erasures.suppressedAmong(memberKeys) } : {}),
  };
}

export const handler = makeCollectHandler(defaultDeps());
