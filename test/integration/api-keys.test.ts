/**
 * Keys over HTTP on the local runtime: every declared route refuses a missing key (401) and a key
 * without its scope (403 `insufficient_scope`), and does not refuse a key holding only its scope;
 * a key of one scope reaches no route of another; per-key rate limits answer 429 with
 * `Retry-After`, leave other keys alone and refill with the (injected) clock; the API document
 * is served without a key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouteDeclaration, routes, type Scope } from '../../infra/declarations/routes.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import type { RateLimit } from '../../shared/domain/keys/rate-limit.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import { openApiDocument } from '../../shared/http/openapi.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

const allScopes: readonly Scope[] = [
  'events:write',
  'members:read',
  'members:read:pii',
  'segments:read',
  'segments:write',
  'members:erase',
];

let t: TestRuntime;
let now = Date.parse('2026-05-01T12:00:00Z');

beforeAll(async () => {
  t = await startTestRuntime({ clock: () => now, sweepEverySeconds: 0 });
});

afterAll(async () => {
  await t?.close();
});

async function keyWith(scopes: readonly Scope[], rateLimit?: RateLimit): Promise<string> {
  const key = generateWriteKey('test');
  await new WriteKeyStore(t.documents, t.runtime.tables['write-keys']).create(key, {
    sourceId: `test-${scopes.join('-') || 'none'}`,
    name: 'scoped',
    scopes,
    ...(rateLimit ? { rateLimit } : {}),
  });
  return `Bearer ${key}`;
}

/** A body each route would take (its content does not matter to the key check). */
function bodyFor(route: RouteDeclaration): unknown {
  if (route.function === 'collect') {
    return route.path === '/v1/batch' || route.path === '/v1/b' || route.path === '/v1/import'
      ? { batch: [{ type: 'track', userId: 'm-1', event: 'Shared' }] }
      : { type: 'track', userId: 'm-1', event: 'Shared' };
  }
  if (route.path.endsWith('/check')) return { memberIds: ['m-1'] };
  return {
    id: 'scope_probe',
    labels: { 'zh-CN': '探针', en: 'Probe' },
    purpose: 'analytics',
    expression: { tag: 'category_explorer' },
  };
}

async function call(
  route: RouteDeclaration,
  authorization: string | undefined,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const path = route.path.replace(/\{[^}]+\}/g, 'scope-probe');
  const withBody = route.method === 'POST' || route.method === 'PUT';
  const response = await fetch(`${t.runtime.apiUrl}${path}`, {
    method: route.method,
    headers: {
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    ...(withBody ? { body: JSON.stringify(bodyFor(route)) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}

const keyed = routes.filter(
  (route): route is RouteDeclaration & { scope: Scope } => route.scope !== null,
);
const named = (route: RouteDeclaration) => `${route.method} ${route.path} (${route.scope})`;

describe('scopes on every declared route', () => {
  const onlyKeys = new Map<Scope, string>();
  const allButKeys = new Map<Scope, string>();
  beforeAll(async () => {
    for (const scope of allScopes) {
      onlyKeys.set(scope, await keyWith([scope]));
      allButKeys.set(scope, await keyWith(allScopes.filter((other) => other !== scope)));
    }
  });

  it.each(keyed.map((route) => [named(route), route] as const))(
    '%s: 401 without a key',
    async (_, route) => {
      const answer = await call(route, undefined);
      expect(answer.status, JSON.stringify(answer.body)).toBe(401);
      expect(answer.body).toMatchObject({ success: false, code: 'missing_write_key' });
    },
  );

  it.each(keyed.map((route) => [named(route), route] as const))(
    '%s: 403 insufficient_scope for a key with every other scope',
    async (_, route) => {
      const answer = await call(route, allButKeys.get(route.scope));
      expect(answer.status, JSON.stringify(answer.body)).toBe(403);
      expect(answer.body).toMatchObject({
        success: false,
        code: 'insufficient_scope',
        requiredScope: route.scope,
      });
    },
  );

  it.each(keyed.map((route) => [named(route), route] as const))(
    '%s: not refused for scope reasons with only its scope',
    async (_, route) => {
      const answer = await call(route, onlyKeys.get(route.scope));
      expect([401, 403], JSON.stringify(answer.body)).not.toContain(answer.status);
      expect(answer.status).toBeLessThan(500);
    },
  );

  it('gives a key of one scope no route of another: the full scope × route matrix', async () => {
    const reached: string[] = [];
    for (const scope of allScopes) {
      for (const route of keyed) {
        if (route.scope === scope) continue;
        const answer = await call(route, onlyKeys.get(scope));
        if (answer.status !== 403 || answer.body.code !== 'insufficient_scope') {
          reached.push(`${scope} → ${named(route)}: ${answer.status}`);
        }
      }
    }
    expect(reached).toEqual([]);
  });

  it('keeps an events:write key away from members and segments', async () => {
    const writer = await keyWith(['events:write']);
    for (const path of ['/v1/members/m-1', '/v1/members/m-1/segments', '/v1/segments']) {
      const answer = await t.get(path, { authorization: writer });
      expect(answer.status).toBe(403);
      expect(Object.keys(answer.body as object).sort()).toEqual(
        ['code', 'message', 'requestId', 'requiredScope', 'success'].sort(),
      );
    }
  });
});

describe('per-key rate limits', () => {
  const segmentsList = routes.find((r) => r.method === 'GET' && r.path === '/v1/segments');
  const track = routes.find((r) => r.path === '/v1/track');
  if (!segmentsList || !track) throw new Error('routes missing');

  it('answers 429 rate_limited with Retry-After past the burst, and refills with the clock', async () => {
    const limited = await keyWith(['segments:read'], { perSecond: 1, burst: 2 });
    expect((await call(segmentsList, limited)).status).toBe(200);
    expect((await call(segmentsList, limited)).status).toBe(200);
    const refused = await call(segmentsList, limited);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body).toMatchObject({
      success: false,
      code: 'rate_limited',
      retryAfterSeconds: 1,
      limit: { perSecond: 1, burst: 2 },
    });
    expect(typeof refused.body.requestId).toBe('string');

    now += 999;
    expect((await call(segmentsList, limited)).status).toBe(429);
    now += 1;
    expect((await call(segmentsList, limited)).status).toBe(200);
    expect((await call(segmentsList, limited)).status).toBe(429);
  });

  it('leaves other keys alone', async () => {
    const busy = await keyWith(['segments:read'], { perSecond: 1, burst: 1 });
    const quiet = await keyWith(['segments:read'], { perSecond: 1, burst: 1 });
    expect((await call(segmentsList, busy)).status).toBe(200);
    expect((await call(segmentsList, busy)).status).toBe(429);
    expect((await call(segmentsList, quiet)).status).toBe(200);
    // Keys without a limit of their own have none locally (the local runtime sets no defaults).
    const unlimited = await keyWith(['segments:read']);
    for (let i = 0; i < 30; i++) expect((await call(segmentsList, unlimited)).status).toBe(200);
  });

  it('limits ingest for a key created with its own limit', async () => {
    const limited = await keyWith(['events:write'], { perSecond: 1, burst: 1 });
    expect((await call(track, limited)).status).toBe(200);
    const refused = await call(track, limited);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});

describe('the API document', () => {
  it('is served at /v1/openapi.json without a key, as generated', async () => {
    const response = await fetch(`${t.runtime.apiUrl}/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(await response.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });
});
