import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { profilesTable } from '../../infra/declarations/tables.ts';
import type { MemberAnalytics } from '../domain/analytics/member-results.ts';
import { shardOf } from '../domain/keys/shard.ts';
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
  /**
   * Other source keys (`a#…`, `u#…`) whose history was merged into this member; each has a link
   * item pointing here, so their later events fold into this profile.
   */
  readonly ids: readonly string[];
  /**
   * Events a rebuild folded from the events table whose stream records may not have reached the
   * tagger yet: messageId → epoch ms after which no record of it can still come. The tagger skips
   * (and forgets) a record whose messageId is here, so a rebuild never counts an event twice.
   */
  readonly replayed?: Readonly<Record<string, number>>;
  /**
   * The tag changes of the write that made this version; absent when it changed no tag. The
   * historian copies them from the profiles table's stream into history items.
   */
  readonly lastChanges?: readonly TagHistoryEntry[];
  /** The nightly analytics results (RFM, value tier, cluster, persona); written by the write-back. */
  readonly analytics?: MemberAnalytics;
}

/**
 * What an update writes: everything but the key and the version, which the store owns, and the
 * tag changes to record in the member's history (stored with the profile as `lastChanges`).
 */
export type ProfileChange = Omit<
  StoredProfile,
  'memberKey' | 'version' | 'ids' | 'replayed' | 'lastChanges' | 'analytics'
> & {
  /** Kept as it is when absent (only the nightly write-back changes it). */
  readonly analytics?: MemberAnalytics;
  /** Kept as it is when absent. */
  readonly replayed?: Readonly<Record<string, number>>;
  readonly history?: readonly TagHistoryEntry[];
  /** Merged source keys; kept as they are when absent. */
  readonly ids?: readonly string[];
};

/** A page of a member's tag history, newest first. */
export interface HistoryPage {
  readonly entries: readonly TagHistoryEntry[];
  /** Opaque; pass back for the next (older) page. Absent on the last page. */
  readonly cursor: string | undefined;
}

/** What the nightly write-back reads of a member: its stored results and version. */
export interface StoredAnalytics {
  readonly memberKey: string;
  readonly version: number;
  readonly analytics: MemberAnalytics | undefined;
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

/**
 * The profile a change makes of the current one: the next version, the merged ids and replayed
 * events kept when the change does not set them, and the change's history as `lastChanges`.
 */
export function nextStoredProfile(
  memberKey: string,
  current: StoredProfile | undefined,
  change: ProfileChange,
): StoredProfile {
  const { history = [], ...stored } = change;
  const replayed = change.replayed ?? current?.replayed;
  const analytics = change.analytics ?? current?.analytics;
  return {
    ...stored,
    ids: change.ids ?? current?.ids ?? [],
    ...(replayed ? { replayed } : {}),
    ...(analytics ? { analytics } : {}),
    ...(history.length > 0 ? { lastChanges: history } : {}),
    memberKey,
    version: (current?.version ?? 0) + 1,
  };
}

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

/** The item layout above, for the member eraser (`member-eraser.ts`). */
export const profileItemKeys = {
  partitionOf: (key: string) => `${KEY_PREFIX}${key}`,
  profileSk: PROFILE_SK,
  historyPrefix: HISTORY_PREFIX,
} as const;
const dueIndex = profilesTable.indexes[0];

/** Shards of the due index: each Query reads one; writes of one instant spread over all. */
export const DUE_SHARDS = 16;

/** The due-index shard of a member: always the same one for a member. */
export function dueShardOf(memberKey: string): number {
  return shardOf(memberKey, DUE_SHARDS);
}

/** Links followed from a source key to its member before giving up (a merged member's links point at it). */
export const MAX_LINK_HOPS = 8;

/** What `combine` decides when a source key's profile is merged into a member. */
export type MergeDecision =
  | { readonly kind: 'merge'; readonly change: ProfileChange }
  | { readonly kind: 'refuse'; readonly reason: string };

export type MergeOutcome =
  | { readonly status: 'merged'; readonly memberKey: string; readonly writeUnits: number }
  /** Nothing to do: the source already belongs to that member, or is that member. */
  | { readonly status: 'already' | 'same'; readonly memberKey: string }
  /** The source belongs to another member already (e.g. a shared device); left as it is. */
  | { readonly status: 'linked-elsewhere'; readonly memberKey: string }
  | { readonly status: 'refused'; readonly memberKey: string; readonly reason: string };

/** A chain of links longer than `MAX_LINK_HOPS`. */
export class LinkChainTooLongError extends Error {
  readonly code = 'link_chain_too_long';
  override readonly name = 'LinkChainTooLongError';
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

