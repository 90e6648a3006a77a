import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { DUE_SHARDS, ProfileStore } from '../../shared/adapters/profile-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeSweeperHandler, type SweeperDeps } from './sweeper.ts';

/** Production wiring: configuration, rule catalogue and clients created once per cold start. */
export function defaultDeps(): SweeperDeps {
  const config = readRuntimeConfig();
  const profiles = new ProfileStore(awsClients().documents, config.profilesTable);
  return {
    dueMembers: (shard, now, limit, start) => profiles.due(shard, now, limit, start),
    applyProfile: (memberKey, update) => profiles.apply(memberKey, update),
    shards: DUE_SHARDS,
    catalogue: configuredRuleCatalogue(config.tagCatalogueFile),
    zone: config.brandTimeZone,
    now: clock.now,
    logger: createLogger({ service: 'sweeper', level: config.logLevel }),
  };
}

export const handler = makeSweeperHandler(defaultDeps());
