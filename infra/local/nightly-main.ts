import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { environmentConfig } from '../../shared/config/environments.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { localAwsClientConfig, startDynamoDbLocal } from './dynamodb-local.ts';
import { runLocalNightly } from './nightly.ts';
import { LOCAL_TABLE_PREFIX, runningRuntime } from './runtime.ts';
import { ensureTables } from './tables.ts';

// The SDK warns on Node 20 that its 2027 releases need Node 22; the versions pinned here do not.
process.env.AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING ??= '1';

const usage = `Usage: npm run nightly -- [--data-dir DIR] [--as-of YYYY-MM-DD] [--window-days N]

Runs the nightly analytics (compaction, RFM in DuckDB, k-means, personas, write-back) once, with
the state machine the CDK app deploys. Default as-of date: yesterday in the brand time zone.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string', default: process.env.PORTRAIT_DATA_DIR ?? '.portrait' },
      'as-of': { type: 'string' },
      'window-days': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const windowDays =
    values['window-days'] === undefined ? undefined : Number(values['window-days']);
  const dataDir = resolve(values['data-dir']);
  const running = runningRuntime(dataDir);
  const dynamoLocal = running
    ? undefined
    : await startDynamoDbLocal({ dbPath: join(dataDir, 'dynamodb') });
  const dynamo = new DynamoDBClient(
    localAwsClientConfig(running?.dynamoEndpoint ?? (dynamoLocal?.endpoint as string)),
  );
  try {
    const tables = running?.tables ?? (await ensureTables(dynamo, LOCAL_TABLE_PREFIX));
    const started = Date.now();
    const result = await runLocalNightly(
      {
        documents: DynamoDBDocumentClient.from(dynamo),
        tables: {
          profiles: tables.profiles ?? `${LOCAL_TABLE_PREFIX}-profiles`,
          analytics: tables.analytics ?? `${LOCAL_TABLE_PREFIX}-analytics`,
        },
        lakeDir: join(dataDir, 'lake'),
        catalogue: configuredRuleCatalogue(
          process.env[runtimeEnvNames.tagCatalogueFile] || undefined,
        ),
        zone: environmentConfig('local').brandTimeZone,
        now: Date.now,
        progress: (line) => console.log(line),
      },
      {
        ...(values['as-of'] !== undefined ? { asOf: values['as-of'] } : {}),
        ...(windowDays !== undefined ? { windowDays } : {}),
      },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`nightly run ${result.runId ?? '(not planned)'} ${result.status} in ${seconds} s`);
    return result.status === 'succeeded' ? 0 : 1;
  } finally {
    dynamo.destroy();
    await dynamoLocal?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`nightly: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
