import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { shardOf } from '../domain/keys/shard.ts';
import type { SegmentInput } from '../domain/segments/evaluate-segment.ts';
import type { MembershipState } from '../domain/segments/membership.ts';
import { mergeShardPages, type ShardRead } from '../domain/segments/merge-shard-pages.ts';
import { queryAll } from './dynamo-query.ts';

/** Shards of one segment's members and ledger: writes spread over them, reads merge them. */
export const SEGMENT_SHARDS = 8;

/** The shard of a member in every segment. */
export function segmentShardOf(memberKey: string): number {
  return shardOf(memberKey, SEGMENT_SHARDS);
}

/** A member's memberships as stored, with what the segments read of it when last evaluated. */
export interface StoredMembership extends MembershipState {
  readonly memberKey: string;
  /** The projection of the member's input onto the fields the set reads ({@link projectInput}). */
  readonly input: SegmentInput | undefined;
  /** The profile version last applied: older stream records are skipped. */
  readonly profileVersion: number;
  readonly version: number;
}

/** Why a member entered or left: a profile write (its version), or a definition change. */
export type MembershipCause =
  | { readonly kind: 'profile'; readonly profileVersion: number }
  | { readonly kind: 'definitions'; readonly setTag: string };

/** One entry of a segment's ledger. */
export interface LedgerEntry {
  readonly segmentId: string;
  readonly memberKey: string;
  readonly change: 'enter' | 'exit';
  /** Epoch ms. */
  readonly at: number;
  /** The member state version this change belongs to: orders changes of one instant. */
  readonly seq: number;
  readonly cause: MembershipCause;
}

/** The member's state changed while it was being updated: re-read and retry. */
export class MembershipConflictError extends Error {
  readonly code = 'membership_conflict';
  override readonly name = 'MembershipConflictError';
}

const memberPk = (memberKey: string) => `mm#${memberKey}`;
const rowsPk = (segmentId: string, shard: number) => `sm#${segmentId}#${shard}`;
const ledgerPk = (segmentId: string, shard: number) => `sl#${segmentId}#${shard}`;
const countPk = (segmentId: string) => `sc#${segmentId}`;
const STATE_SK = 'state';

function conditionFailed(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed')
  );
}

/**
 * The memberships table, the only code that knows its layout:
 * - `mm#<member>` / `state`: the member's segments, set tag, input projection, versions;
 * - `sm#<segment>#<shard>` / `<member>`: one row per member in a segment, spread over
 *   {@link SEGMENT_SHARDS} partitions so large segments keep under per-partition limits, and
 *   pages are Queries;
 * - `sl#<segment>#<shard>` / `<at>#<member>`: the ledger of enters and exits;
 * - `sc#<segment>` / `<shard>`: member counts, kept (not counted).
 *
 * Each enter or exit is one transaction of row, ledger entry and count, conditioned on the row's
 * absence (enter) or presence (exit), so a retried step never counts or records a change twice;
 * the member's state is written last, conditioned on its version.
 */
