import type { Scope } from '../../infra/declarations/routes.ts';
import type { RateLimit } from '../domain/keys/rate-limit.ts';

/**
 * Scope families for per-key rate limits: a key without a limit of its own gets its family's
 * default for the route it calls (docs/API.md "Rate limits").
 */
export type ScopeFamily = 'ingest' | 'read' | 'write';

export const scopeFamilies: Readonly<Record<Scope, ScopeFamily>> = {
  'events:write': 'ingest',
  'members:read': 'read',
  'members:read:pii': 'read',
  'segments:read': 'read',
  'segments:write': 'write',
  'members:erase': 'write',
};

/** Default limit per family; `undefined` means no per-key limit (the stage throttle still applies). */
export type KeyRateLimitDefaults = Readonly<Record<ScopeFamily, RateLimit | undefined>>;

/**
 * Ingest keeps its behaviour (no per-key limit: SDKs flush bursts and the stage throttle guards
 * the API); reads allow a marketing tool to page quickly; writes are edits made by people.
 */
export const defaultKeyRateLimits: KeyRateLimitDefaults = {
  ingest: undefined,
  read: { perSecond: 100, burst: 200 },
  write: { perSecond: 10, burst: 20 },
};

/**
 * No default limit for any family: the local runtime's choice, so that tests and benchmarks on one
 * machine measure the engine, not the limiter. Keys created with `--rate` are limited everywhere.
 */
export const noDefaultKeyRateLimits: KeyRateLimitDefaults = {
  ingest: undefined,
  read: undefined,
  write: undefined,
};
