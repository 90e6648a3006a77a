import { setMaxListeners } from 'node:events';
/**
 * Lambda's SQS event source mapping, locally: long-polls a queue, gathers batches (batch size,
 * batching window), invokes the handler with Lambda-shaped `SQSEvent`s, at most
 * `maxConcurrency` batches at a time, and deletes what succeeded. Failures are left alone, so
 * they reappear after the visibility timeout and reach the dead-letter queue after
 * `maxReceiveCount` receives, exactly as on AWS.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';

/** A queue consumer as Lambda calls it. */
export type SqsEventHandler = (
  event: SQSEvent,
  // biome-ignore lint/suspicious/noConfusingVoidType: Lambda SQS handlers may resolve to nothing (Promise<void>), as @types/aws-lambda's SQSHandler allows.
) => Promise<SQSBatchResponse | void>;

export interface SqsEventSourceOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** Reported as `eventSourceARN`; its region is the records' `awsRegion`. */
  readonly queueArn: string;
  readonly handler: SqsEventHandler;
  /** Most records in one invocation. */
  readonly batchSize: number;
  /** How long to keep gathering once a batch has its first record (0 = invoke at once). */
  readonly maxBatchingWindowSeconds: number;
  /** Most batches in flight at once (Lambda's `maximumConcurrency`). */
  readonly maxConcurrency: number;
  /** Honour `batchItemFailures` in the handler's answer (`ReportBatchItemFailures`). */
  readonly reportBatchItemFailures: boolean;
  readonly log?: (line: string) => void;
  /** Long-poll duration of each receive. @default 20 */
  readonly waitTimeSeconds?: number;
}

/** Lambda's ceiling on a synchronous invocation payload. */
const MAX_INVOCATION_BYTES = 6 * 1024 * 1024;
const RETRY_DELAY_MS = 1_000;
const IDLE_POLL_MS = 50;

/** See the file comment. Create, `start()`, and `stop()` before the client goes away. */
export class SqsEventSource {
  private readonly options: SqsEventSourceOptions;
  private readonly log: (line: string) => void;
  private readonly awsRegion: string;
  private readonly stopping = new AbortController();
  private lanes: Array<Promise<void>> = [];
  private inFlightBatches = 0;

  constructor(options: SqsEventSourceOptions) {
    // One long poll per concurrency slot listens on this signal, more than Node's default of 10.
    setMaxListeners(0, this.stopping.signal);
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    if (!Number.isInteger(options.maxConcurrency) || options.maxConcurrency < 1) {
      throw new RangeError(
        `maxConcurrency must be a positive integer, got ${options.maxConcurrency}`,
      );
    }
    this.options = options;
    this.log = options.log ?? (() => {});
    this.awsRegion = options.queueArn.split(':')[3] ?? '';
  }

  /** Starts `maxConcurrency` pollers, each gathering and invoking one batch at a time. */
  start(): void {
    if (this.lanes.length > 0 || this.stopping.signal.aborted) return;
    this.lanes = Array.from({ length: this.options.maxConcurrency }, () => this.runLane());
  }

