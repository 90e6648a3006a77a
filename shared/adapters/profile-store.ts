import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
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

/** What an update writes: everything but the key and the version, which the store owns. */
export type ProfileChange = Omit<StoredProfile, 'memberKey' | 'version'>;

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
      const profile: StoredProfile = {
        ...change,
        memberKey,
        version: (current?.version ?? 0) + 1,
      };
      try {
        const result = await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: toItem(profile),
            ConditionExpression: current ? '#version = :expected' : 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: current ? { '#version': 'version' } : { '#pk': 'pk' },
            ...(current ? { ExpressionAttributeValues: { ':expected': current.version } } : {}),
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        return {
          status: 'written',
          profile,
          attempts: attempt,
          writeUnits: result.ConsumedCapacity?.CapacityUnits ?? 0,
        };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    throw new ProfileWriteConflictError(memberKey, this.maxAttempts);
  }
}

function itemKey(memberKey: string): { pk: string } {
  return { pk: `${KEY_PREFIX}${memberKey}` };
}

function toItem(profile: StoredProfile): Record<string, unknown> {
  return {
    ...itemKey(profile.memberKey),
    state: JSON.stringify(profileToJson(profile.state)),
    tags: { ...profile.tags },
    appliedSeq: { ...profile.appliedSeq },
    version: profile.version,
    ...(profile.nextChangeAt !== undefined ? { nextChangeAt: profile.nextChangeAt } : {}),
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
