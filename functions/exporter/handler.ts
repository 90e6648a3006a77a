import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { processKeyRateLimiter } from '../../shared/http/key-rate-limiter.ts';
import { streamifyResponse } from '../../shared/http/response-stream.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type ExportDeps, makeExportHandler } from './exporter.ts';

/** Production wiring: configuration and clients created once per cold start. */
export function defaultDeps(): ExportDeps {
  const config = readRuntimeConfig();
  const clients = awsClients();
  const segments = new SegmentStore(clients.documents, config.segmentsTable);
  const keys = new WriteKeyStore(clients.documents, config.writeKeysTable);
  const memberships = new MembershipStore(clients.documents, config.membershipsTable);
  return {
    lookupKey: (rawKey) => keys.lookup(rawKey),
    rateLimiter: processKeyRateLimiter(environmentConfig(config.environment).keyRateLimits),
    head: (id) => segments.head(id),
    membersPage: (segmentId, limit, after) => memberships.page(segmentId, limit, after),
    logger: createLogger({ service: 'exporter', level: config.logLevel }),
  };
}

/** Streamed (Lambda response streaming behind a Function URL; the local gateway streams it too). */
export const handler = streamifyResponse(makeExportHandler(defaultDeps()));
