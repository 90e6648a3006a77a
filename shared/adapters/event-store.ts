import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { PortraitEvent } from '../../events/envelope.ts';
import { mapBounded } from '../async/map-bounded.ts';
import { MIN_DEDUP_DAYS } from '../config/environments.ts';
import { queryAll } from './dynamo-query.ts';

const DAY_SECONDS = 86_400;

/** Outcome of storing one event. */
export type StoreOutcome =
  | { readonly status: 'stored'; readonly writeUnits: number }
  | { readonly status: 'duplicate'; readonly writeUnits: number }
  | { readonly status: 'failed'; readonly error: unknown };

/** The member key an event is stored under: its userId, else its anonymousId. */
export function memberKeyOf(event: Pick<PortraitEvent, 'userId' | 'anonymousId'>): string {
  if (event.userId !== undefined) return `u#${event.userId}`;
  if (event.anonymousId !== undefined) return `a#${event.anonymousId}`;
  throw new Error('event has neither userId nor anonymousId (validation lets none through)');
}

/**
 * Expiry (epoch seconds) of a stored event: retention counted from when it happened, but never
 * sooner than the dedup horizon counted from when it was received, so a late duplicate of an
 * old event is still recognised.
 */
export function expiresAtOf(event: PortraitEvent, retentionDays: number): number {
  const happened = Math.floor(Date.parse(event.timestamp) / 1000) + retentionDays * DAY_SECONDS;
  const dedup = Math.floor(Date.parse(event.receivedAt) / 1000) + MIN_DEDUP_DAYS * DAY_SECONDS;
  return Math.max(happened, dedup);
}

/**
 * The events table, the only code that knows its item layout: `pk` member key, `sk` messageId,
 * a few top-level attributes for queries, and the whole normalised event as JSON in `body`
 * (JSON, not a DynamoDB map, so any valid JSON property — empty keys, deep nesting — stores).
 */
export class EventStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays: number,
    private readonly concurrency = 32,
  ) {}

  /**
   * Every stored event of one partition key (`u#…`, `a#…`), read consistently, page by page.
   * Items whose body cannot be read are counted, not returned.
   */
  async eventsOf(key: string): Promise<{ events: PortraitEvent[]; unreadable: number }> {
    const items = await queryAll(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': key },
      ConsistentRead: true,
    });
    const events: PortraitEvent[] = [];
    let unreadable = 0;
    for (const item of items) {
      try {
        events.push(eventFromItem(item));
      } catch {
        unreadable += 1;
      }
    }
    return { events, unreadable };
  }

  /** Stores each event unless an item with the same member and messageId exists. */
  async putAll(events: readonly PortraitEvent[]): Promise<StoreOutcome[]> {
    return mapBounded(events, this.concurrency, (event) => this.putOne(event));
  }

  private async putOne(event: PortraitEvent): Promise<StoreOutcome> {
    try {
      const result = await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.toItem(event),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      return { status: 'stored', writeUnits: result.ConsumedCapacity?.CapacityUnits ?? 0 };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        // A failed condition still consumes write capacity; DynamoDB charges at least one unit.
        return { status: 'duplicate', writeUnits: 1 };
      }
      return { status: 'failed', error };
    }
  }

  private toItem(event: PortraitEvent): Record<string, unknown> {
    return {
      pk: memberKeyOf(event),
      sk: event.messageId,
      type: event.type,
      ...(event.event !== undefined ? { event: event.event } : {}),
      ...(event.userId !== undefined ? { userId: event.userId } : {}),
      ...(event.anonymousId !== undefined ? { anonymousId: event.anonymousId } : {}),
      timestamp: event.timestamp,
      receivedAt: event.receivedAt,
      sourceId: event.sourceId,
      body: JSON.stringify(event),
      expiresAt: expiresAtOf(event, this.retentionDays),
    };
  }
}

/** An events-table item's keys and event as a stream record's image carries them. */
export interface StreamedEvent {
  /** The item's partition key: the member key (`u#…` / `a#…`). */
  readonly memberKey: string | undefined;
  readonly messageId: string | undefined;
  /** `undefined` when the stored body is missing or not an event. */
  readonly event: PortraitEvent | undefined;
}

/** Reads an events-table item from a stream record's keys and new image (AttributeValue JSON). */
export function eventFromStreamImage(
  keys: Record<string, { S?: string }> | undefined,
  newImage: Record<string, { S?: string }> | undefined,
): StreamedEvent {
  return {
    memberKey: keys?.pk?.S ?? newImage?.pk?.S,
    messageId: keys?.sk?.S,
    event: readBody(newImage?.body?.S),
  };
}

/**
 * The event in an item's `body`. Ingest stored it after validation, so only its shape is
 * checked here; the fold skips and counts values that do not fit a rule.
 */
function readBody(body: string | undefined): PortraitEvent | undefined {
  if (body === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      typeof (parsed as Record<string, unknown>).messageId === 'string' &&
      typeof (parsed as Record<string, unknown>).type === 'string' &&
      typeof (parsed as Record<string, unknown>).timestamp === 'string'
    ) {
      return parsed as PortraitEvent;
    }
  } catch {
    // Reported by the caller.
  }
  return undefined;
}

/** Parses a stored item's `body` back into the event. */
export function eventFromItem(item: Record<string, unknown>): PortraitEvent {
  return JSON.parse(String(item.body)) as PortraitEvent;
}
