import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeSegmentsHandler, type SegmentsDeps } from './segments.ts';

/** Production wiring: configuration, rule catalogue and clients created once per cold start. */
export function defaultDeps(): SegmentsDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const segments = new SegmentStore(clients.documents, config.segmentsTable);
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  const memberships = new MembershipStore(clients.documents, config.membershipsTable);
  return {
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    head: (id) => segments.head(id),
    heads: () => segments.heads(),
    version: (id, version) => segments.version(id, version),
    save: (previous, definition, status, by, now) =>
      segments.save(previous, definition, status, by, now),
    membersPage: (segmentId, limit, after) => memberships.page(segmentId, limit, after),
    memberCount: (segmentId) => memberships.count(segmentId),
    segmentsOf: (memberKeys) => memberships.segmentsOf(memberKeys),
    catalogue: configuredRuleCatalogue(config.tagCatalogueFile),
    now: clock.now,
    logger: createLogger({ service: 'segments', level: config.logLevel }),
  };
}

export const handler = makeSegmentsHandler(defaultDeps());
