import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { sqsLimits } from '../../infra/declarations/queues.ts';
import { ledgerEntryFromStreamImage } from '../../shared/adapters/membership-store.ts';
import { isErasedMemberKey } from '../../shared/domain/privacy/erasure.ts';
import {
  type DeliveryLimits,
  defaultDeliveryLimits,
  deliveryBody,
  planDeliveries,
  type WebhookLedgerEntry,
} from '../../shared/domain/webhooks/deliveries.ts';
import type { Logger } from '../../shared/logging/logger.ts';

export interface NotifierDeps {
  /** The ids of a segment's subscriptions (`WebhookStore.list`). */
  readonly subscriptionsOf: (segmentId: string) => Promise<readonly string[]>;
  /** Sends message bodies to the webhook queue; rejects unless every one was accepted. */
  readonly sendBatches: (batches: readonly (readonly string[])[]) => Promise<void>;
  readonly now: () => number;
  readonly logger: Logger;
  /**
   * How long a segment's subscription list is reused. A new subscription receives the changes
   * recorded at most this long after its creation; a deleted one is dropped by the deliverer.
   * @default 10
   */
  readonly cacheSeconds?: number;
  /** @default defaultDeliveryLimits */
  readonly limits?: DeliveryLimits;
}

interface ReadEntry {
  readonly entry: WebhookLedgerEntry;
  readonly sequence: string;
}

/**
 * The notifier: a consumer of the memberships table's stream that turns every new ledger entry
 * (an enter or exit) into webhook deliveries on the webhook queue, one delivery per subscription
 * for the entries of its segment in the batch (cut at `limits`). Other items of the table are
 * ignored (on AWS a filter keeps them away). Delivery ids are deterministic, so a replayed batch
 * sends the same deliveries again, which receivers dedupe. A segment whose subscriptions cannot
 * be read or whose deliveries cannot be queued fails the batch from its earliest record.
 */
export function makeNotifierHandler(deps: NotifierDeps) {
  const cacheMs = (deps.cacheSeconds ?? 10) * 1000;
  const limits = deps.limits ?? defaultDeliveryLimits;
  const cache = new Map<string, { readonly at: number; readonly ids: readonly string[] }>();

  const subscriptionsOf = async (segmentId: string): Promise<readonly string[]> => {
    const now = deps.now();
    const cached = cache.get(segmentId);
    if (cached && now - cached.at < cacheMs) return cached.ids;
    const ids = await deps.subscriptionsOf(segmentId);
    cache.set(segmentId, { at: now, ids });
    return ids;
  };

  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const bySegment = new Map<string, ReadEntry[]>();
    for (const record of event.Records) {
      // A ledger entry is written once and never changed: only inserts are new entries.
      if (record.eventName !== 'INSERT') continue;
      const sequence = record.dynamodb?.SequenceNumber ?? '';
      const entry = ledgerEntryFromStreamImage(
        record.dynamodb?.NewImage as Record<string, AttributeValue> | undefined,
      );
      // Entries of erased members (their exit, their rewritten entries) carry a pseudonym that
      // means nothing to a receiver: they are not sent (docs/PRIVACY.md).
      if (!entry || isErasedMemberKey(entry.memberKey)) continue;
      const list = bySegment.get(entry.segmentId) ?? [];
      list.push({ entry, sequence });
      bySegment.set(entry.segmentId, list);
    }
    const failed: string[] = [];
    let deliveries = 0;
    let entries = 0;
    await Promise.all(
      [...bySegment].map(async ([segmentId, read]) => {
        try {
          const subscriptions = await subscriptionsOf(segmentId);
          if (subscriptions.length === 0) return;
          const planned = planDeliveries(
            read.map(({ entry }) => entry),
            () => subscriptions,
            limits,
          );
          await deps.sendBatches(packBodies(planned.map(deliveryBody)));
          deliveries += planned.length;
          entries += read.length;
        } catch (error) {
          failed.push(...read.map(({ sequence }) => sequence));
          deps.logger.error('webhook deliveries not queued; the batch will be retried', {
            segment: segmentId,
            entries: read.length,
            error,
          });
        }
      }),
    );
    if (bySegment.size > 0) {
      deps.logger.info('notifier', {
        records: event.Records.length,
        segments: bySegment.size,
        entries,
        deliveries,
        failed: failed.length,
      });
    }
    const first = failed.sort((a, b) =>
      BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0,
    )[0];
    return { batchItemFailures: first ? [{ itemIdentifier: first }] : [] };
  };
}

/** Bodies grouped into SendMessageBatch requests within SQS's entry and byte limits. */
export function packBodies(bodies: readonly string[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body, 'utf8');
    if (
      current.length > 0 &&
      (current.length >= sqsLimits.maxBatchEntries || bytes + size > sqsLimits.maxBatchBytes)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