export class MembershipStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async member(memberKey: string): Promise<StoredMembership | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: memberPk(memberKey), sk: STATE_SK },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    return {
      memberKey,
      segments: new Set((Item.segments as string[] | undefined) ?? []),
      setTag: typeof Item.setTag === 'string' ? Item.setTag : undefined,
      input: typeof Item.input === 'string' ? (JSON.parse(Item.input) as SegmentInput) : undefined,
      profileVersion: Number(Item.profileVersion ?? 0),
      version: Number(Item.version ?? 0),
    };
  }

  /**
   * Records one enter or exit. Returns false when it was already recorded (the row was already
   * there for an enter, or already gone for an exit).
   */
  async change(entry: LedgerEntry): Promise<boolean> {
    const shard = segmentShardOf(entry.memberKey);
    const row = { pk: rowsPk(entry.segmentId, shard), sk: entry.memberKey };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            entry.change === 'enter'
              ? {
                  Put: {
                    TableName: this.tableName,
                    Item: { ...row, since: entry.at },
                    ConditionExpression: 'attribute_not_exists(pk)',
                  },
                }
              : {
                  Delete: {
                    TableName: this.tableName,
                    Key: row,
                    ConditionExpression: 'attribute_exists(pk)',
                  },
                },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk: ledgerPk(entry.segmentId, shard),
                  sk: `${String(entry.at).padStart(15, '0')}#${entry.memberKey}#${String(entry.seq).padStart(10, '0')}`,
                  memberKey: entry.memberKey,
                  change: entry.change,
                  at: entry.at,
                  seq: entry.seq,
                  cause: entry.cause,
                },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: countPk(entry.segmentId), sk: String(shard) },
                UpdateExpression: 'ADD #count :delta',
                ExpressionAttributeNames: { '#count': 'count' },
                ExpressionAttributeValues: { ':delta': entry.change === 'enter' ? 1 : -1 },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  /** Writes the member's state on condition that its version is still `previous`'s. */
  async saveMember(
    previous: StoredMembership | undefined,
    next: Omit<StoredMembership, 'version'>,
  ): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: memberPk(next.memberKey),
            sk: STATE_SK,
            segments: [...next.segments].sort(),
            ...(next.setTag ? { setTag: next.setTag } : {}),
            ...(next.input ? { input: JSON.stringify(next.input) } : {}),
            profileVersion: next.profileVersion,
            version: (previous?.version ?? 0) + 1,
          },
          ...(previous
            ? {
                ConditionExpression: '#version = :expected',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':expected': previous.version },
              }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') {
        throw new MembershipConflictError(`memberships of ${next.memberKey} changed meanwhile`);
      }
      throw error;
    }
  }

  /**
   * The segments each of `memberKeys` is in (absent from the answer: in none), by BatchGetItem
   * in chunks of 100, retrying what DynamoDB leaves unprocessed.
   */
  async segmentsOf(memberKeys: readonly string[]): Promise<Map<string, ReadonlySet<string>>> {
    const found = new Map<string, ReadonlySet<string>>();
    const unique = [...new Set(memberKeys)];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] = unique
        .slice(i, i + 100)
        .map((memberKey) => ({ pk: memberPk(memberKey), sk: STATE_SK }));
      for (let attempt = 0; keys.length > 0; attempt += 1) {
        if (attempt > 0) await sleep(Math.min(1_000, 50 * 2 ** attempt));
        if (attempt > 8) throw new Error('BatchGetItem kept leaving keys unprocessed');
        const result = await this.client.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: {
                Keys: keys,
                // SEGMENTS is a DynamoDB reserved word.
                ProjectionExpression: 'pk, #segments',
                ExpressionAttributeNames: { '#segments': 'segments' },
              },
            },
          }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const memberKey = String(item.pk).slice('mm#'.length);
          found.set(memberKey, new Set((item.segments as string[] | undefined) ?? []));
        }
        keys = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return found;
  }

  /** A segment's member count: the sum of its shard counters. */
  async count(segmentId: string): Promise<number> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': countPk(segmentId) },
        ConsistentRead: true,
      }),
    );
    return (page.Items ?? []).reduce((sum, item) => sum + Number(item.count ?? 0), 0);
  }

  /**
   * One page of a segment's members in member-key order (UTF-8 bytes, DynamoDB's order), after
   * `after` (exclusive). Each shard is queried from that key for about `limit / shards` rows (plus
   * a margin) and the answers merged; a shard whose rows run out first while it may hold more is
   * queried again from its last key (`mergeShardPages`). So a page reads about `limit` rows, not
   * `limit` per shard, and stays stable while members come and go elsewhere in the order.
   */
  async page(
    segmentId: string,
    limit: number,
    after?: string,
  ): Promise<{ members: { memberKey: string; since: number }[]; more: boolean }> {
    const { rows, more } = await mergeShardPages(
      SEGMENT_SHARDS,
      limit,
      after,
      (shard, from, shardLimit) => this.shardPage(segmentId, shard, from, shardLimit),
    );
    return { members: rows.map(({ key, since }) => ({ memberKey: key, since })), more };
  }

  /** Up to `limit` member rows of one shard after `after`, in key order. */
  private async shardPage(
    segmentId: string,
    shard: number,
    after: string | undefined,
    limit: number,
  ): Promise<ShardRead<{ key: string; since: number }>> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
        ExpressionAttributeValues: {
          ':pk': rowsPk(segmentId, shard),
          ...(after === undefined ? {} : { ':after': after }),
        },
        Limit: limit,
      }),
    );
    const rows = (page.Items ?? []).map((item) => ({
      key: String(item.sk),
      since: Number(item.since),
    }));
    const last = page.LastEvaluatedKey?.sk;
    return { rows, continueAfter: last === undefined ? undefined : String(last) };
  }

  /**
   * Writes member rows of a segment straight into its shards with `BatchWriteItem` and adds them
   * to the kept counts, with no ledger entries and no member states. A shortcut for benchmarks
   * and tests that need large segments fast; the product enters members with {@link change}.
   * The members must not be in the segment yet (the counts would drift).
   */
  async bulkLoad(
    segmentId: string,
    members: readonly { readonly memberKey: string; readonly since: number }[],
    concurrency = 8,
  ): Promise<void> {
    const perShard = new Map<number, number>();
    const chunks: Record<string, unknown>[][] = [];
    for (let i = 0; i < members.length; i += 25) {
      chunks.push(
        members.slice(i, i + 25).map(({ memberKey, since }) => {
          const shard = segmentShardOf(memberKey);
          perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
          return { PutRequest: { Item: { pk: rowsPk(segmentId, shard), sk: memberKey, since } } };
        }),
      );
    }
    let next = 0;
    const worker = async () => {
      for (let chunk = chunks[next++]; chunk; chunk = chunks[next++]) {
        let requests = chunk;
        for (let attempt = 0; requests.length > 0; attempt += 1) {
          if (attempt > 0) await sleep(Math.min(1_000, 20 * 2 ** attempt));
          if (attempt > 10) throw new Error('BatchWriteItem kept leaving items unprocessed');
          const result = await this.client.send(
            new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }),
          );
          requests = (result.UnprocessedItems?.[this.tableName] ?? []) as Record<string, unknown>[];
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    for (const [shard, added] of perShard) {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: countPk(segmentId), sk: String(shard) },
          UpdateExpression: 'ADD #count :delta',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':delta': added },
        }),
      );
    }
  }

  /** Every member of a segment (all shards), sorted. For tests and exports of small segments. */
  async members(segmentId: string): Promise<string[]> {
    const items = await this.allShards((shard) => rowsPk(segmentId, shard));
    return items.map((item) => String(item.sk)).sort();
  }

  /** A segment's ledger (all shards), oldest first. For tests; the paged API comes next. */
  async ledger(segmentId: string): Promise<LedgerEntry[]> {
    const items = await this.allShards((shard) => ledgerPk(segmentId, shard));
    return items
      .map(
        (item): LedgerEntry => ({
          segmentId,
          memberKey: String(item.memberKey),
          change: item.change === 'exit' ? 'exit' : 'enter',
          at: Number(item.at),
          seq: Number(item.seq),
          cause: item.cause as MembershipCause,
        }),
      )
      .sort(
        (a, b) =>
          a.at - b.at ||
          (a.memberKey < b.memberKey ? -1 : a.memberKey > b.memberKey ? 1 : a.seq - b.seq),
      );
  }

  private async allShards(pk: (shard: number) => string): Promise<Record<string, unknown>[]> {
    const shards = await Promise.all(
      Array.from({ length: SEGMENT_SHARDS }, (_, shard) =>
        queryAll(this.client, {
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk(shard) },
          ConsistentRead: true,
        }),
      ),
    );
    return shards.flat();
  }
}
