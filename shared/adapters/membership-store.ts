import { setTimeout as sleep } from 'node:timers/promises';
import { type AttributeValue, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { shardOf } from '../domain/keys/shard.ts';
import type { SegmentInput } from '../domain/segments/evaluate-segment.ts';
import { ledgerKey, ledgerKeyAfter } from '../domain/segments/ledger.ts';
import type { MembershipState, MembershipStatus } from '../domain/segments/membership.ts';
import {
  compareUtf8,
  mergeShardPages,
  type ShardRead,
} from '../domain/segments/merge-shard-pages.ts';
import type { SegmentPurpose } from '../domain/segments/segment-definition.ts';
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

/**
 * Why a member entered or left: a profile write (its version), a definition change, or the
 * member's consent to the segment's purpose withdrawn or granted again (the definition still
 * holding) by a profile write.
 */
export type MembershipCause =
  | { readonly kind: 'profile'; readonly profileVersion: number }
  | { readonly kind: 'definitions'; readonly setTag: string }
  /** The member was erased (docs/PRIVACY.md); the entry's member key is its pseudonym. */
  | { readonly kind: 'erasure' }
  | {
      readonly kind: 'consent_withdrawn' | 'consent_granted';
      readonly purpose: SegmentPurpose;
      readonly profileVersion: number;
    };

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

/** A change to record: the store stamps its time ({@link MembershipStore.change}). */
export type LedgerChangeToRecord = Omit<LedgerEntry, 'at'>;

/**
 * A member's move in one segment between `in`, `withheld` and `out` ({@link
 * MembershipStore.transition}); a move into or out of `in` is also a ledger entry.
 */
export interface MembershipTransitionToRecord {
  readonly segmentId: string;
  readonly memberKey: string;
  /** What the writer believes the status is (the rows are read when they disagree). */
  readonly from: MembershipStatus;
  readonly to: MembershipStatus;
  readonly seq: number;
  readonly cause: MembershipCause;
}

/** A segment's kept counts: members served, and members withheld for want of consent. */
export interface SegmentCounts {
  readonly count: number;
  readonly withheld: number;
}

/** One entry of a ledger page, with its position (the cursor to continue after it). */
export interface LedgerPageEntry extends LedgerEntry {
  readonly key: string;
}

/**
 * How long after its time a ledger entry is settled: every entry stamped at or before
 * `now - LEDGER_SETTLE_MS` is committed, so a reader that stops there never misses one written
 * late. The writer stamps each attempt immediately before sending its transaction, so this holds
 * as long as a transaction commits within this time of being sent.
 */
export const LEDGER_SETTLE_MS = 5_000;

export interface MembershipStoreOptions {
  /** The clock that stamps ledger entries and settles reads. @default Date.now */
  readonly now?: () => number;
  /** @default {@link LEDGER_SETTLE_MS} */
  readonly settleMs?: number;
}

/** More ledger entries than a request may read at once. */
export class LedgerTooLongError extends Error {
  override readonly name = 'LedgerTooLongError';
  constructor(
    readonly segmentId: string,
    readonly max: number,
  ) {
    super(`more than ${max} changes of segment ${segmentId} to read`);
  }
}

/** The member's state changed while it was being updated: re-read and retry. */
export class MembershipConflictError extends Error {
  readonly code = 'membership_conflict';
  override readonly name = 'MembershipConflictError';
}

const memberPk = (memberKey: string) => `mm#${memberKey}`;
const rowsPk = (segmentId: string, shard: number) => `sm#${segmentId}#${shard}`;
/** Members whose definition holds but who refused the purpose: counted, never served. */
const withheldPk = (segmentId: string, shard: number) => `sw#${segmentId}#${shard}`;
/** Partition keys of ledger items begin so (stream filters select them by it). */
export const LEDGER_PK_PREFIX = 'sl#';
const ledgerPk = (segmentId: string, shard: number) => `${LEDGER_PK_PREFIX}${segmentId}#${shard}`;
const countPk = (segmentId: string) => `sc#${segmentId}`;
const STATE_SK = 'state';
/** On the member's state item: the time of its last ledger entry in a segment. */
const stampAttribute = (segmentId: string) => `t#${segmentId}`;

/**
 * The item keys of the layout above, for the member eraser (`member-eraser.ts`), the one other
 * adapter that reads and rewrites a member's items here.
 */
export const membershipItemKeys = {
  member: memberPk,
  rows: rowsPk,
  withheld: withheldPk,
  ledger: ledgerPk,
  count: countPk,
  stateSk: STATE_SK,
  stampPrefix: 't#',
} as const;

/** Which items of a cancelled transaction failed their condition (by index). */
function failedConditions(error: unknown): Set<number> | undefined {
  if (!(error instanceof TransactionCanceledException)) return undefined;
  const failed = new Set<number>();
  (error.CancellationReasons ?? []).forEach((reason, i) => {
    if (reason.Code === 'ConditionalCheckFailed') failed.add(i);
  });
  return failed.size > 0 ? failed : undefined;
}

function ledgerEntryOf(segmentId: string, item: Record<string, unknown>): LedgerPageEntry {
  return {
    segmentId,
    key: String(item.sk),
    memberKey: String(item.memberKey),
    change: item.change === 'exit' ? 'exit' : 'enter',
    at: Number(item.at),
    seq: Number(item.seq),
    cause: item.cause as MembershipCause,
  };
}

/**
 * The memberships table, the only code that knows its layout:
 * - `mm#<member>` / `state`: the member's segments, set tag, input projection, versions;
 * - `sm#<segment>#<shard>` / `<member>`: one row per member in a segment, spread over
 *   {@link SEGMENT_SHARDS} partitions so large segments keep under per-partition limits, and
 *   pages are Queries;
 * - `sw#<segment>#<shard>` / `<member>`: one row per member withheld from a segment (its
 *   definition holds, its purpose was refused): counted, never served;
 * - `sl#<segment>#<shard>` / `<at>#<member>`: the ledger of enters and exits;
 * - `sc#<segment>` / `<shard>`: member and withheld counts, kept (not counted).
 *
 * Each move between in, withheld and out is one transaction of rows, counts and (into or out of
 * in) ledger entry, conditioned on the rows being where the writer believes, so a retried step
 * never counts or records a change twice; the member's state is written last, conditioned on its
 * version.
 */
export class MembershipStore {
  private readonly now: () => number;
  readonly settleMs: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: MembershipStoreOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.settleMs = options.settleMs ?? LEDGER_SETTLE_MS;
  }

  async member(memberKey: string): Promise<StoredMembership | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: memberPk(memberKey), sk: STATE_SK },
        ConsistentRead: true,
      }),
    );
    // An item holding only ledger stamps has no state saved yet.
    if (!Item || Item.version === undefined) return undefined;
    return {
      memberKey,
      segments: new Set((Item.segments as string[] | undefined) ?? []),
      withheld: new Set((Item.withheld as string[] | undefined) ?? []),
      setTag: typeof Item.setTag === 'string' ? Item.setTag : undefined,
      input: typeof Item.input === 'string' ? (JSON.parse(Item.input) as SegmentInput) : undefined,
      profileVersion: Number(Item.profileVersion ?? 0),
      version: Number(Item.version ?? 0),
    };
  }

  /**
   * Records one enter or exit, stamped with the store's clock, and returns the entry as recorded;
   * undefined when it was already recorded (the row was already there for an enter, or already
   * gone for an exit). A {@link transition} from `out` to `in`, or from `in` to `out`.
   */
  async change(entry: LedgerChangeToRecord): Promise<LedgerEntry | undefined> {
    const enter = entry.change === 'enter';
    const { entry: recorded } = await this.transition({
      segmentId: entry.segmentId,
      memberKey: entry.memberKey,
      from: enter ? 'out' : 'in',
      to: enter ? 'in' : 'out',
      seq: entry.seq,
      cause: entry.cause,
    });
    return recorded;
  }

  /**
   * Moves a member between `in`, `withheld` and `out` in one segment, exactly once: one
   * transaction changes the member's row (`in`) or withheld row, the kept counts, and — when it
   * enters or leaves `in` — writes the ledger entry, stamped with the store's clock, and the
   * member's stamp for the segment, on condition that the stamp is older: a member's entries in
   * one segment have strictly increasing times in the order they were committed, whatever the
   * writers' clocks, so replaying the ledger in time order gives the rows. The rows must be in
   * `from` (conditions); when they are already in `to`, nothing is written (`applied: false`: a
   * retried step), and when they are in a third status the move starts from there, so rows,
   * counts and ledger always agree.
   */
  async transition(
    move: MembershipTransitionToRecord,
  ): Promise<{ applied: boolean; entry?: LedgerEntry }> {
    let at = this.now();
    // A writer that believes the move is done already still checks the rows.
    let from =
      move.from === move.to ? await this.status(move.memberKey, move.segmentId) : move.from;
    for (let attempt = 1; ; attempt += 1) {
      if (from === move.to) return { applied: false };
      const ledgered = from === 'in' || move.to === 'in';
      const stamped: LedgerEntry = {
        segmentId: move.segmentId,
        memberKey: move.memberKey,
        change: move.to === 'in' ? 'enter' : 'exit',
        at,
        seq: move.seq,
        cause: move.cause,
      };
      try {
        await this.client.send(this.transitionTransaction(stamped, from, move.to));
        return ledgered ? { applied: true, entry: stamped } : { applied: true };
      } catch (error) {
        const failed = failedConditions(error);
        if (!failed) throw error;
        if (attempt >= 5) throw new MembershipConflictError(`ledger of ${move.memberKey} busy`);
        if (failed.has(0) || failed.has(1)) {
          // The rows are not in `from`: already moved (a retry), or moved by another writer.
          from = await this.status(move.memberKey, move.segmentId);
          continue;
        }
        // The member's stamp is not older: another writer recorded a later change first, or
        // this writer's clock is behind. Stamp after it.
        const stamp = await this.stamp(move.memberKey, move.segmentId);
        at = Math.max(this.now(), stamp + 1);
      }
    }
  }

  /** Where a member's rows put it in a segment. */
  private async status(memberKey: string, segmentId: string): Promise<MembershipStatus> {
    const shard = segmentShardOf(memberKey);
    const read = (pk: string) =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk, sk: memberKey },
          ProjectionExpression: 'pk',
          ConsistentRead: true,
        }),
      );
    const [row, withheld] = await Promise.all([
      read(rowsPk(segmentId, shard)),
      read(withheldPk(segmentId, shard)),
    ]);
    return row.Item ? 'in' : withheld.Item ? 'withheld' : 'out';
  }

  private transitionTransaction(
    entry: LedgerEntry,
    from: MembershipStatus,
    to: MembershipStatus,
  ): TransactWriteCommand {
    const shard = segmentShardOf(entry.memberKey);
    const rowItem = (pk: string, status: MembershipStatus) => {
      const key = { pk, sk: entry.memberKey };
      if (from === status) {
        return {
          Delete: {
            TableName: this.tableName,
            Key: key,
            ConditionExpression: 'attribute_exists(pk)',
          },
        };
      }
      if (to === status) {
        return {
          Put: {
            TableName: this.tableName,
            Item: { ...key, since: entry.at },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        };
      }
      return {
        ConditionCheck: {
          TableName: this.tableName,
          Key: key,
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      };
    };
    const countDelta = (status: MembershipStatus) =>
      (to === status ? 1 : 0) - (from === status ? 1 : 0);
    const deltas = [
      ['count', countDelta('in')],
      ['withheld', countDelta('withheld')],
    ].filter(([, delta]) => delta !== 0) as [string, number][];
    const ledgered = from === 'in' || to === 'in';
    return new TransactWriteCommand({
      TransactItems: [
        rowItem(rowsPk(entry.segmentId, shard), 'in'),
        rowItem(withheldPk(entry.segmentId, shard), 'withheld'),
        {
          Update: {
            TableName: this.tableName,
            Key: { pk: countPk(entry.segmentId), sk: String(shard) },
            UpdateExpression: `ADD ${deltas.map(([name]) => `#${name} :${name}`).join(', ')}`,
            ExpressionAttributeNames: Object.fromEntries(
              deltas.map(([name]) => [`#${name}`, name]),
            ),
            ExpressionAttributeValues: Object.fromEntries(
              deltas.map(([name, delta]) => [`:${name}`, delta]),
            ),
          },
        },
        ...(ledgered
          ? [
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    pk: ledgerPk(entry.segmentId, shard),
                    sk: ledgerKey(entry),
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
                  Key: { pk: memberPk(entry.memberKey), sk: STATE_SK },
                  UpdateExpression: 'SET #stamp = :at',
                  ConditionExpression: 'attribute_not_exists(#stamp) OR #stamp < :at',
                  ExpressionAttributeNames: { '#stamp': stampAttribute(entry.segmentId) },
                  ExpressionAttributeValues: { ':at': entry.at },
                },
              },
            ]
          : []),
      ],
    });
  }

  /** The time of the member's last ledger entry in a segment (0: none). */
  private async stamp(memberKey: string, segmentId: string): Promise<number> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: memberPk(memberKey), sk: STATE_SK },
        ProjectionExpression: '#stamp',
        ExpressionAttributeNames: { '#stamp': stampAttribute(segmentId) },
        ConsistentRead: true,
      }),
    );
    return Number(Item?.[stampAttribute(segmentId)] ?? 0);
  }

  /** Writes the member's state on condition that its version is still `previous`'s. */
  async saveMember(
    previous: StoredMembership | undefined,
    next: Omit<StoredMembership, 'version'>,
  ): Promise<void> {
    try {
      // An update, not a put: the item also holds the member's ledger stamps (`change`).
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: memberPk(next.memberKey), sk: STATE_SK },
          UpdateExpression: `SET #segments = :segments, #withheld = :withheld, #profileVersion = :profileVersion, #version = :version${
            next.setTag ? ', #setTag = :setTag' : ''
          }${next.input ? ', #input = :input' : ''}${
            !next.setTag || !next.input
              ? ` REMOVE ${[!next.setTag ? '#setTag' : '', !next.input ? '#input' : ''].filter(Boolean).join(', ')}`
              : ''
          }`,
          ConditionExpression: previous ? '#version = :expected' : 'attribute_not_exists(#version)',
          ExpressionAttributeNames: {
            '#segments': 'segments',
            '#withheld': 'withheld',
            '#profileVersion': 'profileVersion',
            '#version': 'version',
            '#setTag': 'setTag',
            '#input': 'input',
          },
          ExpressionAttributeValues: {
            ':segments': [...next.segments].sort(),
            ':withheld': [...(next.withheld ?? [])].sort(),
            ':profileVersion': next.profileVersion,
            ':version': (previous?.version ?? 0) + 1,
            ...(next.setTag ? { ':setTag': next.setTag } : {}),
            ...(next.input ? { ':input': JSON.stringify(next.input) } : {}),
            ...(previous ? { ':expected': previous.version } : {}),
          },
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
    for (const [memberKey, held] of await this.membershipsOf(memberKeys)) {
      found.set(memberKey, held.segments);
    }
    return found;
  }

  /**
   * The segments each of `memberKeys` is in and is withheld from (absent from the answer: none),
   * by BatchGetItem in chunks of 100, retrying what DynamoDB leaves unprocessed.
   */
  async membershipsOf(
    memberKeys: readonly string[],
  ): Promise<Map<string, { segments: ReadonlySet<string>; withheld: ReadonlySet<string> }>> {
    const found = new Map<
      string,
      { segments: ReadonlySet<string>; withheld: ReadonlySet<string> }
    >();
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
                ProjectionExpression: 'pk, #segments, #withheld',
                ExpressionAttributeNames: { '#segments': 'segments', '#withheld': 'withheld' },
              },
            },
          }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const memberKey = String(item.pk).slice('mm#'.length);
          found.set(memberKey, {
            segments: new Set((item.segments as string[] | undefined) ?? []),
            withheld: new Set((item.withheld as string[] | undefined) ?? []),
          });
        }
        keys = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return found;
  }

  /** A segment's member count: the sum of its shard counters. */
  async count(segmentId: string): Promise<number> {
    return (await this.counts(segmentId)).count;
  }

  /** A segment's kept counts, served and withheld: the sums of its shard counters. */
  async counts(segmentId: string): Promise<SegmentCounts> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': countPk(segmentId) },
        ConsistentRead: true,
      }),
    );
    let count = 0;
    let withheld = 0;
    for (const item of page.Items ?? []) {
      count += Number(item.count ?? 0);
      withheld += Number(item.withheld ?? 0);
    }
    return { count, withheld };
  }

  /** Every member withheld from a segment (all shards), sorted. For tests and small segments. */
  async withheldMembers(segmentId: string): Promise<string[]> {
    const items = await this.allShards((shard) => withheldPk(segmentId, shard));
    return items.map((item) => String(item.sk)).sort();
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

  /** A segment's whole ledger (all shards), in ledger order. For tests and small segments. */
  async ledger(segmentId: string): Promise<LedgerPageEntry[]> {
    const items = await this.allShards((shard) => ledgerPk(segmentId, shard));
    return items
      .map((item) => ledgerEntryOf(segmentId, item))
      .sort((a, b) => compareUtf8(a.key, b.key));
  }

  /**
   * The instant up to which the ledger is settled ({@link LEDGER_SETTLE_MS}): every entry at or
   * before it is committed.
   */
  settledUntil(): number {
    return this.now() - this.settleMs;
  }

  /**
   * One page of a segment's ledger in ledger order, after the position `after` (a
   * {@link LedgerPageEntry.key}, or from the start) and up to the settled instant: a reader that
   * continues from `next` sees every entry once, in order. `next` is the last entry's key, or,
   * when the settled ledger is read to its end, the position just after the settled instant.
   */
  async ledgerPage(
    segmentId: string,
    limit: number,
    after?: string,
  ): Promise<{ entries: LedgerPageEntry[]; next: string; more: boolean; settledUntil: number }> {
    const settledUntil = this.settledUntil();
    const end = ledgerKeyAfter(settledUntil);
    const from = after ?? '0';
    if (compareUtf8(from, end) >= 0) {
      return { entries: [], next: from, more: false, settledUntil };
    }
    // Every shard read between the position and the settled end: BETWEEN includes `from`, the
    // previous page's last entry, so one more is asked for and that one dropped.
    const { rows, more } = await mergeShardPages(
      SEGMENT_SHARDS,
      limit,
      after,
      async (shard, position, shardLimit) => {
        const start = position ?? from;
        const page = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :end',
            ExpressionAttributeValues: {
              ':pk': ledgerPk(segmentId, shard),
              ':from': start,
              ':end': end,
            },
            Limit: shardLimit + 1,
            ConsistentRead: true,
          }),
        );
        const entries = (page.Items ?? [])
          .map((item) => ledgerEntryOf(segmentId, item))
          .filter((entry) => entry.key !== start);
        const lastRead = page.LastEvaluatedKey?.sk;
        return {
          rows: entries,
          continueAfter: typeof lastRead === 'string' ? lastRead : undefined,
        };
      },
    );
    const last = rows[rows.length - 1];
    return { entries: rows, next: more && last ? last.key : end, more, settledUntil };
  }

  /**
   * Every entry of a segment's ledger after the instant `at`, up to `max` (more: throws
   * {@link LedgerTooLongError}): the changes that separate the membership at `at` from today's.
   */
  async changesAfter(segmentId: string, at: number, max: number): Promise<LedgerPageEntry[]> {
    const from = ledgerKeyAfter(at);
    let total = 0;
    const shards = await Promise.all(
      Array.from({ length: SEGMENT_SHARDS }, async (_, shard) => {
        const entries: LedgerPageEntry[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const page = await this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk AND sk > :from',
              ExpressionAttributeValues: { ':pk': ledgerPk(segmentId, shard), ':from': from },
              ExclusiveStartKey: start,
              ConsistentRead: true,
            }),
          );
          for (const item of page.Items ?? []) entries.push(ledgerEntryOf(segmentId, item));
          total += page.Items?.length ?? 0;
          if (total > max) throw new LedgerTooLongError(segmentId, max);
          start = page.LastEvaluatedKey;
        } while (start);
        return entries;
      }),
    );
    return shards.flat();
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

/**
 * A ledger entry from a memberships stream record's keys and new image (DynamoDB JSON), with
 * `key`, its table keys, stable per entry; undefined for any other item of the table.
 */
export function ledgerEntryFromStreamImage(
  image: Record<string, AttributeValue> | undefined,
): (LedgerEntry & { readonly key: string }) | undefined {
  const pk = image?.pk?.S;
  const sk = image?.sk?.S;
  if (!image || !pk?.startsWith(LEDGER_PK_PREFIX) || sk === undefined) return undefined;
  const item = unmarshall(image);
  const segmentId = pk.slice(LEDGER_PK_PREFIX.length, pk.lastIndexOf('#'));
  if (segmentId === '' || typeof item.memberKey !== 'string') return undefined;
  return {
    key: `${pk}|${sk}`,
    segmentId,
    memberKey: item.memberKey,
    change: item.change === 'exit' ? 'exit' : 'enter',
    at: Number(item.at),
    seq: Number(item.seq),
    cause: item.cause as MembershipCause,
  };
}
