import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { analyticsRoutes } from '../../infra/declarations/routes.ts';
import type { AnalyticsRun, StoredPersonas } from '../../shared/adapters/analytics-store.ts';
import type { WriteKeyRecord } from '../../shared/adapters/write-key-store.ts';
import type { RfmSummary } from '../../shared/domain/analytics/rfm-summary.ts';
import { queryParameters } from '../../shared/http/api-requests.ts';
import { authorizeRequest, type KeyGate } from '../../shared/http/auth.ts';
import {
  AnalyticsRunNotFoundError,
  InvalidQueryParameterError,
  RouteNotFoundError,
} from '../../shared/http/errors.ts';
import { httpErrorHandler } from '../../shared/http/middleware.ts';
import { jsonResponse } from '../../shared/http/responses.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface AnalyticsApiDeps extends KeyGate {
  readonly lookupKey: (rawKey: string) => Promise<WriteKeyRecord | undefined>;
  readonly latestSucceeded: () => Promise<AnalyticsRun | undefined>;
  readonly run: (runId: string) => Promise<AnalyticsRun | undefined>;
  readonly recentRuns: (limit: number) => Promise<AnalyticsRun[]>;
  readonly rfm: (runId: string) => Promise<RfmSummary | undefined>;
  readonly personas: (runId: string) => Promise<StoredPersonas | undefined>;
  readonly logger: Logger;
}

const [rfmRoute, personasRoute] = analyticsRoutes;
const runIdPattern = /^[A-Za-z0-9_.-]{1,128}$/;
const RECENT_RUNS = 10;

/**
 * The analytics read API: `GET /v1/analytics/rfm` (the RFM grid, score counts and segment table
 * of a run) and `GET /v1/analytics/personas` (its persona cards and drift). `?runId=` picks a
 * run; without it, the latest succeeded one.
 */
export function makeAnalyticsHandler(deps: AnalyticsApiDeps) {
  const chosenRun = async (event: APIGatewayProxyEventV2): Promise<AnalyticsRun> => {
    const runId = event.queryStringParameters?.[queryParameters.analyticsRunId.name];
    if (runId === undefined) {
      const latest = await deps.latestSucceeded();
      if (!latest) throw new AnalyticsRunNotFoundError(undefined);
      return latest;
    }
    if (!runIdPattern.test(runId)) {
      throw new InvalidQueryParameterError('runId', `letters, digits, _ . or -, got "${runId}"`);
    }
    const run = await deps.run(runId);
    if (!run) throw new AnalyticsRunNotFoundError(runId);
    return run;
  };

  const analytics = async (
    event: APIGatewayProxyEventV2,
    _context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const routeKey = event.routeKey;
    if (routeKey === `${rfmRoute.method} ${rfmRoute.path}`) {
      await authorizeRequest(event, deps, rfmRoute.scope);
      const run = await chosenRun(event);
      const [summary, recent] = await Promise.all([
        deps.rfm(run.runId),
        deps.recentRuns(RECENT_RUNS),
      ]);
      if (!summary) throw new AnalyticsRunNotFoundError(run.runId);
      return jsonResponse(200, { run, ...summary, recentRuns: recent });
    }
    if (routeKey === `${personasRoute.method} ${personasRoute.path}`) {
      await authorizeRequest(event, deps, personasRoute.scope);
      const run = await chosenRun(event);
      const personas = await deps.personas(run.runId);
      if (!personas) throw new AnalyticsRunNotFoundError(run.runId);
      return jsonResponse(200, { run, cards: personas.cards, drift: personas.drift });
    }
    throw new RouteNotFoundError(event.rawPath);
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(analytics).use(
    httpErrorHandler(deps.logger),
  );
}
