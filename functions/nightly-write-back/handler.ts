import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { lakeLocationOf, lakeStoreAt } from '../../shared/config/lake.ts';
import { readRuntimeConfig } from '../../shared/config/runtime.ts';
import { readRfmRows } from '../../shared/jobs/rfm-rows.ts';
import { profileStoreWriteBack } from '../../shared/jobs/write-back.ts';
import { createLogger } from '../../shared/logging/logger.ts';
import { makeNightlyWriteBackHandler, type NightlyWriteBackDeps } from './nightly-write-back.ts';

export function defaultDeps(): NightlyWriteBackDeps {
  const config = readRuntimeConfig();
  const profiles = new ProfileStore(awsClients().documents, config.profilesTable);
  const lake = lakeStoreAt(lakeLocationOf(readRuntimeConfig()));
  return {
    lake,
    readRows: (keys) => readRfmRows(lake, keys),
    ...profileStoreWriteBack(profiles),
    logger: createLogger({ service: 'nightly-write-back', level: config.logLevel }),
  };
}

export const handler = makeNightlyWriteBackHandler(defaultDeps());
