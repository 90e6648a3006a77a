import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  addCounts,
  candidateKeysOf,
  type ErasureCounts,
  noCounts,
  pseudonymousKey,
} from '../domain/privacy/erasure.ts';
import { ledgerKey } from '../domain/segments/ledger.ts';
import { queryAll } from './dynamo-query.ts';
import type { ErasureStore } from './erasure-store.ts';
import { membershipItemKeys, segmentShardOf } from './membership-store.ts';
import { type ProfileStore, profileItemKeys } from './profile-store.ts';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export interface MemberEraserTables {
  readonly events: string;
  readonly profiles: string;
  readonly memberships: string;
}

/** The source keys of a member an erasure removes, and whether anything of it is stored. */
export interface ErasureTarget {
  readonly keys: readonly string[];
  readonly found: boolean;
}

/** Deletions per transaction (each with the receipt's count update: well under 100 items). */
const CHUNK = 25;

/**
 * Removes every item of a member from the events, profiles and memberships tables, counting
 * what it removed on the erasure's receipt in the same transactions (so retried sweeps never
 * count twice). It knows the item layouts of those tables, as their stores do
 * (`profileItemKeys`, `membershipItemKeys`); see docs/PRIVACY.md for what each step does.
 */
export class MemberEraser {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: MemberEraserTables,
    private readonly profiles: ProfileStore,
    private readonly receipts: ErasureStore,
  ) {}

  /**
   * The member an API id names (its userId, else an anonymousId) with every source key of it:
   * the member key, its merged aliases (`ids`) and the key asked for. A candidate counts when a
   * profile, a link, an event or a membership state is stored under it. Nothing stored: the
   * userId key alone, `found` false.
   */
  async target(id: string): Promise<ErasureTarget> {
    for (const candidate of candidateKeysOf(id)) {
      const { memberKey, profile } = await this.profiles.resolve(candidate);
      if (profile) {
        return { keys: unique([memberKey, candidate, ...profile.ids]), found: true };
      }
      if (memberKey !== candidate) return { keys: unique([memberKey, candidate]), found: true };
      if (
        (await this.anyItem(this.tables.events, candidate)) ||
        (await this.anyItem(this.tables.profiles, profileItemKeys.partitionOf(candidate))) ||
        (await this.anyItem(this.tables.memberships, membershipItemKeys.member(candidate)))
      ) {
        return { keys: [candidate], found: true };
      }
    }
    return { keys: [candidateKeysOf(id)[0]], found: false };
  }

  private async anyItem(tableName: string, pk: string): Promise<boolean> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ProjectionExpression: 'pk',
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    return (page.Items?.length ?? 0) > 0;
  }

  /**
   * One sweep over every key: events, profile items (profile, identity links, tag history),
   * segment memberships (each left with an exit under the member's pseudonym), the ledger
   * (earlier entries rewritten under the pseudonym) and the membership state. Returns what it
   * removed; a second sweep over the same keys removes nothing unless something was written
   * meanwhile.
   */
  async sweep(receiptId: string, keys: readonly string[], now: number): Promise<ErasureCounts> {
    let counts = noCounts;
    const secret = await this.receipts.secret();
    for (const key of keys) {
      counts = addCounts(counts, await this.eraseEvents(receiptId, key));
      counts = addCounts(counts, await this.eraseProfileItems(receiptId, key));
      counts = addCounts(
        counts,
        await this.eraseMemberships(receiptId, key, pseudonymousKey(secret, key), now),
      );
    }
    return counts;
  }

  private async eraseEvents(receiptId: string, key: string): Promise<Partial<ErasureCounts>> {
    return this.deleteAll(receiptId, this.tables.events, key, () => 'events');
  }

  private async eraseProfileItems(receiptId: string, key: string): Promise<Partial<ErasureCounts>> {
    return this.deleteAll(
      receiptId,
      this.tables.profiles,
      profileItemKeys.partitionOf(key),
      (item) =>
        item.sk === profileItemKeys.profileSk
          ? typeof item.mergedInto === 'string'
            ? 'identityLinks'
            : 'profiles'
          : 'tagHistory',
    );
  }

  /**
   * Deletes every item of a partition, a chunk per transaction with its count; a chunk whose item
   * vanished meanwhile is read again, so counts are of items this sweep deleted.
   */
  private async deleteAll(
    receiptId: string,
    tableName: string,
    pk: string,
    counterOf: (item: Record<string, unknown>) => keyof ErasureCounts,
  ): Promise<Partial<ErasureCounts>> {
    let counts = noCounts;
    for (let round = 0; round < 10; round += 1) {
      const items = await queryAll(this.client, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ProjectionExpression: 'pk, sk, mergedInto',
        ConsistentRead: true,
      });
      if (items.length === 0) return counts;
      let conflicted = false;
      for (let i = 0; i < items.length; i += CHUNK) {
        const chunk = items.slice(i, i + CHUNK);
        const removed: Partial<Record<keyof ErasureCounts, number>> = {};
        for (const item of chunk) {
          const counter = counterOf(item);
          removed[counter] = (removed[counter] ?? 0) + 1;
        }
        const written = await this.transact([
          ...chunk.map(
            (item): TransactItem => ({
              Delete: {
                TableName: tableName,
                Key: { pk: item.pk, sk: item.sk },
                ConditionExpression: 'attribute_exists(pk)',
              },
            }),
          ),
          this.receipts.countUpdate(receiptId, removed),
        ]);
        if (written) counts = addCounts(counts, removed);
        else conflicted = true;
      }
      if (!conflicted) return counts;
    }
    throw new Error('items kept changing while being erased');
  }

  private async eraseMemberships(
    receiptId: string,
    key: string,
    pseudonym: string,
    now: number,
  ): Promise<Partial<ErasureCounts>> {
    const table = this.tables.memberships;
    const keys = membershipItemKeys;
    const { Item: state } = await this.client.send(
      new GetCommand({
        TableName: table,
        Key: { pk: keys.member(key), sk: keys.stateSk },
        ConsistentRead: true,
      }),
    );
    if (!state) return {};
    const stamps = new Map<string, number>();
    for (const [name, value] of Object.entries(state)) {
      if (name.startsWith(keys.stampPrefix)) {
        stamps.set(name.slice(keys.stampPrefix.length), Number(value));
      }
    }
    const segments = new Set<string>([
      ...((state.segments as string[] | undefined) ?? []),
      ...((state.withheld as string[] | undefined) ?? []),
      ...stamps.keys(),
    ]);
    const shard = segmentShardOf(key);
    const seq = Number(state.version ?? 0) + 1;
    let counts = noCounts;
    for (const segmentId of [...segments].sort()) {
      const row = { pk: keys.rows(segmentId, shard), sk: key };
      const { Item: member } = await this.client.send(
        new GetCommand({ TableName: table, Key: row, ConsistentRead: true }),
      );
      if (member) {
        // The exit, under the pseudonym, after the member's last entry in the segment.
        const at = Math.max(now, (stamps.get(segmentId) ?? 0) + 1);
        const exit = { memberKey: pseudonym, at, seq };
        const written = await this.transact([
          { Delete: { TableName: table, Key: row, ConditionExpression: 'attribute_exists(pk)' } },
          {
            Put: {
              TableName: table,
              Item: {
                pk: keys.ledger(segmentId, shard),
                sk: ledgerKey(exit),
                memberKey: pseudonym,
                change: 'exit',
                at,
                seq,
                cause: { kind: 'erasure' },
              },
            },
          },
          {
            Update: {
              TableName: table,
              Key: { pk: keys.count(segmentId), sk: String(shard) },
              UpdateExpression: 'ADD #count :delta',
              ExpressionAttributeNames: { '#count': 'count' },
              ExpressionAttributeValues: { ':delta': -1 },
            },
          },
          this.receipts.countUpdate(receiptId, { memberships: 1 }),
        ]);
        if (written) counts = addCounts(counts, { memberships: 1 });
      }
      // Withheld (matching but refused for consent): never served, so no ledger entry; the row
      // and its kept count go.
      const withheldRow = { pk: keys.withheld(segmentId, shard), sk: key };
      const { Item: withheld } = await this.client.send(
        new GetCommand({ TableName: table, Key: withheldRow, ConsistentRead: true }),
      );
      if (withheld) {
        const written = await this.transact([
          {
            Delete: {
              TableName: table,
              Key: withheldRow,
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
          {
            Update: {
              TableName: table,
              Key: { pk: keys.count(segmentId), sk: String(shard) },
              UpdateExpression: 'ADD #withheld :delta',
              ExpressionAttributeNames: { '#withheld': 'withheld' },
              ExpressionAttributeValues: { ':delta': -1 },
            },
          },
          this.receipts.countUpdate(receiptId, { memberships: 1 }),
        ]);
        if (written) counts = addCounts(counts, { memberships: 1 });
      }
      counts = addCounts(
        counts,
        await this.pseudonymiseLedger(receiptId, segmentId, shard, key, pseudonym),
      );
    }
    const removedState = await this.transact([
      {
        Delete: {
          TableName: table,
          Key: { pk: keys.member(key), sk: keys.stateSk },
          ConditionExpression: 'attribute_exists(pk)',
        },
      },
      this.receipts.countUpdate(receiptId, { membershipStates: 1 }),
    ]);
    return removedState ? addCounts(counts, { membershipStates: 1 }) : counts;
  }

  /** Rewrites the member's ledger entries in one segment under its pseudonym (same time, seq). */
  private async pseudonymiseLedger(
    receiptId: string,
    segmentId: string,
    shard: number,
    key: string,
    pseudonym: string,
  ): Promise<Partial<ErasureCounts>> {
    const table = this.tables.memberships;
    const entries = await queryAll(this.client, {
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: 'memberKey = :member',
      ExpressionAttributeValues: {
        ':pk': membershipItemKeys.ledger(segmentId, shard),
        ':member': key,
      },
      ConsistentRead: true,
    });
    let rewritten = 0;
    for (let i = 0; i < entries.length; i += CHUNK) {
      const chunk = entries.slice(i, i + CHUNK);
      const written = await this.transact([
        ...chunk.flatMap((entry): TransactItem[] => {
          const at = Number(entry.at);
          const seq = Number(entry.seq);
          return [
            {
              Delete: {
                TableName: table,
                Key: { pk: entry.pk, sk: entry.sk },
                ConditionExpression: 'attribute_exists(pk)',
              },
            },
            {
              Put: {
                TableName: table,
                Item: {
                  ...entry,
                  sk: ledgerKey({ at, memberKey: pseudonym, seq }),
                  memberKey: pseudonym,
                },
              },
            },
          ];
        }),
        this.receipts.countUpdate(receiptId, { ledgerEntries: chunk.length }),
      ]);
      if (written) rewritten += chunk.length;
    }
    return { ledgerEntries: rewritten };
  }

  /** Writes a transaction; false when an item's condition failed (changed meanwhile). */
  private async transact(items: TransactItem[]): Promise<boolean> {
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
      ) {
        return false;
      }
      throw error;
    }
  }
}

function unique(keys: readonly string[]): string[] {
  return [...new Set(keys)].sort();
}
