import { startDynamoDbLocal } from './infra/local/dynamodb-local.ts';
const t0 = Date.now();
const h = await startDynamoDbLocal({ log: (l) => console.log('[ddb]', l) });
console.log('started', Date.now() - t0, h.endpoint);
const t1 = Date.now();
await h.stop();
console.log('stopped', Date.now() - t1, h.process.exitCode, h.process.signalCode);
