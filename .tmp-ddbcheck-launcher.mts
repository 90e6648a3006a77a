import { ListTablesCommand, DynamoDBClient, CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal, localAwsClientConfig } from '/work/main/infra/local/dynamodb-local.ts';
const t0 = Date.now();
try { await startDynamoDbLocal({ dir: '/tmp/nope' }); } catch (e) { console.log('missing jar:', (e as Error).message); }
try { await startDynamoDbLocal({ java: 'java-not-here' }); } catch (e) { console.log('missing java:', (e as Error).message); }
const a = await startDynamoDbLocal({ dbPath: '/tmp/ddbcheck/data' });
console.log('started persistent in', Date.now() - t0, a.endpoint);
try { await startDynamoDbLocal({ port: a.port }); } catch (e) { console.log('port taken:', (e as Error).message.slice(0, 300)); }
const c = new DynamoDBClient(localAwsClientConfig(a.endpoint));
const before = await c.send(new ListTablesCommand({}));
console.log('tables before', before.TableNames);
if (!before.TableNames?.includes('persist')) await c.send(new CreateTableCommand({ TableName: 'persist', BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{AttributeName:'pk',AttributeType:'S'}], KeySchema: [{AttributeName:'pk',KeyType:'HASH'}] }));
const s0 = Date.now(); await a.stop(); console.log('stopped in', Date.now() - s0, 'exit', a.process.exitCode, a.process.signalCode);
c.destroy();
