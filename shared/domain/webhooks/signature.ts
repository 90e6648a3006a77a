/**
 * Webhook signatures: `Portrait-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * The secret is used as UTF-8 bytes; the body is the exact bytes sent. The timestamp is inside
 * the signed text, so a captured delivery cannot be replayed later with a fresh timestamp.
 * Pure: no AWS, no env; receivers can copy this module as it is.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header carrying the signature. */
export const SIGNATURE_HEADER = 'Portrait-Signature';
/** The header carrying the delivery id (the same on every retry of one delivery). */
export const DELIVERY_HEADER = 'Portrait-Delivery';

/** Hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`. */
export function computeSignature(
  secret: string,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex');
}

/** The `Portrait-Signature` header value for `body` signed at `timestampSeconds`. */
export function signatureHeader(
  secret: string,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  return `t=${timestampSeconds},v1=${computeSignature(secret, timestampSeconds, body)}`;
}

/**
 * True when `header` carries a `v1` signature of `body` under `secret` and its timestamp is
 * within `toleranceSeconds` of `nowSeconds` (either side). Several `v1=` entries are accepted
 * (any one may match), unknown schemes are ignored, and the comparison is constant-time.
 */
export function verifySignature(
  secret: string,
  header: string | undefined | null,
  body: string | Buffer,
  toleranceSeconds: number,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof header !== 'string' || header.length === 0) return false;
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  return candidates.some((candidate) => timingSafeEqual(expected, Buffer.from(candidate, 'hex')));
}
