/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route declarations and from the
 * very schema objects that validate requests: the Segment Spec envelopes and the event catalogue
 * (`events/catalogue.ts`), the segment definition (`segment-definition-schema.ts`), the check body
 * and the query parameters (`api-requests.ts`). Error codes come from the typed errors
 * themselves. Pure: served by `functions/openapi`, written to `docs/openapi.json` by
 * `npm run openapi`, read by tests.
 */
import {
  batchRequestSchema,
  catalogueSchemas,
  envelopeSchema,
  routeEnvelopeSchema,
} from '../../events/catalogue.ts';
import { type EventType, ingestErrors, ingestLimits } from '../../events/envelope.ts';
import {
  canonicalIngestPath,
  routes as declaredRoutes,
  type HttpMethod,
  ingestAliases,
  type RouteDeclaration,
  type Scope,
} from '../../infra/declarations/routes.ts';
import { defaultKeyRateLimits } from '../config/rate-limits.ts';
import { segmentDefinitionSchema } from '../domain/segments/segment-definition-schema.ts';
import { checkRequestSchema, type QueryParameter, queryParameters } from './api-requests.ts';
import {
  AnalyticsRunNotFoundError,
  AsOfTooFarError,
  ErasureNotFoundError,
  InsufficientScopeError,
  InvalidBodyError,
  InvalidMemberIdError,
  InvalidQueryParameterError,
  InvalidSegmentDefinitionError,
  InvalidWebhookError,
  InvalidWriteKeyError,
  MemberNotFoundError,
  MissingWriteKeyError,
  PayloadTooLargeError,
  type PortraitHttpError,
  QueueUnavailableError,
  RateLimitedError,
  SegmentExistsError,
  SegmentInUseError,
  SegmentNotFoundError,
  VersionConflictError,
  WebhookLimitError,
  WebhookNotFoundError,
} from './errors.ts';

/** A JSON value of the document (schemas are embedded as the objects the validators use). */
type Json = unknown;
type JsonObject = Record<string, Json>;

/** The document's own version; bump when the contract changes. */
export const API_DOCUMENT_VERSION = '1.0.0';

/** An error as the document lists it: its status and stable code, taken from a real instance. */
interface ErrorCase {
  readonly status: number;
  readonly code: string;
}

const errorCase = (error: PortraitHttpError): ErrorCase => ({
  status: error.status,
  code: error.code,
});

/** Errors any keyed route can answer, from the one key check every route goes through. */
const keyErrors: readonly ErrorCase[] = [
  errorCase(new MissingWriteKeyError()),
  errorCase(new InvalidWriteKeyError()),
  errorCase(new InsufficientScopeError('segments:read')),
  errorCase(new RateLimitedError(1, { perSecond: 1, burst: 1 })),
];
const invalidQuery = errorCase(new InvalidQueryParameterError('limit', ''));
const invalidBody = errorCase(new InvalidBodyError(''));
const tooLarge = errorCase(new PayloadTooLargeError('', 1));
const invalidDefinition = errorCase(new InvalidSegmentDefinitionError('', []));
const segmentNotFound = errorCase(new SegmentNotFoundError('x'));
const memberNotFound = errorCase(new MemberNotFoundError('x'));
const segmentExists = errorCase(new SegmentExistsError('x', 1));
const segmentInUse = errorCase(new SegmentInUseError('x', []));
const versionConflict = errorCase(new VersionConflictError('x', 1, 2));
const asOfTooFar = errorCase(new AsOfTooFarError('x', 1));
const invalidWebhook = errorCase(new InvalidWebhookError([]));
const webhookNotFound = errorCase(new WebhookNotFoundError('x', 'y'));
const webhookLimit = errorCase(new WebhookLimitError('x', 1));
const invalidMemberId = errorCase(new InvalidMemberIdError(1));
const erasureNotFound = errorCase(new ErasureNotFoundError('x'));
const queueUnavailable = errorCase(new QueueUnavailableError(''));
const analyticsRunNotFound = errorCase(new AnalyticsRunNotFoundError(undefined));

