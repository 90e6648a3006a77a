import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { blockedIdentityValues } from '../../events/catalogue.ts';
import type { PortraitEvent } from '../../events/envelope.ts';
import { eventFromStreamImage } from '../../shared/adapters/event-store.ts';
import type {
  ApplyOutcome,
  MergeDecision,
  MergeOutcome,
  ProfileChange,
  ProfileUpdate,
  StoredProfile,
} from '../../shared/adapters/profile-store.ts';
import { mapBounded } from '../../shared/async/map-bounded.ts';
import type { ConsentCategoryMap } from '../../shared/domain/consent/consent.ts';
import { advanceProfile, mergeMember } from '../../shared/domain/tags/advance.ts';
import type { FoldProblem } from '../../shared/domain/tags/fold.ts';
import type { RuleCatalogue } from '../../shared/domain/tags/rule-catalogue.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface TaggerDeps {
  /** The profiles table (`ProfileStore.apply`): one conditional write per call. */
  readonly applyProfile: (memberKey: string, update: ProfileUpdate) => Promise<ApplyOutcome>;
  /** The profiles table (`ProfileStore.merge`): links a source key to a member, exactly once. */
  readonly mergeIdentity: (
    sourceKey: string,
    intoKey: string,
    combine: (
      member: StoredProfile | undefined,
      source: StoredProfile | undefined,
      memberKey: string,
    ) => MergeDecision,
  ) => Promise<MergeOutcome>;
  readonly catalogue: RuleCatalogue;
  /** The brand's IANA time zone, whose calendar days the windows count. */
  readonly zone: string;
  /** Consent category → purposes (`shared/config/consent.ts`). @default defaultConsentCategories */
  readonly consentCategories?: ConsentCategoryMap;
  /** Epoch ms; read once per batch, so every member of a batch is evaluated at one instant. */
  readonly now: () => number;
  readonly logger: Logger;
  /**
   * Members written at once.
   * @default 16
   */
  readonly concurrency?: number;
  /**
   * Which of these source keys are suppressed (erased members): their records are skipped and
   * their links not made, so a record still in the stream when the member was erased does not
   * bring its profile back (docs/PRIVACY.md). One batched read per stream batch.
   * @default nothing is suppressed
   */
  readonly suppressedAmong?: (keys: readonly string[]) => Promise<ReadonlySet<string>>;
}

/** One INSERT of the events table, reduced to what the tagger needs. */
interface InsertRecord {
  readonly sequenceNumber: bigint;
  readonly sequenceText: string;
  /** `undefined` when the stored body could not be read; the record still counts as applied. */
  readonly event: PortraitEvent | undefined;
}

interface MemberBatch {
  /** The events table partition key (`u#…`, `a#…`), today also the member key. */
  readonly sourceKey: string;
  /** In stream order. */
  records: InsertRecord[];
}

const SEQUENCE_NUMBER = /^\d{1,64}$/;

/**
 * The tagger: folds a batch of the events table's stream into member profiles, one conditional
 * write per member. Idempotent: each profile remembers, per source partition key, the last
 * sequence number it folded, so records delivered again (a replayed batch, or the records after
 * a failed member that the event source retries) are skipped. A member whose write fails is
 * reported with the sequence number of its first record, from which the event source retries.
 */
export function makeTaggerHandler(deps: TaggerDeps) {
  const concurrency = deps.concurrency ?? 16;
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const now = deps.now();
    const { members, ignored, unreadable } = groupInserts(event.Records, deps.logger);
    const links = identityLinks(event.Records, deps.logger);
    const suppressed = deps.suppressedAmong
      ? await deps.suppressedAmong([
          ...members.keys(),
          ...links.flatMap((link) => [link.sourceKey, link.intoKey]),
        ])
      : new Set<string>();
    for (const key of suppressed) members.delete(key);
    const outcomes = await mapBounded([...members.values()], concurrency, async (member) =>
      applyMember(member, now, deps),
    );

    const failures: { sequence: bigint; text: string }[] = [];
    // Identity links after the folds, so a source's events of this batch are in its profile
    // before it is merged. Every link of the batch is attempted again on a retry: a merge that
    // already happened finds the link and changes nothing.
    const merges = await mergeIdentities(
      links.filter((link) => !suppressed.has(link.sourceKey) && !suppressed.has(link.intoKey)),
      now,
      deps,
    );
    for (const failed of merges.failed) failures.push(failed);
    let written = 0;
    let alreadyApplied = 0;
    let conflicts = 0;
    let writeUnits = 0;
    let tagChanges = 0;
    let problems = 0;
    const problemSamples: FoldProblem[] = [];
    for (const outcome of outcomes) {
      if (outcome.status === 'failed') {
        const first = outcome.member.records[0] as InsertRecord;
        failures.push({ sequence: first.sequenceNumber, text: first.sequenceText });
        deps.logger.error('profile not written; the batch will be retried from this member', {
          memberKey: outcome.member.sourceKey,
          sequenceNumber: first.sequenceText,
          error: outcome.error,
        });
        continue;
      }
      if (outcome.result.status === 'unchanged') {
        alreadyApplied += 1;
        continue;
      }
      written += 1;
      conflicts += outcome.result.attempts - 1;
      writeUnits += outcome.result.writeUnits;
      tagChanges += outcome.tagChanges;
      problems += outcome.problems;
      if (problemSamples.length < 5) problemSamples.push(...outcome.problemSamples.slice(0, 5));
    }
    if (problems > 0) {
      deps.logger.warn('event values that fit no rule were skipped', {
        problems,
        samples: problemSamples.slice(0, 5),
      });
    }
    deps.logger.info('tagger', {
      records: event.Records.length,
      ignored,
      unreadable,
      suppressedMembers: suppressed.size,
      members: members.size,
      written,
      alreadyApplied,
      conflicts,
      writeUnits,
      tagChanges,
      failedMembers: failures.length - merges.failed.length,
      merged: merges.merged,
      mergesRefused: merges.refused,
      mergesFailed: merges.failed.length,
    });
    failures.sort((a, b) => (a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : 0));
    return { batchItemFailures: failures.map((failure) => ({ itemIdentifier: failure.text })) };
  };
}

