/**
 * Creates the declared tables in DynamoDB Local (or any DynamoDB endpoint), idempotently.
 * The declarations in `infra/declarations/tables.ts` are the single source for keys, streams and TTL.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  ResourceInUseException,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { type TableDeclaration, type TableId, tables } from '../declarations/index.ts';

/** An existing table's keys differ from its declaration; only deleting it can fix that. */
export class TableKeyMismatchError extends Error {
  readonly code = 'TABLE_KEY_MISMATCH';
  override readonly name = 'TableKeyMismatchError';
}

const TABLE_WAIT_SECONDS = 60;

/** Physical table name of a declared table under an environment prefix. */
export function tableName(prefix: string, id: TableId): string {
  return `${prefix}-${id}`;
}

/** `CreateTable` input for a declaration: on-demand billing, stream and keys as declared. */
export function createTableInput(
  declaration: TableDeclaration,
  physicalName: string,
): CreateTableCommandInput {
  const keys = [declaration.partitionKey, ...(declaration.sortKey ? [declaration.sortKey] : [])];
  for (const index of declaration.indexes ?? []) keys.push(index.partitionKey, index.sortKey);
  const attributeDefinitions: AttributeDefinition[] = [
    ...new Map(keys.map((key) => [key.name, key])).values(),
  ].map((key) => ({ AttributeName: key.name, AttributeType: key.type }));
  const indexes = declaration.indexes ?? [];
  return {
    TableName: physicalName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributeDefinitions,
    KeySchema: keySchema(declaration),
    ...(indexes.length > 0
      ? {
          GlobalSecondaryIndexes: indexes.map((index) => ({
            IndexName: index.name,
            KeySchema: [
              { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
              { AttributeName: index.sortKey.name, KeyType: 'RANGE' as const },
            ],
            Projection: { ProjectionType: index.projection },
          })),
        }
      : {}),
    ...(declaration.stream
      ? { StreamSpecification: { StreamEnabled: true, StreamViewType: declaration.stream } }
      : {}),
  };
}

/**
 * Creates every declared table named `${prefix}-${id}` that does not exist yet, waits until all
 * are ACTIVE, and brings streams and TTL in line with the declarations. Existing tables and their
 * data are kept.
 *
 * @returns physical table name per table id
 */
export async function ensureTables(
  client: DynamoDBClient,
  prefix: string,
): Promise<Record<TableId, string>> {
  const entries = await Promise.all(
    tables.map(async (declaration) => {
      const name = tableName(prefix, declaration.id);
      await ensureTable(client, declaration, name);
      return [declaration.id, name] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<TableId, string>;
}

async function ensureTable(
  client: DynamoDBClient,
  declaration: TableDeclaration,
  name: string,
): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(declaration, name)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists(
    { client, maxWaitTime: TABLE_WAIT_SECONDS, minDelay: 1, maxDelay: 2 },
    { TableName: name },
  );
  const { Table: table } = await client.send(new DescribeTableCommand({ TableName: name }));
  if (!table) throw new Error(`DescribeTable returned no table for ${name}`);
  assertSameKeys(declaration, table);
  await ensureStream(client, declaration, table);
  await ensureTimeToLive(client, declaration, name);
}

function keySchema(declaration: TableDeclaration): KeySchemaElement[] {
  return [
    { AttributeName: declaration.partitionKey.name, KeyType: 'HASH' },
    ...(declaration.sortKey
      ? [{ AttributeName: declaration.sortKey.name, KeyType: 'RANGE' as const }]
      : []),
  ];
}

function assertSameKeys(declaration: TableDeclaration, table: TableDescription): void {
  const describe = (schema: KeySchemaElement[], definitions: AttributeDefinition[]): string =>
    schema
      .map((key) => {
        const type = definitions.find((d) => d.AttributeName === key.AttributeName)?.AttributeType;
        return `${key.KeyType}:${key.AttributeName}:${type}`;
      })
      .join(',');
  const declared = createTableInput(declaration, table.TableName ?? '');
  const expected = describe(declared.KeySchema ?? [], declared.AttributeDefinitions ?? []);
  const actual = describe(table.KeySchema ?? [], table.AttributeDefinitions ?? []);
  if (expected !== actual) {
    throw new TableKeyMismatchError(
      `Table ${table.TableName} has keys ${actual} but its declaration says ${expected}; ` +
        'delete the table (or the local data folder) to recreate it.',
    );
  }
}

async function ensureStream(
  client: DynamoDBClient,
  declaration: TableDeclaration,
  table: TableDescription,
): Promise<void> {
  const current = table.StreamSpecification?.StreamEnabled
    ? table.StreamSpecification.StreamViewType
    : undefined;
  if (current === declaration.stream) return;
  const name = table.TableName;
  if (current !== undefined) {
    // A stream's view type cannot be changed in place: disable, then enable with the new view.
    await client.send(
      new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: false } }),
    );
    await waitUntilTableExists(
      { client, maxWaitTime: TABLE_WAIT_SECONDS, minDelay: 1, maxDelay: 2 },
      { TableName: name },
    );
  }
  if (declaration.stream !== undefined) {
    await client.send(
      new UpdateTableCommand({
        TableName: name,
        StreamSpecification: { StreamEnabled: true, StreamViewType: declaration.stream },
      }),
    );
    await waitUntilTableExists(
      { client, maxWaitTime: TABLE_WAIT_SECONDS, minDelay: 1, maxDelay: 2 },
      { TableName: name },
    );
  }
}

async function ensureTimeToLive(
  client: DynamoDBClient,
  declaration: TableDeclaration,
  name: string,
): Promise<void> {
  const { TimeToLiveDescription: ttl } = await client.send(
    new DescribeTimeToLiveCommand({ TableName: name }),
  );
  const enabled = ttl?.TimeToLiveStatus === 'ENABLED' || ttl?.TimeToLiveStatus === 'ENABLING';
  const attribute = enabled ? ttl?.AttributeName : undefined;
  if (attribute === declaration.timeToLiveAttribute) return;
  if (attribute !== undefined) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { Enabled: false, AttributeName: attribute },
      }),
    );
  }
  if (declaration.timeToLiveAttribute !== undefined) {
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: {
            Enabled: true,
            AttributeName: declaration.timeToLiveAttribute,
          },
        }),
      );
    } catch (error) {
      // A concurrent ensureTables may have enabled it first; that is the outcome we want.
      const again = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
      const now = again.TimeToLiveDescription;
      const done =
        (now?.TimeToLiveStatus === 'ENABLED' || now?.TimeToLiveStatus === 'ENABLING') &&
        now.AttributeName === declaration.timeToLiveAttribute;
      if (!done) throw error;
    }
  }
}
