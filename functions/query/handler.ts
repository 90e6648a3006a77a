import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { configuredPersonalCipher } from '../../shared/adapters/configured-personal-cipher.ts';
import { PersonalKeyUnavailableError } from '../../shared/adapters/kms-personal-data-cipher.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { clock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { revealPersonal } from '../../shared/domain/privacy/protect-personal.ts';
import { deferredHandler } from '../../shared/http/deferred-handler.ts';
import { PersonalDataUnavailableError } from '../../shared/http/errors.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { errorResponse } from '../../shared/http/responses.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeQueryHandler, type QueryDeps } from './query.ts';

/**
 * Production wiring: configuration, rule catalogue, clients and the personal-data key loaded once
 * per cold start (a function without a key does not start: docs/PRIVACY.md, "Storage").
 */
export async function defaultDeps(): Promise<QueryDeps> {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const profiles = new ProfileStore(clients.documents, config.profilesTable);
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  const memberships = new MembershipStore(clients.documents, config.membershipsTable, {
    now: clock.now,
  });
  const segments = new SegmentStore(clients.documents, config.segmentsTable);
  const cipher = await configuredPersonalCipher(config, clients.documents);
  return {
    reveal: (value) => revealPersonal(value, cipher),
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    findMember: (sourceKey) => profiles.get(sourceKey),
    history: (memberKey, limit, cursor) => profiles.history(memberKey, limit, cursor),
    membership: (memberKey) => memberships.member(memberKey),
    segmentHeads: () => segments.heads(),
    catalogue: configuredRuleCatalogue(config.tagCatalogueFile),
    zone: config.brandTimeZone,
    consentDefaults: environmentConfig(config.environment).consentDefaults,
    now: clock.now,
    logger: createLogger({ service: 'query', level: config.logLevel }),
  };
}

/**
 * The key loads at cold start; if KMS cannot give it, each request is answered 503
 * `personal_key_unavailable` (with `retry-after`) and the next one tries again.
 */
export const handler = deferredHandler(
  async () => makeQueryHandler(await defaultDeps()),
  (error, event: APIGatewayProxyEventV2) =>
    error instanceof PersonalKeyUnavailableError
      ? errorResponse(
          new PersonalDataUnavailableError(error.reason),
          event.requestContext.requestId,
          createLogger({ service: 'query', level: readRuntimeConfig().logLevel }),
        )
      : undefined,
);
