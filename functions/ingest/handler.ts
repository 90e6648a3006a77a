import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { configuredPersonalCipher } from '../../shared/adapters/configured-personal-cipher.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { EventStore } from '../../shared/adapters/event-store.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { protectEvent } from '../../shared/domain/privacy/protect-personal.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type IngestDeps, makeIngestHandler } from './ingest.ts';

/**
 * Production wiring: configuration read, clients created and the personal-data key loaded once
 * per cold start (a function without a key does not start: docs/PRIVACY.md, "Storage").
 */
export async function defaultDeps(): Promise<IngestDeps> {
  const config = readRuntimeConfig();
  const store = new EventStore(
    awsClients().documents,
    config.eventsTable,
    config.eventRetentionDays,
  );
  const erasures = config.erasuresTable
    ? new ErasureStore(awsClients().documents, config.erasuresTable)
    : undefined;
  const cipher = await configuredPersonalCipher(config, awsClients().documents);
  const storage = environmentConfig(config.environment).personalFieldStorage;
  return {
    putEvents: (events) => store.putAll(events),
    protect: (event) => protectEvent(event, cipher, storage),
    ...(erasures ? { suppressedAmong: (memberKeys) => erasures.suppressedAmong(memberKeys) } : {}),
    logger: createLogger({ service: 'ingest', level: config.logLevel }),
  };
}

export const handler = makeIngestHandler(await defaultDeps());