/** Ingest answers a whole request with these (per-event codes appear in batch results too). */
const ingestErrorCases: readonly ErrorCase[] = [
  ...Object.entries(ingestErrors).map(([code, { status }]) => ({ code, status })),
  errorCase(new RateLimitedError(1, { perSecond: 1, burst: 1 })),
  errorCase(new QueueUnavailableError('')),
];

/** What the generator needs beyond the route declaration. */
interface OperationDetails {
  readonly summary: string;
  readonly description?: string;
  readonly body?: { readonly schema: string; readonly description: string };
  readonly query?: readonly QueryParameter[];
  readonly success: { readonly status: number; readonly description: string };
  readonly errors?: readonly ErrorCase[];
}

const routeKey = (method: HttpMethod, path: string) => `${method} ${path}`;

const ingestTypes: Readonly<Record<string, EventType>> = {
  '/v1/track': 'track',
  '/v1/identify': 'identify',
  '/v1/alias': 'alias',
  '/v1/page': 'page',
  '/v1/screen': 'screen',
  '/v1/group': 'group',
};

const schemaName = (type: EventType) => `Segment${type[0]?.toUpperCase() ?? ''}${type.slice(1)}`;

/** Operation details of the ingest routes, aliases included (same body as their canonical path). */
function ingestDetails(path: string): OperationDetails | undefined {
  const canonical = canonicalIngestPath(path);
  if (!canonical) return undefined;
  const type = ingestTypes[canonical];
  const alias =
    path !== canonical ? ` Same as \`${canonical}\` (a path Segment's libraries use).` : '';
  return {
    summary: type ? `Send one \`${type}\` event` : 'Send a batch of events',
    description:
      (type
        ? `One Segment Spec \`${type}\` event, at most ${ingestLimits.maxRequestBytes} bytes. `
        : `Up to ${ingestLimits.maxBatchEvents} events of any type, at most ${ingestLimits.maxBatchBytes} bytes; each is validated alone, so valid events are kept when a sibling is rejected (207 with per-event results). `) +
      'The write key may instead be sent as `writeKey` in the body. `properties` of catalogue events and `identify` traits are checked against the catalogue schemas (components `Catalogue…`). See docs/EVENTS.md.' +
      alias,
    body: {
      schema: type ? schemaName(type) : 'SegmentBatch',
      description: type ? `A \`${type}\` event.` : 'A batch.',
    },
    success: { status: 200, description: 'Every event was accepted: `{"success":true}`.' },
    errors: ingestErrorCases,
  };
}

