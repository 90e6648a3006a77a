/**
 * The Segment Spec envelope as Portrait stores it, after validation and normalisation at the
 * edge (collect). Types here are the contract between collect, the queue and ingest.
 */

export const eventTypes = ['track', 'identify', 'alias', 'page', 'screen', 'group'] as const;
export type EventType = (typeof eventTypes)[number];

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };
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
  | 'invalid_property'
  | 'member_suppressed';

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

/** HTTP status a request gets when this error is the answer to the whole request. */
export type IngestErrorStatus = 400 | 401 | 403 | 413 | 415;

/**
 * Every ingest error code with its HTTP status and meaning: the table in docs/EVENTS.md and the
 * mapping the HTTP layer uses. On `/v1/batch` per-event errors are reported per item instead.
 */
export const ingestErrors: Readonly<
  Record<IngestErrorCode, { readonly status: IngestErrorStatus; readonly meaning: string }>
> = {
  invalid_json: { status: 400, meaning: 'The body is empty, not UTF-8 or not valid JSON.' },
  invalid_body: {
    status: 400,
    meaning:
      'The body is not a JSON object, a batch lacks a `batch` array or has a non-object `context`, or a body `writeKey` is not a non-empty string.',
  },
  unsupported_media_type: {
    status: 415,
    meaning: 'Content-Type is not application/json or text/plain (UTF-8).',
  },
  missing_write_key: { status: 401, meaning: 'No write key in Basic auth or in the body.' },
  invalid_write_key: { status: 401, meaning: 'The write key is unknown or revoked.' },
  insufficient_scope: { status: 403, meaning: 'The key does not hold `events:write`.' },
  payload_too_large: { status: 413, meaning: 'The request body exceeds the size limit.' },
  batch_too_many_events: { status: 413, meaning: 'The batch holds more events than allowed.' },
  event_too_large: { status: 413, meaning: 'One event exceeds the per-event size limit.' },
  invalid_event: { status: 400, meaning: 'The event is not a JSON object.' },
  invalid_type: {
    status: 400,
    meaning: '`type` is not a Segment type, or disagrees with the route.',
  },
  missing_identity: {
    status: 400,
    meaning:
      'Neither `userId` nor `anonymousId` (alias: `userId` and `previousId`), or a placeholder id such as "null".',
  },
  invalid_field: {
    status: 400,
    meaning:
      'A field has the wrong type or length (a numeric messageId, an object userId, properties that are not an object, a non-finite number).',
  },
  missing_field: {
    status: 400,
    meaning:
      'A field the type requires is absent (`event` on track, `groupId` on group, `type` in a batch).',
  },
  invalid_timestamp: {
    status: 400,
    meaning:
      'A timestamp is not RFC 3339 with Z or an offset, or the corrected time is before 2000.',
  },
  timestamp_in_future: {
    status: 400,
    meaning: 'After skew correction the event is too far in the future.',
  },
  timestamp_too_old: {
    status: 400,
    meaning: 'After skew correction the event is older than the retention period.',
  },
  too_deep: { status: 400, meaning: 'The event nests objects and arrays too deeply.' },
  invalid_string: {
    status: 400,
    meaning: 'A string is not well-formed Unicode (lone surrogate) or is too long.',
  },
  invalid_property: {
    status: 400,
    meaning: '`properties` or `traits` break the catalogue schema of the event.',
  },
  member_suppressed: {
    status: 403,
    meaning:
      'The member (`userId`, `anonymousId` or `previousId`) was erased and is suppressed until unsuppressed; the event is not stored.',
  },
};

/** Every {@link IngestErrorCode}, for tests and documentation. */
export const ingestErrorCodes = Object.keys(ingestErrors) as readonly IngestErrorCode[];
