import { WRITE_BACK_SHARDS } from '../../infra/declarations/nightly.ts';
import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { lakeLocationOf, lakeStoreAt } from '../../shared/config/lake.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { memberFactsFromProfiles } from '../../shared/jobs/nightly/member-facts.ts';
import { readRfmRows } from '../../shared/jobs/rfm-rows.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeNightlyPersonasHandler, type NightlyPersonasDeps } from './nightly-personas.ts';

export function defaultDeps(): NightlyPersonasDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const lake = lakeStoreAt(lakeLocationOf(readRuntimeConfig()));
  const profiles = new ProfileStore(clients.documents, config.profilesTable);
  const analytics = new AnalyticsStore(clients.documents, config.analyticsTable);
  const catalogue = configuredRuleCatalogue(config.tagCatalogueFile);
  return {
    lake,
    readRows: (keys) => readRfmRows(lake, keys),
    facts: () =>
      memberFactsFromProfiles((s, t, start) => profiles.scanTags(s, t, start), catalogue),
    latestSucceeded: () => analytics.latestSucceeded(),
    saveRfm: (runId, summary) => analytics.saveRfm(runId, summary),
    savePersonas: (personas) => analytics.savePersonas(personas),
    shards: WRITE_BACK_SHARDS,
    logger: createLogger({ service: 'nightly-personas', level: config.logLevel }),
  };
}

export const handler = makeNightlyPersonasHandler(defaultDeps());
