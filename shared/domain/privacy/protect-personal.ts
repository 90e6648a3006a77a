/**
 * Personal fields at rest (docs/PRIVACY.md, "Storage"): before an event is stored, every personal
 * field of its traits and properties (`isPersonalKey`, at any depth) is replaced by a token — an
 * encryption (`enc:v1:…`) or a keyed hash (`hash:v1:…`) — or kept, as the environment's
 * `personalFieldStorage` says (default `encrypt`). The events table, its stream, the lake and the
 * profile fold then only ever see tokens; `members:read:pii` reads turn `enc:` tokens back.
 */
import {
  type CatalogueSchema,
  catalogueEntry,
  identifyTraitsSchema,
} from '../../../events/catalogue.ts';
import type { JsonValue, PortraitEvent } from '../../../events/envelope.ts';
import { isPersonalKey, normalisePersonalKey } from './personal-fields.ts';

export type PersonalFieldStorage = 'encrypt' | 'hash' | 'plain';

/** The port the storage protection needs; the key lives in the adapter (local file or KMS). */
export interface PersonalDataCipher {
  /** A token that `decrypt` turns back into `plaintext`; equal inputs give equal tokens. */
  encrypt(plaintext: string): string;
  /** The plaintext of a token made by `encrypt`; throws on a token it did not make. */
  decrypt(token: string): string;
  /** A keyed, per-environment salted hash (hex). */
  hash(plaintext: string): string;
}

export const ENCRYPTED_PREFIX = 'enc:v1:';
export const HASHED_PREFIX = 'hash:v1:';

/** Whether a stored value is already a token (a replayed or re-ingested event is not re-wrapped). */
function isToken(value: JsonValue): boolean {
  return (
    typeof value === 'string' &&
    (value.startsWith(ENCRYPTED_PREFIX) || value.startsWith(HASHED_PREFIX))
  );
}

/** The storage mode of a personal field by name; fields not configured are encrypted. */
export function storageOf(
  key: string,
  config: Readonly<Record<string, PersonalFieldStorage>>,
): PersonalFieldStorage {
  const wanted = normalisePersonalKey(key);
  for (const [name, mode] of Object.entries(config)) {
    if (normalisePersonalKey(name) === wanted) return mode;
  }
  return 'encrypt';
}

/**
 * `value` with every personal field protected. Where `schema` (the catalogue's schema of the
 * value) declares a field, its `personal` flag decides (a product's `name` is not a person's);
 * elsewhere the field's name does (`isPersonalKey`). Hashes are of `hashInput(value)`.
 */
export function protectPersonal(
  value: JsonValue,
  cipher: PersonalDataCipher,
  config: Readonly<Record<string, PersonalFieldStorage>>,
  schema?: CatalogueSchema,
): JsonValue {
  if (Array.isArray(value)) {
    return value.map((item) => protectPersonal(item, cipher, config, schema?.items));
  }
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, JsonValue> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    const declared = schema?.properties?.[key];
    const personal = declared ? declared.personal === true : isPersonalKey(key);
    if (!personal) {
      out[key] = protectPersonal(item, cipher, config, declared);
      continue;
    }
    if (item === null || isToken(item)) {
      out[key] = item;
      continue;
    }
    const mode = storageOf(key, config);
    if (mode === 'plain') out[key] = item;
    else if (mode === 'hash') out[key] = `${HASHED_PREFIX}${cipher.hash(hashInput(item))}`;
    else out[key] = `${ENCRYPTED_PREFIX}${cipher.encrypt(JSON.stringify(item))}`;
  }
  return out;
}

/** The text a personal value is hashed as (also what erasure hashes to look a value up). */
export function hashInput(value: JsonValue): string {
  return typeof value === 'string' ? value.trim().toLowerCase() : JSON.stringify(value);
}

/** The event with personal fields of its traits, properties and context traits protected. */
export function protectEvent(
  event: PortraitEvent,
  cipher: PersonalDataCipher,
  config: Readonly<Record<string, PersonalFieldStorage>>,
): PortraitEvent {
  const fields = event as unknown as Record<string, JsonValue | undefined>;
  const eventName = typeof fields.event === 'string' ? fields.event : undefined;
  const schemas: Record<'traits' | 'properties' | 'context', CatalogueSchema | undefined> = {
    traits: identifyTraitsSchema,
    properties: event.type === 'track' && eventName ? catalogueEntry(eventName)?.schema : undefined,
    context: undefined,
  };
  const patch: Record<string, JsonValue> = {};
  for (const field of ['traits', 'properties', 'context'] as const) {
    const value = fields[field];
    if (value !== undefined) patch[field] = protectPersonal(value, cipher, config, schemas[field]);
  }
  return { ...event, ...patch } as PortraitEvent;
}

/** `value` with every `enc:` token decrypted (hashes stay hashes: they cannot be turned back). */
export function revealPersonal(value: JsonValue, cipher: PersonalDataCipher): JsonValue {
  if (typeof value === 'string' && value.startsWith(ENCRYPTED_PREFIX)) {
    return JSON.parse(cipher.decrypt(value.slice(ENCRYPTED_PREFIX.length))) as JsonValue;
  }
  if (Array.isArray(value)) return value.map((item) => revealPersonal(item, cipher));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, JsonValue> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) out[key] = revealPersonal(item, cipher);
  }
  return out;
}
