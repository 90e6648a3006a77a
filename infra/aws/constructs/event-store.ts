import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import {
  tables as declaredTables,
  type IndexDeclaration,
  type KeyAttribute,
  type KeyType,
  type StreamView,
  type TableId,
} from '../../declarations/index.ts';
import { dataRemovalPolicy } from './removal.ts';

export interface EventStoreProps {
  /** Environment whose retention, recovery and protection settings apply. */
  readonly config: EnvironmentConfig;
}

const attributeTypes: Readonly<Record<KeyType, AttributeType>> = {
  S: AttributeType.STRING,
  N: AttributeType.NUMBER,
  B: AttributeType.BINARY,
};

const streamViews: Readonly<Record<StreamView, StreamViewType>> = {
  NEW_IMAGE: StreamViewType.NEW_IMAGE,
  OLD_IMAGE: StreamViewType.OLD_IMAGE,
  NEW_AND_OLD_IMAGES: StreamViewType.NEW_AND_OLD_IMAGES,
  KEYS_ONLY: StreamViewType.KEYS_ONLY,
};

/** Code asks for a table that `infra/declarations/tables.ts` does not declare. */
export class UndeclaredTableError extends Error {
  readonly code = 'undeclared_table';
  constructor(id: string) {
    super(`Table "${id}" is not declared in infra/declarations/tables.ts.`);
    this.name = 'UndeclaredTableError';
  }
}

const projections: Readonly<Record<IndexDeclaration['projection'], ProjectionType>> = {
  KEYS_ONLY: ProjectionType.KEYS_ONLY,
  ALL: ProjectionType.ALL,
};

function attribute(key: KeyAttribute) {
  return { name: key.name, type: attributeTypes[key.type] };
}

/**
 * The DynamoDB tables Portrait keeps its data in, one per entry of `infra/declarations/tables.ts`,
 * each with its declared global secondary indexes.
 *
 * On-demand capacity (traffic is bursty and unknown per brand). Encryption uses the AWS-managed
 * key `aws/dynamodb`: key use is visible in CloudTrail, and unlike a customer-managed key it needs
 * no key policy, no per-consumer `kms:Decrypt` grants for stream readers, and no monthly key fee.
 * Recovery, deletion protection and removal policy come from the environment config and apply
 * to tables declared `stateful`.
 */
export class EventStore extends Construct {
  /** Every created table, by declaration id. */
  readonly tables: Readonly<Record<TableId, Table>>;

  constructor(scope: Construct, id: string, props: EventStoreProps) {
    super(scope, id);
    const { config } = props;
    const created: Partial<Record<TableId, Table>> = {};
    for (const declaration of declaredTables) {
      const keepsData = declaration.stateful;
      const table = new Table(this, declaration.id, {
        partitionKey: attribute(declaration.partitionKey),
        sortKey: declaration.sortKey ? attribute(declaration.sortKey) : undefined,
        billingMode: BillingMode.PAY_PER_REQUEST,
        encryption: TableEncryption.AWS_MANAGED,
        timeToLiveAttribute: declaration.timeToLiveAttribute,
        stream: declaration.stream ? streamViews[declaration.stream] : undefined,
        pointInTimeRecoverySpecification: {
          pointInTimeRecoveryEnabled: keepsData && config.pointInTimeRecovery,
        },
        deletionProtection: keepsData && config.deletionProtection,
        removalPolicy: keepsData ? dataRemovalPolicy(config) : RemovalPolicy.DESTROY,
      });
      if (!(keepsData && config.pointInTimeRecovery)) {
        Validations.of(table).acknowledge({
          id: 'AwsSolutions-DDB3',
          reason:
            `Point-in-time recovery is off for the "${declaration.id}" table in ${config.name} by ` +
            'environment config: its data is disposable there, and every environment that keeps ' +
            'data (staging, prod) turns recovery on in shared/config/environments.ts.',
        });
      }
      for (const index of declaration.indexes ?? []) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: attribute(index.partitionKey),
          sortKey: attribute(index.sortKey),
          projectionType: projections[index.projection],
        });
      }
      created[declaration.id] = table;
    }
    this.tables = created as Record<TableId, Table>;
  }

  /** The table declared as `id`. */
  table(id: TableId): Table {
    const table = this.tables[id];
    if (!table) throw new UndeclaredTableError(id);
    return table;
  }
}
