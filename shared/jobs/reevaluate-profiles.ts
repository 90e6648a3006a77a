import type { PortraitEvent } from '../../events/envelope.ts';
import type {
  ApplyOutcome,
  ProfileChange,
  ProfileUpdate,
  StoredProfile,
} from '../adapters/profile-store.ts';
import type { ConsentCategoryMap } from '../domain/consent/consent.ts';
import { rebuildProfile, reevaluateProfile } from '../domain/tags/advance.ts';
import { aggregatesNeedingBackfill } from '../domain/tags/profile.ts';
import type { RuleCatalogue } from '../domain/tags/rule-catalogue.ts';
import { forEachMember, type MemberFailure, type ScanMembers } from './for-each-member.ts';

export interface ReevaluateDeps {
  readonly scanMembers: ScanMembers;
  readonly getProfile: (memberKey: string) => Promise<StoredProfile | undefined>;
  readonly applyProfile: (memberKey: string, update: ProfileUpdate) => Promise<ApplyOutcome>;
  /** Every stored event of one events-table partition key. */
  readonly eventsOf: (key: string) => Promise<{ events: PortraitEvent[]; unreadable: number }>;
  readonly catalogue: RuleCatalogue;
  readonly zone: string;
  /** Consent category → purposes (`shared/config/consent.ts`). @default defaultConsentCategories */
  readonly consentCategories?: ConsentCategoryMap;
  readonly now: () => number;
  /** Called after every member; `total` is an estimate when known. */
  readonly onProgress?: (progress: ReevaluateProgress) => void;
  /** Parallel scan segments. @default 4 */
  readonly segments?: number;
  /** Members worked on at once per segment. @default 8 */
  readonly concurrency?: number;
}

export interface ReevaluateProgress {
  readonly done: number;
  readonly rebuilt: number;
  readonly changed: number;
  readonly failed: number;
}

export interface ReevaluateSummary extends ReevaluateProgress {
  /** Stored events that could not be read during rebuilds. */
  readonly unreadable: number;
  readonly failures: readonly MemberFailure[];
}

/** `needed`: rebuild only members missing an aggregate the catalogue added; `all`: every member. */
export type RebuildMode = 'needed' | 'all';

const ATTEMPTS = 5;

/**
 * Re-evaluates every member's tags under the current rule catalogue, and rebuilds from the
 * events table the members that lack an aggregate the catalogue added (or all, on request).
 * Safe while events flow: a rebuild writes only if the member did not change since its events
 * were read, and marks the replayed events so the tagger never counts them twice.
 */
export async function reevaluateProfiles(
  deps: ReevaluateDeps,
  mode: RebuildMode = 'needed',
): Promise<ReevaluateSummary> {
  const segments = deps.segments ?? 4;
  const concurrency = deps.concurrency ?? 8;
  let done = 0;
  let rebuilt = 0;
  let changed = 0;
  let unreadable = 0;

  const one = async (memberKey: string): Promise<void> => {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      const seen = await deps.getProfile(memberKey);
      if (!seen || seen.memberKey !== memberKey) return; // gone, or merged into another meanwhile
      const rebuild =
        mode === 'all' || aggregatesNeedingBackfill(seen.state, deps.catalogue).length > 0;
      let events: PortraitEvent[] = [];
      if (rebuild) {
        const read = await Promise.all([memberKey, ...seen.ids].map((key) => deps.eventsOf(key)));
        events = read.flatMap((part) => part.events);
        unreadable += read.reduce((n, part) => n + part.unreadable, 0);
      }
      const now = deps.now();
      let stale = false;
      let tagsChanged = false;
      await deps.applyProfile(memberKey, (current): ProfileChange | undefined => {
        if (!current || current.version !== seen.version) {
          stale = true;
          return undefined;
        }
        if (rebuild) {
          const next = rebuildProfile(
            current,
            events,
            deps.catalogue,
            deps.zone,
            now,
            deps.consentCategories,
          );
          tagsChanged = next.history.length > 0;
          return {
            state: next.state,
            tags: next.tags,
            nextChangeAt: next.nextChangeAt,
            appliedSeq: current.appliedSeq,
            replayed: { ...current.replayed, ...next.replayed },
            history: next.history,
          };
        }
        const next = reevaluateProfile(current, deps.catalogue, deps.zone, now);
        tagsChanged = next.history.length > 0;
        // Nothing stored would change: no write.
        if (!tagsChanged && next.nextChangeAt === current.nextChangeAt) return undefined;
        return {
          state: next.state,
          tags: next.tags,
          nextChangeAt: next.nextChangeAt,
          appliedSeq: current.appliedSeq,
          history: next.history,
        };
      });
      if (stale) continue; // the tagger wrote meanwhile: read again
      if (rebuild) rebuilt += 1;
      if (tagsChanged) changed += 1;
      return;
    }
    throw new Error(`member kept changing during ${ATTEMPTS} attempts`);
  };

  const failures = await forEachMember(
    deps.scanMembers,
    { segments, concurrency },
    one,
    (failed) => {
      done += 1;
      deps.onProgress?.({ done, rebuilt, changed, failed: failed.length });
    },
  );
  return { done, rebuilt, changed, failed: failures.length, unreadable, failures };
}
