import type { StoredProfile } from '../adapters/profile-store.ts';
import type { SegmentHead } from '../adapters/segment-store.ts';
import { mapBounded } from '../async/map-bounded.ts';
import type { ConsentDefaults } from '../domain/consent/consent.ts';
import { consentsTo, evaluateSegments } from '../domain/segments/evaluate-segment.ts';
import { segmentInputOf } from '../domain/segments/member-input.ts';
import { compareUtf8 } from '../domain/segments/merge-shard-pages.ts';
import type { CompiledSegment, SegmentDefinition } from '../domain/segments/segment-definition.ts';
import type { RuleCatalogue } from '../domain/tags/rule-catalogue.ts';
import type { Logger } from '../logging/logger.ts';
import { activeSegmentSet } from './segment-set.ts';

export interface PreviewDeps {
  /** One page of one parallel-scan part of the profiles (`ProfileStore.scanProfiles`). */
  readonly scanProfiles: (
    part: number,
    parts: number,
    start?: Record<string, unknown>,
  ) => Promise<{ profiles: StoredProfile[]; next: Record<string, unknown> | undefined }>;
  /** Today's segments of each member (`MembershipStore.segmentsOf`). */
  readonly segmentsOf: (memberKeys: readonly string[]) => Promise<Map<string, ReadonlySet<string>>>;
  readonly catalogue: RuleCatalogue;
  readonly zone: string;
  readonly now: () => number;
  /** Per purpose, whether a member who never said consents. @default grantedByDefault */
  readonly consentDefaults?: ConsentDefaults;
}

export interface PreviewOptions {
  /** Parallel-scan parts; each finished part is a uniform sample of the members. @default 16 */
  readonly parts?: number;
  /** Parts scanned at once. @default 4 */
  readonly concurrency?: number;
  /** Member keys to show of each list. @default 20 */
  readonly sampleSize?: number;
}

interface Tally {
  count: number;
  sample: string[];
}

export interface SegmentPreview {
  /**
   * Members it would serve: the definition holds and they consent to its purpose (estimated from
   * the parts scanned when `exact` is false).
   */
  readonly count: number;
  /** Members the definition holds who refused its purpose (estimated likewise). */
  readonly withheld: number;
  readonly exact: boolean;
  /** Share of the members' key space scanned: finished parts / parts. */
  readonly coverage: number;
  /** Members evaluated in the finished parts. */
  readonly scanned: number;
  readonly sample: readonly string[];
  /** Compared with today's membership of the saved segment (absent for a new one). */
  readonly enter: Tally;
  readonly leave: Tally;
}

/**
 * Evaluates a definition not yet saved over the stored members: how many it would hold, a sample,
 * and who would enter and leave compared with the segment's membership today. `ordered` is the
 * set the definition is evaluated in (it and the segments it reads, in evaluation order). The
 * profiles are scanned in parallel parts while `keepGoing()`; when time runs out first, counts
 * are extrapolated from the finished parts (each is a uniform share of the key space) and the
 * answer says it is an estimate.
 */
export async function previewSegment(
  deps: PreviewDeps,
  ordered: readonly CompiledSegment[],
  segmentId: string,
  compareWithToday: boolean,
  keepGoing: () => boolean,
  options: PreviewOptions = {},
): Promise<SegmentPreview> {
  const parts = options.parts ?? 16;
  const sampleSize = options.sampleSize ?? 20;
  const now = deps.now();
  const finished: {
    in: string[];
    withheld: string[];
    enter: string[];
    leave: string[];
    scanned: number;
  }[] = [];
  const purpose = ordered.find((segment) => segment.id === segmentId)?.definition.purpose;
  await mapBounded(
    Array.from({ length: parts }, (_, part) => part),
    options.concurrency ?? 4,
    async (part) => {
      const found = {
        in: [] as string[],
        withheld: [] as string[],
        enter: [] as string[],
        leave: [] as string[],
        scanned: 0,
      };
      let start: Record<string, unknown> | undefined;
      do {
        if (!keepGoing()) return;
        const page = await deps.scanProfiles(part, parts, start);
        start = page.next;
        const today = compareWithToday
          ? await deps.segmentsOf(page.profiles.map((profile) => profile.memberKey))
          : new Map<string, ReadonlySet<string>>();
        for (const profile of page.profiles) {
          const input = segmentInputOf(
            profile.state,
            deps.catalogue,
            deps.zone,
            now,
            deps.consentDefaults,
            profile.analytics,
          );
          const holds = evaluateSegments(ordered, input).get(segmentId)?.in ?? false;
          const consents = purpose === undefined || consentsTo(input, purpose);
          const inNow = holds && consents;
          if (holds && !consents) found.withheld.push(profile.memberKey);
          const inToday = today.get(profile.memberKey)?.has(segmentId) ?? false;
          if (inNow) found.in.push(profile.memberKey);
          if (inNow && !inToday) found.enter.push(profile.memberKey);
          if (!inNow && inToday) found.leave.push(profile.memberKey);
        }
        found.scanned += page.profiles.length;
      } while (start !== undefined);
      finished.push(found);
    },
  );
  const coverage = finished.length / parts;
  const scale = (n: number) => (coverage === 0 ? 0 : Math.round(n / coverage));
  const tally = (pick: (part: (typeof finished)[number]) => string[]): Tally => {
    const all = finished.flatMap(pick).sort(compareUtf8);
    return { count: scale(all.length), sample: all.slice(0, sampleSize) };
  };
  const held = tally((part) => part.in);
  return {
    count: held.count,
    withheld: tally((part) => part.withheld).count,
    exact: finished.length === parts,
    coverage,
    scanned: finished.reduce((sum, part) => sum + part.scanned, 0),
    sample: held.sample,
    enter: tally((part) => part.enter),
    leave: tally((part) => part.leave),
  };
}

/** The segments `id` reads, directly or through others, with it, in evaluation order. */
export function readClosure(ordered: readonly CompiledSegment[], id: string): CompiledSegment[] {
  const byId = new Map(ordered.map((segment) => [segment.id, segment]));
  const needed = new Set<string>();
  const visit = (current: string) => {
    if (needed.has(current)) return;
    needed.add(current);
    for (const read of byId.get(current)?.segmentsRead ?? []) visit(read);
  };
  visit(id);
  return ordered.filter((segment) => needed.has(segment.id));
}

/**
 * The segments a preview of `definition` evaluates: the active set as it would be with the
 * definition saved (the others as they are), reduced to it and what it reads; and the saved head
 * of the same id, if any, to compare with.
 */
export function previewSet(
  active: readonly SegmentHead[],
  definition: SegmentDefinition,
  catalogue: RuleCatalogue,
  logger: Logger,
): { ordered: CompiledSegment[]; saved: SegmentHead | undefined } {
  const saved = active.find((head) => head.id === definition.id);
  // A definition never saved joins the set at version 0.
  const candidate: SegmentHead = saved
    ? { ...saved, definition }
    : {
        id: definition.id,
        version: 0,
        status: 'active',
        definition,
        createdAt: '',
        updatedAt: '',
        updatedBy: '',
      };
  const set = activeSegmentSet(
    [...active.filter((head) => head.id !== definition.id), candidate],
    catalogue,
    logger,
  );
  return { ordered: readClosure(set.ordered, definition.id), saved };
}