  /**
   * The profile of the member a key belongs to (following identity links), or `undefined` when
   * none is stored. Throws `ProfileStateError` on a corrupt item.
   */
  async get(key: string): Promise<StoredProfile | undefined> {
    return (await this.resolve(key)).profile;
  }

  /** The member a key belongs to, following identity links, and its profile if stored. */
  async resolve(key: string): Promise<{
    memberKey: string;
    profile: StoredProfile | undefined;
  }> {
    let memberKey = key;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop += 1) {
      const item = await this.read(memberKey);
      if (item?.kind !== 'link') return { memberKey, profile: item?.profile };
      memberKey = item.mergedInto;
    }
    throw new LinkChainTooLongError(`More than ${MAX_LINK_HOPS} identity links from ${key}`);
  }

  private async read(
    key: string,
  ): Promise<
    | { kind: 'profile'; profile: StoredProfile }
    | { kind: 'link'; mergedInto: string; version: number }
    | undefined
  > {
    const { Item: item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: itemKey(key), ConsistentRead: true }),
    );
    if (!item) return undefined;
    if (typeof item.mergedInto === 'string' && typeof item.version === 'number') {
      return { kind: 'link', mergedInto: item.mergedInto, version: item.version };
    }
    return { kind: 'profile', profile: fromItem(key, item) };
  }

  /**
   * Merges the history of `sourceKey` into the member `intoKey` belongs to, exactly once: in one
   * transaction the source's item becomes a link to the member and the member's profile becomes
   * `combine(member, source)`, both conditioned on the versions read. A source that is already a
   * link is left alone, so a replayed merge changes nothing.
   */
  async merge(
    sourceKey: string,
    intoKey: string,
    combine: (
      member: StoredProfile | undefined,
      source: StoredProfile | undefined,
      memberKey: string,
    ) => MergeDecision,
  ): Promise<MergeOutcome> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      const target = await this.resolve(intoKey);
      if (target.memberKey === sourceKey) return { status: 'same', memberKey: sourceKey };
      const source = await this.read(sourceKey);
      if (source?.kind === 'link') {
        const owner = (await this.resolve(sourceKey)).memberKey;
        return owner === target.memberKey
          ? { status: 'already', memberKey: owner }
          : { status: 'linked-elsewhere', memberKey: owner };
      }
      const decision = combine(target.profile, source?.profile, target.memberKey);
      if (decision.kind === 'refuse') {
        return { status: 'refused', memberKey: target.memberKey, reason: decision.reason };
      }
      const profile = nextStoredProfile(target.memberKey, target.profile, decision.change);
      const sourceVersion = source?.profile.version;
      try {
        const result = await this.client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    ...itemKey(sourceKey),
                    mergedInto: target.memberKey,
                    version: (sourceVersion ?? 0) + 1,
                  },
                  ...versionCondition(sourceVersion),
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: toItem(profile),
                  ...versionCondition(target.profile?.version),
                },
              },
            ],
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        const writeUnits = (result.ConsumedCapacity ?? []).reduce(
          (sum, used) => sum + (used.CapacityUnits ?? 0),
          0,
        );
        return { status: 'merged', memberKey: target.memberKey, writeUnits };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new ProfileWriteConflictError(sourceKey, this.maxAttempts);
  }

  /**
   * Reads the member `key` belongs to (following identity links), asks `update` for the next
   * profile and writes it on condition that the
   * version is still the one read; on a conflict, reads again and retries, up to the store's
   * attempt limit (then `ProfileWriteConflictError`).
   */
  async apply(key: string, update: ProfileUpdate): Promise<ApplyOutcome> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      const { memberKey, profile: current } = await this.resolve(key);
      const change = update(current);
      if (change === undefined) return { status: 'unchanged', profile: current };
      const profile = nextStoredProfile(memberKey, current, change);
      try {
        // One PutItem, whether or not tags changed: the changes ride in the item, and the
        // historian writes them to history from the table's stream (no transaction to pay for).
        const result = await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: toItem(profile),
            ...versionCondition(current?.version),
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        const writeUnits = result.ConsumedCapacity?.CapacityUnits ?? 0;
        return { status: 'written', profile, attempts: attempt, writeUnits };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new ProfileWriteConflictError(key, this.maxAttempts);
  }

  /**
   * One page of one parallel-scan segment: the member keys of stored profiles (not links, not
   * history). Pass `next` back for the following page.
   */
  async scanMembers(
    segment: number,
    totalSegments: number,
    start?: Record<string, unknown>,
  ): Promise<{ memberKeys: string[]; next: Record<string, unknown> | undefined }> {
    const result = await this.scanProfileItems(segment, totalSegments, start, 'pk');
    const memberKeys: string[] = [];
    for (const item of result.Items ?? []) {
      if (typeof item.pk === 'string') memberKeys.push(item.pk.slice(KEY_PREFIX.length));
    }
    return { memberKeys, next: result.LastEvaluatedKey };
  }

  /**
   * One page of one parallel-scan segment of the member profiles themselves (not links, not
   * history): what a preview evaluates.
   */
  async scanProfiles(
    segment: number,
    totalSegments: number,
    start?: Record<string, unknown>,
  ): Promise<{ profiles: StoredProfile[]; next: Record<string, unknown> | undefined }> {
    const result = await this.scanProfileItems(segment, totalSegments, start);
    const profiles = (result.Items ?? []).flatMap((item) =>
      typeof item.pk === 'string' ? [fromItem(item.pk.slice(KEY_PREFIX.length), item)] : [],
    );
    return { profiles, next: result.LastEvaluatedKey };
  }

  /** One page of a parallel-scan segment of the profile items (members, not links or history). */
  private scanProfileItems(
    segment: number,
    totalSegments: number,
    start: Record<string, unknown> | undefined,
    projection?: string,
  ) {
    return this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        Segment: segment,
        TotalSegments: totalSegments,
        FilterExpression: 'sk = :profile AND attribute_not_exists(mergedInto)',
        ExpressionAttributeValues: { ':profile': PROFILE_SK },
        ...(projection ? { ProjectionExpression: projection } : {}),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
  }

  /**
   * One page of one parallel-scan segment of the member profiles, reading only what the nightly
   * write-back compares: the stored analytics results and the version to write on.
   */
  async scanAnalytics(
    segment: number,
    totalSegments: number,
    start?: Record<string, unknown>,
  ): Promise<{ members: StoredAnalytics[]; next: Record<string, unknown> | undefined }> {
    const result = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        Segment: segment,
        TotalSegments: totalSegments,
        FilterExpression: 'sk = :profile AND attribute_not_exists(mergedInto)',
        ExpressionAttributeValues: { ':profile': PROFILE_SK },
        ProjectionExpression: 'pk, #version, analytics',
        ExpressionAttributeNames: { '#version': 'version' },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const members: StoredAnalytics[] = [];
    for (const item of result.Items ?? []) {
      if (typeof item.pk !== 'string' || typeof item.version !== 'number') continue;
      members.push({
        memberKey: item.pk.slice(KEY_PREFIX.length),
        version: item.version,
        analytics:
          item.analytics && typeof item.analytics === 'object'
            ? (item.analytics as MemberAnalytics)
            : undefined,
      });
    }
    return { members, next: result.LastEvaluatedKey };
  }

  /**
   * One page of one parallel-scan segment of the member profiles' current tags (what persona
   * cards describe members by).
   */
  async scanTags(
    segment: number,
    totalSegments: number,
    start?: Record<string, unknown>,
  ): Promise<{
    members: { memberKey: string; tags: Record<string, TagValue> }[];
    next: Record<string, unknown> | undefined;
  }> {
    const result = await this.scanProfileItems(segment, totalSegments, start, 'pk, tags');
    const members: { memberKey: string; tags: Record<string, TagValue> }[] = [];
    for (const item of result.Items ?? []) {
      if (typeof item.pk !== 'string') continue;
      members.push({
        memberKey: item.pk.slice(KEY_PREFIX.length),
        tags: (item.tags ?? {}) as Record<string, TagValue>,
      });
    }
    return { members, next: result.LastEvaluatedKey };
  }

  /**
   * Sets (or, with `undefined`, removes) a member's analytics results, on condition that its
   * profile is still at `expectedVersion`: a concurrent tagger write makes this return
   * `'conflict'` (read again and retry) instead of being overwritten. The write bumps the version,
   * so the tagger's next conditional write sees it too, and drops the last tag changes from the
   * item so the historian does not record them twice. `'missing'` when the member is gone or
   * became a link.
   */
  async writeAnalytics(
    memberKey: string,
    expectedVersion: number,
    analytics: MemberAnalytics | undefined,
  ): Promise<{ status: 'written'; writeUnits: number } | { status: 'conflict' | 'missing' }> {
    try {
      const result = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: itemKey(memberKey),
          UpdateExpression: analytics
            ? 'SET analytics = :analytics, #version = :next REMOVE changes'
            : 'SET #version = :next REMOVE analytics, changes',
          ConditionExpression:
            'attribute_exists(pk) AND attribute_not_exists(mergedInto) AND #version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: {
            ':expected': expectedVersion,
            ':next': expectedVersion + 1,
            ...(analytics ? { ':analytics': { ...analytics } } : {}),
          },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
      return { status: 'written', writeUnits: result.ConsumedCapacity?.CapacityUnits ?? 0 };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const current = await this.read(memberKey);
      return current?.kind === 'profile' ? { status: 'conflict' } : { status: 'missing' };
    }
  }

  /** How many member profiles are stored (a counting scan; for progress bars). */
  async countMembers(): Promise<number> {
    let count = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          Select: 'COUNT',
          FilterExpression: 'sk = :profile AND attribute_not_exists(mergedInto)',
          ExpressionAttributeValues: { ':profile': PROFILE_SK },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return count;
  }

  /**
   * Writes one history item: the tag changes a profile write made (version `version`). Keyed by
   * the changes' instant and that version, so writing it again changes nothing.
   */
  async recordHistory(
    memberKey: string,
    version: number,
    entries: readonly TagHistoryEntry[],
  ): Promise<number> {
    const result = await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: historyItem(memberKey, version, entries),
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    return result.ConsumedCapacity?.CapacityUnits ?? 0;
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

/** The write condition: the item still has the version read, or still does not exist. */
function versionCondition(version: number | undefined): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  return version !== undefined
    ? {
        ConditionExpression: '#version = :expected',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':expected': version },
      }
    : {
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': 'pk' },
      };
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

