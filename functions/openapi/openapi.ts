import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { httpErrorHandler } from '../../shared/http/middleware.ts';
import type { Logger } from '../../shared/logging/logger.ts';

/** What the API document function needs; created once per cold start (or by a test). */
export interface OpenApiDeps {
  /** The document, generated once (`openApiDocument()`). */
  readonly document: unknown;
  readonly logger: Logger;
}

/**
 * `GET /v1/openapi.json`: the OpenAPI 3.1 document, public (it holds no data). The body is
 * serialised once; clients may cache it for five minutes.
 */
export function makeOpenApiHandler(deps: OpenApiDeps) {
  const body = JSON.stringify(deps.document);
  const serve = async (): Promise<APIGatewayProxyStructuredResultV2> => ({
    statusCode: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'public, max-age=300',
    },
    body,
  });
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(serve).use(
    httpErrorHandler(deps.logger),
  );
}
