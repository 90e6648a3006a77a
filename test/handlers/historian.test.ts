/**
 * The historian against DynamoDB Local: profile writes that change tags carry their changes, the
 * profiles table's real stream delivers them, and the historian turns them into history items —
 * once, however often the records are delivered.
 */
import { CreateTableCommand, GetItemCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHistorianHandler } from '../../functions/historian/historian.ts';
import { profilesTable as profilesTableDeclaration } from '../../infra/declarations/tables.ts';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { emptyProfile } from '../../shared/domain/tags/profile.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { readAllStreamRecords } from '../support/stream-records.ts';

let clients: TestClients;
let streams: DynamoDBStreamsClient;
let table: string;
let store: ProfileStore;

beforeAll(async () => {
  clients = testClients();
  streams = new DynamoDBStreamsClient(localAwsClientConfig(clients.endpoint));
  table = `${uniquePrefix('historian')}-profiles`;
  await clients.dynamo.send(
    new CreateTableCommand(createTableInput(profilesTableDeclaration, table)),
  );
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: table },
  );
  store = new ProfileStore(clients.documents, table);
});
afterAll(() => {
  streams.destroy();
  clients.destroy();
});

const state = emptyProfile(defaultRuleCatalogue(), 'Asia/Shanghai');
const change = (tags: Record<string, true | string>, at: number, tag: string) => ({
  state,
  tags,
  appliedSeq: {},
  nextChangeAt: undefined,
  history: [
    { at, cause: { kind: 'clock' as const }, changes: [{ tag, from: null, to: true as const }] },
  ],
});

describe('historian', () => {
  it('records the changes each profile write carried, once, however often the stream delivers them', async () => {
    await store.apply('u#h1', () => change({ a: true }, 1_000, 'a'));
    await store.apply('u#h1', () => ({
      state,
      tags: { a: true },
      appliedSeq: {},
      nextChangeAt: 5,
    }));
    await store.apply('u#h1', () => change({ a: true, b: true }, 2_000, 'b'));
    const records = (await readAllStreamRecords(
      clients.dynamo,
      streams,
      table,
    )) as DynamoDBRecord[];
    expect(records).toHaveLength(3);

    const historian = makeHistorianHandler({
      recordHistory: (key, version, entries) => store.recordHistory(key, version, entries),
      logger: silentLogger,
    });
    for (const delivery of [records, records.slice(1), records]) {
      expect((await historian({ Records: delivery })).batchItemFailures).toEqual([]);
    }
    const page = await store.history('u#h1', 10);
    expect(page.entries.map((entry) => entry.changes[0]?.tag)).toEqual(['b', 'a']);
    expect(page.entries.map((entry) => entry.at)).toEqual([2_000, 1_000]);
  });

  it('reports the earliest record it could not write, so the retry starts there', async () => {
    await store.apply('u#h2', () => change({ a: true }, 3_000, 'a'));
    await store.apply('u#h2', () => change({ a: true, c: true }, 4_000, 'c'));
    const records = (await readAllStreamRecords(clients.dynamo, streams, table)).filter(
      (record) => record.dynamodb?.Keys?.pk?.S === 'm#u#h2',
    ) as DynamoDBRecord[];
    const historian = makeHistorianHandler({
      recordHistory: async () => {
        throw new Error('throttled');
      },
      logger: silentLogger,
    });
    const response = await historian({ Records: records });
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: records[0]?.dynamodb?.SequenceNumber },
    ]);
  });

  it('stores the profile state deflated and reads it back', async () => {
    const written = await store.apply('u#h3', () => change({ a: true }, 5_000, 'a'));
    expect(written.status).toBe('written');
    const { Item } = await clients.dynamo.send(
      new GetItemCommand({
        TableName: table,
        Key: { pk: { S: 'm#u#h3' }, sk: { S: 'profile' } },
      }),
    );
    expect(Item?.state?.B).toBeInstanceOf(Uint8Array);
    expect((await store.get('u#h3'))?.state.zone).toBe('Asia/Shanghai');
  });
});
