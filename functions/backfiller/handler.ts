import { functions } from '../../infra/declarations/functions.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { activeSegmentSet, activeSegmentVersions } from '../../shared/jobs/segment-set.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type BackfillerDeps, makeBackfillerHandler } from './backfiller.ts';

/** Production wiring: configuration, rule catalogue and clients created once per cold start. */
export function defaultDeps(): BackfillerDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const profiles = new ProfileStore(clients.documents, config.profilesTable);
  const segments = new SegmentStore(clients.documents, config.segmentsTable);
  const memberships = new MembershipStore(clients.documents, config.membershipsTable, {
    now: clock.now,
  });
  const catalogue = configuredRuleCatalogue(config.tagCatalogueFile);
  const consentDefaults = environmentConfig(config.environment).consentDefaults;
  const logger = createLogger({ service: 'backfiller', level: config.logLevel });
  return {
    segmentSet: async () => {
      const heads = await segments.heads();
      return {
        set: activeSegmentSet(heads, catalogue, logger, consentDefaults),
        versions: activeSegmentVersions(heads),
      };
    },
    loadJob: () => segments.backfillJob(),
    saveJob: (job, expectedRev) => segments.saveBackfillJob(job, expectedRev),
    scanMembers: (segment, total, start) => profiles.scanMembers(segment, total, start),
    resolveProfile: (key) => profiles.resolve(key),
    member: (key) => memberships.member(key),
    transition: (move) => memberships.transition(move),
    saveMember: (previous, next) => memberships.saveMember(previous, next),
    catalogue,
    zone: config.brandTimeZone,
    consentDefaults,
    now: clock.now,
    // Stop well inside the timeout, and about when the next scheduled run starts.
    budgetMs: Math.min(50_000, (functions.backfiller.timeoutSeconds - 30) * 1000),
    logger,
  };
}

export const handler = makeBackfillerHandler(defaultDeps());
