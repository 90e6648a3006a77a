import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { profilesTable } from '../../infra/declarations/tables.ts';
import type { TagHistoryEntry } from '../domain/tags/advance.ts';
import type { TagValue } from '../domain/tags/evaluate.ts';
import {
  type ProfileState,
  ProfileStateError,
  profileFromJson,
  profileToJson,
} from '../domain/tags/profile.ts';

/** A member's stored profile, as the tagger, the sweeper and the member API see it. */
export interface StoredProfile {
  readonly memberKey: string;
  readonly state: ProfileState;
  /** The tags at the last evaluation (tag id → `true` or the value). */
  readonly tags: Readonly<Record<string, TagValue>>;
  /**
   * Per source partition key of the events table (`u#…`, `a#…`), the last stream sequence
   * number folded into `state`; records at or below it are already counted.
   */
  readonly appliedSeq: Readonly<Record<string, string>>;
  /** Incremented by every write; the condition of the next one. */
  readonly version: number;
  /** The next instant (epoch ms) a tag can change with no new event; absent when none can. */
  readonly nextChangeAt: number | undefined;
}

/**
 * What an update writes: everything but the key and the version, which the store owns, and the
 * tag changes to record in the member's history in the same transaction.
 */
export type ProfileChange = Omit<StoredProfile, 'memberKey' | 'version'> & {
  readonly history?: readonly TagHistoryEntry[];
};

/** A page of a member's tag history, newest first. */
export interface HistoryPage {
  readonly entries: readonly TagHistoryEntry[];
  /** Opaque; pass back for the next (older) page. Absent on the last page. */
  readonly cursor: string | undefined;
}

/** A member due for re-evaluation by the clock. */
export interface DueMember {
  readonly memberKey: string;
  readonly nextChangeAt: number;
}

/**
 * Computes the next profile from the current one (`undefined` for a member never stored), or
 * returns `undefined` to write nothing. Called again with the fresh item after a conflict, so it
 * must be pure.
 */
export type ProfileUpdate = (current: StoredProfile | undefined) => ProfileChange | undefined;

export type ApplyOutcome =
  | {
      readonly status: 'written';
      readonly profile: StoredProfile;
      /** Attempts made, 1 when no concurrent writer interfered. */
      readonly attempts: number;
      readonly writeUnits: number;
    }
  | { readonly status: 'unchanged'; readonly profile: StoredProfile | undefined };

/** Another writer changed the member every time between our read and our write. */
export class ProfileWriteConflictError extends Error {
  readonly code = 'profile_write_conflict';
  override readonly name = 'ProfileWriteConflictError';
  constructor(memberKey: string, attempts: number) {
    super(`Profile ${memberKey} changed under every one of ${attempts} conditional writes`);
  }
}

const KEY_PREFIX = 'm#';
const PROFILE_SK = 'profile';
const HISTORY_PREFIX = 'h#';
const dueIndex = profilesTable.indexes[0];

/** Shards of the due index: each Query reads one; writes of one instant spread over all. */
export const DUE_SHARDS = 16;

/** The due-index shard of a member: FNV-1a of its key, so a member always lands on the same one. */
export function dueShardOf(memberKey: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < memberKey.length; i += 1) {
    hash ^= memberKey.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % DUE_SHARDS;
}

/** A history cursor that was not made by this store. */
export class InvalidCursorError extends Error {
  readonly code = 'invalid_cursor';
  override readonly name = 'InvalidCursorError';
}

/**
 * The profiles table, the only code that knows its item layout: one item per member, `pk` =
 * `m#<memberKey>`; `state` is the profile's JSON text (a string rather than a map: buckets are
 * nested arrays and trait values any JSON, which DynamoDB maps store awkwardly and bill by
 * attribute name); `tags` and `appliedSeq` are maps so other readers can project them; `version`
 * makes every write conditional; `nextChangeAt` is absent when no tag can change by time alone,
 * so an index on it stays sparse.
 */
