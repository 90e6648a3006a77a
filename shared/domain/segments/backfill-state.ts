/**
 * The state of the automatic backfill, as pure data: the job the backfiller advances
 * (`shared/jobs/backfill-job.ts`) and what each segment shows of it in the segments API.
 */

/** One parallel-scan part of a backfill: where its scan stands. */
export interface BackfillPart {
  /** The scan's next start key; absent before the first page. */
  readonly cursor?: Record<string, unknown>;
  readonly done: number;
  readonly finished: boolean;
}

/**
 * The automatic backfill of one set of segment definitions, kept in the segments table: every
 * member is stepped against the set once, part by part, and a job for an older set is dropped
 * when the set changes.
 */
export interface BackfillJob {
  /** `SegmentSet.tag` of the set the job brings every member up to. */
  readonly setTag: string;
  /** The version of each active segment of the set. */
  readonly versions: Readonly<Record<string, number>>;
  /** Segments new or edited since the previous job's set: the ones waiting for their members. */
  readonly changed: readonly string[];
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly parts: readonly BackfillPart[];
  readonly entered: number;
  readonly exited: number;
  readonly failed: number;
  /** Bumped by every save; a save is conditioned on it, so two runners never interleave. */
  readonly rev: number;
}

/** A job's state as the segments API shows it for one segment. */
export type BackfillView =
  | { readonly state: 'incremental' }
  | { readonly state: 'backfill_pending' }
  | {
      readonly state: 'backfilling';
      readonly progress: {
        readonly members: number;
        readonly parts: number;
        readonly partsDone: number;
      };
    };

/** The segments a set has that the previous job's set had at another version (or not at all). */
export function changedSince(
  versions: Readonly<Record<string, number>>,
  previous: BackfillJob | undefined,
): string[] {
  // A segment the previous job was still filling, when it was overtaken, is still waiting.
  const unfinished = previous && !previous.finishedAt ? previous.changed : [];
  return Object.keys(versions)
    .filter((id) => previous?.versions[id] !== versions[id] || unfinished.includes(id))
    .sort();
}

/** What a segment at `version` shows of the backfill `job`. */
export function backfillView(
  job: BackfillJob | undefined,
  id: string,
  version: number,
): BackfillView {
  if (!job || job.versions[id] !== version) return { state: 'backfill_pending' };
  if (job.finishedAt || !job.changed.includes(id)) return { state: 'incremental' };
  return {
    state: 'backfilling',
    progress: {
      members: job.parts.reduce((sum, part) => sum + part.done, 0),
      parts: job.parts.length,
      partsDone: job.parts.filter((part) => part.finished).length,
    },
  };
}
