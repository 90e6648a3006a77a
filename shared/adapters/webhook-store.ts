import { randomBytes } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import { queryAll } from './dynamo-query.ts';

/** A segment's webhook subscription as stored, secret included (never shown after creation). */
export interface WebhookSubscription {
  readonly id: string;
  readonly segmentId: string;
  readonly url: string;
  /** The HMAC key, used as its UTF-8 bytes. */
  readonly secret: string;
  readonly description?: string;
  readonly createdAt: string;
  /** The source of the key that created it. */
  readonly createdBy: string;
}

const hooksPk = (segmentId: string) => `wh#${segmentId}`;

/** A new subscription id: `wh_` and 16 random base64url characters. */
export function newWebhookId(): string {
  return `wh_${randomBytes(12).toString('base64url')}`;
}

/** A new signing secret: 32 random bytes, base64url (43 characters). */
export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Webhook subscriptions in the segments table, the only code that knows their layout: one
 * partition per segment (`pk` = `wh#<segment>`, `sk` = subscription id), so the notifier finds a
 * segment's subscriptions with one Query and the deliverer one by key.
 */
export class WebhookStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Stores a new subscription (its id is fresh, so the put is conditioned on absence). */
  async create(subscription: WebhookSubscription): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: hooksPk(subscription.segmentId),
          sk: subscription.id,
          id: subscription.id,
          segmentId: subscription.segmentId,
          url: subscription.url,
          secret: subscription.secret,
          ...(subscription.description !== undefined
            ? { description: subscription.description }
            : {}),
          createdAt: subscription.createdAt,
          createdBy: subscription.createdBy,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /** A segment's subscriptions in id order (strongly consistent). */
  async list(segmentId: string): Promise<WebhookSubscription[]> {
    const items = await queryAll(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': hooksPk(segmentId) },
      ConsistentRead: true,
    });
    return items.map(subscriptionFromItem);
  }

  async get(segmentId: string, id: string): Promise<WebhookSubscription | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: hooksPk(segmentId), sk: id },
        ConsistentRead: true,
      }),
    );
    return Item ? subscriptionFromItem(Item) : undefined;
  }

  /** Deletes a subscription; false when there was none. */
  async delete(segmentId: string, id: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: hooksPk(segmentId), sk: id },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Attributes !== undefined;
  }
}

function subscriptionFromItem(item: Record<string, unknown>): WebhookSubscription {
  return {
    id: String(item.id),
    segmentId: String(item.segmentId),
    url: String(item.url),
    secret: String(item.secret),
    ...(typeof item.description === 'string' ? { description: item.description } : {}),
    createdAt: String(item.createdAt),
    createdBy: String(item.createdBy),
  };
}
