/**
 * Request-level parsing of a Segment Spec ingest request: media type, size, UTF-8, JSON, body
 * shape, batch limits, then per-event validation. A rejected request gets one error; a parsed
 * request gets one result per event, so nothing valid is dropped because a sibling was invalid.
 */
import {
  type EventError,
  type EventType,
  type IngestErrorCode,
  ingestErrors,
  ingestLimits,
  type ValidationResult,
} from '../../../events/envelope.ts';
import type { IngestPath } from '../../../infra/declarations/routes.ts';
import {
  describeJsonType,
  isPlainObject,
  parseInstant,
  type ValidationContext,
  validateEvent,
} from './validate-event.ts';

export interface IngestRequestContext extends Omit<ValidationContext, 'routeType' | 'batchSentAt'> {
  /** The request's Content-Type header, when the caller wants it checked (415 otherwise). */
  readonly contentType?: string;
}

export type IngestRejection = {
  readonly kind: 'rejected';
  readonly status: 400 | 413 | 415;
  readonly error: EventError;
};

export type ParsedIngestRequest = {
  readonly kind: 'parsed';
  /** One result per event, in request order. */
  readonly items: ReadonlyArray<IngestItem>;
  /** `writeKey` from the body, for clients that cannot send Basic auth. */
  readonly writeKeyFromBody?: string;
};

export interface IngestItem {
  /** Position in `batch`; 0 on single-event routes. */
  readonly index: number;
  readonly result: ValidationResult;
  /** The event as received (before the batch context is merged), e.g. to echo its messageId. */
  readonly raw: unknown;
}

const routeTypes: Readonly<Record<Exclude<IngestPath, '/v1/batch'>, EventType>> = {
  '/v1/track': 'track',
  '/v1/identify': 'identify',
  '/v1/alias': 'alias',
  '/v1/page': 'page',
  '/v1/screen': 'screen',
  '/v1/group': 'group',
};

/** Parses and validates an ingest request body. Never throws for any body. */
export function parseIngestBody(
  body: string | Uint8Array,
  route: IngestPath,
  ctx: IngestRequestContext,
): IngestRejection | ParsedIngestRequest {
  if (ctx.contentType !== undefined && !isAcceptedMediaType(ctx.contentType)) {
    return rejected(
      'unsupported_media_type',
      'Send the body as application/json (text/plain is accepted for sendBeacon) in UTF-8.',
    );
  }
  const limit = route === '/v1/batch' ? ingestLimits.maxBatchBytes : ingestLimits.maxRequestBytes;
  const bytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (bytes > limit) {
    return rejected('payload_too_large', `The body is ${bytes} bytes; the limit is ${limit}.`);
  }

  const parsed = parseJson(body);
  if (parsed.kind === 'rejected') return parsed;
  const document = parsed.value;
  if (!isPlainObject(document)) {
    return rejected(
      'invalid_body',
      `The body must be a JSON object, not ${describeJsonType(document)}.`,
    );
  }
  const writeKey = readWriteKey(document);
  if (writeKey.kind === 'rejected') return writeKey;
  const withWriteKey = writeKey.value === undefined ? {} : { writeKeyFromBody: writeKey.value };

  if (route !== '/v1/batch') {
    const result = validateEvent(document, { ...ctx, routeType: routeTypes[route] });
    return { kind: 'parsed', items: [{ index: 0, result, raw: document }], ...withWriteKey };
  }

  const batch = document.batch;
  if (!Object.hasOwn(document, 'batch') || !Array.isArray(batch)) {
    return rejected(
      'invalid_body',
      'A batch body must be an object with a "batch" array of events.',
      '/batch',
    );
  }
  if (batch.length > ingestLimits.maxBatchEvents) {
    return rejected(
      'batch_too_many_events',
      `The batch holds ${batch.length} events; the limit is ${ingestLimits.maxBatchEvents}.`,
      '/batch',
    );
  }
  const sharedContext = own(document, 'context');
  if (sharedContext !== undefined && !isPlainObject(sharedContext)) {
    return rejected('invalid_body', 'The batch context must be an object.', '/context');
  }
  const batchSentAt = own(document, 'sentAt');
  if (
    batchSentAt !== undefined &&
    (typeof batchSentAt !== 'string' || parseInstant(batchSentAt) === undefined)
  ) {
    return rejected(
      'invalid_timestamp',
      'The batch sentAt must be an ISO-8601 instant with Z or an offset, such as "2024-05-01T08:30:00.000Z".',
      '/sentAt',
    );
  }
  const itemContext: ValidationContext = {
    ...ctx,
    ...(batchSentAt === undefined ? {} : { batchSentAt }),
  };
  const items = batch.map(
    (item: unknown, index): IngestItem => ({
      index,
      result: validateEvent(withSharedContext(item, sharedContext), itemContext),
      raw: item,
    }),
  );
  return { kind: 'parsed', items, ...withWriteKey };
}

