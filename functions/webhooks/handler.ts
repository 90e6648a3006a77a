import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import {
  newWebhookId,
  newWebhookSecret,
  WebhookStore,
} from '../../shared/adapters/webhook-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeWebhooksHandler, type WebhooksDeps } from './webhooks.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): WebhooksDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const segments = new SegmentStore(clients.documents, config.segmentsTable);
  const hooks = new WebhookStore(clients.documents, config.segmentsTable);
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  return {
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    head: (id) => segments.head(id),
    list: (segmentId) => hooks.list(segmentId),
    create: (subscription) => hooks.create(subscription),
    remove: (segmentId, hookId) => hooks.delete(segmentId, hookId),
    newId: newWebhookId,
    newSecret: newWebhookSecret,
    allowLoopbackHttp: config.webhookAllowLoopbackHttp,
    now: clock.now,
    logger: createLogger({ service: 'webhooks', level: config.logLevel }),
  };
}

export const handler = makeWebhooksHandler(defaultDeps());
