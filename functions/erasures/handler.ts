import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import {
  MissingConfigurationError,
  readRuntimeConfig,
  runtimeEnvNames,
} from '../../shared/config/runtime.ts';
import { memberHash, newReceiptId } from '../../shared/domain/privacy/erasure.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type ErasuresDeps, makeErasuresHandler } from './erasures.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): ErasuresDeps {
  const config = readRuntimeConfig();
  if (!config.erasuresTable) throw new MissingConfigurationError(runtimeEnvNames.erasuresTable);
  if (!config.erasuresQueueUrl) {
    throw new MissingConfigurationError(runtimeEnvNames.erasuresQueueUrl);
  }
  const clients = awsClients();
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  const store = new ErasureStore(clients.documents, config.erasuresTable);
  return {
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    hashOf: async (memberKey) => memberHash(await store.secret(), memberKey),
    suppressedAmong: (memberKeys) => store.suppressedAmong(memberKeys),
    createReceipt: (receipt) => store.createReceipt(receipt),
    receipt: (id) => store.receipt(id),
    failReceipt: (id, at, error) => store.finish(id, 'failed', at, error),
    unsuppress: (memberKeys) => store.unsuppress(memberKeys),
    enqueue: async (request) => {
      await clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: config.erasuresQueueUrl,
          MessageBody: JSON.stringify(request),
        }),
      );
    },
    newReceiptId,
    now: clock.now,
    logger: createLogger({ service: 'erasures', level: config.logLevel }),
  };
}

export const handler = makeErasuresHandler(defaultDeps());
