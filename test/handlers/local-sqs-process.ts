/**
 * Runs the local SQS in a process of its own, for tests that kill it (`kill -9`) and for the
 * queue benchmark. Usage: `node --import tsx test/handlers/local-sqs-process.ts <dir> [queue…]`.
 * Prints one JSON line `{ "endpoint": … }` once it listens.
 */
import { startLocalSqs } from '../../infra/local/queue/sqs-server.ts';

const [dir, ...names] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: local-sqs-process.ts <dir> [queue…]\n');
  process.exit(2);
}
const queueNames = names.length > 0 ? names : ['load'];
const server = await startLocalSqs({
  dir,
  queues: queueNames.map((name) => ({ name, visibilityTimeoutSeconds: 30 })),
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${JSON.stringify({ endpoint: server.endpoint })}\n`);
const shutdown = () => {
  server.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
