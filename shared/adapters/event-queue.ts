import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** Where collect puts packed events. */
export interface EventQueue {
  /** Sends every body; resolves only when all are accepted by the queue, else rejects. */
  sendBatches(batches: readonly (readonly string[])[]): Promise<void>;
}

export class EventQueueSendError extends Error {
  readonly code = 'queue_send_failed';
  constructor(message: string) {
    super(message);
    this.name = 'EventQueueSendError';
  }
}

/**
 * SQS-backed queue. Entries a SendMessageBatch reports as failed are retried (with backoff) a
 * bounded number of times; batches are sent concurrently.
 */
export class SqsEventQueue implements EventQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly maxAttempts = 4,
  ) {}

  async sendBatches(batches: readonly (readonly string[])[]): Promise<void> {
    await Promise.all(batches.map((bodies) => this.sendOne(bodies)));
  }

  private async sendOne(bodies: readonly string[]): Promise<void> {
    let pending = bodies.map((body, index) => ({ Id: String(index), MessageBody: body }));
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const result = await this.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
      );
      const failed = new Set((result.Failed ?? []).map((entry) => entry.Id));
      const senderFault = (result.Failed ?? []).find((entry) => entry.SenderFault);
      if (senderFault) {
        throw new EventQueueSendError(`queue rejected a message: ${senderFault.Code ?? 'unknown'}`);
      }
      pending = pending.filter((entry) => failed.has(entry.Id));
      if (pending.length === 0) return;
      if (attempt >= this.maxAttempts) {
        throw new EventQueueSendError(
          `${pending.length} message(s) not accepted after ${attempt} attempts`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
    }
  }
}