/** Segment's batch-level `context` applies to every event; the event's own keys win. */
function withSharedContext(item: unknown, shared: Record<string, unknown> | undefined): unknown {
  if (shared === undefined || !isPlainObject(item)) return item;
  const own = item.context;
  if (Object.hasOwn(item, 'context') && own !== null && !isPlainObject(own)) return item;
  return { ...item, context: { ...shared, ...(isPlainObject(own) ? own : {}) } };
}

function rejected(code: IngestErrorCode, message: string, pointer = ''): IngestRejection {
  const status = ingestErrors[code].status;
  return {
    kind: 'rejected',
    // Request-level codes are all 400, 413 or 415; anything else is a programming error.
    status: status === 413 || status === 415 ? status : 400,
    error: { code, message, pointer },
  };
}

const acceptedMediaTypes = new Set(['application/json', 'text/plain']);

function isAcceptedMediaType(header: string): boolean {
  const [essence = '', ...parameters] = header.split(';').map((part) => part.trim().toLowerCase());
  if (!acceptedMediaTypes.has(essence) && !/^application\/[\w.+-]+\+json$/.test(essence))
    return false;
  const charset = parameters.find((parameter) => parameter.startsWith('charset='));
  return charset === undefined || /^charset="?utf-?8"?$/.test(charset);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function parseJson(
  body: string | Uint8Array,
): IngestRejection | { readonly kind: 'json'; readonly value: unknown } {
  let text: string;
  if (typeof body === 'string') {
    text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      return rejected('invalid_json', 'The body is not valid UTF-8.');
    }
  }
  if (text.trim() === '') {
    return rejected('invalid_json', 'The body is empty; send a JSON object.');
  }
  try {
    return { kind: 'json', value: JSON.parse(text) };
  } catch (error) {
    // The parser's message quotes the body; only its position is repeated back.
    const position = error instanceof Error ? /position (\d+)/.exec(error.message)?.[1] : undefined;
    return rejected(
      'invalid_json',
      position === undefined
        ? 'The body is not valid JSON.'
        : `The body is not valid JSON (at character ${position}).`,
    );
  }
}

function readWriteKey(
  document: Record<string, unknown>,
): IngestRejection | { readonly kind: 'ok'; readonly value: string | undefined } {
  const value = own(document, 'writeKey');
  if (value === undefined) return { kind: 'ok', value: undefined };
  if (typeof value !== 'string' || value.trim() === '' || value.length > ingestLimits.maxIdLength) {
    return rejected(
      'invalid_body',
      'writeKey must be a non-empty string when present.',
      '/writeKey',
    );
  }
  return { kind: 'ok', value };
}

function own(document: Record<string, unknown>, key: string): unknown {
  if (!Object.hasOwn(document, key)) return undefined;
  const value = document[key];
  return value === null ? undefined : value;
}
