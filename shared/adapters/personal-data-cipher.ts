/**
 * The personal-data cipher from a 32-byte master key (`keyCipher`), and the local runtime's key
 * file (`<data-dir>/personal-data.key`, 32 random bytes made on first start, mode 0600, never
 * committed or logged). On AWS the master key is a KMS data key instead
 * (`kms-personal-data-cipher.ts`: wrapped by KMS, decrypted once per cold start), given to the
 * same `keyCipher`, so tokens have one format on both runtimes.
 *
 * Encryption is AES-256-GCM with a synthetic IV (HMAC-SHA256 of the plaintext under its own key,
 * SIV-style): equal values give equal tokens, so a redelivered event is still recognised as the
 * same content, at the cost of revealing which stored values are equal (never what they are).
 * Hashes are HMAC-SHA256 under a key derived per environment (the salt).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PersonalDataCipher } from '../domain/privacy/protect-personal.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class InvalidPersonalKeyFileError extends Error {
  readonly code = 'invalid_personal_key_file';
  constructor(file: string) {
    super(`The personal-data key file ${file} does not hold a ${KEY_BYTES}-byte key`);
    this.name = 'InvalidPersonalKeyFileError';
  }
}

export class UndecryptableTokenError extends Error {
  readonly code = 'undecryptable_personal_value';
  constructor() {
    super('A stored personal value could not be decrypted with this key');
    this.name = 'UndecryptableTokenError';
  }
}

/** The key in `file`, made (32 random bytes, hex, mode 0600) when the file does not exist. */
export function loadOrCreateLocalKey(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(KEY_BYTES).toString('hex')}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
    } catch (error) {
      // Another process made it first: read theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length !== KEY_BYTES) throw new InvalidPersonalKeyFileError(file);
  return key;
}

const derive = (key: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), purpose, KEY_BYTES));

/** A cipher from a 32-byte master key, with hashes salted for `environment`. */
export function keyCipher(masterKey: Buffer, environment: string): PersonalDataCipher {
  const encryptionKey = derive(masterKey, 'portrait/personal/encrypt');
  const ivKey = derive(masterKey, 'portrait/personal/iv');
  const hashKey = derive(masterKey, `portrait/personal/hash/${environment}`);
  return {
    encrypt(plaintext) {
      const iv = createHmac('sha256', ivKey).update(plaintext).digest().subarray(0, IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    },
    decrypt(token) {
      const raw = Buffer.from(token, 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES) throw new UndecryptableTokenError();
      try {
        const decipher = createDecipheriv('aes-256-gcm', encryptionKey, raw.subarray(0, IV_BYTES));
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([
          decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new UndecryptableTokenError();
      }
    },
    hash(plaintext) {
      return createHmac('sha256', hashKey).update(plaintext).digest('hex');
    },
  };
}

/** The local runtime's cipher: the key file's key, hashes salted for `environment`. */
export function localFileCipher(file: string, environment: string): PersonalDataCipher {
  return keyCipher(loadOrCreateLocalKey(file), environment);
}
