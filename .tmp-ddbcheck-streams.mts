import { DynamoDBClient, PutItemCommand, UpdateItemCommand, DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, DescribeStreamCommand, GetShardIteratorCommand, GetRecordsCommand, ListStreamsCommand } from '@aws-sdk/client-dynamodb-streams';
import { startDynamoDbLocal, localAwsClientConfig } from './infra/local/dynamodb-local.ts';
import { ensureTables } from './infra/local/tables.ts';
const h = await startDynamoDbLocal({});
try {
const c = new DynamoDBClient(localAwsClientConfig(h.endpoint));
const s = new DynamoDBStreamsClient(localAwsClientConfig(h.endpoint));
const names = await ensureTables(c, 'x');
const T = names.events;
let t = Date.now();
for (let i = 0; i < 5; i++) await c.send(new PutItemCommand({ TableName: T, Item: { pk: { S: 'u#1' }, sk: { S: `m${i}` }, n: { N: String(i) }, b: { B: new Uint8Array([1,2,3]) } } }));
console.log('5 puts ms', Date.now() - t);
// no-op put (same item)
await c.send(new PutItemCommand({ TableName: T, Item: { pk: { S: 'u#1' }, sk: { S: 'm0' }, n: { N: '0' }, b: { B: new Uint8Array([1,2,3]) } } }));
// conditional failed put
try { await c.send(new PutItemCommand({ TableName: T, Item: { pk: { S: 'u#1' }, sk: { S: 'm0' } }, ConditionExpression: 'attribute_not_exists(pk)' })); } catch (e) { console.log('cond fail', (e as Error).name); }
// no-op update
await c.send(new UpdateItemCommand({ TableName: T, Key: { pk: { S: 'u#1' }, sk: { S: 'm1' } }, UpdateExpression: 'SET n = :n', ExpressionAttributeValues: { ':n': { N: '1' } } }));
// delete non existing
await c.send(new DeleteItemCommand({ TableName: T, Key: { pk: { S: 'u#9' }, sk: { S: 'zz' } } }));
await c.send(new DeleteItemCommand({ TableName: T, Key: { pk: { S: 'u#1' }, sk: { S: 'm4' } } }));
// TTL item expired
await c.send(new PutItemCommand({ TableName: T, Item: { pk: { S: 'u#2' }, sk: { S: 'ttl' }, expiresAt: { N: String(Math.floor(Date.now()/1000) - 10) } } }));
const streams = await s.send(new ListStreamsCommand({}));
console.log('streams', JSON.stringify(streams.Streams));
const arn = streams.Streams![0]!.StreamArn!;
const d = await s.send(new DescribeStreamCommand({ StreamArn: arn }));
console.log('describe', JSON.stringify(d.StreamDescription, null, 1));
for (const shard of d.StreamDescription!.Shards!) {
  const it = await s.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
  console.log('iterator', it.ShardIterator);
  t = Date.now();
  const r = await s.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator!, Limit: 3 }));
  console.log('getrecords ms', Date.now() - t, 'n', r.Records?.length, 'next', r.NextShardIterator);
  console.log(JSON.stringify(r.Records?.[0], null, 1), r.Records?.[0]?.dynamodb?.ApproximateCreationDateTime);
  let next = r.NextShardIterator; const all = [...(r.Records ?? [])];
  for (let k = 0; k < 5 && next; k++) { const rr = await s.send(new GetRecordsCommand({ ShardIterator: next })); all.push(...(rr.Records ?? [])); console.log('page', rr.Records?.length, rr.NextShardIterator ? 'next' : 'NO NEXT'); next = rr.NextShardIterator; }
  for (const rec of all) console.log(rec.eventName, rec.dynamodb?.SequenceNumber, JSON.stringify(rec.dynamodb?.Keys), rec.userIdentity, rec.eventID, rec.awsRegion, rec.eventSource, rec.eventVersion, rec.dynamodb?.SizeBytes);
}
await new Promise(r => setTimeout(r, 3000));
const d2 = await s.send(new DescribeStreamCommand({ StreamArn: arn }));
console.log('shards later', JSON.stringify(d2.StreamDescription?.Shards));
} finally { await h.stop(); }
