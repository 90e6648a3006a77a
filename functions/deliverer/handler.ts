import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { webhooksQueue } from '../../infra/declarations/queues.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { WebhookStore } from '../../shared/adapters/webhook-store.ts';
import {
  MissingConfigurationError,
  readRuntimeConfig,
  runtimeEnvNames,
} from '../../shared/config/runtime.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type DelivererDeps, makeDelivererHandler, postWithFetch } from './deliverer.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): DelivererDeps {
  const config = readRuntimeConfig();
  if (!config.webhooksQueueUrl) {
    throw new MissingConfigurationError(runtimeEnvNames.webhooksQueueUrl);
  }
  const clients = awsClients();
  const hooks = new WebhookStore(clients.documents, config.segmentsTable);
  const erasures = config.erasuresTable
    ? new ErasureStore(clients.documents, config.erasuresTable)
    : undefined;
  return {
    ...(erasures ? { suppressedAmong: (memberKeys) => erasures.suppressedAmong(memberKeys) } : {}),
    subscription: (segmentId, hookId) => hooks.get(segmentId, hookId),
    post: postWithFetch,
    putOff: async (receiptHandle, seconds) => {
      await clients.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: config.webhooksQueueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    },
    retryBaseSeconds: config.webhookRetryBaseSeconds,
    maxReceiveCount: webhooksQueue.maxReceiveCount,
    // The signature's timestamp is checked against the receiver's clock: always the real one.
    now: Date.now,
    logger: createLogger({ service: 'deliverer', level: config.logLevel }),
  };
}

export const handler = makeDelivererHandler(defaultDeps());
