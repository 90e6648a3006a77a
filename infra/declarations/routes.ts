import type { FunctionId } from './functions.ts';

/** Key scopes (DESIGN §2 HTTP API). A key carries a set of these. */
export type Scope =
  | 'events:write'
  | 'members:read'
  | 'members:read:pii'
  | 'segments:read'
  | 'segments:write'
  | 'members:erase';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface RouteDeclaration {
  readonly method: HttpMethod;
  /** API Gateway route path, e.g. `/v1/track` or `/v1/members/{id}`. */
  readonly path: string;
  readonly function: FunctionId;
  /** Scope the caller's key must hold; `null` for a public route that takes no key. */
  readonly scope: Scope | null;
  /**
   * The handler streams its answer (Lambda response streaming, `streamifyResponse`). On AWS such
   * a route is served by the function's URL, not the HTTP API, which cannot stream and caps
   * answers at 6 MB; the local gateway streams it at the same path. @default false
   */
  readonly streaming?: boolean;
}

/** The Segment Spec ingest routes (DESIGN §2 Events). */
export const ingestPaths = [
  '/v1/track',
  '/v1/identify',
  '/v1/alias',
  '/v1/page',
  '/v1/screen',
  '/v1/group',
  '/v1/batch',
] as const;

export type IngestPath = (typeof ingestPaths)[number];

/**
 * Other paths Segment's own libraries post to: analytics.js (browser) uses one-letter paths,
 * its batching mode `/v1/b`, and the mobile libraries `/v1/import`. Each is the same ingest as
 * the canonical path it maps to, so those libraries too need only a new host.
 */
export const ingestAliases: Readonly<Record<string, IngestPath>> = {
  '/v1/t': '/v1/track',
  '/v1/i': '/v1/identify',
  '/v1/a': '/v1/alias',
  '/v1/p': '/v1/page',
  '/v1/s': '/v1/screen',
  '/v1/g': '/v1/group',
  '/v1/b': '/v1/batch',
  '/v1/import': '/v1/batch',
};

/** The canonical ingest path of a request path, or undefined when it is not an ingest route. */
export function canonicalIngestPath(path: string): IngestPath | undefined {
  if ((ingestPaths as readonly string[]).includes(path)) return path as IngestPath;
  return ingestAliases[path];
}

/**
 * Cross-origin policy of the public API: browsers may send events from any site (the write key
 * is public by design, as in Segment), and read the answers.
 */
export const corsPolicy = {
  allowOrigins: ['*'],
  allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
  allowHeaders: ['authorization', 'content-type', 'content-encoding', 'if-match'],
  maxAgeSeconds: 86_400,
} as const;

/** The read API for members (DESIGN §2 HTTP API). */
export const memberRoutes = [
  { method: 'GET', path: '/v1/members/{id}', function: 'query', scope: 'members:read' },
  {
    method: 'GET',
    path: '/v1/members/{id}/tags/history',
    function: 'query',
    scope: 'members:read',
  },
  { method: 'GET', path: '/v1/members/{id}/segments', function: 'query', scope: 'members:read' },
] as const satisfies readonly RouteDeclaration[];

/** The segment definitions API (issue #4; membership routes come with materialisation). */
export const segmentRoutes = [
  { method: 'POST', path: '/v1/segments', function: 'segments', scope: 'segments:write' },
  {
    method: 'POST',
    path: '/v1/segments/preview',
    function: 'segments',
    scope: 'segments:write',
  },
  { method: 'GET', path: '/v1/segments', function: 'segments', scope: 'segments:read' },
  { method: 'GET', path: '/v1/segments/{id}', function: 'segments', scope: 'segments:read' },
  { method: 'PUT', path: '/v1/segments/{id}', function: 'segments', scope: 'segments:write' },
  { method: 'DELETE', path: '/v1/segments/{id}', function: 'segments', scope: 'segments:write' },
  {
    method: 'GET',
    path: '/v1/segments/{id}/members',
    function: 'segments',
    scope: 'segments:read',
  },
  {
    method: 'POST',
    path: '/v1/segments/{id}/check',
    function: 'segments',
    scope: 'segments:read',
  },
  {
    method: 'GET',
    path: '/v1/segments/{id}/changes',
    function: 'segments',
    scope: 'segments:read',
  },
] as const satisfies readonly RouteDeclaration[];

/** Webhook subscriptions of a segment (issue #4 part 7; see docs/WEBHOOKS.md). */
export const webhookRoutes = [
  {
    method: 'POST',
    path: '/v1/segments/{id}/webhooks',
    function: 'webhooks',
    scope: 'segments:write',
  },
  {
    method: 'GET',
    path: '/v1/segments/{id}/webhooks',
    function: 'webhooks',
    scope: 'segments:read',
  },
  {
    method: 'DELETE',
    path: '/v1/segments/{id}/webhooks/{hookId}',
    function: 'webhooks',
    scope: 'segments:write',
  },
] as const satisfies readonly RouteDeclaration[];

/** Erasure of a member, its receipt, and lifting its suppression (docs/PRIVACY.md). */
export const erasureRoutes = [
  { method: 'DELETE', path: '/v1/members/{id}', function: 'erasures', scope: 'members:erase' },
  { method: 'GET', path: '/v1/erasures/{receipt}', function: 'erasures', scope: 'members:erase' },
  {
    method: 'DELETE',
    path: '/v1/suppressions/{id}',
    function: 'erasures',
    scope: 'members:erase',
  },
] as const satisfies readonly RouteDeclaration[];

/** The nightly analytics results (docs/ANALYTICS.md): RFM grid and segments, persona cards. */
export const analyticsRoutes = [
  { method: 'GET', path: '/v1/analytics/rfm', function: 'analytics', scope: 'segments:read' },
  { method: 'GET', path: '/v1/analytics/personas', function: 'analytics', scope: 'segments:read' },
] as const satisfies readonly RouteDeclaration[];

/** The API document (DESIGN §2 HTTP API): public, so tools can fetch it without a key. */
export const documentRoutes = [
  { method: 'GET', path: '/v1/openapi.json', function: 'openapi', scope: null },
] as const satisfies readonly RouteDeclaration[];

/** The streaming export of a whole segment (docs/SEGMENTS.md § Export). */
export const exportRoute = {
  method: 'GET',
  path: '/v1/segments/{id}/export',
  function: 'exporter',
  scope: 'segments:read',
  streaming: true,
} as const satisfies RouteDeclaration;

/** Every HTTP route, read by the CDK HTTP API and by the local gateway. */
export const routes: readonly RouteDeclaration[] = [
  ...[...ingestPaths, ...Object.keys(ingestAliases)].map(
    (path): RouteDeclaration => ({
      method: 'POST',
      path,
      function: 'collect',
      scope: 'events:write',
    }),
  ),
  ...memberRoutes,
  ...segmentRoutes,
  ...webhookRoutes,
  ...erasureRoutes,
  ...analyticsRoutes,
  ...documentRoutes,
  exportRoute,
];
