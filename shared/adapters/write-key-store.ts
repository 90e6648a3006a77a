import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Scope } from '../../infra/declarations/routes.ts';
import { checkRateLimit, type RateLimit } from '../domain/keys/rate-limit.ts';
import { hashWriteKey } from '../domain/keys/write-key.ts';

/** What a key grants, as stored (the raw key is never stored). */
export interface WriteKeyRecord {
  readonly keyHash: string;
  readonly sourceId: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly createdAt: string;
  readonly revoked: boolean;
  /** The key's own request limit; absent: its scope family's default (docs/API.md). */
  readonly rateLimit?: RateLimit;
}

/** The stored limit of an item, when it holds a well-formed one. */
function storedRateLimit(item: Record<string, unknown>): { rateLimit?: RateLimit } {
  const raw = item.rateLimit as { perSecond?: unknown; burst?: unknown } | undefined;
  if (typeof raw?.perSecond !== 'number' || typeof raw.burst !== 'number') return {};
  return { rateLimit: { perSecond: raw.perSecond, burst: raw.burst } };
}

const itemKey = (keyHash: string) => ({ pk: `key#${keyHash}` });

/**
 * Write keys in DynamoDB, looked up by hash. Lookups are cached in memory for `cacheTtlMs`
 * (positive and negative) so a busy collect function reads the table once a minute per key,
 * not once per request; a revoked key therefore stops working within that time.
 */
export class WriteKeyStore {
  private readonly cache = new Map<string, { record: WriteKeyRecord | undefined; until: number }>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly cacheTtlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The record of a raw key, or undefined when unknown or revoked. */
  async lookup(rawKey: string): Promise<WriteKeyRecord | undefined> {
    const keyHash = hashWriteKey(rawKey);
    const cached = this.cache.get(keyHash);
    if (cached && cached.until > this.now()) return cached.record;
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: itemKey(keyHash), ConsistentRead: true }),
    );
    const item = result.Item;
    const record =
      item && item.revoked !== true
        ? {
            keyHash,
            sourceId: String(item.sourceId),
            name: String(item.name),
            scopes: (item.scopes as Scope[]) ?? [],
            createdAt: String(item.createdAt),
            revoked: false,
            ...storedRateLimit(item),
          }
        : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(keyHash, { record, until: this.now() + this.cacheTtlMs });
    return record;
  }

  /** Stores a new key by its hash. */
  async create(
    rawKey: string,
    details: {
      sourceId: string;
      name: string;
      scopes: readonly Scope[];
      rateLimit?: RateLimit;
    },
  ): Promise<WriteKeyRecord> {
    const record: WriteKeyRecord = {
      ...(details.rateLimit ? { rateLimit: checkRateLimit(details.rateLimit) } : {}),
      keyHash: hashWriteKey(rawKey),
      sourceId: details.sourceId,
      name: details.name,
      scopes: [...details.scopes],
      createdAt: new Date(this.now()).toISOString(),
      revoked: false,
    };
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...itemKey(record.keyHash), ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return record;
  }

  /** Marks a key revoked; collect functions stop accepting it within the cache time. */
  async revoke(keyHash: string): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: itemKey(keyHash),
        UpdateExpression: 'SET revoked = :yes, revokedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':yes': true, ':now': new Date(this.now()).toISOString() },
      }),
    );
    this.cache.delete(keyHash);
  }

  /** Every stored key record (small table: one item per key). */
  async list(): Promise<WriteKeyRecord[]> {
    const records: WriteKeyRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: startKey }),
      );
      for (const item of page.Items ?? []) {
        records.push({
          keyHash: String(item.keyHash),
          sourceId: String(item.sourceId),
          name: String(item.name),
          scopes: (item.scopes as Scope[]) ?? [],
          createdAt: String(item.createdAt),
          revoked: item.revoked === true,
          ...storedRateLimit(item),
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }
}
