import { mapBounded } from '../async/map-bounded.ts';
import { forEachScanPage } from '../async/scan-segments.ts';

/** One page of one parallel-scan segment of the members (`ProfileStore.scanMembers`). */
export type ScanMembers = (
  segment: number,
  totalSegments: number,
  start?: Record<string, unknown>,
) => Promise<{ memberKeys: string[]; next: Record<string, unknown> | undefined }>;

/** A member a job could not handle, and why. */
export interface MemberFailure {
  readonly memberKey: string;
  readonly error: string;
}

/**
 * Visits every stored member once: `segments` scan segments in parallel, `concurrency` members
 * at a time in each. A member whose visit throws is collected in the answer, not retried, and
 * does not stop the others; `afterEach` runs after every member (progress bars).
 */
export async function forEachMember(
  scan: ScanMembers,
  options: { readonly segments: number; readonly concurrency: number },
  visit: (memberKey: string) => Promise<void>,
  afterEach?: (failures: readonly MemberFailure[]) => void,
): Promise<MemberFailure[]> {
  const failures: MemberFailure[] = [];
  const { segments, concurrency } = options;
  await forEachScanPage(segments, scan, (page) =>
    mapBounded(page.memberKeys, concurrency, async (memberKey) => {
      try {
        await visit(memberKey);
      } catch (error) {
        failures.push({
          memberKey,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      afterEach?.(failures);
    }).then(() => undefined),
  );
  return failures;
}
