import { randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type ErasureCounter,
  type ErasureCounts,
  type ErasureReceipt,
  type ErasureStatus,
  erasureCounters,
  memberHash,
} from '../domain/privacy/erasure.ts';

const receiptKey = (id: string) => ({ pk: `r#${id}`, sk: 'receipt' });
const suppressionKey = (hash: string) => ({ pk: `s#${hash}`, sk: 'suppression' });
const SECRET_KEY = { pk: 'secret', sk: 'pseudonym-key' };
const counterAttribute = (counter: ErasureCounter) => `n_${counter}`;
const LAKE_ROWS_ATTRIBUTE = 'n_lakeRows';

/** A receipt as the eraser reads it: the keys being erased, kept only while it runs. */
export interface RunningReceipt extends ErasureReceipt {
  readonly keys: readonly string[];
}

/**
 * The erasures table, the only code that knows its layout:
 * - `r#<receipt>` / `receipt`: status, times, counters `n_<counter>`, the keyed hash of the id
 *   asked for, and while the erasure runs the member's source keys (`keys`), removed when it ends;
 * - `s#<keyed hash>` / `suppression`: a suppressed source key, by its hash only;
 * - `secret` / `pseudonym-key`: 32 random bytes made at first use; the key of every hash and
 *   pseudonym (docs/PRIVACY.md).
 *
 * The same table holds, on AWS, the KMS-wrapped personal-data key under `personal-data-key`;
 * `DynamoWrappedKeyStore` (kms-personal-data-cipher.ts) owns that item.
 */
export class ErasureStore {
  private secretBytes: Promise<Uint8Array> | undefined;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** The pseudonym key, made on first use (a conditional put, so every process gets the same). */
  secret(): Promise<Uint8Array> {
    this.secretBytes ??= this.loadSecret().catch((error: unknown) => {
      this.secretBytes = undefined;
      throw error;
    });
    return this.secretBytes;
  }

  /**
   * The pseudonym key if one was made, without making one: where none exists nothing was ever
   * erased, so readers that only check suppressions (collect, ingest, the deliverer) need no
   * write access. A found key is kept for the process; an absence is not.
   */
  private async existingSecret(): Promise<Uint8Array | undefined> {
    if (this.secretBytes !== undefined) return this.secretBytes;
    const value = await this.readSecret();
    if (value) this.secretBytes = Promise.resolve(value);
    return value;
  }

