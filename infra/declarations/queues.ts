import type { FunctionId } from './functions.ts';

/**
 * Queues and their event source mappings, declared once. The local queue enforces the same
 * visibility timeout and dead-letter rule; the local poller uses the same batch settings.
 */
export interface QueueDeclaration {
  readonly id: string;
  readonly description: string;
  readonly visibilityTimeoutSeconds: number;
  /** Receives after which a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** How long the queue keeps an unconsumed message (seconds); SQS's default is only 4 days. */
  readonly retentionSeconds: number;
  /** How long the dead-letter queue keeps a message (seconds), counted from the original send. */
  readonly deadLetterRetentionSeconds: number;
  readonly consumer: {
    readonly function: FunctionId;
    readonly batchSize: number;
    readonly maxBatchingWindowSeconds: number;
    /** Upper bound on concurrent batches (SQS event source `maximumConcurrency`, ≥ 2). */
    readonly maxConcurrency: number;
  };
}

export const eventsQueue: QueueDeclaration = {
  id: 'events',
  description: 'Validated events packed by collect, consumed by ingest',
  // Six times the ingest timeout, as AWS recommends for SQS event sources.
  visibilityTimeoutSeconds: 360,
  maxReceiveCount: 5,
  retentionSeconds: 14 * 24 * 3600,
  deadLetterRetentionSeconds: 14 * 24 * 3600,
  consumer: { function: 'ingest', batchSize: 10, maxBatchingWindowSeconds: 1, maxConcurrency: 20 },
};

/**
 * Webhook deliveries from the notifier to the deliverer. A failed delivery is put off by the
 * deliverer itself (ChangeMessageVisibility, doubling per receive), so the visibility timeout
 * only covers a deliverer that dies mid-batch; after 8 receives the delivery is dead-lettered.
 */
export const webhooksQueue: QueueDeclaration = {
  id: 'webhooks',
  description: 'Signed webhook deliveries, produced by the notifier, posted by the deliverer',
  // Six times the deliverer timeout, as for the events queue.
  visibilityTimeoutSeconds: 360,
  maxReceiveCount: 8,
  retentionSeconds: 14 * 24 * 3600,
  deadLetterRetentionSeconds: 14 * 24 * 3600,
  consumer: {
    function: 'deliverer',
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 5,
  },
};

/**
 * Erasure requests from the erasures API to the eraser. The eraser sweeps a member's data, puts
 * the message off for a settle period (ChangeMessageVisibility) and sweeps again, so records
 * still in flight in the streams are caught; after 10 receives a request is dead-lettered and its
 * receipt reports `failed`.
 */
export const erasuresQueue: QueueDeclaration = {
  id: 'erasures',
  description: 'Member erasure requests, produced by the erasures API, run by the eraser',
  // Twice the eraser timeout: a run that dies is retried soon after.
  visibilityTimeoutSeconds: 600,
  maxReceiveCount: 10,
  retentionSeconds: 14 * 24 * 3600,
  deadLetterRetentionSeconds: 14 * 24 * 3600,
  consumer: { function: 'eraser', batchSize: 1, maxBatchingWindowSeconds: 0, maxConcurrency: 2 },
};

export const queues = [eventsQueue, webhooksQueue, erasuresQueue] as const;

/**
 * Limits of one SQS message and one SendMessageBatch request. Collect packs events into
 * messages under these so every event reaches the queue whatever SQS's current ceilings are.
 */
export const sqsLimits = {
  maxMessageBytes: 256 * 1024,
  maxBatchEntries: 10,
  maxBatchBytes: 256 * 1024,
} as const;
