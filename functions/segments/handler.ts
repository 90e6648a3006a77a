import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { previewSegment } from '../../shared/jobs/preview-segment.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeSegmentsHandler, type SegmentsDeps } from './segments.ts';

/** Time a preview may scan members before it answers with an estimate. */
const PREVIEW_BUDGET_MS = 6_000;

/** Production wiring: configuration, rule catalogue and clients created once per cold start. */
export function defaultDeps(): SegmentsDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const segments = new SegmentStore(clients.documents, config.segmentsTable);
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  const profiles = new ProfileStore(clients.documents, config.profilesTable);
  const catalogue = configuredRuleCatalogue(config.tagCatalogueFile);
  const memberships = new MembershipStore(clients.documents, config.membershipsTable, {
    now: clock.now,
  });
  return {
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    head: (id) => segments.head(id),
    heads: () => segments.heads(),
    version: (id, version) => segments.version(id, version),
    save: (previous, definition, status, by, now) =>
      segments.save(previous, definition, status, by, now),
    membersPage: (segmentId, limit, after) => memberships.page(segmentId, limit, after),
    memberCounts: (segmentId) => memberships.counts(segmentId),
    backfillJob: () => segments.backfillJob(),
    preview: (ordered, id, compareWithToday) => {
      const started = performance.now();
      return previewSegment(
        {
          scanProfiles: (part, parts, start) => profiles.scanProfiles(part, parts, start),
          segmentsOf: (keys) => memberships.segmentsOf(keys),
          catalogue,
          zone: config.brandTimeZone,
          now: clock.now,
          consentDefaults: environmentConfig(config.environment).consentDefaults,
        },
        ordered,
        id,
        compareWithToday,
        // Inside the function's timeout and API Gateway's 30 s; then the answer is an estimate.
        () => performance.now() - started < PREVIEW_BUDGET_MS,
      );
    },
    ledgerPage: (segmentId, limit, after) => memberships.ledgerPage(segmentId, limit, after),
    changesAfter: (segmentId, at, max) => memberships.changesAfter(segmentId, at, max),
    settledUntil: () => memberships.settledUntil(),
    membershipsOf: (memberKeys) => memberships.membershipsOf(memberKeys),
    catalogue,
    now: clock.now,
    logger: createLogger({ service: 'segments', level: config.logLevel }),
  };
}

export const handler = makeSegmentsHandler(defaultDeps());
