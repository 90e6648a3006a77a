/**
 * Which personal-data cipher a function uses (docs/PRIVACY.md, "Storage"): the local key file
 * where one is configured (the local runtime), else the KMS-wrapped data key (AWS). With neither
 * the function refuses to start: on AWS that would store personal fields as received.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  MissingConfigurationError,
  type RuntimeConfig,
  runtimeEnvNames,
} from '../config/runtime.ts';
import type { PersonalDataCipher } from '../domain/privacy/protect-personal.ts';
import { DynamoWrappedKeyStore, kmsDataKeys, loadKmsCipher } from './kms-personal-data-cipher.ts';
import { localFileCipher } from './personal-data-cipher.ts';

/** Neither a key file nor a KMS key is configured for a function that handles personal fields. */
export class PersonalKeyNotConfiguredError extends Error {
  readonly code = 'personal_key_not_configured';
  constructor() {
    super(
      `Neither ${runtimeEnvNames.personalKeyFile} nor ${runtimeEnvNames.personalKeyArn} is set: ` +
        'personal fields can be neither protected nor revealed, so the function does not start',
    );
    this.name = 'PersonalKeyNotConfiguredError';
  }
}

/**
 * The cipher `config` names, loaded once (call it at cold start): the key file's, else the KMS
 * data key's (one KMS call), else `PersonalKeyNotConfiguredError`.
 */
export async function configuredPersonalCipher(
  config: Pick<
    RuntimeConfig,
    'personalKeyFile' | 'personalKeyArn' | 'erasuresTable' | 'environment'
  >,
  documents: DynamoDBDocumentClient,
  kms: () => KMSClient = () => new KMSClient({}),
): Promise<PersonalDataCipher> {
  if (config.personalKeyFile) return localFileCipher(config.personalKeyFile, config.environment);
  if (!config.personalKeyArn) throw new PersonalKeyNotConfiguredError();
  if (!config.erasuresTable) throw new MissingConfigurationError(runtimeEnvNames.erasuresTable);
  const client = kms();
  try {
    return await loadKmsCipher({
      keys: kmsDataKeys(client, config.personalKeyArn),
      store: new DynamoWrappedKeyStore(documents, config.erasuresTable),
      environment: config.environment,
    });
  } finally {
    // One call per cold start: the client is not kept.
    client.destroy();
  }
}
