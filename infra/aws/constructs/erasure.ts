import { Duration, Fn, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import {
  erasuresQueue,
  functions,
  type QueueDeclaration,
  type TableId,
} from '../../declarations/index.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

export interface ErasureProps {
  /** Environment whose log retention and removal policy apply. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Every declared table: the eraser removes a member from events, profiles and memberships. */
  readonly tables: Readonly<Record<TableId, ITable>>;
  /** The erasure queue (with its dead-letter queue, in the stateful stack). */
  readonly queue: IQueue;
  /**
   * Functions that check suppressions (collect, ingest, the deliverer, the tagger, the
   * historian, the segmenter): they may read the
   * erasures table's suppression items and pseudonym key, nothing else of it.
   * @default - none
   */
  readonly suppressionReaders?: readonly IFunction[];
  /**
   * Name of the export holding the lake bucket's ARN (`EventLakeStorage.bucketArnExportName`):
   * the eraser reads every lake object and rewrites those that hold the member's rows.
   * @default - no lake grants (a deployment without a lake)
   */
  readonly lakeBucketArnExportName?: string;
  /**
   * The erasure queue's consumer settings.
   * @default - `erasuresQueue` from `infra/declarations/queues.ts`
   */
  readonly queueDeclaration?: QueueDeclaration;
}

/**
 * Member erasure (docs/PRIVACY.md): the erasures function answers the erasure API and queues
 * requests; the eraser consumes the queue, removes the member from every table, rewrites its
 * ledger entries under a pseudonym, and records counts on the receipt. Only the erasures
 * function may send to the queue and only the eraser consume it.
 */
export class Erasure extends Construct {
  readonly erasures: PortraitFunction;
  readonly eraser: PortraitFunction;
  readonly queueEventSource: SqsEventSource;

  constructor(scope: Construct, id: string, props: ErasureProps) {
    super(scope, id);
    const { config, settings, tables } = props;
    const declaration = props.queueDeclaration ?? erasuresQueue;
    const erasuresTable = tables.erasures.tableArn;

    this.erasures = new PortraitFunction(this, 'Erasures', {
      declaration: functions.erasures,
      config,
      settings,
    });
    // Receipts put, read and failed by key; suppressions read in batches and deleted
    // (unsuppress); the pseudonym key read, or put once (conditionally) when none exists yet.
    allow(
      this.erasures.function,
      [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:BatchGetItem',
      ],
      [erasuresTable],
    );
    allow(this.erasures.function, ['dynamodb:GetItem'], [tables['write-keys'].tableArn]);
    props.queue.grantSendMessages(this.erasures.function);

    this.eraser = new PortraitFunction(this, 'Eraser', {
      declaration: functions.eraser,
      config,
      settings,
    });
    // Receipts read and updated (counts in the sweep's transactions); suppressions put; the
    // pseudonym key read or made.
    allow(
      this.eraser.function,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      [erasuresTable],
    );
    // A member's partitions queried and deleted item by item, in transactions with the receipt.
    allow(
      this.eraser.function,
      ['dynamodb:Query', 'dynamodb:DeleteItem'],
      [tables.events.tableArn],
    );
    allow(
      this.eraser.function,
      ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DeleteItem'],
      [tables.profiles.tableArn],
    );
    // Rows deleted, ledger entries rewritten (delete + put), counts decremented.
    allow(
      this.eraser.function,
      [
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:DeleteItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
      ],
      [tables.memberships.tableArn],
    );
    if (props.lakeBucketArnExportName !== undefined) {
      const exportName = props.lakeBucketArnExportName;
      const bucketArn = Fn.importValue(exportName);
      // Objects read and rewritten in place (put over the same key); never deleted.
      allow(
        this.eraser.function,
        ['s3:GetObject', 's3:PutObject'],
        [Fn.join('', [bucketArn, '/*'])],
      );
      this.eraser.function.addToRolePolicy(
        new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucketArn] }),
      );
      Validations.of(this.eraser.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${exportName}/*]`,
        reason:
          'An erasure must reach every lake file that can hold a member row, whatever prefix a ' +
          'step writes (events/, Parquet days, analytics/runs/), so the grant names the bucket ' +
          'objects, not a prefix; it reads and replaces objects, never deletes them, and reaches ' +
          'no other bucket.',
      });
    }
    const { consumer } = declaration;
    // The event source grants receive, delete and ChangeMessageVisibility (the settle wait).
    this.queueEventSource = new SqsEventSource(props.queue, {
      batchSize: consumer.batchSize,
      maxBatchingWindow: Duration.seconds(consumer.maxBatchingWindowSeconds),
      maxConcurrency: consumer.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.eraser.function.addEventSource(this.queueEventSource);

    for (const reader of props.suppressionReaders ?? []) {
      allow(reader, ['dynamodb:GetItem', 'dynamodb:BatchGetItem'], [erasuresTable]);
    }
  }

  /** The functions this construct built, by declaration id. */
  get functions(): { readonly erasures: IFunction; readonly eraser: IFunction } {
    return { erasures: this.erasures.function, eraser: this.eraser.function };
  }
}
