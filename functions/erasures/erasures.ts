import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { ingestLimits } from '../../events/envelope.ts';
import { erasureRoutes } from '../../infra/declarations/routes.ts';
import {
  candidateKeysOf,
  type ErasureReceipt,
  isReceiptId,
  noCounts,
  receiptView,
} from '../../shared/domain/privacy/erasure.ts';
import { authorizeRequest, type KeyGate } from '../../shared/http/auth.ts';
import {
  ErasureNotFoundError,
  InvalidMemberIdError,
  QueueUnavailableError,
  RouteNotFoundError,
} from '../../shared/http/errors.ts';
import { httpErrorHandler } from '../../shared/http/middleware.ts';
import { jsonResponse } from '../../shared/http/responses.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** The erasure queue's message: the receipt and the id asked for (kept until the run ends). */
export interface ErasureRequest {
  readonly receipt: string;
  readonly id: string;
}

/** What the erasures API needs; created once per cold start (or by a test). */
export interface ErasuresDeps extends KeyGate {
  /** The keyed hash of a source key (`memberHash` with the store's pseudonym key). */
  readonly hashOf: (memberKey: string) => Promise<string>;
  readonly suppressedAmong: (keys: readonly string[]) => Promise<ReadonlySet<string>>;
  readonly createReceipt: (receipt: ErasureReceipt) => Promise<void>;
  readonly receipt: (id: string) => Promise<ErasureReceipt | undefined>;
  /** Marks a receipt failed (its request could not be queued). */
  readonly failReceipt: (id: string, at: number, error: string) => Promise<void>;
  readonly unsuppress: (keys: readonly string[]) => Promise<number>;
  /** Sends one request to the erasure queue; rejects unless it was accepted. */
  readonly enqueue: (request: ErasureRequest) => Promise<void>;
  readonly newReceiptId: () => string;
  readonly now: () => number;
  readonly logger: Logger;
}

const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
const [eraseRoute, receiptRoute, unsuppressRoute] = erasureRoutes;

function memberIdOf(event: APIGatewayProxyEventV2): string {
  const id = event.pathParameters?.id;
  if (!id || id.length > ingestLimits.maxIdLength) {
    throw new InvalidMemberIdError(ingestLimits.maxIdLength);
  }
  return id;
}

/**
 * The erasure API (docs/PRIVACY.md): `DELETE /v1/members/{id}` stores a pending receipt, queues
 * the erasure and answers 202 with the receipt at once; `GET /v1/erasures/{receipt}` reports it;
 * `DELETE /v1/suppressions/{id}` lifts the suppression an erasure left on the id. Neither
 * receipts nor logs carry the id: the receipt holds its keyed hash.
 */
export function makeErasuresHandler(deps: ErasuresDeps) {
  const handle = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const key = event.routeKey;

    if (key === routeKey(eraseRoute)) {
      await authorizeRequest(event, deps, eraseRoute.scope);
      const id = memberIdOf(event);
      const candidates = candidateKeysOf(id);
      const receipt: ErasureReceipt = {
        id: deps.newReceiptId(),
        status: 'pending',
        memberHash: await deps.hashOf(candidates[0]),
        requestedAt: deps.now(),
        previouslyErased: (await deps.suppressedAmong(candidates)).size > 0,
        sweeps: 0,
        counts: noCounts,
        lakeRows: 0,
        suppressedKeys: 0,
      };
      await deps.createReceipt(receipt);
      try {
        await deps.enqueue({ receipt: receipt.id, id });
      } catch (error) {
        await deps.failReceipt(receipt.id, deps.now(), 'queue_unavailable');
        throw new QueueUnavailableError(error instanceof Error ? error.message : String(error));
      }
      deps.logger.info('erasure requested', { requestId, receipt: receipt.id });
      const location = `/v1/erasures/${receipt.id}`;
      return jsonResponse(202, { ...receiptView(receipt), statusUrl: location }, { location });
    }
    if (key === routeKey(receiptRoute)) {
      await authorizeRequest(event, deps, receiptRoute.scope);
      const id = event.pathParameters?.receipt ?? '';
      const receipt = isReceiptId(id) ? await deps.receipt(id) : undefined;
      if (!receipt) throw new ErasureNotFoundError(id.slice(0, 64));
      return jsonResponse(200, receiptView(receipt));
    }
    if (key === routeKey(unsuppressRoute)) {
      await authorizeRequest(event, deps, unsuppressRoute.scope);
      const id = memberIdOf(event);
      const lifted = await deps.unsuppress(candidateKeysOf(id));
      deps.logger.info('suppression lifted', { requestId, lifted });
      return jsonResponse(200, { unsuppressed: lifted });
    }
    throw new RouteNotFoundError(event.rawPath);
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(handle).use(
    httpErrorHandler(deps.logger),
  );
}
