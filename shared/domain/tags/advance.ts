import type { PortraitEvent } from '../../../events/envelope.ts';
import { type ConsentCategoryMap, defaultConsentCategories } from '../consent/consent.ts';
import { diffTags, evaluateTags, type TagChange, type TagValue } from './evaluate.ts';
import { type FoldProblem, foldEvents, trimProfile } from './fold.ts';
import { emptyProfile, mergeProfiles, type ProfileState } from './profile.ts';
import type { RuleCatalogue } from './rule-catalogue.ts';
import { DAY_MS } from './zone-calendar.ts';

/** Why tags changed: new events (by messageId), or time passing with no new event. */
export type TagChangeCause =
  | { readonly kind: 'events'; readonly messageIds: readonly string[] }
  | { readonly kind: 'clock' }
  /** Another id's history (an anonymous visitor's, say) merged into the member. */
  | { readonly kind: 'merge'; readonly from: string; readonly messageIds: readonly string[] }
  /** The rule catalogue changed (a re-evaluation or a rebuild from stored events). */
  | { readonly kind: 'rules' };

/** One recorded step of a member's tag history: every tag that changed at one instant, one cause. */
export interface TagHistoryEntry {
  /** Epoch ms of the evaluation that saw the change. */
  readonly at: number;
  readonly cause: TagChangeCause;
  readonly changes: readonly TagChange[];
}

/** At most this many messageIds are named as the cause of one history entry. */
export const MAX_CAUSE_MESSAGE_IDS = 20;

/** What a member's profile is after `advanceProfile`. */
export interface AdvancedProfile {
  readonly state: ProfileState;
  readonly tags: Readonly<Record<string, TagValue>>;
  readonly nextChangeAt: number | undefined;
  /** Oldest first: a change the clock made before the events arrived, then the events' change. */
  readonly history: readonly TagHistoryEntry[];
  readonly problems: number;
  readonly problemSamples: readonly FoldProblem[];
}

/** The stored part of a profile that `advanceProfile` reads. */
export interface ProfileSnapshot {
  readonly state: ProfileState;
  readonly tags: Readonly<Record<string, TagValue>>;
  readonly nextChangeAt: number | undefined;
}

/**
 * Brings a member's profile to instant `now` with `events` folded in, and says which tag changes
 * the clock made and which the events made. If the stored tags were due to change before `now`
 * (the sweeper had not come by yet), that change is recorded first, with the clock as its cause,
 * so history never blames an event for what time did. Pure.
 */
export function advanceProfile(
  current: ProfileSnapshot | undefined,
  events: readonly PortraitEvent[],
  catalogue: RuleCatalogue,
  zone: string,
  now: number,
  consentCategories: ConsentCategoryMap = defaultConsentCategories,
): AdvancedProfile {
  const history: TagHistoryEntry[] = [];
  let tags = current?.tags ?? {};
  let state = current?.state ?? emptyProfile(catalogue, zone);
  if (current && current.nextChangeAt !== undefined && current.nextChangeAt <= now) {
    const byClock = evaluateTags(state, catalogue, now, zone).tags;
    const changes = diffTags(tags, byClock);
    if (changes.length > 0) history.push({ at: now, cause: { kind: 'clock' }, changes });
    tags = byClock;
  }
  let problems = 0;
  let problemSamples: readonly FoldProblem[] = [];
  if (events.length > 0) {
    const folded = foldEvents(state, events, catalogue, zone, consentCategories);
    state = folded.state;
    problems = folded.problems;
    problemSamples = folded.problemSamples;
  }
  const evaluation = evaluateTags(state, catalogue, now, zone);
  const changes = diffTags(tags, evaluation.tags);
  if (changes.length > 0) {
    history.push({
      at: now,
      cause:
        events.length > 0
          ? {
              kind: 'events',
              messageIds: events.slice(0, MAX_CAUSE_MESSAGE_IDS).map((event) => event.messageId),
            }
          : { kind: 'clock' },
      changes,
    });
  }
  return {
    state: trimProfile(state, catalogue, now, zone),
    tags: evaluation.tags,
    nextChangeAt: evaluation.nextChangeAt,
    history,
    problems,
    problemSamples,
  };
}

/** Whether `advanceProfile` changed anything that is stored. */
export function tagsOrScheduleChanged(before: ProfileSnapshot, after: AdvancedProfile): boolean {
  return after.history.length > 0 || before.nextChangeAt !== after.nextChangeAt;
}

/** Ids (source keys) one member may gather by identity merges before further merges are refused. */
export const MAX_IDS_PER_MEMBER = 50;

/** A member as identity merging sees it. */
export interface MergeSide extends ProfileSnapshot {
  readonly appliedSeq: Readonly<Record<string, string>>;
  readonly ids: readonly string[];
  readonly replayed?: Readonly<Record<string, number>>;
}

export type MergeResult =
  | {
      readonly kind: 'merge';
      readonly state: ProfileState;
      readonly tags: Readonly<Record<string, TagValue>>;
      readonly nextChangeAt: number | undefined;
      readonly appliedSeq: Readonly<Record<string, string>>;
      readonly ids: readonly string[];
      readonly replayed: Readonly<Record<string, number>>;
      readonly history: readonly TagHistoryEntry[];
    }
  | { readonly kind: 'refuse'; readonly reason: string };

