import type { Scope } from '../../infra/declarations/routes.ts';
import type { WriteKeyRecord } from '../adapters/write-key-store.ts';
import { clock } from '../config/clock.ts';
import {
  defaultKeyRateLimits,
  type KeyRateLimitDefaults,
  scopeFamilies,
} from '../config/rate-limits.ts';
import { type RateDecision, type RateLimit, TokenBuckets } from '../domain/keys/rate-limit.ts';

/** Decides whether a key's request to a route of `scope` is admitted now. */
export interface KeyRateLimiter {
  take(key: WriteKeyRecord, scope: Scope): RateDecision & { readonly limit?: RateLimit };
}

const admitted = { admitted: true } as const;

/**
 * Token buckets in this process's memory. A key with its own limit has one bucket for all its
 * routes; a key without one has a bucket per scope family, sized by `defaults`. On AWS every
 * Lambda instance holds its own buckets: the limit holds per instance, not across them
 * (docs/AWS.md "Per-key rate limits").
 */
export function inProcessKeyRateLimiter(
  options: {
    readonly defaults?: KeyRateLimitDefaults;
    readonly now?: () => number;
    readonly maxKeys?: number;
  } = {},
): KeyRateLimiter {
  const defaults = options.defaults ?? defaultKeyRateLimits;
  const now = options.now ?? clock.now;
  const buckets = new TokenBuckets(options.maxKeys);
  return {
    take(key, scope) {
      const own = key.rateLimit;
      const family = scopeFamilies[scope];
      const limit = own ?? defaults[family];
      if (!limit) return admitted;
      const decision = buckets.take(own ? key.keyHash : `${key.keyHash}#${family}`, limit, now());
      return decision.admitted ? decision : { ...decision, limit };
    },
  };
}

let shared: KeyRateLimiter | undefined;

/**
 * The limiter every HTTP function in this process shares, so that locally (all functions in one
 * process) a key's limit holds across the query, segments and collect functions together.
 */
export function processKeyRateLimiter(defaults: KeyRateLimitDefaults): KeyRateLimiter {
  shared ??= inProcessKeyRateLimiter({ defaults });
  return shared;
}
