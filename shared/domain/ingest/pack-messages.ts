/**
 * Packing of validated events into queue messages, and back. A message body is
 * `{"v":1,"events":[…]}` in UTF-8 no larger than the message limit; bodies are grouped into
 * send batches under the entry and byte limits of one SendMessageBatch request (see `sqsLimits`
 * in `infra/declarations/queues.ts`).
 */
import { eventTypes, type PortraitEvent } from '../../../events/envelope.ts';
import { sqsLimits } from '../../../infra/declarations/queues.ts';

export interface QueuePackingLimits {
  /** Largest message body, in UTF-8 bytes. */
  readonly maxMessageBytes: number;
  /** Most messages in one send batch. */
  readonly maxBatchEntries: number;
  /** Largest sum of message bodies in one send batch, in UTF-8 bytes. */
  readonly maxBatchBytes: number;
}

/** Version of the message body format. */
export const queueMessageVersion = 1;

const BODY_PREFIX = `{"v":${queueMessageVersion},"events":[`;
const BODY_SUFFIX = ']}';
const BODY_OVERHEAD = Buffer.byteLength(BODY_PREFIX + BODY_SUFFIX, 'utf8');

/** An event that cannot fit in one message even alone; validated events never are. */
export class EventTooLargeForMessageError extends Error {
  readonly code = 'event_too_large_for_message';
  constructor(
    readonly messageId: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `Event ${messageId} serialises to ${bytes} bytes; a queue message holds at most ${limit}.`,
    );
    this.name = 'EventTooLargeForMessageError';
  }
}

/** A queue message body that is not a version-1 packed event list. */
export class MalformedQueueMessageError extends Error {
  readonly code = 'malformed_queue_message';
  constructor(reason: string) {
    super(`Malformed queue message: ${reason}.`);
    this.name = 'MalformedQueueMessageError';
  }
}

/**
 * SQS accepts only #x9 #xA #xD, #x20–#xD7FF, #xE000–#xFFFD and #x10000–#x10FFFF. JSON.stringify
 * already escapes control characters and lone surrogates; U+FFFE and U+FFFF are escaped here.
 */
function serialiseEvent(event: PortraitEvent): string {
  return JSON.stringify(event).replace(/[\uFFFE\uFFFF]/g, (char) =>
    char === '\uFFFE' ? '\\ufffe' : '\\uffff',
  );
}

/**
 * Packs events into message bodies (greedily, in order) and the bodies into send batches.
 * Every event appears exactly once and in the original order across
 * `batches.flat().flatMap(unpackMessage)`.
 * @throws EventTooLargeForMessageError when one event alone exceeds the message limit.
 */
export function packMessages(
  events: readonly PortraitEvent[],
  limits: QueuePackingLimits = sqsLimits,
): string[][] {
  // A body must also fit in a batch on its own.
  const maxBody = Math.min(limits.maxMessageBytes, limits.maxBatchBytes);
  const bodies: { text: string; bytes: number }[] = [];
  let parts: string[] = [];
  let bytes = BODY_OVERHEAD;
  const flush = () => {
    if (parts.length === 0) return;
    bodies.push({ text: BODY_PREFIX + parts.join(',') + BODY_SUFFIX, bytes });
    parts = [];
    bytes = BODY_OVERHEAD;
  };
  for (const event of events) {
    const json = serialiseEvent(event);
    const size = Buffer.byteLength(json, 'utf8');
    if (BODY_OVERHEAD + size > maxBody) {
      throw new EventTooLargeForMessageError(event.messageId, size, maxBody - BODY_OVERHEAD);
    }
    if (parts.length > 0 && bytes + 1 + size > maxBody) flush();
    bytes += (parts.length === 0 ? 0 : 1) + size;
    parts.push(json);
  }
  flush();

  const batches: string[][] = [];
  let batch: string[] = [];
  let batchBytes = 0;
  for (const body of bodies) {
    if (batch.length === limits.maxBatchEntries || batchBytes + body.bytes > limits.maxBatchBytes) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(body.text);
    batchBytes += body.bytes;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * The events of one message body.
 * @throws MalformedQueueMessageError when the body is not a version-1 packed event list.
 */
export function unpackMessage(body: string): PortraitEvent[] {
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    throw new MalformedQueueMessageError('the body is not JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new MalformedQueueMessageError('the body is not an object');
  }
  const { v, events } = document as { v?: unknown; events?: unknown };
  if (v !== queueMessageVersion) {
    throw new MalformedQueueMessageError(`unsupported version ${JSON.stringify(v) ?? 'undefined'}`);
  }
  if (!Array.isArray(events)) throw new MalformedQueueMessageError('"events" is not an array');
  events.forEach((event: unknown, index) => {
    if (!looksLikeEvent(event)) {
      throw new MalformedQueueMessageError(`events[${index}] is not a Portrait event`);
    }
  });
  return events as PortraitEvent[];
}

const requiredStrings = ['messageId', 'timestamp', 'receivedAt', 'sourceId'] as const;

/** Shape check of what collect wrote; the contents were validated before they were packed. */
function looksLikeEvent(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return (
    requiredStrings.every((key) => typeof record[key] === 'string') &&
    (eventTypes as readonly unknown[]).includes(record.type) &&
    (typeof record.userId === 'string' || typeof record.anonymousId === 'string')
  );
}