/** Operation details by route key, for the routes that are not ingest routes. */
const operationDetails: Readonly<Record<string, OperationDetails>> = {
  [routeKey('GET', '/v1/members/{id}')]: {
    summary: 'Read a member',
    description:
      'Traits, aggregates and tags with the reason each holds, evaluated at the request instant, and `analytics`: the nightly results written back (RFM scores, segment, 8-class, value tier, cluster, persona; `recencyDays` derived now from `lastOrderDate`), `null` before the first run. `{id}` is a userId, or an anonymousId never linked to one.' +
      ' Personal traits (catalogue fields marked personal — email, phone, name, firstName, lastName, address — and their synonyms, at any depth) are returned only to keys that also hold `members:read:pii`; for other keys they are omitted from `traits`, and a value a tag reason read from one is masked as `"[personal]"`.',
    success: { status: 200, description: 'The member.' },
    errors: [memberNotFound],
  },
  [routeKey('GET', '/v1/members/{id}/tags/history')]: {
    summary: "Page through a member's tag changes",
    query: [queryParameters.historyLimit, queryParameters.historyCursor],
    success: {
      status: 200,
      description: 'Tag changes, newest first, with `next` when more remain.',
    },
    errors: [memberNotFound, invalidQuery],
  },
  [routeKey('GET', '/v1/members/{id}/segments')]: {
    summary: "A member's segments, each with why the member is in it",
    description:
      'Each segment with the leaves that decided and the values they read. A value read from a personal trait is shown only to keys that also hold `members:read:pii`; for other keys it is masked as `"[personal]"`.',
    success: {
      status: 200,
      description:
        "The segments the member is in (served), each with why, and `consent`: the member's consent to each purpose (what it said, else the environment's default).",
    },
    errors: [memberNotFound],
  },
  [routeKey('POST', '/v1/segments')]: {
    summary: 'Create a segment',
    body: { schema: 'SegmentDefinition', description: 'The definition (docs/SEGMENTS.md).' },
    success: { status: 201, description: 'Created; `Location` names it.' },
    errors: [invalidBody, tooLarge, invalidDefinition, segmentExists],
  },
  [routeKey('GET', '/v1/segments')]: {
    summary: 'List the segments with their member counts',
    success: {
      status: 200,
      description:
        "The active segments; `membership.count` members served, `membership.withheld` members the definition holds who refused the segment's purpose (docs/SEGMENTS.md § Consent).",
    },
  },
  [routeKey('GET', '/v1/segments/{id}')]: {
    summary: 'Read a segment (or an older version of its definition)',
    query: [queryParameters.segmentVersion],
    success: {
      status: 200,
      description: 'The segment, with `membership.count` and `membership.withheld`.',
    },
    errors: [segmentNotFound, invalidQuery],
  },
  [routeKey('PUT', '/v1/segments/{id}')]: {
    summary: 'Save a new version of a segment',
    description: '`If-Match: <version>` refuses the save when another version was saved since.',
    body: {
      schema: 'SegmentDefinition',
      description: 'The definition; `id` may be omitted or must equal the path.',
    },
    success: { status: 200, description: 'The saved segment.' },
    errors: [invalidBody, tooLarge, invalidDefinition, segmentNotFound, versionConflict],
  },
  [routeKey('DELETE', '/v1/segments/{id}')]: {
    summary: 'Delete a segment',
    description: 'Refused while another segment reads it. `If-Match: <version>` as for PUT.',
    success: { status: 200, description: 'Deleted.' },
    errors: [invalidBody, segmentNotFound, segmentInUse, versionConflict],
  },
  [routeKey('GET', '/v1/segments/{id}/members')]: {
    summary: "Page through a segment's members (now, or at an earlier instant)",
    query: [
      queryParameters.membersLimit,
      queryParameters.membersCursor,
      queryParameters.membersAsOf,
    ],
    success: {
      status: 200,
      description:
        'Members in member order, the count, and `next` when more remain; with `asOf`, the members at that instant (no count).',
    },
    errors: [segmentNotFound, invalidQuery, asOfTooFar],
  },
  [routeKey('GET', '/v1/segments/{id}/changes')]: {
    summary: "Page through a segment's enters and exits, to sync",
    description:
      'The ledger in order, up to `settledUntil` (5 s ago). Keep `next` and pass it as `since` next time. `cause.kind` is `profile`, `definitions`, `consent_withdrawn` or `consent_granted` (with `purpose`). See docs/SEGMENTS.md "Syncing".',
    query: [queryParameters.changesLimit, queryParameters.changesSince],
    success: {
      status: 200,
      description: 'Changes in ledger order, `next` (always), `more`, and `settledUntil`.',
    },
    errors: [segmentNotFound, invalidQuery],
  },
  [routeKey('POST', '/v1/segments/preview')]: {
    summary: 'Dry-run a definition over the stored members',
    description:
      'Validated like a create; nothing is saved. Count (members it would serve), `withheld` (members it holds who refused its purpose), sample, and who would enter and leave compared with the saved version of the same id; an estimate (`exact: false`) when the members cannot all be read in 6 s.',
    body: { schema: 'SegmentDefinition', description: 'The definition (new, or an edit).' },
    success: { status: 200, description: 'The preview.' },
    errors: [invalidBody, tooLarge, invalidDefinition],
  },
  [routeKey('POST', '/v1/segments/{id}/webhooks')]: {
    summary: "Subscribe a URL to a segment's enters and exits",
    description:
      'Body `{ "url": "https://…", "secret"?: string, "description"?: string }`; the answer shows the signing secret once. See docs/WEBHOOKS.md.',
    success: { status: 201, description: 'The subscription, with its secret.' },
    errors: [invalidBody, invalidWebhook, segmentNotFound, webhookLimit],
  },
  [routeKey('GET', '/v1/segments/{id}/webhooks')]: {
    summary: "List a segment's webhook subscriptions (without secrets)",
    success: { status: 200, description: 'The subscriptions.' },
    errors: [segmentNotFound],
  },
  [routeKey('DELETE', '/v1/segments/{id}/webhooks/{hookId}')]: {
    summary: 'Unsubscribe',
    success: { status: 200, description: 'Deleted; deliveries still queued are dropped.' },
    errors: [webhookNotFound],
  },
  [routeKey('POST', '/v1/segments/{id}/check')]: {
    summary: 'Check which of up to 1,000 members are in a segment',
    body: { schema: 'SegmentCheck', description: 'The member ids.' },
    success: {
      status: 200,
      description:
        'For each id, whether it is in; a member the definition holds who refused the segment\'s purpose is out with `reason: "consent"`.',
    },
    errors: [invalidBody, tooLarge, invalidDefinition, segmentNotFound],
  },
  [routeKey('GET', '/v1/segments/{id}/export')]: {
    summary: 'Stream a whole segment as NDJSON or CSV',
    description:
      '`?format=ndjson|csv` (or `Accept: text/csv`). Streamed: on AWS served at the stack output `ExportUrl` (a Lambda Function URL), not at the HTTP API. See docs/SEGMENTS.md.',
    success: { status: 200, description: 'One line per member, in member order.' },
    errors: [segmentNotFound, invalidQuery],
  },
  [routeKey('DELETE', '/v1/members/{id}')]: {
    summary: 'Erase a member (asynchronously), answering a receipt at once',
    description:
      '`{id}` is a userId, else an anonymousId. Removes the member and every alias from events, profiles, tag history, identity links and segment memberships (each left with an exit under a pseudonym), then suppresses its ids: their later events are rejected with `member_suppressed` until `DELETE /v1/suppressions/{id}`. Erasing again, or an unknown id, gives a receipt that says nothing was found. See docs/PRIVACY.md.',
    success: {
      status: 202,
      description: 'The receipt (`pending`); `Location` and `statusUrl` name it.',
    },
    errors: [invalidMemberId, queueUnavailable],
  },
  [routeKey('GET', '/v1/erasures/{receipt}')]: {
    summary: 'Read an erasure receipt',
    description:
      'Status `pending`, `running`, `done` or `failed`; when done, what was removed per store (counts) and when. Holds a keyed hash of the id, never the id.',
    success: { status: 200, description: 'The receipt.' },
    errors: [erasureNotFound],
  },
  [routeKey('DELETE', '/v1/suppressions/{id}')]: {
    summary: "Lift an erased member's suppression",
    description:
      'Events naming `{id}` (as userId or anonymousId) are accepted again. Answers how many ids were suppressed; 0 is not an error.',
    success: { status: 200, description: '`{ "unsuppressed": n }`.' },
    errors: [invalidMemberId],
  },
  [routeKey('GET', '/v1/analytics/rfm')]: {
    summary: 'RFM results of a nightly run: the R×F grid, score counts and the segment table',
    description:
      'The run (id, as-of date, status, counts), members per recency × frequency score, members per score of R, F and M, and per named RFM segment its members, share and mean recency, frequency and monetary (exact decimal text); the 8-class scheme and value tiers as counts; and the recent runs. See docs/ANALYTICS.md.',
    query: [queryParameters.analyticsRunId],
    success: { status: 200, description: 'The RFM summary of the run.' },
    errors: [analyticsRunNotFound, invalidQuery],
  },
  [routeKey('GET', '/v1/analytics/personas')]: {
    summary: 'Persona cards of a nightly run, and the drift from the run before',
    description:
      'One card per cluster (stable id `c1`…, size and share, centroid in original units, typical city / gender / age band, favourite categories, top interest tags, RFM mix, a zh-CN and en name and description) and the drift: the transition matrix of members between clusters since the previous succeeded run. See docs/ANALYTICS.md.',
    query: [queryParameters.analyticsRunId],
    success: { status: 200, description: 'The persona cards and drift of the run.' },
    errors: [analyticsRunNotFound, invalidQuery],
  },
  [routeKey('GET', '/v1/openapi.json')]: {
    summary: 'This document',
    description: 'Public: no key needed.',
    success: { status: 200, description: 'The OpenAPI 3.1 document.' },
  },
};

