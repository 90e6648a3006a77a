import { DynamoDBClient, PutItemCommand, BatchWriteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, DescribeStreamCommand, GetShardIteratorCommand, GetRecordsCommand, ListStreamsCommand } from '@aws-sdk/client-dynamodb-streams';
import { startDynamoDbLocal, localAwsClientConfig } from './infra/local/dynamodb-local.ts';
import { ensureTables } from './infra/local/tables.ts';
const h = await startDynamoDbLocal({});
try {
const c = new DynamoDBClient(localAwsClientConfig(h.endpoint));
const s = new DynamoDBStreamsClient(localAwsClientConfig(h.endpoint));
s.middlewareStack.add((next) => async (args) => { const r: any = await next(args); return r; }, { step: 'deserialize', name: 'x' });
const names = await ensureTables(c, 'x');
const T = names.events;
await c.send(new PutItemCommand({ TableName: T, Item: { pk: { S: 'u#2' }, sk: { S: 'ttl' }, expiresAt: { N: String(Math.floor(Date.now()/1000) - 10) } } }));
const raw = await fetch(h.endpoint, { method: 'POST', headers: { 'X-Amz-Target': 'DynamoDBStreams_20120810.ListStreams', 'Content-Type': 'application/x-amz-json-1.0', Authorization: 'AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' }, body: '{}' });
const arn = (await raw.json()).Streams[0].StreamArn;
const t0 = Date.now();
for (let b = 0; b < 120; b++) {
  await c.send(new BatchWriteItemCommand({ RequestItems: { [T]: Array.from({ length: 25 }, (_, i) => ({ PutRequest: { Item: { pk: { S: `u#${i % 7}` }, sk: { S: `b${b}-${i}` }, pad: { S: 'x'.repeat(200) } } } })) } }));
}
console.log('3000 puts ms', Date.now() - t0);
const d = await s.send(new DescribeStreamCommand({ StreamArn: arn }));
console.log('shards after 3000', JSON.stringify(d.StreamDescription?.Shards));
const shard = d.StreamDescription!.Shards![0]!.ShardId!;
const it = await s.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard, ShardIteratorType: 'TRIM_HORIZON' }));
const rawRec = await fetch(h.endpoint, { method: 'POST', headers: { 'X-Amz-Target': 'DynamoDBStreams_20120810.GetRecords', 'Content-Type': 'application/x-amz-json-1.0', Authorization: 'AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' }, body: JSON.stringify({ ShardIterator: it.ShardIterator, Limit: 1 }) });
console.log('raw record', (await rawRec.text()).slice(0, 600));
let next = it.ShardIterator; let n = 0; let pages = 0; const t1 = Date.now();
while (next && pages < 50) { const r = await s.send(new GetRecordsCommand({ ShardIterator: next, Limit: 1000 })); pages++; n += r.Records?.length ?? 0; next = r.NextShardIterator; if (!r.Records?.length) break; }
console.log('read', n, 'records in', pages, 'pages', Date.now() - t1, 'ms');
// AFTER_SEQUENCE_NUMBER / AT_SEQUENCE_NUMBER
const after = await s.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: '000000000000000000005' }));
const ra = await s.send(new GetRecordsCommand({ ShardIterator: after.ShardIterator!, Limit: 2 }));
console.log('after 5 ->', ra.Records?.map(r => r.dynamodb?.SequenceNumber));
const latest = await s.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard, ShardIteratorType: 'LATEST' }));
const rl = await s.send(new GetRecordsCommand({ ShardIterator: latest.ShardIterator! }));
console.log('latest ->', rl.Records?.length);
try { await s.send(new GetRecordsCommand({ ShardIterator: 'garbage' })); } catch (e) { console.log('bad iterator', (e as Error).name, (e as Error).message); }
// reuse old iterator
const rr = await s.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator!, Limit: 1 }));
console.log('reused iterator ok', rr.Records?.[0]?.dynamodb?.SequenceNumber);
try { await s.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: '000000000000000099999' })); console.log('future seq accepted'); } catch (e) { console.log('future seq', (e as Error).name, (e as Error).message); }
for (let k = 0; k < 8; k++) { await new Promise(r => setTimeout(r, 10000)); const g = await c.send(new GetItemCommand({ TableName: T, Key: { pk: { S: 'u#2' }, sk: { S: 'ttl' } } })); if (!g.Item) { console.log('TTL deleted after', (k+1)*10, 's'); break; } }
const d2 = await s.send(new DescribeStreamCommand({ StreamArn: arn }));
console.log('shards later', JSON.stringify(d2.StreamDescription?.Shards));
} finally { await h.stop(); }
