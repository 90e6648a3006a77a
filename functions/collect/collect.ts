import { gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  type EventError,
  type IngestErrorCode,
  ingestErrors,
  ingestLimits,
  type PortraitEvent,
} from '../../events/envelope.ts';
import { sqsLimits } from '../../infra/declarations/queues.ts';
import { canonicalIngestPath } from '../../infra/declarations/routes.ts';
import type { EventQueue } from '../../shared/adapters/event-queue.ts';
import type { WriteKeyRecord } from '../../shared/adapters/write-key-store.ts';
import { packMessages } from '../../shared/domain/ingest/pack-messages.ts';
import { parseIngestBody } from '../../shared/domain/ingest/parse-request.ts';
import { writeKeyFromAuthorization } from '../../shared/domain/keys/write-key.ts';
import {
  InsufficientScopeError,
  InvalidWriteKeyError,
  MissingWriteKeyError,
  PortraitHttpError,
  QueueUnavailableError,
} from '../../shared/http/errors.ts';
import { errorResponse, jsonResponse } from '../../shared/http/responses.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What collect needs; created once per cold start (or by a test). */
export interface CollectDeps {
  readonly lookupKey: (rawKey: string) => Promise<WriteKeyRecord | undefined>;
  readonly queue: EventQueue;
  readonly logger: Logger;
  readonly maxFutureSkewSeconds: number;
  readonly eventRetentionDays: number;
  readonly now?: () => Date;
  readonly newMessageId?: () => string;
}

/** Status of a `/v1/batch` answer where some events were accepted and some rejected. */
export const PARTIAL_SUCCESS_STATUS = 207;

/** Per-event result listed when a request is not wholly accepted. */
export interface EventResult {
  readonly index: number;
  readonly messageId?: string;
  readonly status: 'accepted' | 'rejected';
  readonly code?: IngestErrorCode;
  readonly message?: string;
  readonly pointer?: string;
}

class PayloadTooLargeError extends PortraitHttpError {
  constructor(message: string) {
    super(413, 'payload_too_large', message, { limitBytes: ingestLimits.maxBatchBytes });
  }
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  return event.headers?.[name] ?? event.headers?.[name.toLowerCase()];
}

/** Decodes the body (base64, gzip) with the size limit enforced before and after inflating. */
function decodeBody(event: APIGatewayProxyEventV2): Buffer {
  const raw = event.body ?? '';
  let bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  const encoding = header(event, 'content-encoding')?.toLowerCase().trim();
  if (encoding === 'gzip') {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: ingestLimits.maxBatchBytes + 1 });
    } catch (error) {
      if (
        error instanceof RangeError ||
        (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
      ) {
        throw new PayloadTooLargeError(
          `The inflated body exceeds ${ingestLimits.maxBatchBytes} bytes.`,
        );
      }
      throw new PortraitHttpError(400, 'invalid_body', 'The body is not valid gzip.');
    }
  }
  if (bytes.byteLength > ingestLimits.maxBatchBytes) {
    throw new PayloadTooLargeError(
      `The body is ${bytes.byteLength} bytes; the limit is ${ingestLimits.maxBatchBytes}. Split it into smaller batches.`,
    );
  }
  return bytes;
}

function rejectionBody(error: EventError, requestId: string) {
  return {
    success: false,
    code: error.code,
    message: error.message,
    pointer: error.pointer,
    requestId,
  };
}

/**
 * The collect function: authenticates the write key, validates every event at the edge, packs
 * the valid ones onto the queue and answers as Segment's API does (`{"success":true}`), listing
 * per-event results when some events were rejected.
 */