export class ProfileStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly maxAttempts = 5,
  ) {}

  /** The member's profile, or `undefined` when none is stored. Throws `ProfileStateError` on a corrupt item. */
  async get(memberKey: string): Promise<StoredProfile | undefined> {
    const { Item: item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: itemKey(memberKey), ConsistentRead: true }),
    );
    return item ? fromItem(memberKey, item) : undefined;
  }

  /**
   * Reads the member, asks `update` for the next profile and writes it on condition that the
   * version is still the one read; on a conflict, reads again and retries, up to the store's
   * attempt limit (then `ProfileWriteConflictError`).
   */
  async apply(memberKey: string, update: ProfileUpdate): Promise<ApplyOutcome> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      const current = await this.get(memberKey);
      const change = update(current);
      if (change === undefined) return { status: 'unchanged', profile: current };
      const { history: _history, ...stored } = change;
      const profile: StoredProfile = {
        ...stored,
        memberKey,
        version: (current?.version ?? 0) + 1,
      };
      const condition: {
        ConditionExpression: string;
        ExpressionAttributeNames: Record<string, string>;
        ExpressionAttributeValues?: Record<string, unknown>;
      } = current
        ? {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': current.version },
          }
        : {
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': 'pk' },
          };
      const history = change.history ?? [];
      try {
        let writeUnits: number;
        if (history.length === 0) {
          const result = await this.client.send(
            new PutCommand({
              TableName: this.tableName,
              Item: toItem(profile),
              ...condition,
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          writeUnits = result.ConsumedCapacity?.CapacityUnits ?? 0;
        } else {
          // The profile and its history entry land together or not at all.
          const result = await this.client.send(
            new TransactWriteCommand({
              TransactItems: [
                { Put: { TableName: this.tableName, Item: toItem(profile), ...condition } },
                {
                  Put: {
                    TableName: this.tableName,
                    Item: historyItem(memberKey, profile.version, history),
                  },
                },
              ],
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          writeUnits = (result.ConsumedCapacity ?? []).reduce(
            (sum, used) => sum + (used.CapacityUnits ?? 0),
            0,
          );
        }
        return { status: 'written', profile, attempts: attempt, writeUnits };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new ProfileWriteConflictError(memberKey, this.maxAttempts);
  }

  /** The member's tag history, newest first, `limit` entries a page. */
  async history(memberKey: string, limit: number, cursor?: string): Promise<HistoryPage> {
    const startKey = cursor === undefined ? undefined : decodeCursor(memberKey, cursor);
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :history)',
        ExpressionAttributeValues: { ':pk': itemKey(memberKey).pk, ':history': HISTORY_PREFIX },
        ScanIndexForward: false,
        Limit: limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    const entries: TagHistoryEntry[] = [];
    for (const item of result.Items ?? []) {
      for (const entry of (item.entries ?? []) as TagHistoryEntry[]) entries.push(entry);
    }
    const last = result.LastEvaluatedKey;
    return {
      entries: entries.sort((a, b) => b.at - a.at),
      cursor:
        last && typeof last.sk === 'string'
          ? Buffer.from(last.sk, 'utf8').toString('base64url')
          : undefined,
    };
  }

  /**
   * Members of one due-index shard whose `nextChangeAt` is at or before `now`, earliest first,
   * page by page (pass the returned `next` back). Eventually consistent, as every index read is:
   * the sweeper re-reads each member before it writes.
   */
  async due(
    shard: number,
    now: number,
    limit: number,
    start?: Record<string, unknown>,
  ): Promise<{ members: DueMember[]; next: Record<string, unknown> | undefined }> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: dueIndex.name,
        KeyConditionExpression: '#shard = :shard AND #at <= :now',
        ExpressionAttributeNames: {
          '#shard': dueIndex.partitionKey.name,
          '#at': dueIndex.sortKey.name,
        },
        ExpressionAttributeValues: { ':shard': shard, ':now': now },
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const members: DueMember[] = [];
    for (const item of result.Items ?? []) {
      const pk = item.pk;
      const at = item[dueIndex.sortKey.name];
      if (typeof pk === 'string' && pk.startsWith(KEY_PREFIX) && typeof at === 'number') {
        members.push({ memberKey: pk.slice(KEY_PREFIX.length), nextChangeAt: at });
      }
    }
    return { members, next: result.LastEvaluatedKey };
  }
}

function isConditionFailure(error: unknown): boolean {
  if (error instanceof ConditionalCheckFailedException) return true;
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed')
  );
}

function historyItem(
  memberKey: string,
  version: number,
  entries: readonly TagHistoryEntry[],
): Record<string, unknown> {
  const at = entries[0]?.at ?? 0;
  return {
    pk: itemKey(memberKey).pk,
    // Sorted by time, then by the profile version that wrote it: unique per member.
    sk: `${HISTORY_PREFIX}${String(at).padStart(15, '0')}#${String(version).padStart(12, '0')}`,
    entries,
  };
}

function decodeCursor(memberKey: string, cursor: string): Record<string, string> {
  const sk = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!sk.startsWith(HISTORY_PREFIX) || !/^h#\d{15}#\d{12}$/.test(sk)) {
    throw new InvalidCursorError('The cursor is not one this API returned.');
  }
  return { pk: itemKey(memberKey).pk, sk };
}

function itemKey(memberKey: string): { pk: string; sk: string } {
  return { pk: `${KEY_PREFIX}${memberKey}`, sk: PROFILE_SK };
}

function toItem(profile: StoredProfile): Record<string, unknown> {
  return {
    ...itemKey(profile.memberKey),
    state: JSON.stringify(profileToJson(profile.state)),
    tags: { ...profile.tags },
    appliedSeq: { ...profile.appliedSeq },
    version: profile.version,
    // Both index keys only while a tag can change by time: the due index stays sparse.
    ...(profile.nextChangeAt !== undefined
      ? {
          [dueIndex.sortKey.name]: profile.nextChangeAt,
          [dueIndex.partitionKey.name]: dueShardOf(profile.memberKey),
        }
      : {}),
  };
}

function fromItem(memberKey: string, item: Record<string, unknown>): StoredProfile {
  if (typeof item.state !== 'string' || typeof item.version !== 'number') {
    throw new ProfileStateError(`item for ${memberKey} lacks state or version`);
  }
  let json: unknown;
  try {
    json = JSON.parse(item.state);
  } catch {
    throw new ProfileStateError(`state of ${memberKey} is not JSON`);
  }
  return {
    memberKey,
    state: profileFromJson(json),
    tags: (item.tags ?? {}) as Record<string, TagValue>,
    appliedSeq: (item.appliedSeq ?? {}) as Record<string, string>,
    version: item.version,
    nextChangeAt: typeof item.nextChangeAt === 'number' ? item.nextChangeAt : undefined,
  };
}