  /** Stops polling and waits for the batches in flight (handler and deletes) to finish. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.lanes);
  }

  /**
   * Resolves once no batch is in flight here and the queue holds no visible, in-flight or
   * delayed message (for tests; it waits for failed messages to reach the dead-letter queue).
   */
  async idle(): Promise<void> {
    for (;;) {
      if (this.inFlightBatches === 0) {
        const { Attributes: attributes = {} } = await this.options.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: this.options.queueUrl,
            AttributeNames: [
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
              'ApproximateNumberOfMessagesDelayed',
            ],
          }),
        );
        const pending =
          Number(attributes.ApproximateNumberOfMessages ?? 0) +
          Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
          Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0);
        if (pending === 0 && this.inFlightBatches === 0) return;
      }
      await sleep(IDLE_POLL_MS);
    }
  }

  private async runLane(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      let batch: Message[];
      try {
        batch = await this.gather();
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        this.log(`sqs event source ${this.options.queueArn}: receive failed: ${String(error)}`);
        await sleep(RETRY_DELAY_MS, this.stopping.signal);
        continue;
      }
      if (batch.length > 0) await this.invoke(batch);
    }
  }

  /** Receives until the batch is full, the batching window closes or the payload limit nears. */
  private async gather(): Promise<Message[]> {
    const { sqs, queueUrl, batchSize, maxBatchingWindowSeconds } = this.options;
    const longPoll = this.options.waitTimeSeconds ?? 20;
    const batch: Message[] = [];
    let bytes = 0;
    let windowEnd: number | undefined;
    while (batch.length < batchSize && !this.stopping.signal.aborted) {
      const remainingMs = windowEnd === undefined ? undefined : windowEnd - Date.now();
      if (remainingMs !== undefined && remainingMs <= 0) break;
      const waitTimeSeconds =
        remainingMs === undefined ? longPoll : Math.min(longPoll, Math.floor(remainingMs / 1000));
      let messages: Message[];
      try {
        const output = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, batchSize - batch.length),
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.stopping.signal },
        );
        messages = output.Messages ?? [];
      } catch (error) {
        // Stopping aborts the long poll; what was already gathered is still invoked.
        if (this.stopping.signal.aborted || batch.length > 0) {
          if (!this.stopping.signal.aborted) {
            this.log(`sqs event source ${this.options.queueArn}: receive failed: ${String(error)}`);
          }
          break;
        }
        throw error;
      }
      for (const message of messages) {
        batch.push(message);
        bytes += Buffer.byteLength(message.Body ?? '', 'utf8');
      }
      if (bytes >= MAX_INVOCATION_BYTES - 1024 * 1024) break;
      if (messages.length > 0 && windowEnd === undefined) {
        if (maxBatchingWindowSeconds <= 0) break;
        windowEnd = Date.now() + maxBatchingWindowSeconds * 1000;
      } else if (messages.length === 0 && windowEnd === undefined) {
        return batch;
      } else if (messages.length === 0 && waitTimeSeconds === 0) {
        await sleep(Math.min(IDLE_POLL_MS, Math.max(0, (windowEnd ?? 0) - Date.now())));
      }
    }
    return batch;
  }

  private async invoke(batch: Message[]): Promise<void> {
    this.inFlightBatches++;
    try {
      const event: SQSEvent = { Records: batch.map((message) => this.toRecord(message)) };
      let succeeded: Message[];
      try {
        const result = await this.options.handler(event);
        succeeded = this.succeeded(batch, result);
      } catch (error) {
        this.log(
          `sqs event source ${this.options.queueArn}: handler failed for a batch of ${batch.length}; it will be retried after the visibility timeout: ${String(error)}`,
        );
        succeeded = [];
      }
      await this.deleteMessages(succeeded);
    } finally {
      this.inFlightBatches--;
    }
  }

  /** The messages to delete, following Lambda's rules for partial batch responses. */
  private succeeded(batch: Message[], result: unknown): Message[] {
    if (!this.options.reportBatchItemFailures || result === undefined || result === null)
      return batch;
    const failures = (result as Partial<SQSBatchResponse>).batchItemFailures;
    if (failures === undefined || failures === null) return batch;
    const ids = new Set(batch.map((message) => message.MessageId));
    const failed = new Set<string>();
    const valid =
      Array.isArray(failures) &&
      failures.every((failure) => {
        const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
        if (typeof id !== 'string' || !ids.has(id)) return false;
        failed.add(id);
        return true;
      });
    if (!valid) {
      // Lambda treats an unusable answer (unknown or empty itemIdentifier) as a failed batch.
      this.log(
        `sqs event source ${this.options.queueArn}: invalid batchItemFailures; the whole batch of ${batch.length} will be retried`,
      );
      return [];
    }
    return batch.filter((message) => !failed.has(message.MessageId ?? ''));
  }

  private async deleteMessages(messages: Message[]): Promise<void> {
    for (let start = 0; start < messages.length; start += 10) {
      const chunk = messages.slice(start, start + 10);
      try {
        const output = await this.options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.options.queueUrl,
            Entries: chunk.map((message, index) => ({
              Id: String(index),
              ReceiptHandle: message.ReceiptHandle,
            })),
          }),
        );
        for (const failure of output.Failed ?? []) {
          this.log(
            `sqs event source ${this.options.queueArn}: delete failed (${failure.Code}): ${failure.Message}`,
          );
        }
      } catch (error) {
        this.log(`sqs event source ${this.options.queueArn}: delete failed: ${String(error)}`);
      }
    }
  }

  private toRecord(message: Message): SQSRecord {
    const system = message.Attributes ?? {};
    const attributes: SQSRecordAttributes = {
      ApproximateReceiveCount: system.ApproximateReceiveCount ?? '1',
      SentTimestamp: system.SentTimestamp ?? '',
      SenderId: system.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: system.ApproximateFirstReceiveTimestamp ?? '',
      ...(system.AWSTraceHeader ? { AWSTraceHeader: system.AWSTraceHeader } : {}),
      ...(system.DeadLetterQueueSourceArn
        ? { DeadLetterQueueSourceArn: system.DeadLetterQueueSourceArn }
        : {}),
    };
    return {
      messageId: message.MessageId ?? '',
      receiptHandle: message.ReceiptHandle ?? '',
      body: message.Body ?? '',
      attributes,
      messageAttributes: toLambdaAttributes(message.MessageAttributes),
      md5OfBody: message.MD5OfBody ?? '',
      ...(message.MD5OfMessageAttributes
        ? { md5OfMessageAttributes: message.MD5OfMessageAttributes }
        : {}),
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.queueArn,
      awsRegion: this.awsRegion,
    };
  }
}

/** SDK message attributes in the camel-cased shape Lambda puts in SQS records. */
function toLambdaAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    out[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return out;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