/** Route keys that have no hand-written details (the generator still documents them). */
export function routesWithoutDetails(
  routes: readonly RouteDeclaration[] = declaredRoutes,
): string[] {
  return routes
    .filter((r) => !ingestDetails(r.path) && !operationDetails[routeKey(r.method, r.path)])
    .map((r) => routeKey(r.method, r.path));
}

const errorEnvelope = {
  type: 'object',
  description:
    'Every error: a stable machine `code`, a human `message`, the `requestId` to quote, and details named by the code (e.g. `pointer`, `issues`, `requiredScope`, `retryAfterSeconds`).',
  required: ['success', 'code', 'message'],
  properties: {
    success: { const: false },
    code: { type: 'string' },
    message: { type: 'string' },
    requestId: { type: 'string' },
  },
} as const;

function errorResponses(cases: readonly ErrorCase[]): JsonObject {
  const byStatus = new Map<number, Set<string>>();
  for (const { status, code } of cases) {
    byStatus.set(status, (byStatus.get(status) ?? new Set()).add(code));
  }
  const responses: JsonObject = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const list = [...codes].sort();
    responses[String(status)] = {
      description: `Error: ${list.map((code) => `\`${code}\``).join(', ')}.`,
      ...(status === 429
        ? {
            headers: {
              'Retry-After': {
                description: 'Whole seconds (≥ 1) until the key is admitted again.',
                schema: { type: 'integer', minimum: 1 },
              },
            },
          }
        : {}),
      content: {
        'application/json': {
          schema: {
            allOf: [{ $ref: '#/components/schemas/Error' }],
            properties: { code: { enum: list } },
          },
        },
      },
    };
  }
  return responses;
}

function pathParameters(path: string): JsonObject[] {
  return [...path.matchAll(/\{([^}+]+)\+?\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
}

function operation(route: RouteDeclaration, operationId: string): JsonObject {
  const details = ingestDetails(route.path) ??
    operationDetails[routeKey(route.method, route.path)] ?? {
      summary: `${route.method} ${route.path}`,
      success: { status: 200, description: 'Success.' },
    };
  const scope = route.scope;
  const parameters = [
    ...pathParameters(route.path),
    ...(details.query ?? []).map((parameter) => ({ ...parameter, in: 'query', required: false })),
  ];
  return {
    operationId,
    summary: details.summary,
    ...(details.description ? { description: details.description } : {}),
    tags: [tagOf(route)],
    ...(scope === null
      ? { security: [] }
      : {
          security: [{ basicAuth: [scope] }, { bearerAuth: [scope] }],
          'x-portrait-scope': scope,
        }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(details.body
      ? {
          requestBody: {
            required: true,
            description: details.body.description,
            content: {
              'application/json': {
                schema: { $ref: `#/components/schemas/${details.body.schema}` },
              },
            },
          },
        }
      : {}),
    responses: {
      [String(details.success.status)]: {
        description: details.success.description,
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      ...errorResponses([...(scope === null ? [] : keyErrors), ...(details.errors ?? [])]),
    },
  };
}

