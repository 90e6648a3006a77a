import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import {
  type LocalRuntime,
  type LocalRuntimeOptions,
  startLocalRuntime,
} from '../../infra/local/runtime.ts';
import { readAllStreamRecords } from './stream-records.ts';

/** A local runtime in a fresh temp folder on free ports, for one test file. */
export interface TestRuntime {
  readonly runtime: LocalRuntime;
  readonly documents: DynamoDBDocumentClient;
  readonly authorization: string;
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: unknown }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: unknown }>;
  /** Every item stored in the events table. */
  storedEvents(): Promise<Record<string, unknown>[]>;
  storedFor(memberKey: string): Promise<Record<string, unknown>[]>;
  /** Stream records of the events table per messageId: what a stream consumer would see. */
  streamRecordsByMessageId(): Promise<Map<string, string[]>>;
  close(): Promise<void>;
}

export function basicAuth(key: string): string {
  return `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
}

async function answerOf(response: Response): Promise<{ status: number; body: unknown }> {
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Non-JSON bodies are returned as text for the assertion to show.
  }
  return { status: response.status, body: parsed };
}

export async function startTestRuntime(
  options: Pick<
    LocalRuntimeOptions,
    'clock' | 'sweepEverySeconds' | 'backfillEverySeconds' | 'log'
  > = {},
): Promise<TestRuntime> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portrait-it-'));
  const runtime = await startLocalRuntime({ dataDir, port: 0, ...options });
  const dynamo = new DynamoDBClient(localAwsClientConfig(runtime.dynamoEndpoint));
  const documents = DynamoDBDocumentClient.from(dynamo);
  const streams = new DynamoDBStreamsClient(localAwsClientConfig(runtime.dynamoEndpoint));
  const authorization = basicAuth(runtime.devWriteKey);
  return {
    runtime,
    documents,
    authorization,
    post: async (path, body, headers = {}) => {
      const response = await fetch(`${runtime.apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization, ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return answerOf(response);
    },
    get: async (path, headers = {}) =>
      answerOf(await fetch(`${runtime.apiUrl}${path}`, { headers: { authorization, ...headers } })),
    storedEvents: async () => {
      const items: Record<string, unknown>[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await documents.send(
          new ScanCommand({
            TableName: runtime.tables.events,
            ExclusiveStartKey: startKey,
            ConsistentRead: true,
          }),
        );
        items.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      return items;
    },
    storedFor: async (memberKey) => {
      const page = await documents.send(
        new QueryCommand({
          TableName: runtime.tables.events,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': memberKey },
          ConsistentRead: true,
        }),
      );
      return page.Items ?? [];
    },
    streamRecordsByMessageId: async () => {
      const byId = new Map<string, string[]>();
      for (const record of await readAllStreamRecords(dynamo, streams, runtime.tables.events)) {
        const id = String(record.dynamodb?.Keys?.sk?.S);
        byId.set(id, [...(byId.get(id) ?? []), String(record.eventName)]);
      }
      return byId;
    },
    close: async () => {
      streams.destroy();
      documents.destroy();
      await runtime.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
