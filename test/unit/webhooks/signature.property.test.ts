import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeSignature,
  signatureHeader,
  verifySignature,
} from '../../../shared/domain/webhooks/signature.ts';

const secret = fc.string({ minLength: 1, maxLength: 64, unit: 'binary' });
const body = fc.string({ maxLength: 2000, unit: 'binary' });
const instant = fc.integer({ min: 1_000_000_000, max: 4_000_000_000 });

describe('webhook signatures', () => {
  it('signs "<t>.<body>" with HMAC-SHA256 under the secret, as the docs say', () => {
    const expected = createHmac('sha256', 'whsec-test-secret-0001')
      .update('1764000000.{"id":"dlv_1"}')
      .digest('hex');
    expect(signatureHeader('whsec-test-secret-0001', 1764000000, '{"id":"dlv_1"}')).toBe(
      `t=1764000000,v1=${expected}`,
    );
  });

  it('verifies what it signed, within the tolerance, for any secret, body and instant', () => {
    fc.assert(
      fc.property(secret, body, instant, fc.integer({ min: -300, max: 300 }), (s, b, t, skew) => {
        expect(verifySignature(s, signatureHeader(s, t, b), b, 300, t + skew)).toBe(true);
        expect(verifySignature(s, signatureHeader(s, t, b), Buffer.from(b), 300, t)).toBe(true);
      }),
    );
  });

  it('refuses another body, another secret, a stale or future timestamp, and a moved timestamp', () => {
    fc.assert(
      fc.property(secret, secret, body, body, instant, (s1, s2, b1, b2, t) => {
        const header = signatureHeader(s1, t, b1);
        if (b1 !== b2) expect(verifySignature(s1, header, b2, 300, t)).toBe(false);
        if (s1 !== s2) expect(verifySignature(s2, header, b1, 300, t)).toBe(false);
        expect(verifySignature(s1, header, b1, 300, t + 301)).toBe(false);
        expect(verifySignature(s1, header, b1, 300, t - 301)).toBe(false);
        // The timestamp is signed: moving it (to pass the tolerance check) breaks the signature.
        const moved = `t=${t + 1000},v1=${computeSignature(s1, t, b1)}`;
        expect(verifySignature(s1, moved, b1, 300, t + 1000)).toBe(false);
      }),
    );
  });

  it('refuses malformed headers and accepts any matching v1 among several', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (junk) => {
        expect(verifySignature('secret-secret-01', junk, 'body', 300, 1)).toBe(false);
      }),
    );
    expect(verifySignature('s-000000000000001', undefined, 'b', 300, 10)).toBe(false);
    const good = computeSignature('s-000000000000001', 10, 'b');
    const header = `t=10, v1=${'0'.repeat(64)}, v0=zzz, v1=${good}`;
    expect(verifySignature('s-000000000000001', header, 'b', 300, 10)).toBe(true);
    expect(
      verifySignature('s-000000000000001', `t=10,v1=${good.toUpperCase()}`, 'b', 300, 10),
    ).toBe(false);
  });
});
