/**
 * Clients for tests, pointed at the DynamoDB Local started by `test/support/global-setup.ts`.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';

export interface TestClients {
  readonly endpoint: string;
  readonly dynamo: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly streams: DynamoDBStreamsClient;
  /** Releases the clients' sockets; call in `afterAll`. */
  destroy(): void;
}

/** DynamoDB, DynamoDB Document and DynamoDB Streams clients for the run's DynamoDB Local. */
export function testClients(): TestClients {
  const endpoint = inject('dynamoEndpoint');
  const config = localAwsClientConfig(endpoint);
  const dynamo = new DynamoDBClient(config);
  const documents = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const streams = new DynamoDBStreamsClient(config);
  return {
    endpoint,
    dynamo,
    documents,
    streams,
    destroy: () => {
      documents.destroy();
      dynamo.destroy();
      streams.destroy();
    },
  };
}

/**
 * A table prefix no other test file (or earlier run against the same emulator) uses,
 * e.g. `t-tables-lq3x9a-1f2e`. Safe in DynamoDB table names.
 */
export function uniquePrefix(name: string): string {
  const slug = name.replace(/[^a-zA-Z0-9_.-]+/g, '-').slice(0, 40);
  return `t-${slug}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
}
