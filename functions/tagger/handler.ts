import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { consentCategories } from '../../shared/config/consent.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeTaggerHandler, type TaggerDeps } from './tagger.ts';

/** Production wiring: configuration, rule catalogue and clients created once per cold start. */
export function defaultDeps(): TaggerDeps {
  const config = readRuntimeConfig();
  const profiles = new ProfileStore(awsClients().documents, config.profilesTable);
  const erasures = config.erasuresTable
    ? new ErasureStore(awsClients().documents, config.erasuresTable)
    : undefined;
  return {
    ...(erasures ? { suppressedAmong: (keys) => erasures.suppressedAmong(keys) } : {}),
    applyProfile: (memberKey, update) => profiles.apply(memberKey, update),
    mergeIdentity: (sourceKey, intoKey, combine) => profiles.merge(sourceKey, intoKey, combine),
    catalogue: configuredRuleCatalogue(config.tagCatalogueFile),
    zone: config.brandTimeZone,
    consentCategories,
    now: clock.now,
    logger: createLogger({ service: 'tagger', level: config.logLevel }),
  };
}

export const handler = makeTaggerHandler(defaultDeps());
