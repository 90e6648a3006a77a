import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { JsonValue } from '../../events/envelope.ts';
import { memberRoutes, type Scope } from '../../infra/declarations/routes.ts';
import type { StoredMembership } from '../../shared/adapters/membership-store.ts';
import type { HistoryPage, StoredProfile } from '../../shared/adapters/profile-store.ts';
import { InvalidCursorError } from '../../shared/adapters/profile-store.ts';
import type { SegmentHead } from '../../shared/adapters/segment-store.ts';
import type { WriteKeyRecord } from '../../shared/adapters/write-key-store.ts';
import { analyticsView } from '../../shared/domain/analytics/member-results.ts';
import type { ConsentDefaults } from '../../shared/domain/consent/consent.ts';
import {
  memberViewWithoutPersonal,
  segmentReasonsWithoutPersonal,
} from '../../shared/domain/privacy/personal-fields.ts';
import { memberSegmentsView, segmentInputOf } from '../../shared/domain/segments/member-input.ts';
import { type MemberView, memberView } from '../../shared/domain/tags/member-view.ts';
import type { RuleCatalogue } from '../../shared/domain/tags/rule-catalogue.ts';
import { HISTORY_PAGE, integerParameter, queryParameters } from '../../shared/http/api-requests.ts';
import { authorizeRequest, type KeyGate } from '../../shared/http/auth.ts';
import {
  InvalidQueryParameterError,
  MemberNotFoundError,
  RouteNotFoundError,
} from '../../shared/http/errors.ts';
import { httpErrorHandler } from '../../shared/http/middleware.ts';
import { jsonResponse } from '../../shared/http/responses.ts';
import { activeSegmentSet } from '../../shared/jobs/segment-set.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What the read API needs; created once per cold start (or by a test). */
export interface QueryDeps extends KeyGate {
  readonly lookupKey: (rawKey: string) => Promise<WriteKeyRecord | undefined>;
  /** The member a source key (`u#…`, `a#…`) belongs to, with its profile; `undefined` if none. */
  readonly findMember: (sourceKey: string) => Promise<StoredProfile | undefined>;
  readonly history: (memberKey: string, limit: number, cursor?: string) => Promise<HistoryPage>;
  /** The member's materialised segment memberships (`MembershipStore.member`). */
  readonly membership: (memberKey: string) => Promise<StoredMembership | undefined>;
  /** The segment definition heads (`SegmentStore.heads`). */
  readonly segmentHeads: () => Promise<SegmentHead[]>;
  readonly catalogue: RuleCatalogue;
  readonly zone: string;
  readonly now: () => number;
  /** Per purpose, whether a member who never said consents. @default grantedByDefault */
  readonly consentDefaults?: ConsentDefaults;
  readonly logger: Logger;
  /**
   * Turns stored personal tokens back into values for `members:read:pii` keys (`revealPersonal`
   * with the environment's cipher).
   * @default values are shown as stored
   */
  readonly reveal?: (value: JsonValue) => JsonValue;
}

export { HISTORY_PAGE } from '../../shared/http/api-requests.ts';

const [memberRoute, historyRoute, segmentsRoute] = memberRoutes;

/** The scope that lets a key see members' personal fields (docs/API.md, "Personal fields"). */
const personalDataScope: Scope = 'members:read:pii';

/**
 * The read API: `GET /v1/members/{id}` (traits, aggregates, tags with their reasons, evaluated at
 * the request's instant) and `GET /v1/members/{id}/tags/history` (tag changes, newest first, with
 * an opaque cursor). `{id}` is a userId, or an anonymousId never linked to one.
 */
export function makeQueryHandler(deps: QueryDeps) {
  /** Checks the key for `scope`; answers whether it may also see personal fields. */
  const authorize = async (event: APIGatewayProxyEventV2, scope: Scope): Promise<boolean> => {
    const record = await authorizeRequest(event, deps, scope);
    return record.scopes.includes(personalDataScope);
  };

  const reveal = deps.reveal ?? ((value: JsonValue) => value);
  const revealView = (view: MemberView): MemberView => ({
    ...view,
    traits: reveal(view.traits) as MemberView['traits'],
    tags: view.tags.map((tag) => ({
      ...tag,
      reason: { ...tag.reason, values: reveal(tag.reason.values) as typeof tag.reason.values },
    })),
  });

  const resolve = async (id: string): Promise<StoredProfile> => {
    for (const sourceKey of [`u#${id}`, `a#${id}`]) {
      const profile = await deps.findMember(sourceKey);
      if (profile) return profile;
    }
    throw new MemberNotFoundError(id);
  };

  const query = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const id = event.pathParameters?.id;
    const routeKey = event.routeKey;
    if (routeKey === `${memberRoute.method} ${memberRoute.path}` && id) {
      const personal = await authorize(event, memberRoute.scope);
      const profile = await resolve(id);
      const now = deps.now();
      const view = memberView(profile.memberKey, profile.state, deps.catalogue, deps.zone, now);
      deps.logger.info('member read', { requestId, tags: view.tags.length, personal });
      return jsonResponse(200, {
        ...(personal ? revealView(view) : memberViewWithoutPersonal(view)),
        analytics: profile.analytics ? analyticsView(profile.analytics, now, deps.zone) : null,
      });
    }
    if (routeKey === `${historyRoute.method} ${historyRoute.path}` && id) {
      await authorize(event, historyRoute.scope);
      const limit =
        integerParameter(event.queryStringParameters, queryParameters.historyLimit) ??
        HISTORY_PAGE.default;
      const cursor = event.queryStringParameters?.cursor;
      const profile = await resolve(id);
      let page: HistoryPage;
      try {
        page = await deps.history(profile.memberKey, limit, cursor);
      } catch (error) {
        if (error instanceof InvalidCursorError) {
          throw new InvalidQueryParameterError('cursor', error.message);
        }
        throw error;
      }
      return jsonResponse(200, {
        memberKey: profile.memberKey,
        changes: page.entries.map((entry) => ({
          at: new Date(entry.at).toISOString(),
          cause: entry.cause,
          changes: entry.changes,
        })),
        ...(page.cursor ? { next: page.cursor } : {}),
      });
    }
    if (routeKey === `${segmentsRoute.method} ${segmentsRoute.path}` && id) {
      const personal = await authorize(event, segmentsRoute.scope);
      const profile = await resolve(id);
      const [state, heads] = await Promise.all([
        deps.membership(profile.memberKey),
        deps.segmentHeads(),
      ]);
      const set = activeSegmentSet(heads, deps.catalogue, deps.logger);
      const held = state?.segments ?? new Set<string>();
      const input = segmentInputOf(
        profile.state,
        deps.catalogue,
        deps.zone,
        deps.now(),
        deps.consentDefaults,
        profile.analytics,
      );
      const view = memberSegmentsView(set, held, input, state?.withheld);
      const segments = personal
        ? view.map((segment) => ({
            ...segment,
            why: segment.why.map((reason) => ({ ...reason, actual: reveal(reason.actual) })),
          }))
        : view.map((segment) => ({ ...segment, why: segmentReasonsWithoutPersonal(segment.why) }));
      return jsonResponse(200, { memberKey: profile.memberKey, consent: input.consent, segments });
    }
    throw new RouteNotFoundError(event.rawPath);
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(query).use(
    httpErrorHandler(deps.logger),
  );
}
