import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { PortraitEvent } from '../../events/envelope.ts';
import type { StoreOutcome } from '../../shared/adapters/event-store.ts';
import { identityKeysOf } from '../../shared/domain/ingest/answer.ts';
import { unpackMessage } from '../../shared/domain/ingest/pack-messages.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface IngestDeps {
  /** Stores events, one outcome per event, in order. Duplicates are an outcome, not an error. */
  readonly putEvents: (events: readonly PortraitEvent[]) => Promise<StoreOutcome[]>;
  readonly logger: Logger;
  /**
   * Which of these source keys are suppressed (erased members). Events of suppressed members
   * that collect accepted before the erasure are dropped here, not stored.
   * @default nothing is suppressed
   */
  readonly suppressedAmong?: (keys: readonly string[]) => Promise<ReadonlySet<string>>;
  /**
   * Protects an event's personal fields before it is stored (`protectEvent` with the
   * environment's cipher and `personalFieldStorage`; docs/PRIVACY.md, "Storage").
   * @default stored as received (tests only: the deployed and local wiring always protects)
   */
  readonly protect?: (event: PortraitEvent) => PortraitEvent;
}

/**
 * The ingest function: unpacks each queue message and stores its events. A message whose
 * events were all stored or were duplicates succeeds; any other outcome reports the message as
 * a batch item failure so SQS redelivers it (the events already stored are then duplicates)
 * and, after the queue's receive limit, moves it to the dead-letter queue.
 */
export function makeIngestHandler(deps: IngestDeps) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    const unpacked: Array<{ messageId: string; events: PortraitEvent[] }> = [];
    for (const record of event.Records) {
      try {
        unpacked.push({ messageId: record.messageId, events: unpackMessage(record.body) });
      } catch (error) {
        deps.logger.error('malformed queue message; left for the dead-letter queue', {
          sqsMessageId: record.messageId,
          receiveCount: record.attributes.ApproximateReceiveCount,
          error,
        });
        failures.push({ itemIdentifier: record.messageId });
      }
    }

    const suppressed = deps.suppressedAmong
      ? await deps.suppressedAmong(
          unpacked.flatMap((message) => message.events.flatMap(identityKeysOf)),
        )
      : new Set<string>();
    let dropped = 0;
    if (suppressed.size > 0) {
      for (const message of unpacked) {
        const kept = message.events.filter(
          (e) => !identityKeysOf(e).some((key) => suppressed.has(key)),
        );
        dropped += message.events.length - kept.length;
        message.events = kept;
      }
    }
    const received = unpacked.flatMap((message) => message.events);
    const all = deps.protect ? received.map(deps.protect) : received;
    const outcomes = await deps.putEvents(all);
    let offset = 0;
    let stored = 0;
    let duplicates = 0;
    let writeUnits = 0;
    for (const message of unpacked) {
      const mine = outcomes.slice(offset, offset + message.events.length);
      offset += message.events.length;
      const failed = mine.filter((outcome) => outcome.status === 'failed');
      stored += mine.filter((outcome) => outcome.status === 'stored').length;
      duplicates += mine.filter((outcome) => outcome.status === 'duplicate').length;
      for (const outcome of mine) if (outcome.status !== 'failed') writeUnits += outcome.writeUnits;
      if (failed.length > 0) {
        deps.logger.warn('events not stored; message will be retried', {
          sqsMessageId: message.messageId,
          failed: failed.length,
          error: failed[0]?.status === 'failed' ? failed[0].error : undefined,
        });
        failures.push({ itemIdentifier: message.messageId });
      }
    }
    deps.logger.info('ingest', {
      messages: event.Records.length,
      stored,
      duplicates,
      suppressedDropped: dropped,
      writeUnits,
      failedMessages: failures.length,
    });
    return { batchItemFailures: failures };
  };
}
