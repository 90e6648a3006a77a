import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
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
