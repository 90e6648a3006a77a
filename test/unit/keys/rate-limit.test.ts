import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WriteKeyRecord } from '../../../shared/adapters/write-key-store.ts';
import {
  checkRateLimit,
  InvalidRateLimitError,
  TokenBuckets,
} from '../../../shared/domain/keys/rate-limit.ts';
import { inProcessKeyRateLimiter } from '../../../shared/http/key-rate-limiter.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 500);

const key = (keyHash: string, extra: Partial<WriteKeyRecord> = {}): WriteKeyRecord => ({
  keyHash,
  sourceId: keyHash,
  name: keyHash,
  scopes: ['segments:read', 'segments:write', 'events:write'],
  createdAt: '2026-01-01T00:00:00.000Z',
  revoked: false,
  ...extra,
});

describe('TokenBuckets', () => {
  it('admits a full burst at once, then refuses with a Retry-After of at least one second', () => {
    const buckets = new TokenBuckets();
    const limit = { perSecond: 2, burst: 3 };
    const decisions = [0, 0, 0, 0].map(() => buckets.take('k', limit, 1_000));
    expect(decisions.slice(0, 3).every((d) => d.admitted)).toBe(true);
    expect(decisions[3]).toEqual({ admitted: false, retryAfterSeconds: 1 });
  });

  it('refills at the rate: one token per 1/rate seconds, never above the burst', () => {
    const buckets = new TokenBuckets();
    const limit = { perSecond: 4, burst: 2 };
    buckets.take('k', limit, 0);
    buckets.take('k', limit, 0);
    expect(buckets.take('k', limit, 249).admitted).toBe(false);
    expect(buckets.take('k', limit, 250).admitted).toBe(true);
    // A long quiet period refills only up to the burst.
    expect([1, 2, 3].map(() => buckets.take('k', limit, 60_000).admitted)).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('rounds Retry-After up to whole seconds for slow rates', () => {
    const buckets = new TokenBuckets();
    const limit = { perSecond: 1, burst: 1 };
    expect(buckets.take('k', limit, 0).admitted).toBe(true);
    expect(buckets.take('k', limit, 1)).toEqual({ admitted: false, retryAfterSeconds: 1 });
  });

  it('keeps keys apart', () => {
    const buckets = new TokenBuckets();
    const limit = { perSecond: 1, burst: 1 };
    expect(buckets.take('a', limit, 0).admitted).toBe(true);
    expect(buckets.take('a', limit, 0).admitted).toBe(false);
    expect(buckets.take('b', limit, 0).admitted).toBe(true);
  });

  it('bounds memory by dropping refilled buckets first', () => {
    const buckets = new TokenBuckets(4);
    const limit = { perSecond: 1, burst: 1 };
    for (const id of ['a', 'b', 'c', 'd']) buckets.take(id, limit, 0);
    buckets.take('e', limit, 5_000);
    expect(buckets.size).toBe(1);
  });

  it('never admits more than burst + rate × elapsed in any window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 300 }),
        (perSecond, burst, gaps) => {
          const buckets = new TokenBuckets();
          const limit = { perSecond, burst };
          let now = 1_000_000;
          const admittedAt: number[] = [];
          for (const gap of gaps) {
            now += gap;
            if (buckets.take('k', limit, now).admitted) admittedAt.push(now);
          }
          // Every window [admittedAt[i], admittedAt[j]] holds j − i + 1 admissions.
          for (let i = 0; i < admittedAt.length; i++) {
            for (let j = i; j < admittedAt.length; j++) {
              const elapsedMs = (admittedAt[j] ?? 0) - (admittedAt[i] ?? 0);
              expect(j - i + 1).toBeLessThanOrEqual(burst + (perSecond * elapsedMs) / 1000);
            }
          }
        },
      ),
      { numRuns: runs },
    );
  });

  it('admits every request that arrives no faster than the rate', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 200 }),
        (perSecond, burst, count) => {
          const buckets = new TokenBuckets();
          const spacing = Math.ceil(1000 / perSecond);
          for (let i = 0; i < count; i++) {
            expect(buckets.take('k', { perSecond, burst }, i * spacing).admitted).toBe(true);
          }
        },
      ),
      { numRuns: runs },
    );
  });
});

describe('checkRateLimit', () => {
  it('accepts whole numbers from 1 and refuses the rest', () => {
    expect(checkRateLimit({ perSecond: 5, burst: 10 })).toEqual({ perSecond: 5, burst: 10 });
    for (const bad of [
      { perSecond: 0, burst: 1 },
      { perSecond: 1.5, burst: 2 },
      { perSecond: 1, burst: Number.NaN },
      { perSecond: -1, burst: 1 },
    ]) {
      expect(() => checkRateLimit(bad)).toThrow(InvalidRateLimitError);
    }
  });
});

describe('inProcessKeyRateLimiter', () => {
  const defaults = {
    ingest: undefined,
    read: { perSecond: 1, burst: 2 },
    write: { perSecond: 1, burst: 1 },
  };

  it('applies the scope family default to a key without its own limit, per family', () => {
    let now = 0;
    const limiter = inProcessKeyRateLimiter({ defaults, now: () => now });
    const k = key('k');
    expect(limiter.take(k, 'segments:read').admitted).toBe(true);
    expect(limiter.take(k, 'segments:read').admitted).toBe(true);
    expect(limiter.take(k, 'segments:read')).toMatchObject({
      admitted: false,
      retryAfterSeconds: 1,
      limit: defaults.read,
    });
    // Writes have their own bucket; ingest has no default limit at all.
    expect(limiter.take(k, 'segments:write').admitted).toBe(true);
    for (let i = 0; i < 1_000; i++) expect(limiter.take(k, 'events:write').admitted).toBe(true);
    now += 1_000;
    expect(limiter.take(k, 'segments:read').admitted).toBe(true);
  });

  it("uses a key's own limit for every route it calls, ingest included", () => {
    const limiter = inProcessKeyRateLimiter({ defaults, now: () => 0 });
    const k = key('own', { rateLimit: { perSecond: 1, burst: 2 } });
    expect(limiter.take(k, 'events:write').admitted).toBe(true);
    expect(limiter.take(k, 'segments:read').admitted).toBe(true);
    expect(limiter.take(k, 'segments:write')).toMatchObject({
      admitted: false,
      limit: { perSecond: 1, burst: 2 },
    });
  });
});
