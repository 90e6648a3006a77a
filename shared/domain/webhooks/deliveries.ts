/**
 * Webhook deliveries, pure: which ledger entries go to which subscription in which delivery,
 * the deterministic ids receivers dedupe by, the payload, the retry schedule and the URL rule.
 */
import { createHash } from 'node:crypto';
import { type MemberId, memberIdOf } from '../keys/member-id.ts';

/** One enter or exit from a segment's ledger, as the notifier reads it from the stream. */
export interface WebhookLedgerEntry {
  /** Unique and stable per ledger entry (its table keys); the event id is derived from it. */
  readonly key: string;
  readonly segmentId: string;
  /** `u#<userId>` or `a#<anonymousId>`. */
  readonly memberKey: string;
  readonly change: 'enter' | 'exit';
  /** Epoch ms. */
  readonly at: number;
  readonly seq: number;
  readonly cause: unknown;
}

export type WebhookEventType = 'segment.entered' | 'segment.exited';

/** One event of a delivery, as the receiver sees it. */
export interface WebhookEvent {
  /** The same for one ledger entry in every delivery that carries it: dedupe events by it. */
  readonly id: string;
  readonly type: WebhookEventType;
  /** Never an erased member's pseudonym: the notifier does not send those entries. */
  readonly memberId: MemberId;
  /** ISO-8601 instant of the change. */
  readonly at: string;
  readonly cause: unknown;
}

/** The JSON body of one delivery; also the webhook queue's message body. */
export interface WebhookDelivery {
  /** Deterministic: the subscription and the ledger entries it carries. */
  readonly id: string;
  readonly segment: string;
  readonly subscription: string;
  readonly events: readonly WebhookEvent[];
}

export interface DeliveryLimits {
  /** Most events in one delivery. */
  readonly maxEvents: number;
  /** Most bytes of one delivery's JSON (the queue's message limit bounds it). */
  readonly maxBytes: number;
}

/** 100 events a delivery, and well under SQS's 256 KiB message limit. */
export const defaultDeliveryLimits: DeliveryLimits = { maxEvents: 100, maxBytes: 200 * 1024 };

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** The event id of a ledger entry: `evt_` and 32 hex digits of SHA-256 of its key. */
export function eventIdOf(ledgerKey: string): string {
  return `evt_${sha256Hex(ledgerKey).slice(0, 32)}`;
}

/** The delivery id of a subscription's events: `dlv_` and 32 hex digits of SHA-256. */
export function deliveryIdOf(subscriptionId: string, eventIds: readonly string[]): string {
  return `dlv_${sha256Hex(`${subscriptionId}\n${eventIds.join('\n')}`).slice(0, 32)}`;
}

export function webhookEventOf(entry: WebhookLedgerEntry): WebhookEvent {
  return {
    id: eventIdOf(entry.key),
    type: entry.change === 'enter' ? 'segment.entered' : 'segment.exited',
    memberId: memberIdOf(entry.memberKey),
    at: new Date(entry.at).toISOString(),
    cause: entry.cause,
  };
}

const byTimeThenMember = (a: WebhookLedgerEntry, b: WebhookLedgerEntry): number =>
  a.at - b.at ||
  (a.memberKey < b.memberKey ? -1 : a.memberKey > b.memberKey ? 1 : 0) ||
  a.seq - b.seq ||
  (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * The deliveries for ledger entries that arrived together: for every subscription of an entry's
 * segment, its entries in time order, cut into deliveries of at most `limits` (an entry that
 * alone exceeds `maxBytes` still gets a delivery of its own). Every (entry, subscription) pair
 * is in exactly one delivery; an entry key seen twice counts once.
 */
export function planDeliveries(
  entries: readonly WebhookLedgerEntry[],
  subscriptionsOf: (segmentId: string) => readonly string[],
  limits: DeliveryLimits = defaultDeliveryLimits,
): WebhookDelivery[] {
  const bySegment = new Map<string, Map<string, WebhookLedgerEntry>>();
  for (const entry of entries) {
    const unique = bySegment.get(entry.segmentId) ?? new Map<string, WebhookLedgerEntry>();
    bySegment.set(entry.segmentId, unique);
    if (!unique.has(entry.key)) unique.set(entry.key, entry);
  }
  const deliveries: WebhookDelivery[] = [];
  for (const [segment, unique] of bySegment) {
    const subscriptions = [...new Set(subscriptionsOf(segment))];
    if (subscriptions.length === 0) continue;
    const events = [...unique.values()].sort(byTimeThenMember).map(webhookEventOf);
    for (const subscription of subscriptions) {
      const envelopeBytes = Buffer.byteLength(
        JSON.stringify({ id: deliveryIdOf('', []), segment, subscription, events: [] }),
        'utf8',
      );
      let chunk: WebhookEvent[] = [];
      let bytes = envelopeBytes;
      const flush = () => {
        if (chunk.length === 0) return;
        deliveries.push({
          id: deliveryIdOf(
            subscription,
            chunk.map((event) => event.id),
          ),
          segment,
          subscription,
          events: chunk,
        });
        chunk = [];
        bytes = envelopeBytes;
      };
      for (const event of events) {
        const size = Buffer.byteLength(JSON.stringify(event), 'utf8') + 1;
        if (
          chunk.length >= limits.maxEvents ||
          (chunk.length > 0 && bytes + size > limits.maxBytes)
        )
          flush();
        chunk.push(event);
        bytes += size;
      }
      flush();
    }
  }
  return deliveries;
}

/** The exact body posted for a delivery (and stored as its queue message). */
export function deliveryBody(delivery: WebhookDelivery): string {
  return JSON.stringify({
    id: delivery.id,
    segment: delivery.segment,
    subscription: delivery.subscription,
    events: delivery.events,
  });
}

/** A queue message that is not a delivery this code wrote. */
export class MalformedDeliveryError extends Error {
  readonly code = 'malformed_delivery';
  override readonly name = 'MalformedDeliveryError';
}

/** The routing fields of a delivery's queue message; its body is posted unchanged. */
export function deliveryRouteOf(body: string): {
  readonly id: string;
  readonly segment: string;
  readonly subscription: string;
  readonly events: number;
} {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MalformedDeliveryError('the message is not JSON');
  }
  const value = parsed as Partial<Record<keyof WebhookDelivery, unknown>> | null;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.id !== 'string' ||
    typeof value.segment !== 'string' ||
    typeof value.subscription !== 'string' ||
    !Array.isArray(value.events)
  ) {
    throw new MalformedDeliveryError('the message lacks id, segment, subscription or events');
  }
  return {
    id: value.id,
    segment: value.segment,
    subscription: value.subscription,
    events: value.events.length,
  };
}

