import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { RunningReceipt } from '../../shared/adapters/erasure-store.ts';
import type { ErasureTarget } from '../../shared/adapters/member-eraser.ts';
import { type ErasureCounts, removedAnything } from '../../shared/domain/privacy/erasure.ts';
import type { Logger } from '../../shared/logging/logger.ts';
import type { ErasureRequest } from '../erasures/erasures.ts';

/**
 * The port of the event lake: removes every lake row of the given source keys (rewriting the
 * files that hold them) and answers how many rows it removed (`eraseLakeRows` of
 * `shared/jobs/erase-lake-rows.ts`, wired in `handler.ts`; docs/PRIVACY.md § The lake).
 */
export type EraseLakeRows = (keys: readonly string[]) => Promise<number>;

export interface EraserDeps {
  readonly receipt: (id: string) => Promise<RunningReceipt | undefined>;
  /** The member an id names with all its source keys (`MemberEraser.target`). */
  readonly target: (id: string) => Promise<ErasureTarget>;
  readonly start: (
    id: string,
    keys: readonly string[],
    found: boolean,
    at: number,
  ) => Promise<void>;
  readonly suppress: (keys: readonly string[], receiptId: string, at: number) => Promise<void>;
  /** One sweep over every store (`MemberEraser.sweep`); counts land on the receipt as it goes. */
  readonly sweep: (
    receiptId: string,
    keys: readonly string[],
    now: number,
  ) => Promise<ErasureCounts>;
  readonly eraseLakeRows: EraseLakeRows;
  /** Records a sweep and the lake rows it removed on the receipt. */
  readonly sweepDone: (id: string, lakeRows: number) => Promise<void>;
  readonly finish: (
    id: string,
    status: 'done' | 'failed',
    at: number,
    error?: string,
  ) => Promise<void>;
  /** Hides a received message for `seconds` (ChangeMessageVisibility): the wait between sweeps. */
  readonly putOff: (receiptHandle: string, seconds: number) => Promise<void>;
  /** Seconds between sweeps, so stream records in flight land and are swept. */
  readonly settleSeconds: number;
  /** The erasure queue's receive limit: the last receive fails the receipt if it cannot finish. */
  readonly maxReceiveCount: number;
  /** Sweeps after which an erasure is done even if each found something new. @default 5 */
  readonly maxSweeps?: number;
  readonly now: () => number;
  readonly logger: Logger;
}

type Outcome = 'done' | 'again' | 'failed' | 'dropped';

function requestOf(body: string): ErasureRequest | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      typeof (parsed as Record<string, unknown>).receipt === 'string' &&
      typeof (parsed as Record<string, unknown>).id === 'string'
    ) {
      return parsed as ErasureRequest;
    }
  } catch {
    // Reported by the caller.
  }
  return undefined;
}

/**
 * The eraser: runs one erasure per queue message. Each receive resolves (first time) or reads
 * (later) the member's source keys from the receipt, suppresses them, sweeps every store and the
 * lake port, and records the sweep. A sweep that removed something is followed by another after
 * `settleSeconds` (the message is put off and reported failed, so SQS delivers it again): records
 * still in the streams when the first sweep ran land in the meantime. The erasure is done when a
 * sweep finds nothing, or after `maxSweeps`. Every step is idempotent, so a run that dies is
 * resumed by the next receive; on the last receive a failing run marks its receipt failed.
 * Logs carry the receipt, never the id.
 */
export function makeEraserHandler(deps: EraserDeps) {
  const maxSweeps = deps.maxSweeps ?? 5;

  const erase = async (record: SQSRecord): Promise<Outcome> => {
    const request = requestOf(record.body);
    if (!request) {
      deps.logger.error('malformed erasure request; dropped', { sqsMessageId: record.messageId });
      return 'dropped';
    }
    const receipt = await deps.receipt(request.receipt);
    if (!receipt) {
      deps.logger.error('erasure request without a receipt; dropped', {
        receipt: request.receipt,
      });
      return 'dropped';
    }
    if (receipt.status === 'done' || receipt.status === 'failed') return 'done';
    const receiveCount = Number(record.attributes.ApproximateReceiveCount || 1);
    try {
      let keys = receipt.keys;
      if (keys.length === 0) {
        const target = await deps.target(request.id);
        await deps.start(receipt.id, target.keys, target.found, deps.now());
        keys = target.keys;
      }
      await deps.suppress(keys, receipt.id, deps.now());
      const counts = await deps.sweep(receipt.id, keys, deps.now());
      const lakeRows = await deps.eraseLakeRows(keys);
      await deps.sweepDone(receipt.id, lakeRows);
      const sweeps = receipt.sweeps + 1;
      deps.logger.info('erasure sweep', {
        receipt: receipt.id,
        sweep: sweeps,
        ...counts,
        lakeRows,
      });
      if (
        (removedAnything(counts) || lakeRows > 0) &&
        sweeps < maxSweeps &&
        receiveCount < deps.maxReceiveCount
      ) {
        await deps.putOff(record.receiptHandle, deps.settleSeconds);
        return 'again';
      }
      await deps.finish(receipt.id, 'done', deps.now());
      return 'done';
    } catch (error) {
      const last = receiveCount >= deps.maxReceiveCount;
      deps.logger.error(last ? 'erasure failed for the last time' : 'erasure failed; retried', {
        receipt: receipt.id,
        attempt: receiveCount,
        error,
      });
      if (last) {
        await deps
          .finish(receipt.id, 'failed', deps.now(), 'erasure_failed')
          .catch(() => undefined);
      }
      return 'failed';
    }
  };

  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const outcomes = await Promise.all(event.Records.map((record) => erase(record)));
    return {
      batchItemFailures: event.Records.filter(
        (_, i) => outcomes[i] === 'again' || outcomes[i] === 'failed',
      ).map((record) => ({ itemIdentifier: record.messageId })),
    };
  };
}

/** A lake port for deployments without a lake (and tests of the tables alone): nothing to remove. */
export const lakeNotWired: EraseLakeRows = async () => 0;
