import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { EventStore } from '../../shared/adapters/event-store.ts';
import { localFileCipher } from '../../shared/adapters/personal-data-cipher.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { protectEvent } from '../../shared/domain/privacy/protect-personal.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type IngestDeps, makeIngestHandler } from './ingest.ts';

/** Production wiring: configuration read and clients created once per cold start. */
export function defaultDeps(): IngestDeps {
  const config = readRuntimeConfig();
  const store = new EventStore(
    awsClients().documents,
    config.eventsTable,
    config.eventRetentionDays,
  );
  const erasures = config.erasuresTable
    ? new ErasureStore(awsClients().documents, config.erasuresTable)
    : undefined;
  const cipher = config.personalKeyFile
    ? localFileCipher(config.personalKeyFile, config.environment)
    : undefined;
  const storage = environmentConfig(config.environment).personalFieldStorage;
  return {
    putEvents: (events) => store.putAll(events),
    ...(cipher ? { protect: (event) => protectEvent(event, cipher, storage) } : {}),
    ...(erasures ? { suppressedAmong: (memberKeys) => erasures.suppressedAmong(memberKeys) } : {}),
    logger: createLogger({ service: 'ingest', level: config.logLevel }),
  };
}

export const handler = makeIngestHandler(defaultDeps());
