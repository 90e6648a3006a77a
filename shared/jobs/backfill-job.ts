import { mapBounded } from '../async/map-bounded.ts';
import { type BackfillJob, changedSince } from '../domain/segments/backfill-state.ts';
import { fieldsRead } from '../domain/segments/member-input.ts';
import type { SegmentSet } from '../domain/segments/membership.ts';
import { type BackfillDeps, stepStoredMember } from './backfill-segments.ts';
import type { MembershipStepDeps } from './membership-step.ts';

export interface BackfillJobDeps
  extends Pick<BackfillDeps, 'scanMembers' | 'resolveProfile'>,
    MembershipStepDeps {
  /** The active segments' heads' versions, and the set compiled from them. */
  readonly segmentSet: () => Promise<{ set: SegmentSet; versions: Record<string, number> }>;
  readonly loadJob: () => Promise<BackfillJob | undefined>;
  /** Saves `job` if the stored job is still at revision `expectedRev` (0: none); false if not. */
  readonly saveJob: (job: BackfillJob, expectedRev: number) => Promise<boolean>;
  readonly now: () => number;
  /** Scan parts of a new job. @default 4 */
  readonly parts?: number;
  /** Members stepped at once per part. @default 8 */
  readonly concurrency?: number;
}

export interface BackfillRun {
  readonly state: 'idle' | 'running' | 'finished' | 'superseded';
  readonly setTag: string;
  readonly stepped: number;
}

/**
 * Advances the backfill of the current set of segments while `keepGoing()` (checked before each
 * page of each part): starts a
 * job when the set changed since the stored one, then scans its unfinished parts in parallel,
 * stepping each member as the segmenter would and saving each part's cursor after every page,
 * so the next run continues where this one stopped. Safe beside the segmenter and other runs:
 * steps are idempotent, and a save conditioned on the job's revision stops a run that another
 * run or a newer set overtook.
 */
export async function advanceBackfill(
  deps: BackfillJobDeps,
  keepGoing: () => boolean,
): Promise<BackfillRun> {
  const { set, versions } = await deps.segmentSet();
  let job = await deps.loadJob();
  if (!job || job.setTag !== set.tag) {
    const previous = job;
    const fresh: BackfillJob = {
      setTag: set.tag,
      versions,
      changed: changedSince(versions, previous),
      startedAt: new Date(deps.now()).toISOString(),
      parts: Array.from({ length: deps.parts ?? 4 }, () => ({ done: 0, finished: false })),
      entered: 0,
      exited: 0,
      failed: 0,
      rev: (previous?.rev ?? 0) + 1,
    };
    if (!(await deps.saveJob(fresh, previous?.rev ?? 0))) {
      return { state: 'superseded', setTag: set.tag, stepped: 0 };
    }
    job = fresh;
  }
  if (job.finishedAt) return { state: 'idle', setTag: job.setTag, stepped: 0 };

  const fields = fieldsRead(set);
  const concurrency = deps.concurrency ?? 8;
  let current: BackfillJob = job;
  let stepped = 0;
  let superseded = false;
  // Saves are serialised: each part's page ends in one conditional save of the whole job.
  let saving: Promise<void> = Promise.resolve();
  const save = (update: (job: BackfillJob) => BackfillJob) => {
    saving = saving.then(async () => {
      if (superseded) return;
      const next = { ...update(current), rev: current.rev + 1 };
      if (await deps.saveJob(next, current.rev)) current = next;
      else superseded = true;
    });
    return saving;
  };

  const total = job.parts.length;
  await mapBounded(
    job.parts.map((part, index) => ({ part, index })),
    total,
    async ({ part, index }) => {
      if (part.finished) return;
      let cursor = part.cursor;
      while (!superseded && keepGoing()) {
        const page = await deps.scanMembers(index, total, cursor);
        let entered = 0;
        let exited = 0;
        let failed = 0;
        await mapBounded(page.memberKeys, concurrency, async (memberKey) => {
          try {
            const counts = await stepStoredMember(memberKey, set, deps, fields);
            entered += counts.entered;
            exited += counts.exited;
          } catch {
            // The member's next profile write steps it again; the job counts it and goes on.
            failed += 1;
          }
        });
        stepped += page.memberKeys.length;
        cursor = page.next;
        const finished = cursor === undefined;
        await save((job) => ({
          ...job,
          parts: job.parts.map((p, i) =>
            i === index
              ? { ...(cursor ? { cursor } : {}), done: p.done + page.memberKeys.length, finished }
              : p,
          ),
          entered: job.entered + entered,
          exited: job.exited + exited,
          failed: job.failed + failed,
        }));
        if (finished) return;
      }
    },
  );
  await saving;
  if (superseded) return { state: 'superseded', setTag: job.setTag, stepped };
  if (current.parts.every((part) => part.finished)) {
    await save((job) => ({ ...job, finishedAt: new Date(deps.now()).toISOString() }));
    await saving;
    return { state: superseded ? 'superseded' : 'finished', setTag: job.setTag, stepped };
  }
  return { state: 'running', setTag: job.setTag, stepped };
}
