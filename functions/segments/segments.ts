import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { segmentRoutes } from '../../infra/declarations/routes.ts';
import {
  type SegmentHead,
  type SegmentVersion,
  SegmentVersionConflictError,
} from '../../shared/adapters/segment-store.ts';
import type { WriteKeyRecord } from '../../shared/adapters/write-key-store.ts';
import { loadSegmentDefinition } from '../../shared/domain/segments/load-segment-definition.ts';
import {
  type SegmentDefinition,
  SegmentDefinitionError,
} from '../../shared/domain/segments/segment-definition.ts';
import type { RuleCatalogue } from '../../shared/domain/tags/rule-catalogue.ts';
import { authorizeRequest } from '../../shared/http/auth.ts';
import {
  InvalidBodyError,
  InvalidQueryParameterError,
  InvalidSegmentDefinitionError,
  RouteNotFoundError,
  SegmentExistsError,
  SegmentInUseError,
  SegmentNotFoundError,
  VersionConflictError,
} from '../../shared/http/errors.ts';
import { httpErrorHandler } from '../../shared/http/middleware.ts';
import { decodeRequestBody, header } from '../../shared/http/request.ts';
import { jsonResponse } from '../../shared/http/responses.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What the segments API needs; created once per cold start (or by a test). */
export interface SegmentsDeps {
  readonly lookupKey: (rawKey: string) => Promise<WriteKeyRecord | undefined>;
  readonly head: (id: string) => Promise<SegmentHead | undefined>;
  readonly heads: () => Promise<SegmentHead[]>;
  readonly version: (id: string, version: number) => Promise<SegmentVersion | undefined>;
  readonly save: (
    previous: SegmentHead | undefined,
    definition: SegmentDefinition,
    status: 'active' | 'deleted',
    by: string,
    now: Date,
  ) => Promise<SegmentHead>;
  /** One page of a segment's members after a member key (`MembershipStore.page`). */
  readonly membersPage: (
    segmentId: string,
    limit: number,
    after?: string,
  ) => Promise<{ members: { memberKey: string; since: number }[]; more: boolean }>;
  readonly memberCount: (segmentId: string) => Promise<number>;
  /** The segments of each member key (`MembershipStore.segmentsOf`). */
  readonly segmentsOf: (memberKeys: readonly string[]) => Promise<Map<string, ReadonlySet<string>>>;
  readonly catalogue: RuleCatalogue;
  readonly now: () => number;
  readonly logger: Logger;
}

/** A definition body is small; this bounds validation work before it starts. */
export const MAX_DEFINITION_BYTES = 256 * 1024;

const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
const [createRoute, listRoute, getRoute, putRoute, deleteRoute, membersRoute, checkRoute] =
  segmentRoutes;

/** Member ids one `check` may ask about. */
export const MAX_CHECK_IDS = 1_000;

/** Members per page of `GET /v1/segments/{id}/members`. */
export const MEMBERS_PAGE = { default: 100, max: 1_000 } as const;

/**
 * The segment definitions API: `POST /v1/segments` creates, `PUT /v1/segments/{id}` saves a new
 * version (optionally `If-Match: <version>`), `DELETE` retires it (refused while another segment
 * reads it), `GET` lists and reads, `?version=N` reads an older version. Every definition is
 * checked against the rule catalogue and the other segments, with errors that point at the part
 * at fault.
 */
