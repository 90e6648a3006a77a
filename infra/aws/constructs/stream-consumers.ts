import { Duration, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IFunction, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import {
  streamConsumers as declaredConsumers,
  type FunctionId,
  type StreamConsumerDeclaration,
  type TableId,
} from '../../declarations/index.ts';
import { type FunctionRegistry, requireFunction } from './function-registry.ts';
import { dataRemovalPolicy } from './removal.ts';

/** SQS's longest retention: failed-batch records are kept as long as SQS allows for inspection. */
const failureRetention = Duration.days(14);

export interface StreamConsumersProps {
  /** Environment whose removal policy applies to the failure queue. */
  readonly config: EnvironmentConfig;
  /** The tables whose streams are read, by declaration id. */
  readonly tables: Readonly<Record<TableId, ITable>>;
  /** The consuming functions, by declaration id; every declared consumer must be present. */
  readonly functions: FunctionRegistry;
  /**
   * Consumers to attach.
   * @default - every entry of `streamConsumers` in `infra/declarations/streams.ts`
   */
  readonly consumers?: readonly StreamConsumerDeclaration[];
  /**
   * Lambda event filter patterns per consuming function (build them with `FilterCriteria.filter`).
   * Records that match no pattern are dropped before the function is invoked, so give a function
   * only patterns that keep every record it acts on: the local stream poller does not filter.
   * @default - every record is delivered
   */
  readonly filters?: Readonly<Partial<Record<FunctionId, readonly Record<string, unknown>[]>>>;
}

/** A consumer is declared on a table that declares no stream. */
export class UndeclaredStreamError extends Error {
  readonly code = 'undeclared_stream';
  constructor(consumer: StreamConsumerDeclaration) {
    super(
      `Stream consumer "${consumer.function}" reads table "${consumer.table}", which is not ` +
        'declared or declares no stream. Declare it, with `stream`, in infra/declarations/tables.ts.',
    );
    this.name = 'UndeclaredStreamError';
  }
}

/**
 * DynamoDB stream event source mappings, one per declared consumer. A batch that still fails
 * after the declared retries (bisecting to isolate the bad record when declared) is described on
 * the failure queue, so the shard moves on and the records can be replayed by sequence number.
 */
export class StreamConsumers extends Construct {
  /** Records of stream batches that exhausted their retries; absent when nothing consumes. */
  readonly failureQueue?: Queue;
  /** The event sources, in declaration order. */
  readonly eventSources: readonly DynamoEventSource[];
  /** The functions that read a stream, by declaration id (for iterator-age alarms). */
  readonly functions: FunctionRegistry;

  constructor(scope: Construct, id: string, props: StreamConsumersProps) {
    super(scope, id);
    const consumers = props.consumers ?? declaredConsumers;
    const consuming: Partial<Record<FunctionId, IFunction>> = {};
    this.functions = consuming;
    if (consumers.length === 0) {
      this.eventSources = [];
      return;
    }

    const failureQueue = new Queue(this, 'FailureQueue', {
      retentionPeriod: failureRetention,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: dataRemovalPolicy(props.config),
    });
    Validations.of(failureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter destination of the DynamoDB stream event source ' +
        'mappings; Lambda writes failed-batch records to it directly, so it has no redrive of its own.',
    });
    this.failureQueue = failureQueue;

    this.eventSources = consumers.map((consumer) => {
      const table = props.tables[consumer.table];
      if (!table?.tableStreamArn) throw new UndeclaredStreamError(consumer);
      const handler = requireFunction(
        props.functions,
        consumer.function,
        `Stream consumer on table "${consumer.table}"`,
      );
      const filters = props.filters?.[consumer.function];
      const source = new DynamoEventSource(table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: consumer.batchSize,
        maxBatchingWindow: Duration.seconds(consumer.maxBatchingWindowSeconds),
        retryAttempts: consumer.retryAttempts,
        bisectBatchOnError: consumer.bisectBatchOnError,
        reportBatchItemFailures: consumer.reportBatchItemFailures,
        onFailure: new SqsDlq(failureQueue),
        filters: filters ? [...filters] : undefined,
      });
      handler.addEventSource(source);
      consuming[consumer.function] = handler;
      if (handler.role) {
        Validations.of(handler.role).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason:
            'dynamodb:ListStreams has no resource-level permissions, so AWS requires Resource "*" ' +
            'for it; every other stream action is scoped to the table stream ARN.',
        });
      }
      return source;
    });
  }
}
