import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { eventFromStreamImage } from '../../shared/adapters/event-store.ts';
import type { LakeStore } from '../../shared/domain/analytics/contracts.ts';
import {
  encodeLakeRows,
  LAKE_FILE_SUFFIX,
  type LakeRow,
  lakeDayOf,
  lakeDayPrefix,
  lakeRowIdentity,
  lakeRowOf,
} from '../../shared/domain/analytics/lake-row.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface ArchiverDeps {
  /** The lake: an S3 bucket on AWS, `<dataDir>/lake` locally. */
  readonly lake: LakeStore;
  readonly logger: Logger;
}

const SEQUENCE_NUMBER = /^\d{1,64}$/;

interface DayBatch {
  readonly day: string;
  readonly rows: LakeRow[];
  /** The smallest sequence number among the day's records: where a retry must start. */
  first: bigint;
  firstText: string;
}

/**
 * The lake object of one day's rows of a batch. The name is derived from the rows themselves
 * (the first sequence number, for reading order, and a hash of the rows' identities), so a batch
 * delivered again overwrites its own file; a retry split differently writes other files with
 * copies of the same rows, which compaction and the SQL both drop by identity.
 */
export function archiveKey(day: string, firstSequence: string, rows: readonly LakeRow[]): string {
  const hash = createHash('sha256');
  for (const identity of rows.map(lakeRowIdentity).sort()) hash.update(`${identity}\n`);
  const digest = hash.digest('hex').slice(0, 16);
  return `${lakeDayPrefix(day)}part-${firstSequence.padStart(40, '0')}-${digest}${LAKE_FILE_SUFFIX}`;
}

/**
 * The archiver: copies every INSERT of the events table's stream to the lake, one gzip NDJSON
 * file per (batch, UTC day of the event's timestamp). A day whose write fails is reported with
 * its smallest sequence number, from which the event source retries; the other days' files are
 * rewritten identically on that retry.
 */
export function makeArchiverHandler(deps: ArchiverDeps) {
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const days = new Map<string, DayBatch>();
    let ignored = 0;
    let unreadable = 0;
    for (const record of event.Records) {
      if (record.eventName !== 'INSERT') {
        ignored += 1;
        continue;
      }
      const sequenceText = record.dynamodb?.SequenceNumber;
      const stored = eventFromStreamImage(record.dynamodb?.Keys, record.dynamodb?.NewImage);
      if (sequenceText === undefined || !SEQUENCE_NUMBER.test(sequenceText) || !stored.memberKey) {
        deps.logger.error('stream record without a sequence number or key; skipped', {
          code: 'invalid_stream_record',
          eventID: record.eventID,
          sequenceNumber: sequenceText,
        });
        ignored += 1;
        continue;
      }
      let row: LakeRow;
      let day: string;
      try {
        if (!stored.event) throw new Error('unreadable body');
        row = lakeRowOf(stored.event, stored.memberKey);
        day = lakeDayOf(stored.event);
      } catch {
        // Retrying cannot make a stored body readable: logged with its key, not archived.
        unreadable += 1;
        deps.logger.error('stored event body unreadable; not archived', {
          code: 'unreadable_event',
          memberKey: stored.memberKey,
          messageId: stored.messageId,
          sequenceNumber: sequenceText,
        });
        continue;
      }
      const sequence = BigInt(sequenceText);
      const batch = days.get(day);
      if (!batch) {
        days.set(day, { day, rows: [row], first: sequence, firstText: sequenceText });
      } else {
        batch.rows.push(row);
        if (sequence < batch.first) {
          batch.first = sequence;
          batch.firstText = sequenceText;
        }
      }
    }

    const failures: DayBatch[] = [];
    let files = 0;
    let rows = 0;
    await Promise.all(
      [...days.values()].map(async (batch) => {
        const body = gzipSync(encodeLakeRows(batch.rows));
        try {
          await deps.lake.put(archiveKey(batch.day, batch.firstText, batch.rows), body);
          files += 1;
          rows += batch.rows.length;
        } catch (error) {
          failures.push(batch);
          deps.logger.error('lake write failed; the batch will be retried from this day', {
            day: batch.day,
            sequenceNumber: batch.firstText,
            error,
          });
        }
      }),
    );
    deps.logger.info('archiver', {
      records: event.Records.length,
      ignored,
      unreadable,
      files,
      rows,
      failedDays: failures.length,
    });
    failures.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    return { batchItemFailures: failures.map((f) => ({ itemIdentifier: f.firstText })) };
  };
}
