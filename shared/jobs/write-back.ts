/**
 * The nightly write-back, one shard at a time: every member profile of one parallel-scan
 * segment of the profiles table is compared with the run's results for it, and only members
 * whose stored results differ are written — new results set, a member no longer in the RFM output
 * cleared. A rerun of the same run finds nothing to write; a tagger write racing a write-back
 * write makes the latter read again and retry (both writes are conditional on the version).
 */
import type { ProfileStore } from '../adapters/profile-store.ts';
import { mapBounded } from '../async/map-bounded.ts';
import { type MemberAnalytics, sameResults } from '../domain/analytics/member-results.ts';

/** What the write-back reads of a member. */
export interface MemberResultsState {
  readonly memberKey: string;
  readonly version: number;
  readonly analytics: MemberAnalytics | undefined;
}

export interface WriteBackDeps {
  /** One page of one parallel-scan segment of the member profiles. */
  readonly scan: (
    segment: number,
    totalSegments: number,
    start?: Record<string, unknown>,
  ) => Promise<{ members: MemberResultsState[]; next: Record<string, unknown> | undefined }>;
  /** The member's current state, `undefined` when it is gone or merged into another. */
  readonly read: (memberKey: string) => Promise<MemberResultsState | undefined>;
  readonly write: (
    memberKey: string,
    expectedVersion: number,
    analytics: MemberAnalytics | undefined,
  ) => Promise<{ status: 'written'; writeUnits: number } | { status: 'conflict' | 'missing' }>;
  /** Writes in flight. @default 16 */
  readonly concurrency?: number;
  /** Conditional write attempts per member before giving up. @default 5 */
  readonly attempts?: number;
}

export interface WriteBackShardInput {
  readonly shard: number;
  readonly shards: number;
  /** The run's results by member key; members absent here have theirs cleared. */
  readonly results: ReadonlyMap<string, MemberAnalytics>;
}

export interface WriteBackCounts {
  /** Profiles read in the shard. */
  readonly scanned: number;
  /** Profiles given new results. */
  readonly written: number;
  /** Profiles whose results were removed (no longer in the RFM output). */
  readonly cleared: number;
  readonly unchanged: number;
  /** Writes retried because the profile changed between read and write. */
  readonly retries: number;
  readonly writeUnits: number;
}

/**
 * Another writer changed a member under every attempt. The message names no member: a failed
 * run's error is kept in its run record, which an erasure does not reach.
 */
export class WriteBackConflictError extends Error {
  readonly code = 'write_back_conflict';
  override readonly name = 'WriteBackConflictError';
}

/** Writes back one shard (`shard` of `shards` parallel-scan segments). */
export async function writeBackShard(
  deps: WriteBackDeps,
  input: WriteBackShardInput,
): Promise<WriteBackCounts> {
  const attempts = deps.attempts ?? 5;
  const counts = { scanned: 0, written: 0, cleared: 0, unchanged: 0, retries: 0, writeUnits: 0 };
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.scan(input.shard, input.shards, start);
    start = page.next;
    counts.scanned += page.members.length;
    await mapBounded(page.members, deps.concurrency ?? 16, async (member) => {
      let current: MemberResultsState | undefined = member;
      for (let attempt = 1; attempt <= attempts; attempt += 1) {
        if (!current) return;
        const wanted = input.results.get(current.memberKey);
        if (sameResults(current.analytics, wanted)) {
          counts.unchanged += 1;
          return;
        }
        const outcome = await deps.write(current.memberKey, current.version, wanted);
        if (outcome.status === 'written') {
          if (wanted) counts.written += 1;
          else counts.cleared += 1;
          counts.writeUnits += outcome.writeUnits;
          return;
        }
        if (outcome.status === 'missing') return;
        counts.retries += 1;
        current = await deps.read(current.memberKey);
      }
      throw new WriteBackConflictError(
        `A profile of shard ${input.shard} changed under every one of ${attempts} write-back attempts`,
      );
    });
  } while (start);
  return counts;
}

/** The profile key of an RFM row's member id (the lake keeps the events table's `u#…` / `a#…`). */
export function memberKeyOfRfm(memberId: string): string {
  return memberId.startsWith('u#') || memberId.startsWith('a#') ? memberId : `u#${memberId}`;
}

/** The write-back's reads and writes on the profile store. */
export function profileStoreWriteBack(
  profiles: Pick<ProfileStore, 'scanAnalytics' | 'get' | 'writeAnalytics'>,
): Pick<WriteBackDeps, 'scan' | 'read' | 'write'> {
  return {
    scan: (segment, total, start) => profiles.scanAnalytics(segment, total, start),
    read: async (memberKey) => {
      const profile = await profiles.get(memberKey);
      return profile && profile.memberKey === memberKey
        ? { memberKey, version: profile.version, analytics: profile.analytics }
        : undefined;
    },
    write: (memberKey, version, analytics) =>
      profiles.writeAnalytics(memberKey, version, analytics),
  };
}
