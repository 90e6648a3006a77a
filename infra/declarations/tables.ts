/**
 * Tables, declared once. The CDK app (`infra/aws`) and the local runtime (`infra/local`) both
 * build their tables from these objects, so a key or stream setting cannot drift between them.
 */

export type KeyType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  readonly name: string;
  readonly type: KeyType;
}

export type StreamView = 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY';

/** A global secondary index; the local runtime and the CDK app both create it. */
export interface IndexDeclaration {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  /** `KEYS_ONLY` projects the table and index keys only. */
  readonly projection: 'KEYS_ONLY' | 'ALL';
}

export interface TableDeclaration {
  /** Stable logical id; also the suffix of the local table name. */
  readonly id: string;
  readonly description: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Attribute holding an epoch-seconds expiry; DynamoDB TTL deletes the item after it. */
  readonly timeToLiveAttribute?: string;
  /** Stream view when the table feeds stream consumers. */
  readonly stream?: StreamView;
  /** Holds data that must survive a stack deletion in prod (removal policy comes from config). */
  readonly stateful: boolean;
  readonly indexes?: readonly IndexDeclaration[];
}

/**
 * Stored events. One item per (member, messageId): `pk` is the member key (`u#userId` or
 * `a#anonymousId`), `sk` the messageId. A conditional put on `attribute_not_exists(pk)` makes a
 * redelivered event a no-op, so the stream carries exactly one INSERT per event.
 */
export const eventsTable = {
  id: 'events',
  description: 'Accepted events, deduplicated by messageId per member; stream feeds consumers',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  stream: 'NEW_AND_OLD_IMAGES',
  stateful: true,
} as const satisfies TableDeclaration;

/** Write keys per source, stored as SHA-256 hashes of the raw key (`pk` = `key#<hex>`). */
export const writeKeysTable = {
  id: 'write-keys',
  description: 'API and write keys per source, hashed; scopes and status',
  partitionKey: { name: 'pk', type: 'S' },
  stateful: true,
} as const satisfies TableDeclaration;

/**
 * Member profiles (`pk` = `m#<memberKey>`, `sk` = `profile`) and their tag history
 * (`sk` = `h#<at>#<version>`), so one Query reads a member and its changes. The sparse `due`
 * index holds only profiles whose tags can change by time alone, spread over shards
 * (`dueShard`), sorted by that instant: the sweeper reads exactly the members that are due.
 * The stream carries every profile write to the historian (and, later, segment membership).
 */
export const profilesTable = {
  id: 'profiles',
  description: 'Member profiles (state, tags, next change) and tag history',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  stream: 'NEW_IMAGE',
  stateful: true,
  indexes: [
    {
      name: 'due',
      partitionKey: { name: 'dueShard', type: 'N' },
      sortKey: { name: 'nextChangeAt', type: 'N' },
      projection: 'KEYS_ONLY',
    },
  ],
} as const satisfies TableDeclaration;

/**
 * Segment definitions: the current head of every segment under one partition (`pk` = `segments`,
 * `sk` = id), so listing them is one Query; every saved version under the segment
 * (`pk` = `seg#<id>`, `sk` = `v#<version>`), kept for audit and `?version=`.
 */
export const segmentsTable = {
  id: 'segments',
  description: 'Segment definitions (current heads and every version)',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  stateful: true,
} as const satisfies TableDeclaration;

/**
 * Materialised segment membership: per member its segments and what they read of it
 * (`mm#<member>`), per segment and shard its members (`sm#<segment>#<shard>`) and ledger of
 * enters and exits (`sl#<segment>#<shard>`), and kept counts (`sc#<segment>`).
 * The stream carries new ledger entries to the webhook notifier.
 */
export const membershipsTable = {
  id: 'memberships',
  description: 'Segment membership: member states, member rows per shard, ledger, counts',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  // New ledger entries feed the webhook notifier.
  stream: 'NEW_IMAGE',
  stateful: true,
} as const satisfies TableDeclaration;

/**
 * Erasures (docs/PRIVACY.md): receipts (`pk` = `r#<receipt>`), suppressed member keys, stored as
 * keyed hashes (`pk` = `s#<hash>`), the pseudonym key those hashes and the ledger's
 * pseudonyms are made with (`pk` = `secret`), and on AWS the KMS-wrapped personal-data key
 * (`pk` = `personal-data-key`, its own partition so ingest and query can be granted it alone).
 * No stream: nothing consumes its changes.
 */
export const erasuresTable = {
  id: 'erasures',
  description: 'Erasure receipts, suppressed member ids (keyed hashes) and the pseudonym key',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  stateful: true,
} as const satisfies TableDeclaration;

/**
 * Nightly analytics results for the API: one item per run (`pk` = `run`, `sk` = runId) with its
 * status and counts, the latest succeeded run (`pk` = `latest`), and per run its RFM summary and
 * persona cards with drift (`pk` = `run#<runId>`, `sk` = `rfm` / `personas`).
 */
export const analyticsTable = {
  id: 'analytics',
  description: 'Nightly analytics runs: status, RFM grid and segment table, persona cards, drift',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  stateful: true,
} as const satisfies TableDeclaration;

/** Every table, in creation order. */
export const tables: ReadonlyArray<TableDeclaration & { readonly id: TableId }> = [
  eventsTable,
  writeKeysTable,
  profilesTable,
  segmentsTable,
  membershipsTable,
  erasuresTable,
  analyticsTable,
];

export type TableId =
  | typeof eventsTable.id
  | typeof writeKeysTable.id
  | typeof profilesTable.id
  | typeof segmentsTable.id
  | typeof membershipsTable.id
  | typeof erasuresTable.id
  | typeof analyticsTable.id;
