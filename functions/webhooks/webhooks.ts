import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { webhookRoutes } from '../../infra/declarations/routes.ts';
import type { SegmentHead } from '../../shared/adapters/segment-store.ts';
import type { WebhookSubscription } from '../../shared/adapters/webhook-store.ts';
import { webhookUrlProblem } from '../../shared/domain/webhooks/deliveries.ts';
import { authorizeRequest, type KeyGate } from '../../shared/http/auth.ts';
import {
  InvalidBodyError,
  InvalidWebhookError,
  RouteNotFoundError,
  SegmentNotFoundError,
  WebhookLimitError,
  WebhookNotFoundError,
} from '../../shared/http/errors.ts';
import { httpErrorHandler } from '../../shared/http/middleware.ts';
import { decodeRequestBody } from '../../shared/http/request.ts';
import { jsonResponse } from '../../shared/http/responses.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What the webhooks API needs; created once per cold start (or by a test). */
export interface WebhooksDeps extends KeyGate {
  readonly head: (segmentId: string) => Promise<SegmentHead | undefined>;
  readonly list: (segmentId: string) => Promise<WebhookSubscription[]>;
  readonly create: (subscription: WebhookSubscription) => Promise<void>;
  readonly remove: (segmentId: string, hookId: string) => Promise<boolean>;
  readonly newId: () => string;
  readonly newSecret: () => string;
  /** Accept `http://` to loopback hosts (the local runtime); otherwise https only. */
  readonly allowLoopbackHttp: boolean;
  readonly now: () => number;
  readonly logger: Logger;
}

/** Subscriptions one segment may have. */
export const MAX_WEBHOOKS_PER_SEGMENT = 20;
/** A given secret's length bounds, in characters. */
export const SECRET_LENGTH = { min: 16, max: 256 } as const;
export const MAX_DESCRIPTION_LENGTH = 500;
const MAX_BODY_BYTES = 16 * 1024;

const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
const [createRoute, listRoute, deleteRoute] = webhookRoutes;

/**
 * Webhook subscriptions of a segment: `POST /v1/segments/{id}/webhooks` subscribes a URL and
 * answers the signing secret (generated unless given) once; `GET` lists them without secrets;
 * `DELETE /v1/segments/{id}/webhooks/{hookId}` unsubscribes (pending deliveries are dropped).
 */
export function makeWebhooksHandler(deps: WebhooksDeps) {
  const activeSegment = async (id: string): Promise<SegmentHead> => {
    const head = await deps.head(id);
    if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
    return head;
  };

  const handle = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const key = event.routeKey;
    const id = event.pathParameters?.id;

    if (key === routeKey(createRoute) && id) {
      const caller = await authorizeRequest(event, deps, createRoute.scope);
      const request = subscriptionRequest(parseBody(event), deps.allowLoopbackHttp);
      await activeSegment(id);
      if ((await deps.list(id)).length >= MAX_WEBHOOKS_PER_SEGMENT) {
        throw new WebhookLimitError(id, MAX_WEBHOOKS_PER_SEGMENT);
      }
      const subscription: WebhookSubscription = {
        id: deps.newId(),
        segmentId: id,
        url: request.url,
        secret: request.secret ?? deps.newSecret(),
        ...(request.description !== undefined ? { description: request.description } : {}),
        createdAt: new Date(deps.now()).toISOString(),
        createdBy: caller.sourceId,
      };
      await deps.create(subscription);
      deps.logger.info('webhook created', { requestId, segment: id, hookId: subscription.id });
      return jsonResponse(
        201,
        { ...view(subscription), secret: subscription.secret },
        { location: `/v1/segments/${id}/webhooks/${subscription.id}` },
      );
    }
    if (key === routeKey(listRoute) && id) {
      await authorizeRequest(event, deps, listRoute.scope);
      await activeSegment(id);
      return jsonResponse(200, { segment: id, webhooks: (await deps.list(id)).map(view) });
    }
    const hookId = event.pathParameters?.hookId;
    if (key === routeKey(deleteRoute) && id && hookId) {
      await authorizeRequest(event, deps, deleteRoute.scope);
      // A deleted segment's webhooks can still be removed; an unknown segment has none.
      if (!(await deps.head(id))) throw new SegmentNotFoundError(id);
      if (!(await deps.remove(id, hookId))) throw new WebhookNotFoundError(id, hookId);
      deps.logger.info('webhook deleted', { requestId, segment: id, hookId });
      return jsonResponse(200, { id: hookId, segment: id, deleted: true });
    }
    throw new RouteNotFoundError(event.rawPath);
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(handle).use(
    httpErrorHandler(deps.logger),
  );
}

/** What the API shows of a subscription after its creation: never the secret. */
function view(subscription: WebhookSubscription) {
  return {
    id: subscription.id,
    segment: subscription.segmentId,
    url: subscription.url,
    ...(subscription.description !== undefined ? { description: subscription.description } : {}),
    createdAt: subscription.createdAt,
    createdBy: subscription.createdBy,
  };
}

/** The checked body of a subscribe request; every problem is reported with a pointer. */
function subscriptionRequest(
  body: unknown,
  allowLoopbackHttp: boolean,
): { url: string; secret?: string; description?: string } {
  const issues: { pointer: string; code: string; message: string }[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidWebhookError([
      { pointer: '', code: 'invalid_type', message: 'the body must be a JSON object' },
    ]);
  }
  const fields = body as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!['url', 'secret', 'description'].includes(name)) {
      issues.push({
        pointer: `/${name}`,
        code: 'unknown_field',
        message: 'unknown field; allowed: url, secret, description',
      });
    }
  }
  const urlProblem = webhookUrlProblem(fields.url, allowLoopbackHttp);
  if (urlProblem) issues.push({ pointer: '/url', code: 'invalid_url', message: urlProblem });
  const { secret, description } = fields;
  if (
    secret !== undefined &&
    (typeof secret !== 'string' ||
      secret.length < SECRET_LENGTH.min ||
      secret.length > SECRET_LENGTH.max)
  ) {
    issues.push({
      pointer: '/secret',
      code: 'invalid_secret',
      message: `a string of ${SECRET_LENGTH.min} to ${SECRET_LENGTH.max} characters; omit it to have one generated`,
    });
  }
  if (
    description !== undefined &&
    (typeof description !== 'string' || description.length > MAX_DESCRIPTION_LENGTH)
  ) {
    issues.push({
      pointer: '/description',
      code: 'invalid_description',
      message: `a string of at most ${MAX_DESCRIPTION_LENGTH} characters`,
    });
  }
  if (issues.length > 0) throw new InvalidWebhookError(issues);
  return {
    url: fields.url as string,
    ...(typeof secret === 'string' ? { secret } : {}),
    ...(typeof description === 'string' ? { description } : {}),
  };
}

function parseBody(event: APIGatewayProxyEventV2): unknown {
  const bytes = decodeRequestBody(event, MAX_BODY_BYTES);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidBodyError(`The body is not JSON: ${(error as Error).message}`);
  }
}
