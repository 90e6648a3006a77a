import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';

/** Every record currently in a table's stream, read from the start of every shard. */
export async function readAllStreamRecords(
  dynamo: DynamoDBClient,
  streams: DynamoDBStreamsClient,
  tableName: string,
): Promise<_Record[]> {
  const table = await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = table.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`${tableName} has no stream`);
  const records: _Record[] = [];
  let exclusiveStartShardId: string | undefined;
  do {
    const description = await streams.send(
      new DescribeStreamCommand({
        StreamArn: streamArn,
        ExclusiveStartShardId: exclusiveStartShardId,
      }),
    );
    for (const shard of description.StreamDescription?.Shards ?? []) {
      const iterator = await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      let next = iterator.ShardIterator;
      while (next) {
        const page = await streams.send(
          new GetRecordsCommand({ ShardIterator: next, Limit: 1000 }),
        );
        records.push(...(page.Records ?? []));
        // An open shard always returns a next iterator; an empty page means we are at its end.
        next = (page.Records ?? []).length > 0 ? page.NextShardIterator : undefined;
      }
    }
    exclusiveStartShardId = description.StreamDescription?.LastEvaluatedShardId;
  } while (exclusiveStartShardId);
  return records;
}