export function makeCollectHandler(deps: CollectDeps) {
  const now = deps.now ?? (() => new Date());
  const newMessageId = deps.newMessageId ?? (() => crypto.randomUUID());

  const authenticate = async (rawKey: string | undefined): Promise<WriteKeyRecord> => {
    if (!rawKey) throw new MissingWriteKeyError();
    const record = await deps.lookupKey(rawKey);
    if (!record) throw new InvalidWriteKeyError();
    if (!record.scopes.includes('events:write')) throw new InsufficientScopeError('events:write');
    return record;
  };

  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = event.requestContext?.requestId ?? newMessageId();
    try {
      const path = canonicalIngestPath(event.rawPath);
      if (!path) {
        return jsonResponse(404, {
          success: false,
          code: 'not_found',
          message: `No route ${event.rawPath}`,
          requestId,
        });
      }
      const headerKey = writeKeyFromAuthorization(header(event, 'authorization'));
      // A header key is checked before the body is even read; a body key only after parsing.
      const headerRecord = headerKey ? await authenticate(headerKey) : undefined;
      const body = decodeBody(event);
      const receivedAt = now();
      const gzipped = header(event, 'content-encoding')?.toLowerCase().trim() === 'gzip';
      const contentType = header(event, 'content-type');
      const parsed = parseIngestBody(body, path, {
        // RudderStack labels its gzip bodies form-urlencoded; the encoding says what they are.
        ...(gzipped || contentType === undefined ? {} : { contentType }),
        receivedAt,
        sourceId: headerRecord?.sourceId ?? '',
        maxFutureSkewSeconds: deps.maxFutureSkewSeconds,
        retentionDays: deps.eventRetentionDays,
        newMessageId,
      });
      const keyRecord =
        headerRecord ??
        (await authenticate(parsed.kind === 'parsed' ? parsed.writeKeyFromBody : undefined));
      if (parsed.kind === 'rejected') {
        return jsonResponse(parsed.status, rejectionBody(parsed.error, requestId));
      }

      const accepted: PortraitEvent[] = [];
      const results: EventResult[] = [];
      for (const item of parsed.items) {
        if (item.result.ok) {
          const stored = { ...item.result.event, sourceId: keyRecord.sourceId };
          accepted.push(stored);
          results.push({ index: item.index, messageId: stored.messageId, status: 'accepted' });
        } else {
          const { code, message, pointer } = item.result.error;
          const messageId = messageIdOf(item.raw);
          results.push({
            index: item.index,
            ...(messageId !== undefined ? { messageId } : {}),
            status: 'rejected',
            code,
            message,
            ...(pointer !== undefined ? { pointer } : {}),
          });
        }
      }

      if (accepted.length > 0) {
        try {
          await deps.queue.sendBatches(packMessages(accepted, sqsLimits));
        } catch (error) {
          throw new QueueUnavailableError(error instanceof Error ? error.message : String(error));
        }
      }
      const rejected = results.length - accepted.length;
      deps.logger.info('collect', {
        requestId,
        route: path,
        sourceId: keyRecord.sourceId,
        accepted: accepted.length,
        rejected,
      });
      if (rejected === 0) return jsonResponse(200, { success: true });

      if (path !== '/v1/batch') {
        const only = results[0];
        return jsonResponse(only?.code ? ingestErrors[only.code].status : 400, {
          success: false,
          code: only?.code,
          message: only?.message,
          pointer: only?.pointer,
          requestId,
        });
      }
      return jsonResponse(accepted.length > 0 ? PARTIAL_SUCCESS_STATUS : 400, {
        success: false,
        code: accepted.length > 0 ? 'partial_success' : 'all_events_rejected',
        message: `${accepted.length} event(s) accepted, ${rejected} rejected; see results.`,
        accepted: accepted.length,
        rejected,
        results,
        requestId,
      });
    } catch (error) {
      return errorResponse(error, requestId, deps.logger);
    }
  };
}

function messageIdOf(raw: unknown): string | undefined {
  if (raw && typeof raw === 'object' && 'messageId' in raw) {
    const id = (raw as { messageId: unknown }).messageId;
    if (typeof id === 'string' && id.length <= ingestLimits.maxIdLength) return id;
  }
  return undefined;
}
