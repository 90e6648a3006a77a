/**
 * Per-key request limits: a token bucket per key, refilled continuously at `perSecond` tokens a
 * second up to `burst`. Pure: the caller passes the instant, so tests move time without sleeping.
 *
 * Arithmetic is exact: a token is 1,000 units and the clock is in whole milliseconds, so an
 * integer rate refills an integer number of units per millisecond and no rounding can admit an
 * extra request. Over any interval of `t` seconds a bucket admits at most `burst + perSecond × t`
 * requests (tested as a property).
 */

/** A key's limit: steady requests per second and the burst a full bucket allows. */
export interface RateLimit {
  /** Whole requests per second, ≥ 1. */
  readonly perSecond: number;
  /** Bucket size: requests admitted at once after a quiet period, ≥ 1. */
  readonly burst: number;
}

export type RateDecision =
  | { readonly admitted: true }
  | {
      readonly admitted: false;
      /** Whole seconds until one request would be admitted again, ≥ 1 (the `Retry-After`). */
      readonly retryAfterSeconds: number;
    };

const UNITS_PER_TOKEN = 1_000;

interface Bucket {
  /** Tokens × 1,000 at `at`. */
  units: number;
  at: number;
  perSecond: number;
  burst: number;
}

export class InvalidRateLimitError extends Error {
  readonly code = 'invalid_rate_limit';
  constructor(limit: RateLimit) {
    super(
      `A rate limit is whole requests per second ≥ 1 with a whole burst ≥ 1, got ${limit.perSecond}/s burst ${limit.burst}.`,
    );
    this.name = 'InvalidRateLimitError';
  }
}

/** Throws {@link InvalidRateLimitError} unless both numbers are whole and ≥ 1. */
export function checkRateLimit(limit: RateLimit): RateLimit {
  const whole = (n: number) => Number.isSafeInteger(n) && n >= 1 && n <= 1_000_000;
  if (!whole(limit.perSecond) || !whole(limit.burst)) throw new InvalidRateLimitError(limit);
  return limit;
}

/**
 * Token buckets by key, held in memory. `maxKeys` bounds memory: past it, buckets that have
 * refilled to full (indistinguishable from a new one) are dropped first, then the oldest.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly maxKeys = 10_000) {}

  /** Takes one token from `key`'s bucket at instant `nowMs`, or says how long to wait. */
  take(key: string, limit: RateLimit, nowMs: number): RateDecision {
    const now = Math.floor(nowMs);
    const capacity = limit.burst * UNITS_PER_TOKEN;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.evict(now);
      bucket = { units: capacity, at: now, perSecond: limit.perSecond, burst: limit.burst };
      this.buckets.set(key, bucket);
    } else {
      if (bucket.perSecond !== limit.perSecond || bucket.burst !== limit.burst) {
        // The key's limit changed: keep what was spent, within the new size.
        bucket.perSecond = limit.perSecond;
        bucket.burst = limit.burst;
      }
      // A clock that steps back refills nothing rather than draining the bucket.
      const elapsed = Math.max(0, now - bucket.at);
      bucket.units = Math.min(capacity, bucket.units + elapsed * limit.perSecond);
      bucket.at = Math.max(bucket.at, now);
    }
    if (bucket.units >= UNITS_PER_TOKEN) {
      bucket.units -= UNITS_PER_TOKEN;
      return { admitted: true };
    }
    const waitMs = Math.ceil((UNITS_PER_TOKEN - bucket.units) / limit.perSecond);
    return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Keys currently tracked (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private evict(now: number): void {
    for (const [key, bucket] of this.buckets) {
      const refilled = bucket.units + Math.max(0, now - bucket.at) * bucket.perSecond;
      if (refilled >= bucket.burst * UNITS_PER_TOKEN) this.buckets.delete(key);
    }
    // Still full of busy keys: forget the oldest quarter (they may be admitted a burst early).
    let excess = this.buckets.size - Math.floor((this.maxKeys * 3) / 4);
    for (const key of this.buckets.keys()) {
      if (excess-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
