import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { erasuresQueue, webhooksQueue } from '../../declarations/index.ts';
import { EventLakeStorage } from '../constructs/event-lake.ts';
import { EventQueue } from '../constructs/event-queue.ts';
import { EventStore } from '../constructs/event-store.ts';
import { PersonalDataKey } from '../constructs/personal-data-key.ts';

export interface StatefulStackProps extends StackProps {
  readonly config: EnvironmentConfig;
}

/**
 * Everything that holds data: tables, queues, the lake, and the KMS key without which the
 * stored personal fields cannot be read. Deployed rarely, protected in prod.
 */
export class StatefulStack extends Stack {
  readonly eventStore: EventStore;
  readonly eventQueue: EventQueue;
  /** Webhook deliveries and their dead-letter queue (see `Webhooks`). */
  readonly webhookQueue: EventQueue;
  /** The event lake's bucket and its Glue table (see `EventLake` for its functions). */
  readonly eventLake: EventLakeStorage;
  /** Erasure requests and their dead-letter queue (see `Erasure`). */
  readonly erasureQueue: EventQueue;
  /** The KMS key wrapping the personal-data key (see `PersonalDataKey.grantUse`). */
  readonly personalDataKey: PersonalDataKey;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    this.eventStore = new EventStore(this, 'EventStore', { config: props.config });
    this.eventQueue = new EventQueue(this, 'EventQueue', { config: props.config });
    this.webhookQueue = new EventQueue(this, 'WebhookQueue', {
      config: props.config,
      declaration: webhooksQueue,
    });
    this.erasureQueue = new EventQueue(this, 'ErasureQueue', {
      config: props.config,
      declaration: erasuresQueue,
    });

    this.personalDataKey = new PersonalDataKey(this, 'PersonalDataKey', {
      config: props.config,
      erasuresTable: this.eventStore.table('erasures'),
    });
    new CfnOutput(this, 'PersonalDataKeyArn', { value: this.personalDataKey.key.keyArn });

    this.eventLake = new EventLakeStorage(this, 'EventLake', { config: props.config });
    new CfnOutput(this, 'LakeBucketName', { value: this.eventLake.bucket.bucketName });
    new CfnOutput(this, 'LakeDatabaseName', { value: this.eventLake.databaseName });

    // Names the operator CLI (`npm run cli -- --aws ...`) is pointed at.
    new CfnOutput(this, 'EventsTableName', { value: this.eventStore.table('events').tableName });
    new CfnOutput(this, 'WriteKeysTableName', {
      value: this.eventStore.table('write-keys').tableName,
    });
    new CfnOutput(this, 'ProfilesTableName', {
      value: this.eventStore.table('profiles').tableName,
    });
    new CfnOutput(this, 'SegmentsTableName', {
      value: this.eventStore.table('segments').tableName,
    });
    new CfnOutput(this, 'MembershipsTableName', {
      value: this.eventStore.table('memberships').tableName,
    });
    new CfnOutput(this, 'ErasuresTableName', {
      value: this.eventStore.table('erasures').tableName,
    });
    new CfnOutput(this, 'ErasureQueueUrl', { value: this.erasureQueue.queue.queueUrl });
    new CfnOutput(this, 'ErasureDeadLetterQueueUrl', {
      value: this.erasureQueue.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'EventsQueueUrl', { value: this.eventQueue.queue.queueUrl });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', {
      value: this.eventQueue.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'WebhookQueueUrl', { value: this.webhookQueue.queue.queueUrl });
    new CfnOutput(this, 'WebhookDeadLetterQueueUrl', {
      value: this.webhookQueue.deadLetterQueue.queueUrl,
    });
  }
}
