import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Logger } from '../logging/logger.ts';
import { PortraitHttpError } from './errors.ts';

/** A JSON response in the API Gateway HTTP API (v2) shape. */
export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * Maps any thrown value to a response: typed errors keep their status and code; anything else
 * is a 500 with a generic body and a correlation id that is also logged (never a stack trace).
 */
export function errorResponse(
  error: unknown,
  requestId: string,
  logger: Logger,
): APIGatewayProxyStructuredResultV2 {
  if (error instanceof PortraitHttpError) {
    if (error.status >= 500) {
      const cause = 'internalCause' in error ? error.internalCause : undefined;
      logger.error(error.message, { code: error.code, requestId, cause, ...error.details });
    }
    return jsonResponse(
      error.status,
      {
        success: false,
        code: error.code,
        message: error.message,
        ...(error.details ?? {}),
        requestId,
      },
      { ...error.headers },
    );
  }
  logger.error('unexpected error', { requestId, error });
  return jsonResponse(500, {
    success: false,
    code: 'internal_error',
    message: 'Something went wrong on our side. Retry later; quote the requestId if it persists.',
    requestId,
  });
}
