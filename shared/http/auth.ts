import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Scope } from '../../infra/declarations/routes.ts';
import type { WriteKeyRecord } from '../adapters/write-key-store.ts';
import { writeKeyFromAuthorization } from '../domain/keys/write-key.ts';
import {
  InsufficientScopeError,
  InvalidWriteKeyError,
  MissingWriteKeyError,
  RateLimitedError,
} from './errors.ts';
import type { KeyRateLimiter } from './key-rate-limiter.ts';
import { header } from './request.ts';

/** What checking a key needs: the key store lookup and, optionally, the per-key limiter. */
export interface KeyGate {
  readonly lookupKey: (rawKey: string) => Promise<WriteKeyRecord | undefined>;
  /** Per-key rate limits; absent in tests that do not exercise them. */
  readonly rateLimiter?: KeyRateLimiter;
}

/**
 * The one check every keyed route goes through: 401 without a known key, 403 with a code when
 * the scope is missing, 429 with `Retry-After` when the key is over its rate limit.
 */
export async function authorizeKey(
  rawKey: string | undefined,
  gate: KeyGate,
  scope: Scope,
): Promise<WriteKeyRecord> {
  if (!rawKey) throw new MissingWriteKeyError();
  const record = await gate.lookupKey(rawKey);
  if (!record) throw new InvalidWriteKeyError();
  if (!record.scopes.includes(scope)) throw new InsufficientScopeError(scope);
  const decision = gate.rateLimiter?.take(record, scope);
  if (decision && !decision.admitted && decision.limit) {
    throw new RateLimitedError(decision.retryAfterSeconds, decision.limit);
  }
  return record;
}

/**
 * The key of a read or management request (HTTP Basic user name or Bearer token), checked by
 * {@link authorizeKey} for `scope`.
 */
export async function authorizeRequest(
  event: APIGatewayProxyEventV2,
  gate: KeyGate,
  scope: Scope,
): Promise<WriteKeyRecord> {
  return authorizeKey(writeKeyFromAuthorization(header(event, 'authorization')), gate, scope);
}