/**
 * The member after the history of `sourceKey` (its profile `source`, if any) is merged into it:
 * the union of both histories, re-evaluated at `now`, with the source's stream positions carried
 * over so records already folded there are never folded again here. Refused when the member
 * would gather more than `maxIds` ids (a runaway merge: one shared device or a bad integration
 * linking everyone). Pure; the caller guarantees it runs once per source (a link is written in
 * the same transaction).
 */
export function mergeMember(
  member: MergeSide | undefined,
  memberKey: string,
  source: MergeSide | undefined,
  sourceKey: string,
  catalogue: RuleCatalogue,
  zone: string,
  now: number,
  maxIds = MAX_IDS_PER_MEMBER,
  causeMessageIds: readonly string[] = [],
): MergeResult {
  const ids = [...new Set([...(member?.ids ?? []), sourceKey, ...(source?.ids ?? [])])]
    .filter((id) => id !== memberKey)
    .sort();
  if (ids.length > maxIds) {
    return {
      kind: 'refuse',
      reason: `${memberKey} would hold ${ids.length} ids, more than the limit of ${maxIds}`,
    };
  }
  const history: TagHistoryEntry[] = [];
  // Bring the member to now first, so a change time made is not blamed on the merge.
  const before = member ? advanceProfile(member, [], catalogue, zone, now) : undefined;
  if (before) history.push(...before.history);
  const memberState = before?.state ?? emptyProfile(catalogue, zone);
  const state = source ? mergeProfiles(memberState, source.state, catalogue) : memberState;
  const evaluation = evaluateTags(state, catalogue, now, zone);
  const changes = diffTags(before?.tags ?? {}, evaluation.tags);
  if (changes.length > 0) {
    history.push({
      at: now,
      cause: { kind: 'merge', from: sourceKey, messageIds: causeMessageIds },
      changes,
    });
  }
  const appliedSeq: Record<string, string> = { ...member?.appliedSeq };
  for (const [key, seq] of Object.entries(source?.appliedSeq ?? {})) {
    const held = appliedSeq[key];
    if (held === undefined || BigInt(seq) > BigInt(held)) appliedSeq[key] = seq;
  }
  return {
    kind: 'merge',
    state: trimProfile(state, catalogue, now, zone),
    tags: evaluation.tags,
    nextChangeAt: evaluation.nextChangeAt,
    appliedSeq,
    ids,
    replayed: { ...member?.replayed, ...source?.replayed },
    history,
  };
}

/**
 * How long after collect received an event its stream record can still reach the tagger: the
 * queue keeps a message (and its dead letter) 14 days, the stream keeps a record 1 day; one day
 * more to spare. Older events were folded (or sent to the on-failure queue) long ago.
 */
export const REPLAY_HORIZON_MS = 16 * DAY_MS;

/**
 * A member rebuilt from its stored events (every id's), re-evaluated at `now` with the current
 * catalogue. Events recent enough that their stream records may still be on the way are listed in
 * `replayed`, so the tagger skips them when they come: the rebuild counts each event once.
 */
export function rebuildProfile(
  current: ProfileSnapshot | undefined,
  events: readonly PortraitEvent[],
  catalogue: RuleCatalogue,
  zone: string,
  now: number,
  consentCategories: ConsentCategoryMap = defaultConsentCategories,
): {
  state: ProfileState;
  tags: Readonly<Record<string, TagValue>>;
  nextChangeAt: number | undefined;
  replayed: Record<string, number>;
  history: TagHistoryEntry[];
  problems: number;
} {
  const folded = foldEvents(
    emptyProfile(catalogue, zone),
    events,
    catalogue,
    zone,
    consentCategories,
  );
  const evaluation = evaluateTags(folded.state, catalogue, now, zone);
  const replayed: Record<string, number> = {};
  for (const event of events) {
    const received = Date.parse(event.receivedAt);
    const until = (Number.isFinite(received) ? received : now) + REPLAY_HORIZON_MS;
    if (until > now) replayed[event.messageId] = until;
  }
  const changes = diffTags(current?.tags ?? {}, evaluation.tags);
  return {
    state: trimProfile(folded.state, catalogue, now, zone),
    tags: evaluation.tags,
    nextChangeAt: evaluation.nextChangeAt,
    replayed,
    history: changes.length > 0 ? [{ at: now, cause: { kind: 'rules' }, changes }] : [],
    problems: folded.problems,
  };
}

/** The member's tags re-evaluated at `now` under the current catalogue, with no event replayed. */
export function reevaluateProfile(
  current: ProfileSnapshot,
  catalogue: RuleCatalogue,
  zone: string,
  now: number,
): AdvancedProfile {
  const evaluation = evaluateTags(current.state, catalogue, now, zone);
  const changes = diffTags(current.tags, evaluation.tags);
  return {
    state: trimProfile(current.state, catalogue, now, zone),
    tags: evaluation.tags,
    nextChangeAt: evaluation.nextChangeAt,
    history: changes.length > 0 ? [{ at: now, cause: { kind: 'rules' }, changes }] : [],
    problems: 0,
    problemSamples: [],
  };
}
