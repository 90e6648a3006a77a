/**
 * Erasure, as pure functions: the keyed hashes and pseudonyms that stand in for an erased
 * member, the stores an erasure counts, and the receipt as the API shows it (docs/PRIVACY.md).
 */
import { createHmac, randomBytes } from 'node:crypto';

/** Member keys of erased members in the segment ledger begin so (`e#<pseudonym>`). */
export const ERASED_KEY_PREFIX = 'e#';

/** Whether a member key is the pseudonym of an erased member. */
export function isErasedMemberKey(memberKey: string): boolean {
  return memberKey.startsWith(ERASED_KEY_PREFIX);
}

const hmacHex = (secret: Uint8Array, purpose: string, memberKey: string): string =>
  createHmac('sha256', secret).update(`${purpose}\n${memberKey}`, 'utf8').digest('hex');

/**
 * The keyed hash of a member key (`u#…`, `a#…`) that suppressions and receipts hold instead of
 * the id: without the pseudonym key nobody can test a guessed id against it.
 */
export function memberHash(secret: Uint8Array, memberKey: string): string {
  return hmacHex(secret, 'suppression', memberKey);
}

/**
 * The ledger's stand-in for an erased member: `e#` and 32 hex digits of a keyed hash (another
 * purpose than {@link memberHash}, so the ledger and the suppressions cannot be joined without
 * the key). Stable per member, so the rewritten ledger still replays.
 */
export function pseudonymousKey(secret: Uint8Array, memberKey: string): string {
  return `${ERASED_KEY_PREFIX}${hmacHex(secret, 'ledger', memberKey).slice(0, 32)}`;
}

/** The source keys an API id can name: a userId, else an anonymousId. */
export function candidateKeysOf(id: string): readonly [string, string] {
  return [`u#${id}`, `a#${id}`];
}

/** A new receipt id: `er_` and 22 random base64url characters. */
export function newReceiptId(): string {
  return `er_${randomBytes(16).toString('base64url')}`;
}

/** Whether a string can be a receipt id (checked before any read). */
export function isReceiptId(value: string): boolean {
  return /^er_[A-Za-z0-9_-]{22}$/.test(value);
}

/** What an erasure counts, per store: each is the number of items (or entries) it removed. */
export const erasureCounters = [
  'events',
  'profiles',
  'identityLinks',
  'tagHistory',
  'memberships',
  'ledgerEntries',
  'membershipStates',
] as const;

export type ErasureCounter = (typeof erasureCounters)[number];

export type ErasureCounts = Readonly<Record<ErasureCounter, number>>;

export const noCounts: ErasureCounts = Object.fromEntries(
  erasureCounters.map((counter) => [counter, 0]),
) as Record<ErasureCounter, number>;

/** The sum of two counts. */
export function addCounts(a: ErasureCounts, b: Partial<ErasureCounts>): ErasureCounts {
  return Object.fromEntries(
    erasureCounters.map((counter) => [counter, a[counter] + (b[counter] ?? 0)]),
  ) as Record<ErasureCounter, number>;
}

/** Whether counts removed anything. */
export function removedAnything(counts: Partial<ErasureCounts>): boolean {
  return erasureCounters.some((counter) => (counts[counter] ?? 0) > 0);
}

export type ErasureStatus = 'pending' | 'running' | 'done' | 'failed';

/** A receipt as stored, without personal data but while running the keys being erased. */
export interface ErasureReceipt {
  readonly id: string;
  readonly status: ErasureStatus;
  /** Keyed hash ({@link memberHash}) of the key the request named (`u#<id>`). */
  readonly memberHash: string;
  /** Epoch ms. */
  readonly requestedAt: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  /** Whether anything of the member was stored when the erasure ran. */
  readonly found?: boolean;
  /** Whether the id was already suppressed (erased before) when the erasure was asked for. */
  readonly previouslyErased: boolean;
  /** Sweeps completed. */
  readonly sweeps: number;
  readonly counts: ErasureCounts;
  /**
   * Lake rows removed (every file of the lake rewritten without them), added when each sweep is
   * recorded.
   */
  readonly lakeRows: number;
  /** Source keys suppressed by this erasure (the member and its aliases). */
  readonly suppressedKeys: number;
  /** Why it failed, without personal data. */
  readonly error?: string;
}

/** The receipt as `GET /v1/erasures/{receipt}` shows it. */
export function receiptView(receipt: ErasureReceipt): Record<string, unknown> {
  const iso = (at: number | undefined) =>
    at === undefined ? undefined : new Date(at).toISOString();
  const c = receipt.counts;
  return {
    receipt: receipt.id,
    status: receipt.status,
    memberHash: receipt.memberHash,
    requestedAt: iso(receipt.requestedAt),
    ...(receipt.startedAt !== undefined ? { startedAt: iso(receipt.startedAt) } : {}),
    ...(receipt.finishedAt !== undefined ? { finishedAt: iso(receipt.finishedAt) } : {}),
    ...(receipt.found !== undefined ? { memberFound: receipt.found } : {}),
    previouslyErased: receipt.previouslyErased,
    ...(receipt.status === 'done' || receipt.status === 'failed'
      ? {
          removed: {
            events: { events: c.events },
            profiles: {
              profiles: c.profiles,
              identityLinks: c.identityLinks,
              tagHistory: c.tagHistory,
            },
            memberships: {
              memberships: c.memberships,
              ledgerEntriesPseudonymised: c.ledgerEntries,
              memberStates: c.membershipStates,
            },
            lake: { rows: receipt.lakeRows },
          },
          suppressedIds: receipt.suppressedKeys,
        }
      : {}),
    ...(receipt.error !== undefined ? { error: receipt.error } : {}),
  };
}
