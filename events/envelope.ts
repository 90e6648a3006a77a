/**
 * The Segment Spec envelope as Portrait stores it, after validation and normalisation at the
 * edge (collect). Types here are the contract between collect, the queue and ingest.
 */

export const eventTypes = ['track', 'identify', 'alias', 'page', 'screen', 'group'] as const;
export type EventType = (typeof eventTypes)[number];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A validated, normalised event: what travels on the queue and is stored. */
export interface PortraitEvent {
  readonly messageId: string;
  readonly type: EventType;
  readonly userId?: string;
  readonly anonymousId?: string;
  /** `track` only: the event name. */
  readonly event?: string;
  /** `page` / `screen`: the page or screen name. */
  readonly name?: string;
  /** `alias` only: the id being linked to `userId`. */
  readonly previousId?: string;
  /** `group` only. */
  readonly groupId?: string;
  readonly properties?: JsonObject;
  readonly traits?: JsonObject;
  readonly context?: JsonObject;
  /** When it happened, ISO-8601 UTC, corrected for client clock skew with `sentAt`. */
  readonly timestamp: string;
  /** The client's own `timestamp`, as sent, when it differs from `timestamp`. */
  readonly originalTimestamp?: string;
  readonly sentAt?: string;
  /** When collect accepted it, ISO-8601 UTC. */
  readonly receivedAt: string;
  /** Source whose write key sent it. */
  readonly sourceId: string;
}

/** Stable codes of per-event and per-request errors (documented in docs/API.md). */
export type IngestErrorCode =
  | 'invalid_json'
  | 'invalid_body'
  | 'unsupported_media_type'
  | 'missing_write_key'
  | 'invalid_write_key'
  | 'insufficient_scope'
  | 'payload_too_large'
  | 'batch_too_many_events'
  | 'event_too_large'
  | 'invalid_event'
  | 'invalid_type'
  | 'missing_identity'
  | 'invalid_field'
  | 'missing_field'
  | 'invalid_timestamp'
  | 'timestamp_in_future'
  | 'timestamp_too_old'
  | 'too_deep'
  | 'invalid_string'
  | 'invalid_property';

export interface EventError {
  readonly code: IngestErrorCode;
  readonly message: string;
  /** JSON Pointer to the offending part, relative to the event (e.g. `/properties/revenue`). */
  readonly pointer?: string;
}

export type ValidationResult =
  | { readonly ok: true; readonly event: PortraitEvent }
  | { readonly ok: false; readonly error: EventError };

/** Limits that are part of the public contract (and of the API document). */
export const ingestLimits = {
  maxEventBytes: 32 * 1024,
  maxBatchEvents: 2_500,
  maxBatchBytes: 1024 * 1024,
  /** Single-event routes take one event up to this size. */
  maxRequestBytes: 1024 * 1024,
  maxIdLength: 256,
  maxEventNameLength: 200,
  maxStringLength: 8 * 1024,
  maxDepth: 16,
} as const;
