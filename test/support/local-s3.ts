/**
 * An in-memory S3 API (fauxqs) and a client for it: S3 stores are tested against it, not against
 * a mock.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { startFauxqs } from 'fauxqs';

export interface LocalS3 {
  readonly s3: S3Client;
  stop(): Promise<void>;
}

/** Starts the S3 stand-in on a free port with `bucket` created. */
export async function startLocalS3(bucket: string): Promise<LocalS3> {
  const server = await startFauxqs({ port: 0, logger: false });
  server.createBucket(bucket);
  const s3 = new S3Client({
    endpoint: server.address,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    s3,
    stop: async () => {
      s3.destroy();
      await server.stop();
    },
  };
}
