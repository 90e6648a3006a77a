/**
 * The KMS-wrapped personal-data key, stored in the erasures table of DynamoDB Local
 * (docs/PRIVACY.md, "Storage"). KMS itself is a fake (`test/support/fake-kms.ts`: no KMS emulator
 * is available here) that wraps data keys with the encryption context bound in, as KMS does; the
 * store, its conditional put and the race between cold starts are real DynamoDB.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { KMSClient } from '@aws-sdk/client-kms';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erasuresTable } from '../../infra/declarations/index.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import {
  configuredPersonalCipher,
  PersonalKeyNotConfiguredError,
} from '../../shared/adapters/configured-personal-cipher.ts';
import {
  DynamoWrappedKeyStore,
  loadKmsCipher,
  PersonalKeyUnavailableError,
  WRAPPED_KEY_ITEM,
} from '../../shared/adapters/kms-personal-data-cipher.ts';
import {
  localFileCipher,
  UndecryptableTokenError,
} from '../../shared/adapters/personal-data-cipher.ts';
import { MissingConfigurationError } from '../../shared/config/runtime.ts';
import type { PersonalDataCipher } from '../../shared/domain/privacy/protect-personal.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { FakeKms, FakeKmsError } from '../support/fake-kms.ts';

let clients: TestClients;
let prefix: string;
const dir = mkdtempSync(join(tmpdir(), 'portrait-kms-'));

beforeAll(async () => {
  clients = testClients();
  prefix = uniquePrefix('personal-data-key');
});
afterAll(() => {
  clients.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh erasures table, as declared (no key stored yet), and a store over it. */
