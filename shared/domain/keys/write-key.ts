import { createHash, randomBytes } from 'node:crypto';

/**
 * Write keys are random secrets shown once at creation; only their SHA-256 is stored. A key is
 * `pk_<env>_<32 url-safe chars>` so a leaked key is recognisable in a secret scanner.
 */
export function generateWriteKey(environment: string): string {
  const prefix = environment.replace(/[^a-z0-9]/gi, '').toLowerCase() || 'local';
  return `pk_${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** Hex SHA-256 of the raw key: the only form that is stored or compared. */
export function hashWriteKey(rawKey: string): string {
  return createHash('sha256').update(rawKey, 'utf8').digest('hex');
}

/** A short, non-secret fingerprint for logs and listings. */
export function writeKeyFingerprint(rawKey: string): string {
  return hashWriteKey(rawKey).slice(0, 12);
}

/**
 * Reads the write key from an HTTP Basic `Authorization` header: the key is the user name and
 * the password is empty (Segment's convention), or a Bearer token (read keys, API tools).
 * Returns undefined when absent or malformed.
 */
export function writeKeyFromAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^\s*Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header);
  if (bearer?.[1]) return bearer[1];
  const match = /^\s*Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  let decoded: string;
  try {
    decoded = Buffer.from(match[1], 'base64').toString('utf8');
  } catch {
    return undefined;
  }
  const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : decoded;
  return user.length > 0 ? user : undefined;
}
