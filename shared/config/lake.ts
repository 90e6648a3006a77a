import { S3Client } from '@aws-sdk/client-s3';
import { FolderLakeStore, S3LakeStore } from '../adapters/lake-store.ts';
import type { LakeStore } from '../domain/analytics/contracts.ts';
import { MissingConfigurationError } from './runtime.ts';

/**
 * Where the lake is: `PORTRAIT_LAKE_BUCKET` on AWS (set by the EventLake construct),
 * `PORTRAIT_LAKE_DIR` locally (set by the local runtime to `<dataDir>/lake`).
 */
export const lakeEnvNames = {
  bucket: 'PORTRAIT_LAKE_BUCKET',
  dir: 'PORTRAIT_LAKE_DIR',
} as const;

export type LakeLocation =
  | { readonly kind: 'folder'; readonly dir: string }
  | { readonly kind: 's3'; readonly bucket: string };

/** Reads the lake's location once; a folder wins when both are set. */
export function readLakeLocation(env: NodeJS.ProcessEnv = process.env): LakeLocation {
  const dir = env[lakeEnvNames.dir];
  if (dir) return { kind: 'folder', dir };
  const bucket = env[lakeEnvNames.bucket];
  if (bucket) return { kind: 's3', bucket };
  throw new MissingConfigurationError(`${lakeEnvNames.bucket} or ${lakeEnvNames.dir}`);
}

/** The lake store of a location (an S3 client is created only for a bucket). */
export function lakeStoreAt(location: LakeLocation): LakeStore {
  return location.kind === 'folder'
    ? new FolderLakeStore(location.dir)
    : new S3LakeStore(new S3Client({}), location.bucket);
}
