import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { WebhookSubscription } from '../../shared/adapters/webhook-store.ts';
import {
  deliveryMemberKeys,
  deliveryRouteOf,
  retryDelaySeconds,
  withoutSuppressed,
} from '../../shared/domain/webhooks/deliveries.ts';
import {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  signatureHeader,
} from '../../shared/domain/webhooks/signature.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What one POST to a subscriber answered; a network failure or timeout rejects instead. */
export interface PostOutcome {
  readonly status: number;
}

export interface DelivererDeps {
  /** A subscription by key (`WebhookStore.get`); undefined once it was deleted. */
  readonly subscription: (
    segmentId: string,
    hookId: string,
  ) => Promise<WebhookSubscription | undefined>;
  readonly post: (
    url: string,
    body: string,
    headers: Readonly<Record<string, string>>,
    timeoutMs: number,
  ) => Promise<PostOutcome>;
  /** Hides a received message for `seconds` (ChangeMessageVisibility): the retry backoff. */
  readonly putOff: (receiptHandle: string, seconds: number) => Promise<void>;
  /** The first retry delay; doubled per receive. */
  readonly retryBaseSeconds: number;
  /** The queue's receive limit: after the last attempt the message goes to the DLQ at once. */
  readonly maxReceiveCount: number;
  readonly now: () => number;
  readonly logger: Logger;
  /** @default 10_000 */
  readonly timeoutMs?: number;
  /**
   * Which of these source keys are suppressed (erased members). SQS cannot delete queued
   * messages selectively, so a queued delivery is checked when it is sent: its events of
   * suppressed members are left out, and a delivery left with none is dropped.
   * @default nothing is suppressed
   */
  readonly suppressedAmong?: (keys: readonly string[]) => Promise<ReadonlySet<string>>;
}

type Outcome = 'delivered' | 'dropped' | 'failed';

/**
 * The deliverer: consumes the webhook queue and POSTs each delivery, signed with the
 * subscription's current secret, to its current URL. A 2xx answer completes it; anything else
 * (another status, a timeout, a refused connection) puts the message off for the next backoff
 * step and reports it failed, so SQS redelivers it then, and after the queue's receive limit
 * moves it to the dead-letter queue. A delivery whose subscription was deleted is dropped.
 */
export function makeDelivererHandler(deps: DelivererDeps) {
  const timeoutMs = deps.timeoutMs ?? 10_000;

  const deliver = async (record: SQSRecord): Promise<Outcome> => {
    const receiveCount = Number(record.attributes.ApproximateReceiveCount || 1);
    const fail = async (reason: Record<string, unknown>): Promise<Outcome> => {
      const last = receiveCount >= deps.maxReceiveCount;
      const delay = last ? 0 : retryDelaySeconds(receiveCount, deps.retryBaseSeconds);
      deps.logger.warn(
        last
          ? 'webhook delivery failed for the last time; it goes to the dead-letter queue'
          : 'webhook delivery failed; retried later',
        { sqsMessageId: record.messageId, attempt: receiveCount, retryInSeconds: delay, ...reason },
      );
      try {
        await deps.putOff(record.receiptHandle, delay);
      } catch (error) {
        // The queue's own visibility timeout applies instead.
        deps.logger.warn('could not put the delivery off', {
          sqsMessageId: record.messageId,
          error,
        });
      }
      return 'failed';
    };

    let route: ReturnType<typeof deliveryRouteOf>;
    try {
      route = deliveryRouteOf(record.body);
    } catch (error) {
      return fail({ error });
    }
    const subscription = await deps.subscription(route.segment, route.subscription);
    if (!subscription) {
      deps.logger.info('webhook subscription deleted; delivery dropped', {
        delivery: route.id,
        segment: route.segment,
        hookId: route.subscription,
        events: route.events,
      });
      return 'dropped';
    }
    const suppressed = deps.suppressedAmong
      ? await deps.suppressedAmong(deliveryMemberKeys(record.body))
      : new Set<string>();
    const cleaned = withoutSuppressed(record.body, suppressed);
    if (!cleaned) {
      deps.logger.info('every member of the delivery was erased; delivery dropped', {
        delivery: route.id,
        segment: route.segment,
        hookId: route.subscription,
      });
      return 'dropped';
    }
    const body = cleaned.body;
    const timestamp = Math.floor(deps.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Portrait-Webhooks/1',
      [SIGNATURE_HEADER.toLowerCase()]: signatureHeader(subscription.secret, timestamp, body),
      [DELIVERY_HEADER.toLowerCase()]: route.id,
    };
    const context = { delivery: route.id, segment: route.segment, hookId: route.subscription };
    try {
      const { status } = await deps.post(subscription.url, body, headers, timeoutMs);
      if (status >= 200 && status < 300) {
        deps.logger.debug('webhook delivered', { ...context, status, attempt: receiveCount });
        return 'delivered';
      }
      return fail({ ...context, status });
    } catch (error) {
      return fail({ ...context, error });
    }
  };

  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const outcomes = await Promise.all(
      event.Records.map(async (record) => {
        try {
          return await deliver(record);
        } catch (error) {
          // The subscription could not be read: retried after the visibility timeout.
          deps.logger.error('webhook delivery not attempted', {
            sqsMessageId: record.messageId,
            error,
          });
          return 'failed' as const;
        }
      }),
    );
    const count = (outcome: Outcome) => outcomes.filter((o) => o === outcome).length;
    deps.logger.info('deliverer', {
      messages: event.Records.length,
      delivered: count('delivered'),
      dropped: count('dropped'),
      failed: count('failed'),
    });
    return {
      batchItemFailures: event.Records.filter((_, i) => outcomes[i] === 'failed').map((record) => ({
        itemIdentifier: record.messageId,
      })),
    };
  };
}

/** POSTs with `fetch`: no redirects followed (a 3xx is a failure), the body discarded. */
export async function postWithFetch(
  url: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs: number,
): Promise<PostOutcome> {
  const response = await fetch(url, {
    method: 'POST',
    body,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.body?.cancel().catch(() => undefined);
  return { status: response.status };
}
