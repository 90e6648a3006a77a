import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { activeSegmentSet } from '../../shared/jobs/segment-set.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeSegmenterHandler, type SegmenterDeps } from './segmenter.ts';

/** Production wiring: configuration, rule catalogue and clients created once per cold start. */
export function defaultDeps(): SegmenterDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const segments = new SegmentStore(clients.documents, config.segmentsTable);
  const memberships = new MembershipStore(clients.documents, config.membershipsTable, {
    now: clock.now,
  });
  const catalogue = configuredRuleCatalogue(config.tagCatalogueFile);
  const consentDefaults = environmentConfig(config.environment).consentDefaults;
  const logger = createLogger({ service: 'segmenter', level: config.logLevel });
  const erasures = config.erasuresTable
    ? new ErasureStore(clients.documents, config.erasuresTable)
    : undefined;
  return {
    ...(erasures ? { suppressedAmong: (keys) => erasures.suppressedAmong(keys) } : {}),
    // Read for every batch: a definition saved a moment ago applies to the next profile write.
    segmentSet: async () =>
      activeSegmentSet(await segments.heads(), catalogue, logger, consentDefaults),
    member: (memberKey) => memberships.member(memberKey),
    transition: (move) => memberships.transition(move),
    saveMember: (previous, next) => memberships.saveMember(previous, next),
    catalogue,
    zone: config.brandTimeZone,
    consentDefaults,
    now: clock.now,
    logger,
  };
}

export const handler = makeSegmenterHandler(defaultDeps());
