import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { segmentRoutes } from '../../infra/declarations/routes.ts';
import {
  type LedgerPageEntry,
  LedgerTooLongError,
  type SegmentCounts,
} from '../../shared/adapters/membership-store.ts';
import {
  type SegmentHead,
  type SegmentVersion,
  SegmentVersionConflictError,
} from '../../shared/adapters/segment-store.ts';
import { memberIdOf } from '../../shared/domain/keys/member-id.ts';
import { type BackfillJob, backfillView } from '../../shared/domain/segments/backfill-state.ts';
import { membersAsOfPage, wasInBefore } from '../../shared/domain/segments/ledger.ts';
import { loadSegmentDefinition } from '../../shared/domain/segments/load-segment-definition.ts';
import {
  type CompiledSegment,
  type SegmentDefinition,
  SegmentDefinitionError,
} from '../../shared/domain/segments/segment-definition.ts';
import type { RuleCatalogue } from '../../shared/domain/tags/rule-catalogue.ts';
import {
  integerParameter,
  MEMBERS_PAGE,
  queryParameters,
  readCheckRequest,
} from '../../shared/http/api-requests.ts';
import { authorizeRequest, type KeyGate } from '../../shared/http/auth.ts';
import {
  AsOfTooFarError,
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
import { previewSet, type SegmentPreview } from '../../shared/jobs/preview-segment.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What the segments API needs; created once per cold start (or by a test). */
export interface SegmentsDeps extends KeyGate {
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
  /** The kept counts: members served, and withheld for want of consent (`MembershipStore.counts`). */
  readonly memberCounts: (segmentId: string) => Promise<SegmentCounts>;
  /**
   * Evaluates `ordered` over the stored members for segment `id`, compared with today's
   * membership when `compareWithToday` (`previewSegment`, with a time budget).
   */
  readonly preview: (
    ordered: readonly CompiledSegment[],
    id: string,
    compareWithToday: boolean,
  ) => Promise<SegmentPreview>;
  /** The automatic backfill's job (`SegmentStore.backfillJob`). */
  readonly backfillJob: () => Promise<BackfillJob | undefined>;
  /** One settled page of a segment's ledger (`MembershipStore.ledgerPage`). */
  readonly ledgerPage: (
    segmentId: string,
    limit: number,
    after?: string,
  ) => Promise<{ entries: LedgerPageEntry[]; next: string; more: boolean; settledUntil: number }>;
  /** Every ledger entry after an instant, at most `max` (`MembershipStore.changesAfter`). */
  readonly changesAfter: (segmentId: string, at: number, max: number) => Promise<LedgerPageEntry[]>;
  /** The instant up to which the ledger is settled (`MembershipStore.settledUntil`). */
  readonly settledUntil: () => number;
  /** The segments each member key is in and withheld from (`MembershipStore.membershipsOf`). */
  readonly membershipsOf: (
    memberKeys: readonly string[],
  ) => Promise<Map<string, { segments: ReadonlySet<string>; withheld: ReadonlySet<string> }>>;
  readonly catalogue: RuleCatalogue;
  readonly now: () => number;
  readonly logger: Logger;
}

/** A definition body is small; this bounds validation work before it starts. */
export const MAX_DEFINITION_BYTES = 256 * 1024;

const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
const [
  createRoute,
  previewRoute,
  listRoute,
  getRoute,
  putRoute,
  deleteRoute,
  membersRoute,
  checkRoute,
  changesRoute,
] = segmentRoutes;

/** Changes a member page `asOf` an instant may read to correct today's members. */
export const MAX_AS_OF_CHANGES = 100_000;

export { MAX_CHECK_IDS, MEMBERS_PAGE } from '../../shared/http/api-requests.ts';

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
      await authorizeRequest(event, deps, listRoute.scope);
      const heads = (await deps.heads()).filter((head) => head.status === 'active');
      const [counts, job] = await Promise.all([
        Promise.all(heads.map((head) => deps.memberCounts(head.id))),
        deps.backfillJob(),
      ]);
      return jsonResponse(200, {
        segments: heads.map((head, i) => view(head, job, counts[i])),
      });
    }
    if (key === routeKey(getRoute) && id) {
      await authorizeRequest(event, deps, getRoute.scope);
      const version = integerParameter(event.queryStringParameters, queryParameters.segmentVersion);
      if (version !== undefined) {
        const saved = await deps.version(id, version);
        if (!saved) throw new SegmentNotFoundError(id, version);
        return jsonResponse(200, saved);
      }
      const head = await deps.head(id);
      if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
      const [counts, job] = await Promise.all([deps.memberCounts(head.id), deps.backfillJob()]);
      return jsonResponse(200, view(head, job, counts));
    }
    if (key === routeKey(createRoute)) {
      const caller = await authorizeRequest(event, deps, createRoute.scope);
      const body = parseBody(event);
      const { graph } = await context();
      const compiled = compile(body, graph);
      const existing = await deps.head(compiled.id);
      if (existing?.status === 'active')
        throw new SegmentExistsError(existing.id, existing.version);
      const head = await save(existing, compiled.definition, 'active', caller.sourceId);
      deps.logger.info('segment created', { requestId, id: head.id, version: head.version });
      return jsonResponse(201, view(head, await deps.backfillJob()), {
        location: `/v1/segments/${head.id}`,
      });
    }
    if (key === routeKey(previewRoute)) {
      await authorizeRequest(event, deps, previewRoute.scope);
      const body = parseBody(event);
      const { active, graph } = await context();
      const compiled = compile(body, graph);
      const { ordered, saved } = previewSet(
        active,
        compiled.definition,
        deps.catalogue,
        deps.logger,
      );
      const preview = await deps.preview(ordered, compiled.id, saved !== undefined);
      const ids = (keys: readonly string[]) => keys.map(memberIdOf);
      return jsonResponse(200, {
        id: compiled.id,
        comparedWith: saved ? { version: saved.version } : null,
        count: preview.count,
        withheld: preview.withheld,
        exact: preview.exact,
        coverage: preview.coverage,
        scanned: preview.scanned,
        sample: ids(preview.sample),
        enter: { count: preview.enter.count, sample: ids(preview.enter.sample) },
        leave: { count: preview.leave.count, sample: ids(preview.leave.sample) },
      });
    }
    if (key === routeKey(putRoute) && id) {
      const caller = await authorizeRequest(event, deps, putRoute.scope);
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
      return jsonResponse(200, view(head, await deps.backfillJob()));
    }
    if (key === routeKey(membersRoute) && id) {
      await authorizeRequest(event, deps, membersRoute.scope);
      const query = event.queryStringParameters ?? {};
      const limit = integerParameter(query, queryParameters.membersLimit) ?? MEMBERS_PAGE.default;
      const cursor = query.cursor === undefined ? undefined : decodeMembersCursor(query.cursor);
      const asOf = asOfParameter(query.asOf, cursor?.asOf);
      if (asOf !== undefined) {
        const head = await deps.head(id);
        if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
        return membersAsOf(id, asOf, limit, cursor?.after);
      }
      // One round trip: the head, the page and the count are read at once (a page of a missing
      // segment is empty and discarded).
      const [head, page, count] = await Promise.all([
        deps.head(id),
        deps.membersPage(id, limit, cursor?.after),
        deps.memberCounts(id),
      ]);
      if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
      const last = page.members[page.members.length - 1];
      return jsonResponse(200, {
        segment: id,
        count: count.count,
        members: page.members.map(({ memberKey, since }) => ({
          ...memberIdOf(memberKey),
          since: new Date(since).toISOString(),
        })),
        ...(page.more && last ? { next: encodeMembersCursor(last.memberKey) } : {}),
      });
    }
    if (key === routeKey(changesRoute) && id) {
      await authorizeRequest(event, deps, changesRoute.scope);
      const query = event.queryStringParameters ?? {};
      const limit = integerParameter(query, queryParameters.changesLimit) ?? MEMBERS_PAGE.default;
      const after = query.since === undefined ? undefined : decodeChangesCursor(query.since, id);
      const head = await deps.head(id);
      if (!head) throw new SegmentNotFoundError(id);
      const page = await deps.ledgerPage(id, limit, after);
      return jsonResponse(200, {
        segment: id,
        changes: page.entries.map((entry) => ({
          type: entry.change,
          ...memberIdOf(entry.memberKey),
          at: new Date(entry.at).toISOString(),
          cause: entry.cause,
        })),
        next: encodeChangesCursor(id, page.next),
        more: page.more,
        settledUntil: new Date(page.settledUntil).toISOString(),
      });
    }
    if (key === routeKey(checkRoute) && id) {
      await authorizeRequest(event, deps, checkRoute.scope);
      const ids = readCheckRequest(parseBody(event));
      const head = await deps.head(id);
      if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
      // A userId, or an anonymousId not linked to a user (as in the member API).
      const held = await deps.membershipsOf(
        ids.flatMap((memberId) => [`u#${memberId}`, `a#${memberId}`]),
      );
      const holds = (memberId: string, kind: 'segments' | 'withheld') =>
        Boolean(
          held.get(`u#${memberId}`)?.[kind].has(id) || held.get(`a#${memberId}`)?.[kind].has(id),
        );
      return jsonResponse(200, {
        segment: id,
        results: ids.map((memberId) => {
          if (holds(memberId, 'segments')) return { id: memberId, in: true };
          // Out, and why: the definition holds but the member refused the segment's purpose.
          return holds(memberId, 'withheld')
            ? { id: memberId, in: false, reason: 'consent' }
            : { id: memberId, in: false };
        }),
      });
    }
    if (key === routeKey(deleteRoute) && id) {
      const caller = await authorizeRequest(event, deps, deleteRoute.scope);
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

  /** A page of the members of segment `id` at `asOf`: today's, corrected by the ledger since. */
  const membersAsOf = async (
    id: string,
    asOf: number,
    limit: number,
    after: string | undefined,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const settledUntil = deps.settledUntil();
    if (asOf > settledUntil) {
      throw new InvalidQueryParameterError(
        'asOf',
        `the ledger is settled up to ${new Date(settledUntil).toISOString()}; ask for an instant at or before it`,
      );
    }
    let changes: LedgerPageEntry[];
    try {
      changes = await deps.changesAfter(id, asOf, MAX_AS_OF_CHANGES);
    } catch (error) {
      if (error instanceof LedgerTooLongError) throw new AsOfTooFarError(id, error.max);
      throw error;
    }
    const page = await membersAsOfPage(
      (n, from) => deps.membersPage(id, n, from),
      wasInBefore(changes),
      limit,
      after,
    );
    return jsonResponse(200, {
      segment: id,
      asOf: new Date(asOf).toISOString(),
      members: page.members.map(memberIdOf),
      ...(page.next === undefined ? {} : { next: encodeMembersCursor(page.next, asOf) }),
    });
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

/**
 * What the API shows of a segment: its definition, and its membership's state — waiting for the
 * backfiller to pick up this version, backfilling (with progress), or kept incrementally — with
 * its member count.
 */
function view(head: SegmentHead, job: BackfillJob | undefined, counts?: SegmentCounts) {
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
    membership: {
      ...backfillView(job, head.id, head.version),
      ...(counts === undefined ? {} : { count: counts.count, withheld: counts.withheld }),
    },
  };
}

/** Opaque to callers: the last member key of the page (and the instant of an `asOf` read). */
function encodeMembersCursor(memberKey: string, asOf?: number): string {
  return Buffer.from(
    JSON.stringify({ v: 1, after: memberKey, ...(asOf === undefined ? {} : { asOf }) }),
    'utf8',
  ).toString('base64url');
}

function decodeMembersCursor(cursor: string): { after: string; asOf?: number } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      v?: unknown;
      after?: unknown;
      asOf?: unknown;
    };
    if (parsed.v === 1 && typeof parsed.after === 'string' && /^[ua]#/.test(parsed.after)) {
      if (parsed.asOf === undefined) return { after: parsed.after };
      if (typeof parsed.asOf === 'number' && Number.isSafeInteger(parsed.asOf)) {
        return { after: parsed.after, asOf: parsed.asOf };
      }
    }
  } catch {
    // Falls through to the error below.
  }
  throw new InvalidQueryParameterError('cursor', 'not a cursor this API returned');
}

