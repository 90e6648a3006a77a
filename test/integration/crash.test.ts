import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import type { RuntimeEndpoints } from '../../infra/local/runtime.ts';
import { type ChildRuntime, exited, freePort, spawnRuntime } from '../support/child-runtime.ts';
import { basicAuth } from '../support/runtime.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'portrait-crash-'));
let current: ChildRuntime | undefined;

afterAll(async () => {
  if (current && current.child.exitCode === null) {
    current.child.kill('SIGINT');
    await exited(current.child);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

async function scanMessageIds(endpoints: RuntimeEndpoints): Promise<string[]> {
  const documents = DynamoDBDocumentClient.from(
    new DynamoDBClient(localAwsClientConfig(endpoints.dynamoEndpoint)),
  );
  const ids: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new ScanCommand({
        TableName: endpoints.tables.events,
        ExclusiveStartKey: startKey,
        ProjectionExpression: 'sk',
      }),
    );
    ids.push(...(page.Items ?? []).map((item) => String(item.sk)));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  documents.destroy();
  return ids;
}

describe('crash safety', () => {
  it('keeps every acknowledged event, exactly once, across kill -9 of the runtime', async () => {
    const port = await freePort();
    current = await spawnRuntime(dataDir, port);
    const key = readFileSync(join(dataDir, 'dev-write-key'), 'utf8').trim();
    const acknowledged: string[] = [];
    let stop = false;
    let sequence = 0;
    const sender = async (lane: number) => {
      while (!stop) {
        // Small batches: many requests in flight when the runtime dies, few events to drain after.
        const ids = Array.from({ length: 10 }, () => `crash-${lane}-${sequence++}`);
        try {
          const response = await fetch(`${current?.apiUrl}/v1/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: basicAuth(key) },
            body: JSON.stringify({
              batch: ids.map((messageId, i) => ({
                type: 'track',
                messageId,
                userId: `crash-user-${i % 7}`,
                event: 'Product Viewed',
                properties: { sku: `sku-${i}` },
              })),
            }),
          });
          if (response.status === 200) acknowledged.push(...ids);
        } catch {
          // The runtime died mid-request: nothing from this request was acknowledged.
          return;
        }
      }
    };
    const lanes = [0, 1, 2, 3].map(sender);
    await new Promise((r) => setTimeout(r, 2_500));
    current.child.kill('SIGKILL');
    await exited(current.child);
    stop = true;
    await Promise.all(lanes);
    expect(acknowledged.length).toBeGreaterThan(0);

    current = await spawnRuntime(dataDir, port);
    const endpoints = JSON.parse(
      readFileSync(join(dataDir, 'runtime.json'), 'utf8'),
    ) as RuntimeEndpoints;
    let stored: string[] = [];
    const wanted = new Set(acknowledged);
    // Wait while ingest makes progress (a loaded machine drains slowly); give up after 30 s
    // without a new stored event.
    let lastProgress = Date.now();
    while (Date.now() - lastProgress < 30_000) {
      const before = stored.length;
      stored = await scanMessageIds(endpoints);
      const have = new Set(stored);
      if ([...wanted].every((id) => have.has(id))) break;
      if (stored.length > before) lastProgress = Date.now();
      await new Promise((r) => setTimeout(r, 500));
    }
    const counts = new Map<string, number>();
    for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1);
    const missing = acknowledged.filter((id) => !counts.has(id));
    expect(missing).toEqual([]);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);

    // And the stream, which later consumers read, carries exactly one INSERT per stored event.
    const config = localAwsClientConfig(endpoints.dynamoEndpoint);
    const dynamo = new DynamoDBClient(config);
    const streams = new DynamoDBStreamsClient(config);
    const records = await readAllStreamRecords(dynamo, streams, endpoints.tables.events);
    dynamo.destroy();
    streams.destroy();
    // Events of requests cut off by the kill (never acknowledged) may still be stored while we
    // read; an item and its stream record are written together, so the stream lies between a
    // scan taken before it and one taken after it.
    const storedAfter = new Set(await scanMessageIds(endpoints));
    const inserts = new Map<string, number>();
    for (const record of records) {
      expect(record.eventName).toBe('INSERT');
      const id = String(record.dynamodb?.Keys?.sk?.S);
      inserts.set(id, (inserts.get(id) ?? 0) + 1);
    }
    expect([...counts.keys()].filter((id) => !inserts.has(id))).toEqual([]);
    expect([...inserts.keys()].filter((id) => !storedAfter.has(id))).toEqual([]);
    expect([...inserts.values()].every((n) => n === 1)).toBe(true);
  }, 420_000);
});
