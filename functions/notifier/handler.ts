import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { SqsEventQueue } from '../../shared/adapters/event-queue.ts';
import { WebhookStore } from '../../shared/adapters/webhook-store.ts';
import { clock } from '../../shared/config/clock.ts';
import {
  MissingConfigurationError,
  readRuntimeConfig,
  runtimeEnvNames,
} from '../../shared/config/runtime.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeNotifierHandler, type NotifierDeps } from './notifier.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): NotifierDeps {
  const config = readRuntimeConfig();
  if (!config.webhooksQueueUrl) {
    throw new MissingConfigurationError(runtimeEnvNames.webhooksQueueUrl);
  }
  const clients = awsClients();
  const hooks = new WebhookStore(clients.documents, config.segmentsTable);
  const queue = new SqsEventQueue(clients.sqs, config.webhooksQueueUrl);
  return {
    subscriptionsOf: async (segmentId) => (await hooks.list(segmentId)).map((hook) => hook.id),
    sendBatches: (batches) => queue.sendBatches(batches),
    now: clock.now,
    logger: createLogger({ service: 'notifier', level: config.logLevel }),
  };
}

export const handler = makeNotifierHandler(defaultDeps());
