import type { Scope } from '../../infra/declarations/routes.ts';

/**
 * Typed errors with stable codes. `toHttpResponse` in `shared/http/responses.ts` is the one
 * place that maps them to status codes.
 */
export class PortraitHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Response headers the error implies (e.g. `Retry-After`). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class MissingWriteKeyError extends PortraitHttpError {
  constructor() {
    super(
      401,
      'missing_write_key',
      'No write key. Send it as the HTTP Basic user name (Authorization: Basic base64("KEY:")) or as "writeKey" in the body.',
    );
  }
}

export class InvalidWriteKeyError extends PortraitHttpError {
  constructor() {
    super(401, 'invalid_write_key', 'The write key is unknown or has been revoked.');
  }
}

export class InsufficientScopeError extends PortraitHttpError {
  constructor(required: Scope) {
    super(
      403,
      'insufficient_scope',
      `This key lacks the scope "${required}" that this route needs.`,
      {
        requiredScope: required,
      },
    );
  }
}

export class RateLimitedError extends PortraitHttpError {
  constructor(retryAfterSeconds: number, limit: { perSecond: number; burst: number }) {
    super(
      429,
      'rate_limited',
      `This key is over its limit of ${limit.perSecond} requests per second (burst ${limit.burst}); retry after ${retryAfterSeconds} s.`,
      { retryAfterSeconds, limit: { perSecond: limit.perSecond, burst: limit.burst } },
      { 'retry-after': String(retryAfterSeconds) },
    );
  }
}

/** The personal-data key could not be loaded (KMS refused or failed): retry shortly. */
export class PersonalDataUnavailableError extends PortraitHttpError {
  /** Why the key could not be had (an error type name), for the log only. */
  readonly internalCause: string;
  constructor(cause: string) {
    super(
      503,
      'personal_key_unavailable',
      'Member data cannot be read right now: the personal-data key could not be loaded. Retry shortly.',
      undefined,
      { 'retry-after': '5' },
    );
    this.internalCause = cause;
  }
}

export class QueueUnavailableError extends PortraitHttpError {
  /** The queue's own error, for the log only: it can name accounts, roles and ARNs. */
  readonly internalCause: string;
  constructor(cause: string) {
    super(
      503,
      'queue_unavailable',
      'Events could not be queued; nothing from this request was acknowledged. Retry with the same messageIds.',
    );
    this.internalCause = cause;
  }
}

export class PayloadTooLargeError extends PortraitHttpError {
  constructor(message: string, limitBytes: number) {
    super(413, 'payload_too_large', message, { limitBytes });
  }
}

export class InvalidBodyError extends PortraitHttpError {
  constructor(message: string) {
    super(400, 'invalid_body', message);
  }
}

export class RouteNotFoundError extends PortraitHttpError {
  constructor(path: string) {
    super(404, 'not_found', `No route ${path}.`);
  }
}

export class MemberNotFoundError extends PortraitHttpError {
  constructor(id: string) {
    super(404, 'member_not_found', `No member has the id "${id}".`, { id });
  }
}

export class InvalidQueryParameterError extends PortraitHttpError {
  constructor(parameter: string, message: string) {
    super(400, 'invalid_query_parameter', `${parameter}: ${message}`, { parameter });
  }
}

export class AnalyticsRunNotFoundError extends PortraitHttpError {
  constructor(runId: string | undefined) {
    super(
      404,
      'analytics_run_not_found',
      runId === undefined
        ? 'No nightly analytics run has succeeded yet.'
        : `No results of nightly analytics run ${runId}.`,
      runId === undefined ? undefined : { runId },
    );
  }
}

export class SegmentNotFoundError extends PortraitHttpError {
  constructor(id: string, version?: number) {
    super(
      404,
      'segment_not_found',
      version === undefined
        ? `No segment has the id "${id}".`
        : `Segment "${id}" has no version ${version}.`,
      { id, ...(version === undefined ? {} : { version }) },
    );
  }
}

export class AsOfTooFarError extends PortraitHttpError {
  constructor(id: string, max: number) {
    super(
      400,
      'as_of_too_far',
      `Segment "${id}" changed more than ${max} times since asOf; ask for a later instant, or sync with /changes.`,
      { id, max },
    );
  }
}

export class SegmentExistsError extends PortraitHttpError {
  constructor(id: string, version: number) {
    super(
      409,
      'segment_exists',
      `Segment "${id}" exists (version ${version}); edit it with PUT /v1/segments/${id}.`,
      { id, version },
    );
  }
}

export class SegmentInUseError extends PortraitHttpError {
  constructor(id: string, readers: readonly string[]) {
    super(
      409,
      'segment_in_use',
      `Segment "${id}" is read by ${readers.map((r) => `"${r}"`).join(', ')}; change or delete those first.`,
      { id, readers },
    );
  }
}

export class VersionConflictError extends PortraitHttpError {
  constructor(id: string, expected: number, actual: number) {
    super(
      412,
      'version_conflict',
      `Segment "${id}" is at version ${actual}, not ${expected} (If-Match); read it again and retry.`,
      { id, expected, actual },
    );
  }
}

export class InvalidSegmentDefinitionError extends PortraitHttpError {
  constructor(
    message: string,
    issues: readonly { pointer: string; code: string; message: string }[],
  ) {
    super(400, 'invalid_segment_definition', message, { issues });
  }
}

export class InvalidWebhookError extends PortraitHttpError {
  constructor(issues: readonly { pointer: string; code: string; message: string }[]) {
    super(400, 'invalid_webhook', 'The webhook subscription is invalid; see issues.', { issues });
  }
}

export class WebhookNotFoundError extends PortraitHttpError {
  constructor(segmentId: string, hookId: string) {
    super(404, 'webhook_not_found', `Segment "${segmentId}" has no webhook "${hookId}".`, {
      id: segmentId,
      hookId,
    });
  }
}

export class WebhookLimitError extends PortraitHttpError {
  constructor(segmentId: string, limit: number) {
    super(
      409,
      'webhook_limit_reached',
      `Segment "${segmentId}" already has ${limit} webhooks, the most it may have; delete one first.`,
      { id: segmentId, limit },
    );
  }
}

export class InvalidMemberIdError extends PortraitHttpError {
  constructor(max: number) {
    super(
      400,
      'invalid_member_id',
      `A member id is a non-empty string of at most ${max} characters.`,
      { max },
    );
  }
}

export class ErasureNotFoundError extends PortraitHttpError {
  constructor(receipt: string) {
    super(404, 'erasure_not_found', `No erasure has the receipt "${receipt}".`, { receipt });
  }
}
