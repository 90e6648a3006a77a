import { lakeLocationOf, lakeStoreAt } from '../../shared/config/lake.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { type CompactorDeps, makeCompactorHandler } from './compactor.ts';

/** Production wiring: the lake store and logger created once per cold start. */
export function defaultDeps(): CompactorDeps {
  const config = readRuntimeConfig();
  return {
    lake: lakeStoreAt(lakeLocationOf(config)),
    logger: createLogger({ service: 'compactor', level: config.logLevel }),
  };
}

export const handler = makeCompactorHandler(defaultDeps());
