/**
 * The personal-data cipher on AWS: envelope encryption with KMS (docs/PRIVACY.md, "Storage").
 *
 * The 32-byte master key `keyCipher` derives its keys from is a KMS data key (AES_256). Only its
 * KMS-encrypted form (the CiphertextBlob) is stored: in the erasures table, beside the pseudonym
 * key, under `personal-data-key` / `kms-wrapped`. Its plaintext exists only in the memory of a
 * running function. At cold start a function reads the stored blob and asks KMS to decrypt it,
 * once; where none is stored yet it asks KMS for a new data key and stores the blob with a
 * conditional put (a process that loses that race uses the winner's). Both calls carry an
 * encryption context naming the environment, so a blob is decrypted only for the environment it
 * was made for. Tokens have the format of the local key file's: a key file holding the same 32
 * bytes gives the same tokens.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { PersonalDataCipher } from '../domain/privacy/protect-personal.ts';
import { keyCipher } from './personal-data-cipher.ts';

const KEY_BYTES = 32;

/** KMS encryption context: bound into every wrapped data key, checked again at decryption. */
export type EncryptionContext = Readonly<Record<string, string>>;

/** The `purpose` of the encryption context (also pinned by the functions' IAM conditions). */
export const PERSONAL_DATA_KEY_PURPOSE = 'portrait-personal-data';

/** The encryption context of an environment's personal-data key. */
export function personalDataKeyContext(environment: string): EncryptionContext {
  return { purpose: PERSONAL_DATA_KEY_PURPOSE, environment };
}

/** A data key as KMS makes it: the plaintext, and the same key encrypted under the KMS key. */
export interface GeneratedDataKey {
  readonly plaintext: Uint8Array;
  readonly wrapped: Uint8Array;
  /** The ARN of the KMS key that encrypted it. */
  readonly keyArn: string;
}

/** What the adapter needs of KMS; `kmsDataKeys` serves it with the SDK, tests with a fake. */
export interface DataKeyService {
  /** A new 256-bit data key, bound to `context`. */
  generate(context: EncryptionContext): Promise<GeneratedDataKey>;
  /** The plaintext of a wrapped data key; refused under any other `context`. */
  unwrap(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
}

/** A wrapped data key as stored. */
export interface StoredDataKey {
  readonly wrapped: Uint8Array;
  /** The ARN of the KMS key that wrapped it (for operators: which key must stay enabled). */
  readonly keyArn: string;
  readonly createdAt: string;
}

/** Where the wrapped data key is kept; `DynamoWrappedKeyStore` on AWS and in tests. */
export interface WrappedKeyStore {
  read(): Promise<StoredDataKey | undefined>;
  /** Stores `key` unless a key is stored already; `false` when another process stored first. */
  putIfAbsent(key: StoredDataKey): Promise<boolean>;
}

/**
 * The personal-data key could not be loaded: KMS refused or failed (key disabled, pending
 * deletion, access denied, wrong encryption context, throttled), or the stored copy is missing
 * or malformed. The message names the failure's type only, never a key or a ciphertext.
 */
export class PersonalKeyUnavailableError extends Error {
  readonly code = 'personal_key_unavailable';
  /** The failure's type (e.g. `KMSInvalidStateException`, `AccessDeniedException`). */
  readonly reason: string;
  constructor(reason: string) {
    super(`The personal-data key could not be loaded (${reason})`);
    this.name = 'PersonalKeyUnavailableError';
    this.reason = reason;
  }
}

/** An error's type name when it is a plain identifier; anything else is reported as `Error`. */
function reasonOf(error: unknown): string {
  const name = error instanceof Error ? error.name : '';
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name) ? name : 'Error';
}

async function loadOrCreateDataKey(
  keys: DataKeyService,
  store: WrappedKeyStore,
  context: EncryptionContext,
): Promise<Uint8Array> {
  const stored = await store.read();
  if (stored) return keys.unwrap(stored.wrapped, context);
  const fresh = await keys.generate(context);
  const created = await store.putIfAbsent({
    wrapped: fresh.wrapped,
    keyArn: fresh.keyArn,
    createdAt: new Date().toISOString(),
  });
  if (created) return fresh.plaintext;
  // Another process stored its key first: every process must use the one stored.
  fresh.plaintext.fill(0);
  const winner = await store.read();
  if (!winner) throw new PersonalKeyUnavailableError('StoredKeyMissing');
  return keys.unwrap(winner.wrapped, context);
}

/**
 * The environment's cipher from its KMS-wrapped data key, made and stored on first use: one KMS
 * call per process (two for a process that loses the creation race). Throws
 * `PersonalKeyUnavailableError` when the key cannot be had.
 */
export async function loadKmsCipher(options: {
  readonly keys: DataKeyService;
  readonly store: WrappedKeyStore;
  readonly environment: string;
}): Promise<PersonalDataCipher> {
  const context = personalDataKeyContext(options.environment);
  let plaintext: Uint8Array;
  try {
    plaintext = await loadOrCreateDataKey(options.keys, options.store, context);
  } catch (error) {
    if (error instanceof PersonalKeyUnavailableError) throw error;
    throw new PersonalKeyUnavailableError(reasonOf(error));
  }
  try {
    if (plaintext.length !== KEY_BYTES) throw new PersonalKeyUnavailableError('WrongKeyLength');
    const masterKey = Buffer.from(plaintext);
    // `keyCipher` keeps only keys derived from it: the master key is not kept in memory.
    const cipher = keyCipher(masterKey, options.environment);
    masterKey.fill(0);
    return cipher;
  } finally {
    plaintext.fill(0);
  }
}

/** `DataKeyService` on KMS: data keys generated and decrypted under the KMS key `keyArn`. */
export function kmsDataKeys(client: KMSClient, keyArn: string): DataKeyService {
  return {
    async generate(context) {
      const out = await client.send(
        new GenerateDataKeyCommand({
          KeyId: keyArn,
          KeySpec: 'AES_256',
          EncryptionContext: { ...context },
        }),
      );
      if (!out.Plaintext || !out.CiphertextBlob) {
        throw new PersonalKeyUnavailableError('EmptyKmsResponse');
      }
      return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob, keyArn: out.KeyId ?? keyArn };
    },
    async unwrap(wrapped, context) {
      // Naming the key makes KMS refuse a blob wrapped by any other key.
      const out = await client.send(
        new DecryptCommand({
          KeyId: keyArn,
          CiphertextBlob: wrapped,
          EncryptionContext: { ...context },
        }),
      );
      if (!out.Plaintext) throw new PersonalKeyUnavailableError('EmptyKmsResponse');
      return out.Plaintext;
    },
  };
}

/** The item key of the wrapped data key in the erasures table (see `erasuresTable`). */
export const WRAPPED_KEY_ITEM = { pk: 'personal-data-key', sk: 'kms-wrapped' } as const;

/**
 * The wrapped data key in the erasures table, under its own partition (`personal-data-key`), so
 * the functions that load it can be granted that partition only (`dynamodb:LeadingKeys`).
 */
export class DynamoWrappedKeyStore implements WrappedKeyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async read(): Promise<StoredDataKey | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: WRAPPED_KEY_ITEM, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { wrapped, keyArn, createdAt } = Item;
    if (!(wrapped instanceof Uint8Array) || typeof keyArn !== 'string') {
      throw new PersonalKeyUnavailableError('MalformedStoredKey');
    }
    return { wrapped, keyArn, createdAt: typeof createdAt === 'string' ? createdAt : '' };
  }

  async putIfAbsent(key: StoredDataKey): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...WRAPPED_KEY_ITEM, ...key },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
