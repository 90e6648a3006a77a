import { S3Client } from '@aws-sdk/client-s3';
import { FolderLakeStore, S3LakeStore } from '../adapters/lake-store.ts';
import type { LakeStore } from '../domain/analytics/contracts.ts';
import { MissingConfigurationError, type RuntimeConfig, runtimeEnvNames } from './runtime.ts';

export type LakeLocation =
  | { readonly kind: 'folder'; readonly dir: string }
  | { readonly kind: 's3'; readonly bucket: string };

/**
 * Where the lake is: the bucket on AWS (`PORTRAIT_LAKE_BUCKET`, set for every function by the
 * stack), the folder locally (`PORTRAIT_LAKE_DIR`, `<dataDir>/lake`, set by the local runtime).
 * A folder wins when both are set.
 */
export function lakeLocationOf(
  config: Pick<RuntimeConfig, 'lakeBucket' | 'lakeDir'>,
): LakeLocation {
  if (config.lakeDir) return { kind: 'folder', dir: config.lakeDir };
  if (config.lakeBucket) return { kind: 's3', bucket: config.lakeBucket };
  throw new MissingConfigurationError(
    `${runtimeEnvNames.lakeBucket} or ${runtimeEnvNames.lakeDir}`,
  );
}

/** The lake store of a location (an S3 client is created only for a bucket). */
export function lakeStoreAt(location: LakeLocation): LakeStore {
  return location.kind === 'folder'
    ? new FolderLakeStore(location.dir)
    : new S3LakeStore(new S3Client({}), location.bucket);
}