type MemberOutcome =
  | {
      readonly status: 'done';
      readonly member: MemberBatch;
      readonly result: ApplyOutcome;
      readonly tagChanges: number;
      readonly problems: number;
      readonly problemSamples: readonly FoldProblem[];
    }
  | { readonly status: 'failed'; readonly member: MemberBatch; readonly error: unknown };

async function applyMember(
  member: MemberBatch,
  now: number,
  deps: TaggerDeps,
): Promise<MemberOutcome> {
  // Set by the attempt that was written (a conflict reruns the update on the fresh profile).
  let tagChanges = 0;
  let problems = 0;
  let problemSamples: readonly FoldProblem[] = [];
  try {
    const result = await deps.applyProfile(member.sourceKey, (current) => {
      const change = foldMember(current, member, now, deps);
      if (change) {
        tagChanges = (change.next.history ?? []).reduce((n, entry) => n + entry.changes.length, 0);
        problems = change.problems;
        problemSamples = change.problemSamples;
      }
      return change?.next;
    });
    return { status: 'done', member, result, tagChanges, problems, problemSamples };
  } catch (error) {
    return { status: 'failed', member, error };
  }
}

/** The member's next profile with the batch's unapplied records folded in; `undefined` if none. */
function foldMember(
  current: StoredProfile | undefined,
  member: MemberBatch,
  now: number,
  deps: TaggerDeps,
): { next: ProfileChange; problems: number; problemSamples: readonly FoldProblem[] } | undefined {
  const appliedText = current?.appliedSeq[member.sourceKey];
  const applied = appliedText !== undefined ? BigInt(appliedText) : -1n;
  const fresh = member.records.filter((record) => record.sequenceNumber > applied);
  const last = fresh[fresh.length - 1];
  if (last === undefined) return undefined;
  // A rebuild already counted these from the events table; forget them once seen or expired.
  const replayed = { ...current?.replayed };
  const events: PortraitEvent[] = [];
  for (const record of fresh) {
    if (!record.event) continue;
    if (replayed[record.event.messageId] !== undefined) {
      delete replayed[record.event.messageId];
      continue;
    }
    events.push(record.event);
  }
  for (const [messageId, until] of Object.entries(replayed)) {
    if (until <= now) delete replayed[messageId];
  }
  const advanced = advanceProfile(
    current,
    events,
    deps.catalogue,
    deps.zone,
    now,
    deps.consentCategories,
  );
  return {
    next: {
      state: advanced.state,
      tags: advanced.tags,
      appliedSeq: { ...current?.appliedSeq, [member.sourceKey]: last.sequenceText },
      nextChangeAt: advanced.nextChangeAt,
      history: advanced.history,
      ...(current?.replayed ? { replayed } : {}),
    },
    problems: advanced.problems,
    problemSamples: advanced.problemSamples,
  };
}

/** INSERT records grouped by the events table partition key, each group in stream order. */
function groupInserts(
  records: readonly DynamoDBRecord[],
  logger: Logger,
): { members: Map<string, MemberBatch>; ignored: number; unreadable: number } {
  const members = new Map<string, MemberBatch>();
  let ignored = 0;
  let unreadable = 0;
  for (const record of records) {
    if (record.eventName !== 'INSERT') {
      // TTL deletions and (never expected) updates carry no new event.
      ignored += 1;
      continue;
    }
    const sequenceText = record.dynamodb?.SequenceNumber;
    const stored = eventFromStreamImage(record.dynamodb?.Keys, record.dynamodb?.NewImage);
    const sourceKey = stored.memberKey;
    if (sequenceText === undefined || !SEQUENCE_NUMBER.test(sequenceText) || !sourceKey) {
      logger.error('stream record without a sequence number or key; skipped', {
        eventID: record.eventID,
        sequenceNumber: sequenceText,
      });
      ignored += 1;
      continue;
    }
    const event = stored.event;
    if (!event) {
      // Skipped but counted as applied: retrying cannot make a stored body readable.
      unreadable += 1;
      logger.error('stored event body unreadable; skipped', {
        memberKey: sourceKey,
        messageId: stored.messageId,
        sequenceNumber: sequenceText,
      });
    }
    let member = members.get(sourceKey);
    if (!member) {
      member = { sourceKey, records: [] };
      members.set(sourceKey, member);
    }
    member.records.push({ sequenceNumber: BigInt(sequenceText), sequenceText, event });
  }
  for (const member of members.values()) {
    member.records.sort((a, b) =>
      a.sequenceNumber < b.sequenceNumber ? -1 : a.sequenceNumber > b.sequenceNumber ? 1 : 0,
    );
    // A record twice in one batch (never from Lambda; possible from a hand-made redrive) once.
    member.records = member.records.filter(
      (record, i, all) => i === 0 || all[i - 1]?.sequenceNumber !== record.sequenceNumber,
    );
  }
  return { members, ignored, unreadable };
}

