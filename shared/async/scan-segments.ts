import { mapBounded } from './map-bounded.ts';

/** One page of one parallel-scan segment: its items and where the next page starts. */
export type ScanPage = { readonly next: Record<string, unknown> | undefined };

/**
 * Reads every page of a parallel scan, its `segments` segments at once, each page in order
 * within its segment, and hands each page to `onPage` before the segment's next is read.
 */
export async function forEachScanPage<P extends ScanPage>(
  segments: number,
  scan: (segment: number, totalSegments: number, start?: Record<string, unknown>) => Promise<P>,
  onPage: (page: P) => void | Promise<void>,
): Promise<void> {
  await mapBounded(
    Array.from({ length: segments }, (_, segment) => segment),
    segments,
    async (segment) => {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await scan(segment, segments, start);
        start = page.next;
        await onPage(page);
      } while (start !== undefined);
    },
  );
}