/** SQS's longest visibility timeout, the longest a retry can be put off. */
export const MAX_RETRY_DELAY_SECONDS = 12 * 3600;

/**
 * Seconds before the next attempt after attempt `receiveCount` (1 = the first) failed:
 * `baseSeconds · 2^(receiveCount − 1)`, at most `capSeconds`.
 */
export function retryDelaySeconds(
  receiveCount: number,
  baseSeconds: number,
  capSeconds: number = MAX_RETRY_DELAY_SECONDS,
): number {
  const attempt = Math.max(1, Math.floor(receiveCount));
  const delay = baseSeconds * 2 ** Math.min(attempt - 1, 30);
  return Math.max(0, Math.min(Math.round(delay), capSeconds, MAX_RETRY_DELAY_SECONDS));
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Longest webhook URL accepted. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/**
 * Why `raw` cannot be a webhook URL, or undefined when it can: `https://` with a host and no
 * user name or password; with `allowLoopbackHttp` (the local runtime) also `http://` to
 * 127.0.0.1, localhost or [::1].
 */
export function webhookUrlProblem(raw: unknown, allowLoopbackHttp: boolean): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0) return 'a URL string is required';
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) {
    return `at most ${MAX_WEBHOOK_URL_LENGTH} characters, got ${raw.length}`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not an absolute URL';
  }
  if (url.username !== '' || url.password !== '') {
    return 'credentials in the URL are not allowed; verify the signature instead';
  }
  if (url.protocol === 'https:' && url.hostname !== '') return undefined;
  if (url.protocol === 'http:' && allowLoopbackHttp && loopbackHosts.has(url.hostname)) {
    return undefined;
  }
  return allowLoopbackHttp
    ? 'must be https://, or http:// to 127.0.0.1, localhost or [::1]'
    : 'must be https://';
}

/** The source key (`u#…`, `a#…`) of a delivered event's member, if it names one. */
function sourceKeyOfEvent(event: unknown): string | undefined {
  const memberId = (event as { memberId?: Record<string, unknown> } | null)?.memberId;
  if (typeof memberId?.userId === 'string') return `u#${memberId.userId}`;
  if (typeof memberId?.anonymousId === 'string') return `a#${memberId.anonymousId}`;
  return undefined;
}

/** The source keys of the members a delivery's body names (the deliverer checks them). */
export function deliveryMemberKeys(body: string): string[] {
  const parsed = JSON.parse(body) as { events?: unknown[] };
  return (parsed.events ?? []).flatMap((event) => {
    const key = sourceKeyOfEvent(event);
    return key === undefined ? [] : [key];
  });
}

/**
 * A delivery's body without the events of suppressed (erased) members: the same body when none
 * is, `undefined` when none is left. The delivery keeps its id; its events keep theirs.
 */
export function withoutSuppressed(
  body: string,
  suppressed: ReadonlySet<string>,
): { readonly body: string; readonly removed: number } | undefined {
  if (suppressed.size === 0) return { body, removed: 0 };
  const parsed = JSON.parse(body) as { events: unknown[] } & Record<string, unknown>;
  const kept = parsed.events.filter((event) => {
    const key = sourceKeyOfEvent(event);
    return key === undefined || !suppressed.has(key);
  });
  const removed = parsed.events.length - kept.length;
  if (removed === 0) return { body, removed };
  if (kept.length === 0) return undefined;
  return { body: JSON.stringify({ ...parsed, events: kept }), removed };
}