/**
 * The tag changes a stream record of the profiles table carries, or `undefined` for a record that
 * carries none (a write that changed no tag, a link, a history item, a removal).
 */
export function changesFromStreamImage(
  image: Record<string, AttributeValue> | undefined,
): { memberKey: string; version: number; entries: TagHistoryEntry[] } | undefined {
  if (!image || image.sk?.S !== PROFILE_SK || !image.changes || !image.version?.N) return undefined;
  const pk = image.pk?.S;
  if (!pk?.startsWith(KEY_PREFIX)) return undefined;
  const { changes } = unmarshall({ changes: image.changes } as Record<string, AttributeValue>);
  if (!Array.isArray(changes) || changes.length === 0) return undefined;
  return {
    memberKey: pk.slice(KEY_PREFIX.length),
    version: Number(image.version.N),
    entries: changes as TagHistoryEntry[],
  };
}

/**
 * What a stream record of the profiles table says about a member: its profile (NEW_IMAGE of a
 * profile item), that its key now links to another member, or nothing (history items).
 */
export function profileFromStreamImage(
  image: Record<string, AttributeValue> | undefined,
):
  | { kind: 'profile'; profile: StoredProfile }
  | { kind: 'link'; memberKey: string; mergedInto: string }
  | undefined {
  if (!image || image.sk?.S !== PROFILE_SK) return undefined;
  const pk = image.pk?.S;
  if (!pk?.startsWith(KEY_PREFIX)) return undefined;
  const memberKey = pk.slice(KEY_PREFIX.length);
  // Lambda delivers binary attributes of stream images base64-encoded (the SDK, as bytes).
  const state = image.state as { B?: Uint8Array | string } | undefined;
  const normalised =
    typeof state?.B === 'string'
      ? { ...image, state: { B: Buffer.from(state.B, 'base64') } as AttributeValue }
      : image;
  const item = unmarshall(normalised);
  if (typeof item.mergedInto === 'string') {
    return { kind: 'link', memberKey, mergedInto: item.mergedInto };
  }
  return { kind: 'profile', profile: fromItem(memberKey, item) };
}