async function freshStore(): Promise<DynamoWrappedKeyStore> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}-erasures`;
  await clients.dynamo.send(new CreateTableCommand(createTableInput(erasuresTable, name)));
  await waitUntilTableExists({ client: clients.dynamo, maxWaitTime: 60 }, { TableName: name });
  return new DynamoWrappedKeyStore(clients.documents, name);
}

async function storedItem(store: DynamoWrappedKeyStore) {
  const { Item } = await clients.documents.send(
    new GetCommand({ TableName: store.tableName, Key: WRAPPED_KEY_ITEM, ConsistentRead: true }),
  );
  return Item;
}

const samples = ['li.lei@example.cn', '+8613800000000', '韩梅梅', '{"street":"1 Nanjing Rd"}'];

/** Whether two ciphers are the same key: equal tokens and hashes, each reads the other's. */
function expectSameKey(a: PersonalDataCipher, b: PersonalDataCipher): void {
  for (const value of samples) {
    expect(b.encrypt(value)).toBe(a.encrypt(value));
    expect(b.hash(value)).toBe(a.hash(value));
    expect(b.decrypt(a.encrypt(value))).toBe(value);
  }
}

describe('the KMS-wrapped personal-data key in DynamoDB', () => {
  it('is generated and stored wrapped on first use, then unwrapped by every later cold start', async () => {
    const store = await freshStore();
    const firstKms = new FakeKms();
    const first = await loadKmsCipher({ keys: firstKms, store, environment: 'prod' });
    expect(firstKms.calls).toEqual({ generate: 1, unwrap: 0 });

    const item = await storedItem(store);
    expect(item?.wrapped).toBeInstanceOf(Uint8Array);
    expect(item?.keyArn).toBe(firstKms.keyArn);
    expect(Object.keys(item ?? {}).sort()).toEqual(['createdAt', 'keyArn', 'pk', 'sk', 'wrapped']);

    // Another Lambda instance: a new store and client over the same table and the same KMS key.
    const laterKms = new FakeKms({ masterKey: firstKms.masterKey });
    const later = await loadKmsCipher({
      keys: laterKms,
      store: new DynamoWrappedKeyStore(clients.documents, store.tableName),
      environment: 'prod',
    });
    expect(laterKms.calls).toEqual({ generate: 0, unwrap: 1 });
    expectSameKey(first, later);
    expect(await storedItem(store)).toEqual(item);
  });

  it('ends a race of cold starts with one stored key that every racer uses', async () => {
    const store = await freshStore();
    const kms = new FakeKms();
    const racers = 4;
    // Every racer reads "no key" and generates one before any of them stores.
    kms.holdGenerators(racers);
    const ciphers = await Promise.all(
      Array.from({ length: racers }, () =>
        loadKmsCipher({
          keys: kms,
          store: new DynamoWrappedKeyStore(clients.documents, store.tableName),
          environment: 'prod',
        }),
      ),
    );
    expect(kms.calls.generate).toBe(racers);
    // Each loser unwrapped the winner's key instead of its own.
    expect(kms.calls.unwrap).toBe(racers - 1);
    const [winner, ...others] = ciphers;
    for (const other of others) expectSameKey(winner as PersonalDataCipher, other);
    const later = await loadKmsCipher({ keys: kms, store, environment: 'prod' });
    expectSameKey(winner as PersonalDataCipher, later);
  });

  it('refuses a stored key under another environment’s encryption context', async () => {
    const store = await freshStore();
    const kms = new FakeKms();
    await loadKmsCipher({ keys: kms, store, environment: 'prod' });
    const error = await loadKmsCipher({ keys: kms, store, environment: 'staging' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PersonalKeyUnavailableError);
    expect(error).toMatchObject({
      code: 'personal_key_unavailable',
      reason: 'InvalidCiphertextException',
    });
  });

  it('refuses a stored key wrapped by another KMS key', async () => {
    const store = await freshStore();
    await loadKmsCipher({ keys: new FakeKms(), store, environment: 'prod' });
    await expect(
      loadKmsCipher({ keys: new FakeKms(), store, environment: 'prod' }),
    ).rejects.toMatchObject({ code: 'personal_key_unavailable' });
  });

  it('fails with a stable code and no key material when KMS refuses (key disabled)', async () => {
    const store = await freshStore();
    const dataKey = randomBytes(32);
    const kms = new FakeKms({ dataKey: () => dataKey });
    await loadKmsCipher({ keys: kms, store, environment: 'prod' });
    const wrapped = (await storedItem(store))?.wrapped as Uint8Array;
    // An SDK error whose message quotes key material: none of it may reach the error thrown.
    kms.failWith = new FakeKmsError(
      'KMSInvalidStateException',
      `key is disabled; blob ${Buffer.from(wrapped).toString('base64')} key ${dataKey.toString('hex')}`,
    );
    const error = (await loadKmsCipher({ keys: kms, store, environment: 'prod' }).catch(
      (e: unknown) => e,
    )) as PersonalKeyUnavailableError;
    expect(error).toBeInstanceOf(PersonalKeyUnavailableError);
    expect(error.code).toBe('personal_key_unavailable');
    expect(error.reason).toBe('KMSInvalidStateException');
    expect(error.cause).toBeUndefined();
    const shown = `${error.message} ${error.stack ?? ''} ${JSON.stringify(error)}`;
    for (const secret of [
      dataKey.toString('hex'),
      dataKey.toString('base64'),
      Buffer.from(wrapped).toString('base64'),
      Buffer.from(wrapped).toString('hex'),
    ]) {
      expect(shown).not.toContain(secret);
    }
  });

  it('fails with the stable code when KMS cannot make a first key (access denied)', async () => {
    const store = await freshStore();
    const kms = new FakeKms();
    kms.failWith = new FakeKmsError('AccessDeniedException', 'not authorized');
    await expect(loadKmsCipher({ keys: kms, store, environment: 'prod' })).rejects.toMatchObject({
      code: 'personal_key_unavailable',
      reason: 'AccessDeniedException',
    });
    expect(await storedItem(store)).toBeUndefined();
  });
});

describe('the cipher a function is configured with', () => {
  const base = { environment: 'prod', personalKeyFile: '', personalKeyArn: '', erasuresTable: '' };
  /** A KMS client stand-in for `configuredPersonalCipher`: it must never be asked to send here. */
  const unusedClient = () =>
    ({
      send: () => Promise.reject(new Error('KMS called')),
      destroy: () => {},
    }) as unknown as KMSClient;

  it('is the key file’s where one is set (the local runtime), without KMS', async () => {
    const file = join(dir, 'personal-data.key');
    const cipher = await configuredPersonalCipher(
      { ...base, personalKeyFile: file, personalKeyArn: 'arn:aws:kms:eu-west-1:1:key/x' },
      clients.documents,
      unusedClient,
    );
    expectSameKey(localFileCipher(file, 'prod'), cipher);
  });

  it('refuses to start with neither a key file nor a KMS key', async () => {
    await expect(configuredPersonalCipher(base, clients.documents)).rejects.toBeInstanceOf(
      PersonalKeyNotConfiguredError,
    );
    await expect(configuredPersonalCipher(base, clients.documents)).rejects.toMatchObject({
      code: 'personal_key_not_configured',
    });
  });

  it('needs the erasures table, where the wrapped key is kept, with a KMS key', async () => {
    await expect(
      configuredPersonalCipher(
        { ...base, personalKeyArn: 'arn:aws:kms:eu-west-1:1:key/x' },
        clients.documents,
        unusedClient,
      ),
    ).rejects.toBeInstanceOf(MissingConfigurationError);
  });

  it('loads the KMS-wrapped key through the SDK client, with the key and context named', async () => {
    const store = await freshStore();
    const kms = new FakeKms();
    const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/portrait';
    const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
    // The SDK client reduced to `send`: commands are answered by the fake KMS.
    const client = {
      async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
        sent.push({ name: command.constructor.name, input: command.input });
        const context = command.input.EncryptionContext as Record<string, string>;
        if (command.constructor.name === 'GenerateDataKeyCommand') {
          const key = await kms.generate(context);
          return { Plaintext: key.plaintext, CiphertextBlob: key.wrapped, KeyId: keyArn };
        }
        return {
          Plaintext: await kms.unwrap(command.input.CiphertextBlob as Uint8Array, context),
          KeyId: keyArn,
        };
      },
      destroy: () => {},
    } as unknown as KMSClient;
    const config = { ...base, personalKeyArn: keyArn, erasuresTable: store.tableName };
    const first = await configuredPersonalCipher(config, clients.documents, () => client);
    const second = await configuredPersonalCipher(config, clients.documents, () => client);
    expectSameKey(first, second);
    const context = { purpose: 'portrait-personal-data', environment: 'prod' };
    expect(sent).toEqual([
      {
        name: 'GenerateDataKeyCommand',
        input: { KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: context },
      },
      {
        name: 'DecryptCommand',
        input: {
          KeyId: keyArn,
          CiphertextBlob: expect.any(Uint8Array),
          EncryptionContext: context,
        },
      },
    ]);
    expect((await storedItem(store))?.keyArn).toBe(keyArn);
  });

  it('gives tokens the local key file cannot read unless it holds the same bytes', async () => {
    const store = await freshStore();
    const cipher = await loadKmsCipher({ keys: new FakeKms(), store, environment: 'prod' });
    const other = localFileCipher(join(dir, 'other.key'), 'prod');
    expect(() => other.decrypt(cipher.encrypt('li.lei@example.cn'))).toThrow(
      UndecryptableTokenError,
    );
  });
});
