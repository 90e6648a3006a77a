import type { Writable } from 'node:stream';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { exportRoute } from '../../infra/declarations/routes.ts';
import type { SegmentHead } from '../../shared/adapters/segment-store.ts';
import {
  CSV_HEADER,
  type ExportFormat,
  exportContentTypes,
  exportFormats,
  exportLine,
} from '../../shared/domain/segments/export-format.ts';
import { authorizeRequest, type KeyGate } from '../../shared/http/auth.ts';
import {
  InvalidQueryParameterError,
  RouteNotFoundError,
  SegmentNotFoundError,
} from '../../shared/http/errors.ts';
import { header } from '../../shared/http/request.ts';
import {
  endStream,
  httpResponseStream,
  ResponseStreamClosedError,
  type StreamingHandler,
  writeChunk,
} from '../../shared/http/response-stream.ts';
import { errorResponse } from '../../shared/http/responses.ts';
import type { Logger } from '../../shared/logging/logger.ts';

type MembersPage = { members: { memberKey: string; since: number }[]; more: boolean };

/** What the export needs; created once per cold start (or by a test). */
export interface ExportDeps extends KeyGate {
  readonly head: (id: string) => Promise<SegmentHead | undefined>;
  /** One page of a segment's members after a member key (`MembershipStore.page`). */
  readonly membersPage: (segmentId: string, limit: number, after?: string) => Promise<MembersPage>;
  readonly logger: Logger;
  /** Members read per page. @default EXPORT_PAGE */
  readonly pageSize?: number;
}

/** Members per store page while exporting. */
export const EXPORT_PAGE = 1_000;

/** `/v1/segments/{id}/export`: the path is matched here, since a Function URL has no routes. */
const exportPath = /^\/v1\/segments\/([^/]+)\/export\/?$/;

/** The requested format: `?format=`, else `Accept: text/csv`, else NDJSON. */
export function requestedFormat(event: APIGatewayProxyEventV2): ExportFormat {
  const raw = event.queryStringParameters?.format;
  if (raw !== undefined) {
    if ((exportFormats as readonly string[]).includes(raw)) return raw as ExportFormat;
    throw new InvalidQueryParameterError('format', `ndjson or csv, got "${raw}"`);
  }
  return /\btext\/csv\b/i.test(header(event, 'accept') ?? '') ? 'csv' : 'ndjson';
}

function segmentIdOf(event: APIGatewayProxyEventV2): string {
  const method = event.requestContext?.http?.method ?? 'GET';
  const match = exportPath.exec(event.rawPath ?? '');
  if (method !== exportRoute.method || !match?.[1]) {
    throw new RouteNotFoundError(event.rawPath ?? '/');
  }
  try {
    return event.pathParameters?.id ?? decodeURIComponent(match[1]);
  } catch {
    throw new RouteNotFoundError(event.rawPath);
  }
}

/**
 * `GET /v1/segments/{id}/export?format=ndjson|csv`: the whole segment in member order, one line
 * per member, streamed as it is read: while one page is written the next is already being read,
 * and a write waits for the reader (backpressure), so memory holds about two pages whatever the
 * segment's size. Everything that can fail with a status — the key and its `segments:read`
 * scope, the format, the segment, the first page — is settled before the first byte, and answered
 * as the JSON errors of the rest of the API. A failure after that cannot change the status: it is
 * logged and the connection is cut, so a client never takes a short file for a whole one.
 */
export function makeExportHandler(deps: ExportDeps): StreamingHandler<APIGatewayProxyEventV2> {
  const pageSize = deps.pageSize ?? EXPORT_PAGE;
  return async (event: APIGatewayProxyEventV2, responseStream: Writable, context: Context) => {
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    let id: string;
    let format: ExportFormat;
    let first: MembersPage;
    try {
      id = segmentIdOf(event);
      await authorizeRequest(event, deps, exportRoute.scope);
      format = requestedFormat(event);
      const [head, page] = await Promise.all([deps.head(id), deps.membersPage(id, pageSize)]);
      if (!head || head.status === 'deleted') throw new SegmentNotFoundError(id);
      first = page;
    } catch (error) {
      const answer = errorResponse(error, requestId, deps.logger);
      const body = httpResponseStream(responseStream, {
        statusCode: answer.statusCode ?? 500,
        headers: (answer.headers ?? {}) as Record<string, string>,
      });
      await writeChunk(body, answer.body ?? '');
      await endStream(body);
      return;
    }

    const body = httpResponseStream(responseStream, {
      statusCode: 200,
      headers: {
        'content-type': exportContentTypes[format],
        'content-disposition': `attachment; filename="${id}.${format}"`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      },
    });
    let exported = 0;
    try {
      if (format === 'csv') await writeChunk(body, CSV_HEADER);
      let page = first;
      for (;;) {
        const last = page.members[page.members.length - 1];
        const next = page.more && last ? deps.membersPage(id, pageSize, last.memberKey) : undefined;
        // Handled below when awaited; this keeps a read that fails while the write fails quiet.
        next?.catch(() => undefined);
        let text = '';
        for (const member of page.members) text += exportLine(format, member);
        if (text !== '') await writeChunk(body, text);
        exported += page.members.length;
        if (!next) break;
        page = await next;
      }
      await endStream(body);
      deps.logger.info('segment exported', { requestId, id, format, members: exported });
    } catch (error) {
      if (error instanceof ResponseStreamClosedError) {
        deps.logger.info('segment export left by the client', { requestId, id, members: exported });
        return;
      }
      deps.logger.error('segment export failed after the first byte; the response is cut', {
        requestId,
        id,
        format,
        members: exported,
        error,
      });
      body.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  };
}
