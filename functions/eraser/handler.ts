import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { erasuresQueue } from '../../infra/declarations/queues.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { MemberEraser } from '../../shared/adapters/member-eraser.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { lakeLocationOf, lakeStoreAt } from '../../shared/config/lake.ts';
import {
  MissingConfigurationError,
  readRuntimeConfig,
  runtimeEnvNames,
} from '../../shared/config/runtime.ts';
import { eraseLakeRows } from '../../shared/jobs/erase-lake-rows.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type EraserDeps, makeEraserHandler } from './eraser.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): EraserDeps {
  const config = readRuntimeConfig();
  if (!config.erasuresTable) throw new MissingConfigurationError(runtimeEnvNames.erasuresTable);
  if (!config.erasuresQueueUrl) {
    throw new MissingConfigurationError(runtimeEnvNames.erasuresQueueUrl);
  }
  const clients = awsClients();
  const lake = lakeStoreAt(lakeLocationOf(config));
  const logger = createLogger({ service: 'eraser', level: config.logLevel });
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
    eraseLakeRows: async (keys) => {
      const erased = await eraseLakeRows({ lake }, keys);
      if (erased.skipped.length > 0) {
        logger.warn('lake files in no format the eraser reads; left as they are', {
          skipped: erased.skipped.slice(0, 20),
          count: erased.skipped.length,
        });
      }
      return erased.rows;
    },
    sweepDone: (id, lakeRows) => store.sweepDone(id, lakeRows),
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
    logger,
  };
}

export const handler = makeEraserHandler(defaultDeps());
