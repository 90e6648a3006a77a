import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { eventsQueue, type QueueDeclaration } from '../../declarations/index.ts';
import { dataRemovalPolicy } from './removal.ts';

export interface EventQueueProps {
  /** Environment whose removal policy applies to both queues. */
  readonly config: EnvironmentConfig;
  /**
   * The queue to build.
   * @default - `eventsQueue` from `infra/declarations/queues.ts`
   */
  readonly declaration?: QueueDeclaration;
}

/**
 * The queue between collect and ingest, with the dead-letter queue that catches poison messages
 * after the declared number of receives. Both use SQS-managed encryption (no key to manage, no
 * KMS calls per message) and refuse plain-HTTP access.
 */
export class EventQueue extends Construct {
  readonly declaration: QueueDeclaration;
  /** The work queue collect sends to and ingest consumes. */
  readonly queue: Queue;
  /** Messages that failed `maxReceiveCount` receives; redrive them to `queue` after a fix. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: EventQueueProps) {
    super(scope, id);
    const declaration = props.declaration ?? eventsQueue;
    const removalPolicy = dataRemovalPolicy(props.config);
    this.declaration = declaration;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.seconds(declaration.deadLetterRetentionSeconds),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy,
    });
    this.queue = new Queue(this, 'Queue', {
      retentionPeriod: Duration.seconds(declaration.retentionSeconds),
      visibilityTimeout: Duration.seconds(declaration.visibilityTimeoutSeconds),
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: declaration.maxReceiveCount,
      },
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy,
    });
  }
}
