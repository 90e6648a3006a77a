import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Logger } from '../logging/logger.ts';
import { errorResponse } from './responses.ts';

/**
 * Middy middleware: the one place an HTTP handler's thrown error becomes a response (typed
 * errors keep their status and code; anything else is a 500 with a logged correlation id).
 */
export function httpErrorHandler(
  logger: Logger,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    name: 'httpErrorHandler',
    onError: (request) => {
      const requestId = request.event.requestContext?.requestId ?? request.context.awsRequestId;
      request.response = errorResponse(request.error, requestId, logger);
    },
  };
}
