import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { erasuresQueue } from '../../infra/declarations/queues.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { MemberEraser } from '../../shared/adapters/member-eraser.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { clock } from '../../shared/config/clock.ts';
import {
  MissingConfigurationError,
  readRuntimeConfig,
  runtimeEnvNames,
} from '../../shared/config/runtime.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type EraserDeps, lakeNotWired, makeEraserHandler } from './eraser.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): EraserDeps {
  const config = readRuntimeConfig();
  if (!config.erasuresTable) throw new MissingConfigurationError(runtimeEnvNames.erasuresTable);
  if (!config.erasuresQueueUrl) {
    throw new MissingConfigurationError(runtimeEnvNames.erasuresQueueUrl);
  }
  const clients = awsClients();
  const store = new ErasureStore(clients.documents, config.erasuresTable);
  const eraser = new MemberEraser(
    clients.documents,
    {
      events: config.eventsTable,
      profiles: config.profilesTable,
      memberships: config.membershipsTable,
    },
    new ProfileStore(clients.documents, config.profilesTable),
    store,
  );
  return {
    receipt: (id) => store.receipt(id),
    target: (id) => eraser.target(id),
    start: (id, keys, found, at) => store.start(id, keys, found, at),
    suppress: (keys, receiptId, at) => store.suppress(keys, receiptId, at),
    sweep: (receiptId, keys, now) => eraser.sweep(receiptId, keys, now),
    // The lake's eraser is wired here once the lake exists (docs/PRIVACY.md § The lake).
    eraseLakeRows: lakeNotWired,
    sweepDone: (id) => store.sweepDone(id),
    finish: (id, status, at, error) => store.finish(id, status, at, error),
    putOff: async (receiptHandle, seconds) => {
      await clients.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: config.erasuresQueueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    },
    settleSeconds: config.erasureSettleSeconds,
    maxReceiveCount: erasuresQueue.maxReceiveCount,
    now: clock.now,
    logger: createLogger({ service: 'eraser', level: config.logLevel }),
  };
}

export const handler = makeEraserHandler(defaultDeps());