export function makeSegmentsHandler(deps: SegmentsDeps) {
  /** The active segments, each with the segments it reads (the validator's context). */
  const context = async () => {
    const active = (await deps.heads()).filter((head) => head.status === 'active');
    const known = new Map(active.map((head) => [head.id, new Set<string>()]));
    const graph = new Map<string, ReadonlySet<string>>();
    for (const head of active) {
      try {
        const compiled = loadSegmentDefinition(head.definition, {
          catalogue: deps.catalogue,
          segments: known,
        });
        graph.set(head.id, compiled.segmentsRead);
      } catch {
        // A saved definition the current rule catalogue no longer accepts still exists and may
        // be read by others; it counts as reading nothing until it is saved again.
        deps.logger.warn('saved segment no longer valid under the current rule catalogue', {
          id: head.id,
        });
        graph.set(head.id, new Set());
      }
    }
    return { active, graph };
  };

  const compile = (json: unknown, graph: ReadonlyMap<string, ReadonlySet<string>>) => {
    try {
      return loadSegmentDefinition(json, { catalogue: deps.catalogue, segments: graph });
    } catch (error) {
      if (error instanceof SegmentDefinitionError) {
        throw new InvalidSegmentDefinitionError(
          `The segment definition is invalid (${error.issues.length} issue${error.issues.length === 1 ? '' : 's'}); see issues.`,
          error.issues.map(({ pointer, code, message }) => ({ pointer, code, message })),
        );
      }
      throw error;
    }
  };

  const handle = async (
    event: APIGatewayProxyEventV2,
    context_: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = event.requestContext?.requestId ?? context_.awsRequestId;
    const key = event.routeKey;
    const id = event.pathParameters?.id;

    if (key === routeKey(listRoute)) {
      await authorizeRequest(event, deps.lookupKey, listRoute.scope);
      const heads = (await deps.heads()).filter((head) => head.status === 'active');
      const counts = await Promise.all(heads.map((head) => deps.memberCount(head.id)));
      return jsonResponse(200, {
        segments: heads.map((head, i) => view(head, counts[i])),
      });
    }
    if (key === routeKey(getRoute) && id) {
      await authorizeRequest(event, deps.lookupKey, getRoute.scope);
      const raw = event.queryStringParameters?.version;
      if (raw !== undefined) {
        const version = Number(raw);
        if (!Number.isInteger(version) || version < 1) {
          throw new InvalidQueryParameterError('version', `a positive integer, got "${raw}"`);
        }
        const saved = await deps.version(id, version);
        if (!saved) throw new SegmentNotFoundError(id, version);
        return jsonResponse(200, saved);
      }
      const head = await deps.head(id);
      if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
      return jsonResponse(200, view(head, await deps.memberCount(head.id)));
    }
    if (key === routeKey(createRoute)) {
      const caller = await authorizeRequest(event, deps.lookupKey, createRoute.scope);
      const body = parseBody(event);
      const { graph } = await context();
      const compiled = compile(body, graph);
      const existing = await deps.head(compiled.id);
      if (existing?.status === 'active')
        throw new SegmentExistsError(existing.id, existing.version);
      const head = await save(existing, compiled.definition, 'active', caller.sourceId);
      deps.logger.info('segment created', { requestId, id: head.id, version: head.version });
      return jsonResponse(201, view(head), { location: `/v1/segments/${head.id}` });
    }
    if (key === routeKey(putRoute) && id) {
      const caller = await authorizeRequest(event, deps.lookupKey, putRoute.scope);
      const body = parseBody(event);
      if (isObject(body) && body.id !== undefined && body.id !== id) {
        throw new InvalidSegmentDefinitionError('The body names another segment than the path.', [
          {
            pointer: '/id',
            code: 'invalid_id',
            message: `"${String(body.id)}" differs from the path's "${id}"; omit it or make them equal.`,
          },
        ]);
      }
      const existing = await deps.head(id);
      if (!existing || existing.status === 'deleted') throw new SegmentNotFoundError(id);
      checkIfMatch(event, existing);
      const { graph } = await context();
      const compiled = compile(isObject(body) ? { ...body, id } : body, graph);
      const head = await save(existing, compiled.definition, 'active', caller.sourceId);
      deps.logger.info('segment saved', { requestId, id, version: head.version });
      return jsonResponse(200, view(head));
    }
    if (key === routeKey(membersRoute) && id) {
      await authorizeRequest(event, deps.lookupKey, membersRoute.scope);
      const query = event.queryStringParameters ?? {};
      const limit = pageLimit(query.limit);
      const after = query.cursor === undefined ? undefined : decodeMembersCursor(query.cursor);
      // One round trip: the head, the page and the count are read at once (a page of a missing
      // segment is empty and discarded).
      const [head, page, count] = await Promise.all([
        deps.head(id),
        deps.membersPage(id, limit, after),
        deps.memberCount(id),
      ]);
      if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
      const last = page.members[page.members.length - 1];
      return jsonResponse(200, {
        segment: id,
        count,
        members: page.members.map(({ memberKey, since }) => ({
          ...memberIdOf(memberKey),
          since: new Date(since).toISOString(),
        })),
        ...(page.more && last ? { next: encodeMembersCursor(last.memberKey) } : {}),
      });
    }
    if (key === routeKey(checkRoute) && id) {
      await authorizeRequest(event, deps.lookupKey, checkRoute.scope);
      const ids = checkIds(parseBody(event));
      const head = await deps.head(id);
      if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
      // A userId, or an anonymousId not linked to a user (as in the member API).
      const held = await deps.segmentsOf(
        ids.flatMap((memberId) => [`u#${memberId}`, `a#${memberId}`]),
      );
      return jsonResponse(200, {
        segment: id,
        results: ids.map((memberId) => ({
          id: memberId,
          in: Boolean(held.get(`u#${memberId}`)?.has(id) || held.get(`a#${memberId}`)?.has(id)),
        })),
      });
    }
    if (key === routeKey(deleteRoute) && id) {
      const caller = await authorizeRequest(event, deps.lookupKey, deleteRoute.scope);
      const existing = await deps.head(id);
      if (!existing || existing.status === 'deleted') throw new SegmentNotFoundError(id);
      checkIfMatch(event, existing);
      const { graph } = await context();
      const readers = [...graph].filter(([, reads]) => reads.has(id)).map(([reader]) => reader);
      if (readers.length > 0) throw new SegmentInUseError(id, readers.sort());
      const head = await save(existing, existing.definition, 'deleted', caller.sourceId);
      deps.logger.info('segment deleted', { requestId, id, version: head.version });
      return jsonResponse(200, { id, deleted: true, version: head.version });
    }
    throw new RouteNotFoundError(event.rawPath);
  };

  const save = async (
    previous: SegmentHead | undefined,
    definition: SegmentDefinition,
    status: 'active' | 'deleted',
    by: string,
  ): Promise<SegmentHead> => {
    try {
      return await deps.save(previous, definition, status, by, new Date(deps.now()));
    } catch (error) {
      if (error instanceof SegmentVersionConflictError) {
        // Another request saved first: a concurrent create, or an edit from the same version.
        const now = await deps.head(definition.id);
        if (!previous || previous.status === 'deleted') {
          throw new SegmentExistsError(definition.id, now?.version ?? 0);
        }
        throw new VersionConflictError(previous.id, previous.version, now?.version ?? 0);
      }
      throw error;
    }
  };

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(handle).use(
    httpErrorHandler(deps.logger),
  );
}

