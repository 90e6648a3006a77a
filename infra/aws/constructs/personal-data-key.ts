import { Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import {
  PERSONAL_DATA_KEY_PURPOSE,
  WRAPPED_KEY_ITEM,
} from '../../../shared/adapters/kms-personal-data-cipher.ts';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { runtimeEnvNames } from '../../../shared/config/runtime.ts';
import type { PortraitFunction } from './portrait-function.ts';
import { dataRemovalPolicy } from './removal.ts';

export interface PersonalDataKeyProps {
  /** Environment whose name binds the data key and whose removal policy applies to the key. */
  readonly config: EnvironmentConfig;
  /** The erasures table, where the wrapped data key is stored (`personal-data-key` partition). */
  readonly erasuresTable: ITable;
}

/**
 * The customer-managed KMS key that wraps the environment's personal-data key (docs/PRIVACY.md,
 * "Storage"): automatic yearly rotation, kept with the data where the environment retains data
 * (deleting it makes every encrypted personal value unreadable). Functions are let in one by one
 * with `grantUse`.
 */
export class PersonalDataKey extends Construct {
  readonly key: Key;
  private readonly config: EnvironmentConfig;
  private readonly erasuresTable: ITable;

  constructor(scope: Construct, id: string, props: PersonalDataKeyProps) {
    super(scope, id);
    this.config = props.config;
    this.erasuresTable = props.erasuresTable;
    this.key = new Key(this, 'Key', {
      description: `Portrait ${props.config.name}: wraps the data key of members' personal fields`,
      enableKeyRotation: true,
      alias: `alias/${Stack.of(this).stackName}/personal-data`,
      removalPolicy: dataRemovalPolicy(props.config),
    });
  }

  /**
   * Lets `fn` load the personal-data key and tells it the key's ARN: KMS `GenerateDataKey` and
   * `Decrypt` on this key only, and only with this environment's encryption context; `GetItem`
   * and a conditional `PutItem` on the erasures table's `personal-data-key` partition only (not
   * receipts, suppressions or the pseudonym key).
   */
  grantUse(fn: PortraitFunction): void {
    Grant.addToPrincipal({
      grantee: fn.function,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resourceArns: [this.key.keyArn],
      conditions: {
        StringEquals: {
          'kms:EncryptionContext:purpose': PERSONAL_DATA_KEY_PURPOSE,
          'kms:EncryptionContext:environment': this.config.name,
        },
      },
    });
    Grant.addToPrincipal({
      grantee: fn.function,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resourceArns: [this.erasuresTable.tableArn],
      conditions: {
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [WRAPPED_KEY_ITEM.pk] },
      },
    });
    fn.function.addEnvironment(runtimeEnvNames.personalKeyArn, this.key.keyArn);
  }
}
