import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { eventsQueue, functions, type QueueDeclaration } from '../../declarations/index.ts';
import { requireFunction } from './function-registry.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

export interface IngestProps {
  /** Environment whose log retention and removal policy apply to the functions. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Where ingest writes accepted events. */
  readonly eventsTable: ITable;
  /** Hashed write keys collect checks callers against. */
  readonly writeKeysTable: ITable;
  /** The queue collect sends to and ingest consumes. */
  readonly eventsQueue: IQueue;
  /**
   * Batch settings of the queue consumer.
   * @default - `eventsQueue` from `infra/declarations/queues.ts`
   */
  readonly queueDeclaration?: QueueDeclaration;
}

/**
 * The write path: collect validates events and sends them to the queue; ingest drains the queue
 * into the events table with partial batch responses, so one poison message never blocks a batch.
 */
export class Ingest extends Construct {
  readonly collect: PortraitFunction;
  readonly ingest: PortraitFunction;
  /** The queue event source of the declared consumer. */
  readonly queueEventSource: SqsEventSource;

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);
    const { config, settings } = props;
    const queueDeclaration = props.queueDeclaration ?? eventsQueue;

    this.collect = new PortraitFunction(this, 'Collect', {
      declaration: functions.collect,
      config,
      settings,
    });
    // Collect only looks a key up by its hash.
    props.writeKeysTable.grant(this.collect.function, 'dynamodb:GetItem');
    props.eventsQueue.grantSendMessages(this.collect.function);

    this.ingest = new PortraitFunction(this, 'Ingest', {
      declaration: functions.ingest,
      config,
      settings,
    });
    // Ingest only ever puts (conditionally); it needs no update, delete or batch write.
    props.eventsTable.grant(this.ingest.function, 'dynamodb:PutItem');

    const { consumer } = queueDeclaration;
    this.queueEventSource = new SqsEventSource(props.eventsQueue, {
      batchSize: consumer.batchSize,
      maxBatchingWindow: Duration.seconds(consumer.maxBatchingWindowSeconds),
      maxConcurrency: consumer.maxConcurrency,
      reportBatchItemFailures: true,
    });
    requireFunction(
      this.functions,
      consumer.function,
      `Queue "${queueDeclaration.id}"`,
    ).addEventSource(this.queueEventSource);
  }

  /** The functions this construct built, by declaration id. */
  get functions(): { readonly collect: IFunction; readonly ingest: IFunction } {
    return { collect: this.collect.function, ingest: this.ingest.function };
  }
}
