/**
 * A handler whose dependencies fail to load at cold start answers each request through
 * `unavailable` and loads again on the next request; failures it does not answer are thrown.
 */
import { describe, expect, it } from 'vitest';
import { deferredHandler } from '../../shared/http/deferred-handler.ts';

class Outage extends Error {
  readonly code = 'personal_key_unavailable';
}

describe('deferredHandler', () => {
  it('answers while the load fails, retries it per request, then serves once it succeeds', async () => {
    let loads = 0;
    const handler = deferredHandler(
      async () => {
        loads += 1;
        if (loads <= 2) throw new Outage('kms down');
        return async (event: string) => `served ${event}`;
      },
      (error, event: string) => (error instanceof Outage ? `503 for ${event}` : undefined),
    );
    // The cold start's load is the first attempt; the first request sees its failure.
    expect(await handler('a', undefined)).toBe('503 for a');
    expect(loads).toBe(1);
    expect(await handler('b', undefined)).toBe('503 for b');
    expect(loads).toBe(2);
    expect(await handler('c', undefined)).toBe('served c');
    expect(await handler('d', undefined)).toBe('served d');
    expect(loads).toBe(3);
  });

  it('loads once when it succeeds, however many requests come at once', async () => {
    let loads = 0;
    const handler = deferredHandler(
      async () => {
        loads += 1;
        return async (event: number) => event * 2;
      },
      () => undefined,
    );
    expect(await Promise.all([1, 2, 3].map((n) => handler(n, undefined)))).toEqual([2, 4, 6]);
    expect(loads).toBe(1);
  });

  it('throws a load failure that unavailable does not answer', async () => {
    const handler = deferredHandler<string, undefined, string>(
      async () => {
        throw new TypeError('misconfigured');
      },
      (error) => (error instanceof Outage ? 'answered' : undefined),
    );
    await expect(handler('x', undefined)).rejects.toThrow('misconfigured');
  });
});
