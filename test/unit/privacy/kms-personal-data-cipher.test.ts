/**
 * The KMS envelope cipher against the local key-file cipher, with an in-memory store and the fake
 * KMS of `test/support/fake-kms.ts` (no KMS emulator is available here): given the same 32-byte
 * master key, the cipher made from a KMS data key is the local one, so tokens have one format
 * whichever runtime wrote them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  loadKmsCipher,
  PersonalKeyUnavailableError,
  type StoredDataKey,
  type WrappedKeyStore,
} from '../../../shared/adapters/kms-personal-data-cipher.ts';
import { keyCipher } from '../../../shared/adapters/personal-data-cipher.ts';
import { FakeKms } from '../../support/fake-kms.ts';

/** A `WrappedKeyStore` in memory, with the conditional put's semantics. */
function memoryStore(): WrappedKeyStore & { stored: StoredDataKey | undefined } {
  return {
    stored: undefined,
    async read() {
      return this.stored;
    },
    async putIfAbsent(key) {
      if (this.stored) return false;
      this.stored = key;
      return true;
    },
  };
}

const masterKey = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((bytes) => Buffer.from(bytes));
const environment = fc.constantFrom('dev', 'staging', 'prod');

describe('the KMS envelope cipher', () => {
  it('is the local cipher of the same master key: same tokens, same hashes, each reads the other', async () => {
    await fc.assert(
      fc.asyncProperty(
        masterKey,
        environment,
        fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 5 }),
        async (key, env, values) => {
          const kms = new FakeKms({ dataKey: () => Buffer.from(key) });
          const store = memoryStore();
          const created = await loadKmsCipher({ keys: kms, store, environment: env });
          const unwrapped = await loadKmsCipher({ keys: kms, store, environment: env });
          const local = keyCipher(Buffer.from(key), env);
          for (const value of values) {
            for (const cipher of [created, unwrapped]) {
              expect(cipher.encrypt(value)).toBe(local.encrypt(value));
              expect(cipher.hash(value)).toBe(local.hash(value));
              expect(local.decrypt(cipher.encrypt(value))).toBe(value);
              expect(cipher.decrypt(local.encrypt(value))).toBe(value);
            }
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('makes one KMS call per load: a generate the first time, a decrypt afterwards', async () => {
    const kms = new FakeKms();
    const store = memoryStore();
    await loadKmsCipher({ keys: kms, store, environment: 'prod' });
    await loadKmsCipher({ keys: kms, store, environment: 'prod' });
    await loadKmsCipher({ keys: kms, store, environment: 'prod' });
    expect(kms.calls).toEqual({ generate: 1, unwrap: 2 });
  });

  it('refuses a data key that is not 32 bytes', async () => {
    const kms = new FakeKms({ dataKey: () => Buffer.alloc(16, 1) });
    await expect(
      loadKmsCipher({ keys: kms, store: memoryStore(), environment: 'prod' }),
    ).rejects.toMatchObject({ code: 'personal_key_unavailable', reason: 'WrongKeyLength' });
  });

  it('reports a failure that is not a plain error type as "Error", never its message', async () => {
    const kms = new FakeKms();
    kms.failWith = Object.assign(new Error('secret 0011223344'), { name: 'weird name: 0011' });
    const error = await loadKmsCipher({
      keys: kms,
      store: memoryStore(),
      environment: 'prod',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PersonalKeyUnavailableError);
    expect((error as PersonalKeyUnavailableError).message).toBe(
      'The personal-data key could not be loaded (Error)',
    );
  });

  it('zeroes the data key it was handed once the cipher is made', async () => {
    const handed: Buffer[] = [];
    const kms = new FakeKms({
      dataKey: () => {
        const key = Buffer.alloc(32, 9);
        handed.push(key);
        return key;
      },
    });
    const kmsGenerate = kms.generate.bind(kms);
    const plaintexts: Uint8Array[] = [];
    kms.generate = async (context) => {
      const key = await kmsGenerate(context);
      plaintexts.push(key.plaintext);
      return key;
    };
    const cipher = await loadKmsCipher({ keys: kms, store: memoryStore(), environment: 'prod' });
    expect(plaintexts).toHaveLength(1);
    expect(Buffer.from(plaintexts[0] as Uint8Array).equals(Buffer.alloc(32))).toBe(true);
    expect(cipher.encrypt('x')).toBe(keyCipher(Buffer.alloc(32, 9), 'prod').encrypt('x'));
  });
});
