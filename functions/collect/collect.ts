import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { ingestLimits } from '../../events/envelope.ts';
import { sqsLimits } from '../../infra/declarations/queues.ts';
import { canonicalIngestPath } from '../../infra/declarations/routes.ts';
import type { EventQueue } from '../../shared/adapters/event-queue.ts';
import type { WriteKeyRecord } from '../../shared/adapters/write-key-store.ts';
import {
  identityKeysOf,
  ingestAnswer,
  rejectSuppressed,
  sortResults,
} from '../../shared/domain/ingest/answer.ts';
import { packMessages } from '../../shared/domain/ingest/pack-messages.ts';
import { parseIngestBody } from '../../shared/domain/ingest/parse-request.ts';
import { writeKeyFromAuthorization } from '../../shared/domain/keys/write-key.ts';
import { authorizeKey, type KeyGate } from '../../shared/http/auth.ts';
import { QueueUnavailableError, RouteNotFoundError } from '../../shared/http/errors.ts';
import { httpErrorHandler } from '../../shared/http/middleware.ts';
import { decodeRequestBody, header, isGzipped } from '../../shared/http/request.ts';
import { jsonResponse } from '../../shared/http/responses.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What collect needs; created once per cold start (or by a test). */
export interface CollectDeps extends KeyGate {
  readonly lookupKey: (rawKey: string) => Promise<WriteKeyRecord | undefined>;
  readonly queue: EventQueue;
  readonly logger: Logger;
  readonly maxFutureSkewSeconds: number;
  readonly eventRetentionDays: number;
  readonly now?: () => Date;
  readonly newMessageId?: () => string;
  /**
   * Which of these source keys are suppressed (erased members): one batched read per request,
   * no cache, so an erasure's suppression holds from the moment it is stored.
   * @default nothing is suppressed
   */
  readonly suppressedAmong?: (keys: readonly string[]) => Promise<ReadonlySet<string>>;
}

/**
 * The collect function: authenticates the write key, validates every event at the edge, packs
 * the valid ones onto the queue and answers as Segment's API does.
 */
export function makeCollectHandler(deps: CollectDeps) {
  const now = deps.now ?? (() => new Date());
  const newMessageId = deps.newMessageId ?? (() => crypto.randomUUID());

  const authenticate = (rawKey: string | undefined): Promise<WriteKeyRecord> =>
    authorizeKey(rawKey, deps, 'events:write');

  const collect = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const route = canonicalIngestPath(event.rawPath);
    if (!route) throw new RouteNotFoundError(event.rawPath);
    // A header key is checked before the body is read; a key in the body only after parsing.
    const headerKey = writeKeyFromAuthorization(header(event, 'authorization'));
    const headerRecord = headerKey ? await authenticate(headerKey) : undefined;
    const body = decodeRequestBody(event, ingestLimits.maxBatchBytes);
    const contentType = header(event, 'content-type');
    const parsed = parseIngestBody(body, route, {
      // RudderStack labels its gzip bodies form-urlencoded; the encoding says what they are.
      ...(isGzipped(event) || contentType === undefined ? {} : { contentType }),
      receivedAt: now(),
      sourceId: headerRecord?.sourceId ?? '',
      maxFutureSkewSeconds: deps.maxFutureSkewSeconds,
      retentionDays: deps.eventRetentionDays,
      newMessageId,
    });
    const key =
      headerRecord ??
      (await authenticate(parsed.kind === 'parsed' ? parsed.writeKeyFromBody : undefined));
    if (parsed.kind === 'rejected') {
      const { code, message, pointer } = parsed.error;
      return jsonResponse(parsed.status, { success: false, code, message, pointer, requestId });
    }

    const sorted = sortResults(parsed.items, key.sourceId);
    const suppressed = deps.suppressedAmong
      ? await deps.suppressedAmong(sorted.accepted.flatMap(identityKeysOf))
      : new Set<string>();
    const { accepted, results } = rejectSuppressed(sorted, suppressed);
    if (accepted.length > 0) {
      try {
        await deps.queue.sendBatches(packMessages(accepted, sqsLimits));
      } catch (error) {
        throw new QueueUnavailableError(error instanceof Error ? error.message : String(error));
      }
    }
    deps.logger.info('collect', {
      requestId,
      route,
      sourceId: key.sourceId,
      accepted: accepted.length,
      rejected: results.length - accepted.length,
    });
    const answer = ingestAnswer(route, results, requestId);
    return jsonResponse(answer.status, answer.body);
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(collect).use(
    httpErrorHandler(deps.logger),
  );
}
