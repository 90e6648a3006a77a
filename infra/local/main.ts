import { parseArgs } from 'node:util';
import { startLocalRuntime } from './runtime.ts';

// The SDK warns on Node 20 that its 2027 releases need Node 22; the versions pinned here do not.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** `npm start`: the whole pipeline on this machine, until Ctrl-C. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string', default: process.env.PORTRAIT_DATA_DIR ?? '.portrait' },
      port: { type: 'string', default: process.env.PORTRAIT_PORT ?? '3000' },
      host: { type: 'string', default: process.env.PORTRAIT_HOST ?? '127.0.0.1' },
      quiet: { type: 'boolean', default: false },
      'nightly-every': { type: 'string', default: process.env.PORTRAIT_NIGHTLY_EVERY ?? '0' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`portrait: --port must be a port number, got "${values.port}"`);
    process.exit(2);
  }
  const nightlyEverySeconds = Number(values['nightly-every']);
  if (!Number.isInteger(nightlyEverySeconds) || nightlyEverySeconds < 0) {
    console.error(
      `portrait: --nightly-every must be whole seconds (0: off), got "${values['nightly-every']}"`,
    );
    process.exit(2);
  }
  const log = values.quiet ? () => {} : (line: string) => console.error(`portrait: ${line}`);
  const runtime = await startLocalRuntime({
    dataDir: values['data-dir'],
    port,
    host: values.host,
    nightlyEverySeconds,
    log,
    onFatal: (error) => {
      console.error(`portrait: ${error.message}`);
      process.exit(1);
    },
  });

  console.log(
    [
      '',
      'Portrait local runtime is ready.',
      `  API             ${runtime.apiUrl}  (routes: /v1/track /v1/identify /v1/alias /v1/page /v1/screen /v1/group /v1/batch, GET /v1/members/{id})`,
      `  DynamoDB Local  ${runtime.dynamoEndpoint}  (tables: ${Object.values(runtime.tables).join(', ')})`,
      `  SQS (local)     ${runtime.sqsEndpoint}`,
      `  Data folder     ${runtime.dataDir}`,
      `  Dev key         ${runtime.devWriteKey}  (development key: events:write, members:read, segments:read, segments:write)`,
      '',
      'Send an event:',
      `  curl -s ${runtime.apiUrl}/v1/track -H 'Content-Type: application/json' \\`,
      `    -u '${runtime.devWriteKey}:' \\`,
      `    -d '{"userId":"u-1001","event":"Order Completed","properties":{"orderId":"o-1","revenue":88.5,"currency":"CNY"}}'`,
      '',
      'Read the member, its tags and why (two or three seconds later):',
      `  curl -s ${runtime.apiUrl}/v1/members/u-1001 -u '${runtime.devWriteKey}:'`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping ...`);
    runtime.stop().then(
      () => {
        log('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  const err = error as { code?: string; message?: string };
  console.error(
    `portrait: failed to start: ${err.message ?? String(error)}${err.code ? ` (${err.code})` : ''}`,
  );
  process.exit(1);
});
