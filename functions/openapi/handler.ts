import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { openApiDocument } from '../../shared/http/openapi.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeOpenApiHandler, type OpenApiDeps } from './openapi.ts';

/** Production wiring: the document generated once per cold start. */
export function defaultDeps(): OpenApiDeps {
  const config = readRuntimeConfig();
  return {
    document: openApiDocument(),
    logger: createLogger({ service: 'openapi', level: config.logLevel }),
  };
}

export const handler = makeOpenApiHandler(defaultDeps());
