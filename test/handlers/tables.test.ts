import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { tables } from '../../infra/declarations/index.ts';
import { ensureTables, tableName } from '../../infra/local/tables.ts';
import { testClients, uniquePrefix } from '../support/dynamo.ts';

const clients = testClients();
afterAll(() => clients.destroy());

describe('ensureTables', () => {
  it('creates every declared table under the prefix and returns the physical names', async () => {
    const prefix = uniquePrefix('tables-create');

    const names = await ensureTables(clients.dynamo, prefix);

    expect(names).toEqual(Object.fromEntries(tables.map((t) => [t.id, tableName(prefix, t.id)])));
    // ListTables answers 100 names a page, and other test files share this emulator.
    const listed: string[] = [];
    let start: string | undefined;
    do {
      const page = await clients.dynamo.send(
        new ListTablesCommand({ ExclusiveStartTableName: start }),
      );
      listed.push(...(page.TableNames ?? []));
      start = page.LastEvaluatedTableName;
    } while (start);
    for (const name of Object.values(names)) expect(listed).toContain(name);
  });

  it('sets keys, on-demand billing, streams and TTL as declared', async () => {
    const prefix = uniquePrefix('tables-spec');

    const names = await ensureTables(clients.dynamo, prefix);

    for (const declaration of tables) {
      const name = names[declaration.id];
      const { Table: table } = await clients.dynamo.send(
        new DescribeTableCommand({ TableName: name }),
      );
      expect(table?.TableStatus).toBe('ACTIVE');
      expect(table?.KeySchema).toEqual([
        { AttributeName: declaration.partitionKey.name, KeyType: 'HASH' },
        ...(declaration.sortKey
          ? [{ AttributeName: declaration.sortKey.name, KeyType: 'RANGE' }]
          : []),
      ]);
      expect(table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      if (declaration.stream) {
        expect(table?.StreamSpecification).toEqual({
          StreamEnabled: true,
          StreamViewType: declaration.stream,
        });
        expect(table?.LatestStreamArn).toBeTruthy();
      } else {
        expect(table?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
      }
      const { TimeToLiveDescription: ttl } = await clients.dynamo.send(
        new DescribeTimeToLiveCommand({ TableName: name }),
      );
      if (declaration.timeToLiveAttribute) {
        expect(ttl?.TimeToLiveStatus).toBe('ENABLED');
        expect(ttl?.AttributeName).toBe(declaration.timeToLiveAttribute);
      } else {
        expect(ttl?.TimeToLiveStatus).toBe('DISABLED');
      }
    }
  });

  it('keeps existing tables, their data and their stream when run again', async () => {
    const prefix = uniquePrefix('tables-idempotent');
    const names = await ensureTables(clients.dynamo, prefix);
    const before = await clients.dynamo.send(new DescribeTableCommand({ TableName: names.events }));
    await clients.documents.send(
      new PutCommand({ TableName: names.events, Item: { pk: 'u#1', sk: 'm-1', kept: true } }),
    );

    const again = await ensureTables(clients.dynamo, prefix);

    expect(again).toEqual(names);
    const after = await clients.dynamo.send(new DescribeTableCommand({ TableName: names.events }));
    expect(after.Table?.CreationDateTime).toEqual(before.Table?.CreationDateTime);
    expect(after.Table?.LatestStreamArn).toBe(before.Table?.LatestStreamArn);
    const item = await clients.documents.send(
      new GetCommand({ TableName: names.events, Key: { pk: 'u#1', sk: 'm-1' } }),
    );
    expect(item.Item).toEqual({ pk: 'u#1', sk: 'm-1', kept: true });
  });

  it('creates the tables once when called concurrently', async () => {
    const prefix = uniquePrefix('tables-concurrent');

    const [first, second] = await Promise.all([
      ensureTables(clients.dynamo, prefix),
      ensureTables(clients.dynamo, prefix),
    ]);

    expect(first).toEqual(second);
  });
});
