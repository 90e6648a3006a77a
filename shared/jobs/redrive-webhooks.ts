import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { deliveryRouteOf } from '../domain/webhooks/deliveries.ts';

export interface RedriveWebhooksOptions {
  readonly sqs: SQSClient;
  /** The webhook dead-letter queue. */
  readonly deadLetterQueueUrl: string;
  /** The webhook queue the deliveries go back to. */
  readonly queueUrl: string;
  /** Only deliveries of this segment; others stay in the dead-letter queue. */
  readonly segment?: string;
  /** Move at most this many. @default no limit */
  readonly max?: number;
  /** Seconds a read message stays hidden while the run lasts. @default 120 */
  readonly holdSeconds?: number;
}

export interface RedriveWebhooksSummary {
  /** Deliveries sent back to the webhook queue and removed from the dead-letter queue. */
  readonly moved: number;
  /** Deliveries of other segments (with `segment`), left in the dead-letter queue. */
  readonly skipped: number;
  /** Messages that are no delivery, left in the dead-letter queue. */
  readonly unreadable: number;
}

/**
 * Moves dead-lettered webhook deliveries back to the webhook queue with plain SQS calls
 * (receive, send, delete), so it filters by segment and works the same on the local queue and on
 * AWS. A moved delivery is a new message: it gets the full number of attempts again. Each is
 * sent before it is deleted, so an interrupted run may leave a copy in both queues (the
 * delivery id lets receivers dedupe it), never in neither. Messages it skips are made visible
 * again at the end.
 */
export async function redriveWebhooks(
  options: RedriveWebhooksOptions,
): Promise<RedriveWebhooksSummary> {
  const { sqs } = options;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const hold = options.holdSeconds ?? 120;
  const kept: Message[] = [];
  let moved = 0;
  let skipped = 0;
  let unreadable = 0;
  try {
    while (moved < max) {
      const { Messages: messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: hold,
          WaitTimeSeconds: 1,
        }),
      );
      if (messages.length === 0) break;
      for (const message of messages) {
        const body = message.Body ?? '';
        let segment: string;
        try {
          segment = deliveryRouteOf(body).segment;
        } catch {
          unreadable += 1;
          kept.push(message);
          continue;
        }
        if (moved >= max || (options.segment !== undefined && segment !== options.segment)) {
          if (moved < max) skipped += 1;
          kept.push(message);
          continue;
        }
        await sqs.send(new SendMessageCommand({ QueueUrl: options.queueUrl, MessageBody: body }));
        await sqs.send(
          new DeleteMessageCommand({
            QueueUrl: options.deadLetterQueueUrl,
            ReceiptHandle: message.ReceiptHandle,
          }),
        );
        moved += 1;
      }
    }
  } finally {
    for (let i = 0; i < kept.length; i += 10) {
      await sqs
        .send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: options.deadLetterQueueUrl,
            Entries: kept.slice(i, i + 10).map((message, j) => ({
              Id: String(j),
              ReceiptHandle: message.ReceiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        )
        .catch(() => undefined);
    }
  }
  return { moved, skipped, unreadable };
}