/** The `asOf` instant of a members read: the parameter (ISO 8601), else the cursor's. */
function asOfParameter(
  raw: string | undefined,
  fromCursor: number | undefined,
): number | undefined {
  if (raw === undefined) return fromCursor;
  const at = /^\d{4}-\d{2}-\d{2}T/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(at)) {
    throw new InvalidQueryParameterError('asOf', `an ISO 8601 date-time, got "${raw}"`);
  }
  if (fromCursor !== undefined && fromCursor !== at) {
    throw new InvalidQueryParameterError(
      'asOf',
      "differs from the cursor's; omit one or match them",
    );
  }
  return at;
}

/** Opaque to callers: a position in the segment's ledger, bound to the segment. */
function encodeChangesCursor(segmentId: string, key: string): string {
  return Buffer.from(JSON.stringify({ v: 1, s: segmentId, k: key }), 'utf8').toString('base64url');
}

function decodeChangesCursor(cursor: string, segmentId: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      v?: unknown;
      s?: unknown;
      k?: unknown;
    };
    if (
      parsed.v === 1 &&
      parsed.s === segmentId &&
      typeof parsed.k === 'string' &&
      /^\d{15}[#$]/.test(parsed.k)
    ) {
      return parsed.k;
    }
  } catch {
    // Falls through to the error below.
  }
  throw new InvalidQueryParameterError(
    'since',
    `not a cursor this API returned for segment "${segmentId}"`,
  );
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
