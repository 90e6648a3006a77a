/** Events as the events table's stream delivers them to the tagger, for handler tests. */
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { PortraitEvent } from '../../events/envelope.ts';
import { memberKeyOf } from '../../shared/adapters/event-store.ts';

/** Events of several members interleaved in one stream order, each with a sequence number. */
export interface StreamedEvent {
  readonly event: PortraitEvent;
  readonly sequenceNumber: string;
}

let sequenceBase = 10n ** 20n;
/** A sequence number after every one handed out so far. */
export function nextSequenceNumber(): string {
  sequenceBase += 1000n;
  return sequenceBase.toString();
}

export function stream(events: readonly PortraitEvent[]): StreamedEvent[] {
  return events.map((event) => {
    sequenceBase += 1000n + BigInt(event.messageId.length);
    return { event, sequenceNumber: sequenceBase.toString() };
  });
}

export function insertRecord({ event, sequenceNumber }: StreamedEvent): DynamoDBRecord {
  const pk = memberKeyOf(event);
  const keys = { pk: { S: pk }, sk: { S: event.messageId } };
  return {
    eventID: `ev-${sequenceNumber}`,
    eventName: 'INSERT',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/events/stream/2026-11-25',
    dynamodb: {
      ApproximateCreationDateTime: Date.parse(event.timestamp) / 1000,
      Keys: keys,
      NewImage: { ...keys, body: { S: JSON.stringify(event) } },
      SequenceNumber: sequenceNumber,
      SizeBytes: 100,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

export function batch(items: readonly StreamedEvent[]): DynamoDBStreamEvent {
  return { Records: items.map(insertRecord) };
}
