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
  /** Scope the caller's key must hold. */
  readonly scope: Scope;
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

/** Every HTTP route, read by the CDK HTTP API and by the local gateway. */
export const routes: readonly RouteDeclaration[] = [
  ...ingestPaths.map(
    (path): RouteDeclaration => ({
      method: 'POST',
      path,
      function: 'collect',
      scope: 'events:write',
    }),
  ),
];
