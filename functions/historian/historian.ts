import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { changesFromStreamImage } from '../../shared/adapters/profile-store.ts';
import { mapBounded } from '../../shared/async/map-bounded.ts';
import type { TagHistoryEntry } from '../../shared/domain/tags/advance.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface HistorianDeps {
  /** `ProfileStore.recordHistory`: one idempotent put per profile version that changed tags. */
  readonly recordHistory: (
    memberKey: string,
    version: number,
    entries: readonly TagHistoryEntry[],
  ) => Promise<number>;
  readonly logger: Logger;
  /** @default 16 */
  readonly concurrency?: number;
  /**
   * Which of these member keys are suppressed (erased): their changes are not written, so a
   * profile write still in the stream when the member was erased leaves no history behind.
   * @default nothing is suppressed
   */
  readonly suppressedAmong?: (keys: readonly string[]) => Promise<ReadonlySet<string>>;
}

/**
 * The historian: a consumer of the profiles table's stream that copies the tag changes each
 * profile write carries (`changes`) into the member's history. Writes are keyed by the changes'
 * instant and the profile version, so a replayed record rewrites the same item; a failed record
 * is reported, and the event source retries from it.
 */
export function makeHistorianHandler(deps: HistorianDeps) {
  const concurrency = deps.concurrency ?? 16;
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const changed = event.Records.flatMap((record) => {
      if (record.eventName === 'REMOVE') return [];
      const changes = changesFromStreamImage(
        record.dynamodb?.NewImage as Record<string, AttributeValue> | undefined,
      );
      const sequence = record.dynamodb?.SequenceNumber;
      return changes && sequence ? [{ ...changes, sequence }] : [];
    });
    const suppressed = deps.suppressedAmong
      ? await deps.suppressedAmong(changed.map((item) => item.memberKey))
      : new Set<string>();
    const work = changed.filter((item) => !suppressed.has(item.memberKey));
    const failed: string[] = [];
    let writeUnits = 0;
    await mapBounded(work, concurrency, async (item) => {
      try {
        const units = await deps.recordHistory(item.memberKey, item.version, item.entries);
        writeUnits += units;
      } catch (error) {
        failed.push(item.sequence);
        deps.logger.error('tag history not written; the batch will be retried from it', {
          memberKey: item.memberKey,
          version: item.version,
          error,
        });
      }
    });
    deps.logger.info('historian', {
      records: event.Records.length,
      written: work.length - failed.length,
      suppressed: changed.length - work.length,
      writeUnits,
      failed: failed.length,
    });
    // The earliest failure: the event source retries from it (later records are rewritten, harmlessly).
    const first = failed.sort((a, b) =>
      BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0,
    )[0];
    return { batchItemFailures: first ? [{ itemIdentifier: first }] : [] };
  };
}