function toItem(profile: StoredProfile): Record<string, unknown> {
  return {
    ...itemKey(profile.memberKey),
    // Deflated: a profile's JSON shrinks to about 40 %, which keeps most items under the 1 KB
    // that one write unit pays for.
    state: deflateRawSync(JSON.stringify(profileToJson(profile.state))),
    ...(profile.lastChanges && profile.lastChanges.length > 0
      ? { changes: profile.lastChanges }
      : {}),
    tags: { ...profile.tags },
    appliedSeq: { ...profile.appliedSeq },
    ...(profile.ids.length > 0 ? { ids: [...profile.ids] } : {}),
    ...(profile.replayed && Object.keys(profile.replayed).length > 0
      ? { replayed: { ...profile.replayed } }
      : {}),
    ...(profile.analytics ? { analytics: { ...profile.analytics } } : {}),
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
  const raw = item.state;
  if (!(typeof raw === 'string' || raw instanceof Uint8Array) || typeof item.version !== 'number') {
    throw new ProfileStateError(`item for ${memberKey} lacks state or version`);
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : inflateRawSync(raw).toString('utf8'));
  } catch {
    throw new ProfileStateError(`state of ${memberKey} is not deflated JSON`);
  }
  return {
    memberKey,
    state: profileFromJson(json),
    tags: (item.tags ?? {}) as Record<string, TagValue>,
    appliedSeq: (item.appliedSeq ?? {}) as Record<string, string>,
    version: item.version,
    nextChangeAt: typeof item.nextChangeAt === 'number' ? item.nextChangeAt : undefined,
    ids: Array.isArray(item.ids) ? (item.ids as string[]) : [],
    ...(item.replayed && typeof item.replayed === 'object'
      ? { replayed: item.replayed as Record<string, number> }
      : {}),
    ...(Array.isArray(item.changes) ? { lastChanges: item.changes as TagHistoryEntry[] } : {}),
    ...(item.analytics && typeof item.analytics === 'object'
      ? { analytics: item.analytics as MemberAnalytics }
      : {}),
  };
}