function tagOf(route: RouteDeclaration): string {
  if (canonicalIngestPath(route.path)) return 'Events';
  if (route.path.startsWith('/v1/members')) return 'Members';
  if (route.path.startsWith('/v1/segments')) return 'Segments';
  return 'API';
}

/** `GET /v1/segments/{id}/members` → `getSegmentsIdMembers` (unique per method and path). */
function operationIdOf(route: RouteDeclaration): string {
  const words = route.path
    .split('/')
    .filter((part) => part !== '' && part !== 'v1')
    .flatMap((part) => part.replace(/[{}+]/g, '').split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return (
    route.method.toLowerCase() +
    words.map((word) => `${word[0]?.toUpperCase() ?? ''}${word.slice(1)}`).join('')
  );
}

/** Component schemas: the validating schema objects themselves, not copies. */
function componentSchemas(): JsonObject {
  const schemas: JsonObject = {
    Error: errorEnvelope,
    SegmentEvent: envelopeSchema,
    SegmentBatch: batchRequestSchema,
    SegmentDefinition: segmentDefinitionSchema,
    SegmentCheck: checkRequestSchema,
  };
  for (const type of Object.values(ingestTypes))
    schemas[schemaName(type)] = routeEnvelopeSchema(type);
  for (const listing of catalogueSchemas()) {
    const name = listing.key
      .split('_')
      .map((word) => `${word[0]?.toUpperCase() ?? ''}${word.slice(1)}`)
      .join('');
    schemas[`Catalogue${name}`] = {
      description:
        listing.kind === 'identify_traits'
          ? '`traits` of an `identify` event.'
          : `\`properties\` of a \`track\` event named "${listing.name}" (any spelling: ${listing.key}).`,
      allOf: [listing.schema],
    };
  }
  return schemas;
}

/** The per-key limits the document states, from the configured defaults. */
function rateLimitText(): string {
  const family = (name: keyof typeof defaultKeyRateLimits) => {
    const limit = defaultKeyRateLimits[name];
    return limit ? `${limit.perSecond} requests/s (burst ${limit.burst})` : 'no per-key limit';
  };
  return (
    `Per-key rate limits: a key may carry its own limit; otherwise, in the deployed environments, reads default to ${family('read')}, ` +
    `segment writes to ${family('write')}, and ingest has ${family('ingest')} (the local runtime sets no defaults). ` +
    'Over the limit: 429 `rate_limited` with `Retry-After`. On AWS the limit holds per function instance (docs/API.md).'
  );
}

/**
 * The OpenAPI 3.1 document of `routes` (default: every declared route). Deterministic: the same
 * declarations and schemas give the same document.
 */
export function openApiDocument(routes: readonly RouteDeclaration[] = declaredRoutes): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    paths[route.path] = {
      ...paths[route.path],
      [route.method.toLowerCase()]: operation(route, operationIdOf(route)),
    };
  }
  const scopes = [...new Set(routes.map((r) => r.scope).filter((s): s is Scope => s !== null))];
  return {
    openapi: '3.1.0',
    info: {
      title: 'Portrait API',
      version: API_DOCUMENT_VERSION,
      summary: 'Member tagging and segmentation: Segment-compatible ingest, members, segments.',
      description:
        'Every keyed route needs a key holding its scope (listed per operation as the security requirement and `x-portrait-scope`; ' +
        `scopes in use: ${scopes.join(', ')}). Send the key as the HTTP Basic user name with an empty password, or as a Bearer token. ` +
        `Errors share one envelope (component \`Error\`) with a stable \`code\`. ${rateLimitText()} ` +
        `Ingest aliases: ${Object.keys(ingestAliases).join(', ')}.`,
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: [
      { name: 'Events', description: 'Segment Spec ingest (docs/EVENTS.md).' },
      { name: 'Members', description: 'Members, their tags and segments.' },
      { name: 'Segments', description: 'Segment definitions and membership (docs/SEGMENTS.md).' },
      { name: 'API', description: 'This document.' },
    ],
    paths,
    components: {
      securitySchemes: {
        basicAuth: {
          type: 'http',
          scheme: 'basic',
          description: 'The key as the user name, empty password (Segment convention).',
        },
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'The key as a Bearer token.' },
      },
      schemas: componentSchemas(),
    },
  };
}
