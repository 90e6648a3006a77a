import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FilterCriteria, FilterRule, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LEDGER_PK_PREFIX } from '../../../shared/adapters/membership-store.ts';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { functions, type QueueDeclaration, webhooksQueue } from '../../declarations/index.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

/**
 * A stream filter passing new segment ledger entries only (`pk` = `sl#…`, INSERT), not the
 * member states, member rows and counts that share the memberships stream.
 */
export const ledgerInsertsOnly = FilterCriteria.filter({
  eventName: FilterRule.isEqual('INSERT'),
  dynamodb: { Keys: { pk: { S: FilterRule.beginsWith(LEDGER_PK_PREFIX) } } },
});

export interface WebhooksProps {
  /** Environment whose log retention, removal policy and queue retention apply. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Segment definitions, and the subscriptions under `wh#<segment>`. */
  readonly segmentsTable: ITable;
  /** Hashed API keys; the webhooks function checks callers and their scopes against them. */
  readonly writeKeysTable: ITable;
  /**
   * The webhook queue (with its dead-letter queue, in the stateful stack); its URL reaches the
   * functions through `settings`.
   */
  readonly queue: IQueue;
  /**
   * The webhook queue's consumer settings.
   * @default - `webhooksQueue` from `infra/declarations/queues.ts`
   */
  readonly queueDeclaration?: QueueDeclaration;
}

/**
 * Segment webhooks: the webhooks function answers the subscriptions API; the notifier (a
 * consumer of the memberships stream, attached by `StreamConsumers` with `streamFilters`) turns
 * ledger entries into deliveries on the webhook queue; the deliverer posts them, signed, and
 * puts failures off with a doubling delay until the queue dead-letters them. Only the notifier
 * may send to the queue and only the deliverer consume it.
 */
export class Webhooks extends Construct {
  readonly webhooks: PortraitFunction;
  readonly notifier: PortraitFunction;
  readonly deliverer: PortraitFunction;
  readonly queueEventSource: SqsEventSource;
  /** Stream event filters for `StreamConsumers`: the notifier reads new ledger entries only. */
  readonly streamFilters = { notifier: [ledgerInsertsOnly] } as const;

  constructor(scope: Construct, id: string, props: WebhooksProps) {
    super(scope, id);
    const { config, settings } = props;
    const declaration = props.queueDeclaration ?? webhooksQueue;

    this.webhooks = new PortraitFunction(this, 'Webhooks', {
      declaration: functions.webhooks,
      config,
      settings,
    });
    // The segment's head by key; subscriptions put (conditionally), listed by a Query on their
    // partition, deleted by key.
    allow(
      this.webhooks.function,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:DeleteItem'],
      [props.segmentsTable.tableArn],
    );
    allow(this.webhooks.function, ['dynamodb:GetItem'], [props.writeKeysTable.tableArn]);

    this.notifier = new PortraitFunction(this, 'Notifier', {
      declaration: functions.notifier,
      config,
      settings,
    });
    // A segment's subscriptions by a Query on `wh#<segment>`; deliveries sent to the queue.
    allow(this.notifier.function, ['dynamodb:Query'], [props.segmentsTable.tableArn]);
    props.queue.grantSendMessages(this.notifier.function);

    this.deliverer = new PortraitFunction(this, 'Deliverer', {
      declaration: functions.deliverer,
      config,
      settings,
    });
    // One subscription by key per delivery (its current URL and secret).
    allow(this.deliverer.function, ['dynamodb:GetItem'], [props.segmentsTable.tableArn]);
    const { consumer } = declaration;
    // The event source grants receive, delete and ChangeMessageVisibility (the backoff).
    this.queueEventSource = new SqsEventSource(props.queue, {
      batchSize: consumer.batchSize,
      maxBatchingWindow: Duration.seconds(consumer.maxBatchingWindowSeconds),
      maxConcurrency: consumer.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.deliverer.function.addEventSource(this.queueEventSource);
  }

  /** The functions this construct built, by declaration id. */
  get functions(): {
    readonly webhooks: IFunction;
    readonly notifier: IFunction;
    readonly deliverer: IFunction;
  } {
    return {
      webhooks: this.webhooks.function,
      notifier: this.notifier.function,
      deliverer: this.deliverer.function,
    };
  }
}