/** What the API shows of a segment (membership counts and pages come with the membership read API). */
function view(head: SegmentHead, count?: number) {
  return {
    id: head.id,
    version: head.version,
    labels: head.definition.labels,
    purpose: head.definition.purpose,
    ...(head.definition.description !== undefined
      ? { description: head.definition.description }
      : {}),
    expression: head.definition.expression,
    createdAt: head.createdAt,
    updatedAt: head.updatedAt,
    updatedBy: head.updatedBy,
    // Members enter and leave as their profiles change; existing members at `segments backfill`.
    membership: { state: 'incremental', ...(count === undefined ? {} : { count }) },
  };
}

/** The `memberIds` of a check body: 1 to 1,000 non-empty strings. */
function checkIds(body: unknown): string[] {
  const ids = isObject(body) ? body.memberIds : undefined;
  const problem = (pointer: string, message: string) =>
    new InvalidSegmentDefinitionError('The check body is invalid; see issues.', [
      { pointer, code: 'invalid_value', message },
    ]);
  if (!Array.isArray(ids)) throw problem('/memberIds', 'an array of member ids is required');
  if (ids.length === 0 || ids.length > MAX_CHECK_IDS) {
    throw problem('/memberIds', `from 1 to ${MAX_CHECK_IDS} ids, got ${ids.length}`);
  }
  ids.forEach((memberId, i) => {
    if (typeof memberId !== 'string' || memberId.length === 0 || memberId.length > 512) {
      throw problem(
        `/memberIds/${i}`,
        'a member id is a non-empty string of at most 512 characters',
      );
    }
  });
  return ids as string[];
}

/** A member key as the API shows it: the userId, or the anonymousId of a visitor. */
function memberIdOf(memberKey: string): { userId: string } | { anonymousId: string } {
  return memberKey.startsWith('a#')
    ? { anonymousId: memberKey.slice(2) }
    : { userId: memberKey.slice(2) };
}

function pageLimit(raw: string | undefined): number {
  if (raw === undefined) return MEMBERS_PAGE.default;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > MEMBERS_PAGE.max) {
    throw new InvalidQueryParameterError(
      'limit',
      `an integer from 1 to ${MEMBERS_PAGE.max}, got "${raw}"`,
    );
  }
  return value;
}

/** Opaque to callers: the last member key of the page, versioned. */
function encodeMembersCursor(memberKey: string): string {
  return Buffer.from(JSON.stringify({ v: 1, after: memberKey }), 'utf8').toString('base64url');
}

function decodeMembersCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      v?: unknown;
      after?: unknown;
    };
    if (parsed.v === 1 && typeof parsed.after === 'string' && /^[ua]#/.test(parsed.after)) {
      return parsed.after;
    }
  } catch {
    // Falls through to the error below.
  }
  throw new InvalidQueryParameterError('cursor', 'not a cursor this API returned');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseBody(event: APIGatewayProxyEventV2): unknown {
  const bytes = decodeRequestBody(event, MAX_DEFINITION_BYTES);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidBodyError(`The body is not JSON: ${(error as Error).message}`);
  }
}

function checkIfMatch(event: APIGatewayProxyEventV2, head: SegmentHead): void {
  const raw = header(event, 'if-match');
  if (raw === undefined) return;
  const expected = Number(raw.replaceAll('"', '').trim());
  if (!Number.isInteger(expected)) {
    throw new InvalidBodyError(`If-Match must be a segment version number, got "${raw}".`);
  }
  if (expected !== head.version) throw new VersionConflictError(head.id, expected, head.version);
}
