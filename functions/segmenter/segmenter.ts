import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { profileFromStreamImage } from '../../shared/adapters/profile-store.ts';
import { mapBounded } from '../../shared/async/map-bounded.ts';
import { fieldsRead } from '../../shared/domain/segments/member-input.ts';
import type { SegmentSet } from '../../shared/domain/segments/membership.ts';
import {
  type MembershipStepDeps,
  type MemberToStep,
  stepMember,
} from '../../shared/jobs/membership-step.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface SegmenterDeps extends MembershipStepDeps {
  /** The active segments, compiled (`segments` table). */
  readonly segmentSet: () => Promise<SegmentSet>;
  readonly now: () => number;
  readonly logger: Logger;
  /** @default 16 */
  readonly concurrency?: number;
  /**
   * Which of these member keys are suppressed (erased): their records are skipped, so neither a
   * profile write still in the stream nor the eraser's own deletion of the profile moves them in
   * or out of a segment; the eraser takes them out itself, under their pseudonym
   * (docs/PRIVACY.md).
   * @default nothing is suppressed
   */
  readonly suppressedAmong?: (keys: readonly string[]) => Promise<ReadonlySet<string>>;
}

/** The newest state of one member in a batch. */
type Latest = MemberToStep & { readonly sequence: string };

/**
 * The segmenter: a consumer of the profiles table's stream that keeps segment membership
 * materialised. For each member written in the batch (its newest version only), it re-evaluates
 * the segments reading a field that changed since the member was last evaluated — every segment
 * when the definitions changed — and records each enter and exit once (row, ledger entry and
 * count in one conditional transaction), then the member's new state. A member merged into
 * another (its item became a link) leaves every segment. Records of versions already applied are
 * skipped, so replays change nothing.
 */
export function makeSegmenterHandler(deps: SegmenterDeps) {
  const concurrency = deps.concurrency ?? 16;
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const latest = new Map<string, Latest>();
    for (const record of event.Records) {
      const sequence = record.dynamodb?.SequenceNumber ?? '';
      if (record.eventName === 'REMOVE') {
        const keys = record.dynamodb?.Keys as Record<string, AttributeValue> | undefined;
        const pk = keys?.pk?.S;
        if (keys?.sk?.S === 'profile' && pk?.startsWith('m#')) {
          latest.set(pk.slice(2), { kind: 'gone', memberKey: pk.slice(2), sequence });
        }
        continue;
      }
      let read: ReturnType<typeof profileFromStreamImage>;
      try {
        read = profileFromStreamImage(
          record.dynamodb?.NewImage as Record<string, AttributeValue> | undefined,
        );
      } catch (error) {
        // Retrying cannot make a stored profile readable; the tagger reports it on its side.
        deps.logger.error('profile in the stream unreadable; skipped', { sequence, error });
        continue;
      }
      if (!read) continue;
      if (read.kind === 'link') {
        latest.set(read.memberKey, { kind: 'gone', memberKey: read.memberKey, sequence });
      } else {
        const key = read.profile.memberKey;
        latest.set(key, { kind: 'profile', memberKey: key, profile: read.profile, sequence });
      }
    }
    if (deps.suppressedAmong && latest.size > 0) {
      for (const key of await deps.suppressedAmong([...latest.keys()])) latest.delete(key);
    }
    if (latest.size === 0) return { batchItemFailures: [] };
    const set = await deps.segmentSet();
    const fields = fieldsRead(set);
    const now = deps.now();
    let entered = 0;
    let exited = 0;
    const failed: string[] = [];
    await mapBounded([...latest.values()], concurrency, async (item) => {
      try {
        const counts = await stepMember(item, set, now, deps, fields);
        entered += counts.entered;
        exited += counts.exited;
      } catch (error) {
        failed.push(item.sequence);
        deps.logger.error('memberships not updated; the batch will be retried from this member', {
          memberKey: item.memberKey,
          error,
        });
      }
    });
    deps.logger.info('segmenter', {
      records: event.Records.length,
      members: latest.size,
      segments: set.ordered.length,
      entered,
      exited,
      failed: failed.length,
    });
    const first = failed.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))[0];
    return { batchItemFailures: first ? [{ itemIdentifier: first }] : [] };
  };
}