  private async readSecret(): Promise<Uint8Array | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: SECRET_KEY, ConsistentRead: true }),
    );
    return Item?.value instanceof Uint8Array ? Item.value : undefined;
  }

  private async loadSecret(): Promise<Uint8Array> {
    const read = () => this.readSecret();
    const existing = await read();
    if (existing instanceof Uint8Array) return existing;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...SECRET_KEY, value: randomBytes(32) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const value = await read();
    if (!(value instanceof Uint8Array)) throw new Error('the pseudonym key could not be stored');
    return value;
  }

  /** Which of the source keys (`u#…`, `a#…`) are suppressed: batched reads by keyed hash. */
  async suppressedAmong(keys: Iterable<string>): Promise<Set<string>> {
    const unique = [...new Set(keys)];
    const found = new Set<string>();
    if (unique.length === 0) return found;
    const secret = await this.existingSecret();
    if (!secret) return found;
    const byHash = new Map(unique.map((key) => [memberHash(secret, key), key]));
    const hashes = [...byHash.keys()];
    for (let i = 0; i < hashes.length; i += 100) {
      let keysToRead: Record<string, unknown>[] = hashes
        .slice(i, i + 100)
        .map((hash) => suppressionKey(hash));
      for (let attempt = 0; keysToRead.length > 0; attempt += 1) {
        if (attempt > 8) throw new Error('BatchGetItem kept leaving keys unprocessed');
        if (attempt > 0)
          await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** attempt)));
        const result = await this.client.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: keysToRead, ProjectionExpression: 'pk' } },
          }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const key = byHash.get(String(item.pk).slice(2));
          if (key !== undefined) found.add(key);
        }
        keysToRead = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<
          string,
          unknown
        >[];
      }
    }
    return found;
  }

  /** Suppresses source keys (idempotent: a put of the same item; a member has few keys). */
  async suppress(keys: readonly string[], receiptId: string, at: number): Promise<void> {
    const secret = await this.secret();
    await Promise.all(
      [...new Set(keys)].map((key) =>
        this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...suppressionKey(memberHash(secret, key)), receipt: receiptId, since: at },
          }),
        ),
      ),
    );
  }

  /** Lifts the suppression of source keys; answers how many were suppressed. */
  async unsuppress(keys: readonly string[]): Promise<number> {
    const suppressed = await this.suppressedAmong(keys);
    if (suppressed.size === 0) return 0;
    const secret = await this.secret();
    await Promise.all(
      [...suppressed].map((key) =>
        this.client.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: suppressionKey(memberHash(secret, key)),
          }),
        ),
      ),
    );
    return suppressed.size;
  }

  /** Stores a new receipt (`pending`). */
  async createReceipt(receipt: ErasureReceipt): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...receiptKey(receipt.id),
          status: receipt.status,
          memberHash: receipt.memberHash,
          requestedAt: receipt.requestedAt,
          previouslyErased: receipt.previouslyErased,
          sweeps: 0,
          suppressedKeys: 0,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async receipt(id: string): Promise<RunningReceipt | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: receiptKey(id), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const counts = Object.fromEntries(
      erasureCounters.map((counter) => [counter, Number(Item[counterAttribute(counter)] ?? 0)]),
    ) as Record<ErasureCounter, number>;
    const optionalNumber = (value: unknown) => (typeof value === 'number' ? value : undefined);
    const startedAt = optionalNumber(Item.startedAt);
    const finishedAt = optionalNumber(Item.finishedAt);
    return {
      id,
      status: Item.status as ErasureStatus,
      memberHash: String(Item.memberHash),
      requestedAt: Number(Item.requestedAt),
      ...(startedAt !== undefined ? { startedAt } : {}),
      ...(finishedAt !== undefined ? { finishedAt } : {}),
      ...(typeof Item.found === 'boolean' ? { found: Item.found } : {}),
      previouslyErased: Item.previouslyErased === true,
      sweeps: Number(Item.sweeps ?? 0),
      counts,
      lakeRows: Number(Item[LAKE_ROWS_ATTRIBUTE] ?? 0),
      suppressedKeys: Number(Item.suppressedKeys ?? 0),
      ...(typeof Item.error === 'string' ? { error: Item.error } : {}),
      keys: Item.keys instanceof Set ? [...(Item.keys as Set<string>)].sort() : [],
    };
  }

  /**
   * Marks a receipt running with the member's source keys (added to those stored, so a resumed
   * run erases the union) and whether anything was found; the first start time is kept.
   */
  async start(id: string, keys: readonly string[], found: boolean, at: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: receiptKey(id),
        UpdateExpression:
          'SET #status = :running, startedAt = if_not_exists(startedAt, :at), #found = if_not_exists(#found, :found), suppressedKeys = :suppressed ADD #keys :keys',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#status': 'status', '#keys': 'keys', '#found': 'found' },
        ExpressionAttributeValues: {
          ':running': 'running',
          ':at': at,
          ':found': found,
          ':keys': new Set(keys),
          ':suppressed': keys.length,
        },
      }),
    );
  }

  /**
   * Records a finished sweep and the lake rows it removed. The lake is files, not items, so its
   * count cannot share a transaction with its rewrite: a sweep that dies between the two has
   * removed rows it never counts (the count can fall short after a crash, never exceed).
   */
  async sweepDone(id: string, lakeRows = 0): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: receiptKey(id),
        UpdateExpression: 'ADD sweeps :one, #lakeRows :lakeRows',
        ExpressionAttributeNames: { '#lakeRows': LAKE_ROWS_ATTRIBUTE },
        ExpressionAttributeValues: { ':one': 1, ':lakeRows': lakeRows },
      }),
    );
  }

  /** Ends a receipt (`done` or `failed`) and forgets the member's keys. */
  async finish(
    id: string,
    status: Extract<ErasureStatus, 'done' | 'failed'>,
    at: number,
    error?: string,
  ): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: receiptKey(id),
        UpdateExpression: `SET #status = :status, finishedAt = :at${error ? ', #error = :error' : ''} REMOVE #keys`,
        ExpressionAttributeNames: {
          '#status': 'status',
          '#keys': 'keys',
          ...(error ? { '#error': 'error' } : {}),
        },
        ExpressionAttributeValues: {
          ':status': status,
          ':at': at,
          ...(error ? { ':error': error } : {}),
        },
      }),
    );
  }

  /**
   * The transaction item that adds removed counts to a receipt: the member eraser writes it in
   * the same transaction as the deletions it counts, so a count is exact across retries.
   */
  countUpdate(id: string, counts: Partial<ErasureCounts>) {
    const entries = Object.entries(counts).filter(([, n]) => (n ?? 0) !== 0) as [
      ErasureCounter,
      number,
    ][];
    return {
      Update: {
        TableName: this.tableName,
        Key: receiptKey(id),
        UpdateExpression: `ADD ${entries.map(([counter]) => `#${counter} :${counter}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(
          entries.map(([counter]) => [`#${counter}`, counterAttribute(counter)]),
        ),
        ExpressionAttributeValues: Object.fromEntries(
          entries.map(([counter, n]) => [`:${counter}`, n]),
        ),
      },
    };
  }
}
