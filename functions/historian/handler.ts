import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type HistorianDeps, makeHistorianHandler } from './historian.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): HistorianDeps {
  const config = readRuntimeConfig();
  const profiles = new ProfileStore(awsClients().documents, config.profilesTable);
  const erasures = config.erasuresTable
    ? new ErasureStore(awsClients().documents, config.erasuresTable)
    : undefined;
  return {
    ...(erasures ? { suppressedAmong: (keys) => erasures.suppressedAmong(keys) } : {}),
    recordHistory: (memberKey, version, entries) =>
      profiles.recordHistory(memberKey, version, entries),
    logger: createLogger({ service: 'historian', level: config.logLevel }),
  };
}

export const handler = makeHistorianHandler(defaultDeps());