/** A link an identify (anonymousId + userId) or an alias (previousId → userId) asks for. */
interface IdentityLink {
  readonly sourceKey: string;
  readonly intoKey: string;
  readonly messageId: string;
  readonly sequenceNumber: bigint;
  readonly sequenceText: string;
}

const blockedIds: ReadonlySet<string> = new Set(blockedIdentityValues);
const usableId = (id: string | undefined): id is string =>
  id !== undefined && !blockedIds.has(id.trim().toLowerCase());

/**
 * The identity links the batch's INSERTs ask for, once each, in stream order. An alias's
 * `previousId` may be an anonymousId or an earlier userId (Segment's spec allows both), so it
 * links both keys.
 */
function identityLinks(records: readonly DynamoDBRecord[], logger: Logger): IdentityLink[] {
  const links = new Map<string, IdentityLink>();
  for (const record of records) {
    if (record.eventName !== 'INSERT') continue;
    const sequenceText = record.dynamodb?.SequenceNumber;
    if (sequenceText === undefined || !SEQUENCE_NUMBER.test(sequenceText)) continue;
    const { event } = eventFromStreamImage(record.dynamodb?.Keys, record.dynamodb?.NewImage);
    if (!event?.userId) continue;
    const sources: string[] = [];
    if (event.type === 'identify' && event.anonymousId !== undefined) {
      sources.push(`a#${event.anonymousId}`);
    }
    if (event.type === 'alias' && event.previousId !== undefined) {
      sources.push(`a#${event.previousId}`, `u#${event.previousId}`);
    }
    if (sources.length === 0) continue;
    const raw = [event.userId, event.anonymousId, event.previousId];
    if (!usableId(event.userId) || raw.some((id) => id !== undefined && !usableId(id))) {
      logger.warn('identity link with a placeholder id ignored', { messageId: event.messageId });
      continue;
    }
    const intoKey = `u#${event.userId}`;
    for (const sourceKey of sources) {
      if (sourceKey === intoKey) continue;
      const id = `${sourceKey}\u0000${intoKey}`;
      if (!links.has(id)) {
        links.set(id, {
          sourceKey,
          intoKey,
          messageId: event.messageId,
          sequenceNumber: BigInt(sequenceText),
          sequenceText,
        });
      }
    }
  }
  return [...links.values()];
}

async function mergeIdentities(
  links: readonly IdentityLink[],
  now: number,
  deps: TaggerDeps,
): Promise<{ merged: number; refused: number; failed: { sequence: bigint; text: string }[] }> {
  let merged = 0;
  let refused = 0;
  const failed: { sequence: bigint; text: string }[] = [];
  // One at a time: links of one batch often share a member, and each merge reads what the last wrote.
  for (const link of links) {
    try {
      const outcome = await deps.mergeIdentity(
        link.sourceKey,
        link.intoKey,
        (member, source, memberKey): MergeDecision => {
          const result = mergeMember(
            member,
            memberKey,
            source,
            link.sourceKey,
            deps.catalogue,
            deps.zone,
            now,
            undefined,
            [link.messageId],
          );
          if (result.kind === 'refuse') return result;
          const { kind: _kind, ...change } = result;
          return { kind: 'merge', change };
        },
      );
      if (outcome.status === 'merged') merged += 1;
      if (outcome.status === 'refused') {
        refused += 1;
        deps.logger.warn('identity merge refused', {
          sourceKey: link.sourceKey,
          memberKey: outcome.memberKey,
          reason: outcome.reason,
        });
      }
      if (outcome.status === 'linked-elsewhere') {
        deps.logger.info('id already belongs to another member; left there', {
          sourceKey: link.sourceKey,
          memberKey: outcome.memberKey,
          asked: link.intoKey,
        });
      }
    } catch (error) {
      failed.push({ sequence: link.sequenceNumber, text: link.sequenceText });
      deps.logger.error('identity merge failed; the batch will be retried from its event', {
        sourceKey: link.sourceKey,
        intoKey: link.intoKey,
        messageId: link.messageId,
        error,
      });
    }
  }
  return { merged, refused, failed };
}
