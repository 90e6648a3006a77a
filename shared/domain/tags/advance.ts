import type { PortraitEvent } from '../../../events/envelope.ts';
import { diffTags, evaluateTags, type TagChange, type TagValue } from './evaluate.ts';
import { type FoldProblem, foldEvents, trimProfile } from './fold.ts';
import { emptyProfile, type ProfileState } from './profile.ts';
import type { RuleCatalogue } from './rule-catalogue.ts';

/** Why tags changed: new events (by messageId), or time passing with no new event. */
export type TagChangeCause =
  | { readonly kind: 'events'; readonly messageIds: readonly string[] }
  | { readonly kind: 'clock' };

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
    const folded = foldEvents(state, events, catalogue, zone);
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
