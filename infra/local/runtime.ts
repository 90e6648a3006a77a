import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import type { SweepSummary } from '../../functions/sweeper/sweeper.ts';
import { loadOrCreateLocalKey } from '../../shared/adapters/personal-data-cipher.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { useClock } from '../../shared/config/clock.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../../shared/config/tag-catalogue.ts';
import { generateWriteKey, hashWriteKey } from '../../shared/domain/keys/write-key.ts';
import type { StreamingHandler } from '../../shared/http/response-stream.ts';
import type { BackfillRun } from '../../shared/jobs/backfill-job.ts';
import { scrubText } from '../../shared/logging/logger.ts';
import { type FunctionId, functions } from '../declarations/functions.ts';
import { nightlySchedule } from '../declarations/nightly.ts';
import { queues } from '../declarations/queues.ts';
import { routes, type Scope } from '../declarations/routes.ts';
import {
  backfillerSchedule,
  type ScheduleDeclaration,
  sweeperSchedule,
} from '../declarations/schedules.ts';
import { streamConsumers } from '../declarations/streams.ts';
import type { TableId } from '../declarations/tables.ts';
import {
  type DynamoDbLocalHandle,
  localAwsClientConfig,
  startDynamoDbLocal,
} from './dynamodb-local.ts';
import {
  type Gateway,
  type HttpHandler,
  type StreamingHttpHandler,
  startGateway,
} from './gateway.ts';
import { invokeLocally, invokeStreamingLocally, type LambdaHandler } from './lambda-invoke.ts';
import { type LocalNightlyOptions, type LocalNightlyResult, runLocalNightly } from './nightly.ts';
import { SqsEventSource } from './queue/sqs-event-source.ts';
import { startLocalSqs } from './queue/sqs-server.ts';
import { FileCheckpointStore, StreamPoller } from './stream-poller.ts';
import { ensureTables } from './tables.ts';

export const LOCAL_TABLE_PREFIX = 'portrait-local';
const REGION = 'us-east-1';
const repoRoot = resolve(import.meta.dirname, '..', '..');

/** Queue names as the local SQS stand-in knows them. */
export const localQueueName = (id: string) => `portrait-${id}`;
export const localDeadLetterQueueName = (id: string) => `portrait-${id}-dlq`;
export const STREAM_FAILURE_QUEUE = 'portrait-stream-failures';

/**
 * Concurrent batches per queue locally. On AWS each batch is its own Lambda with its own
 * connections; here they share one process and DynamoDB Local's single SQLite writer, where more
 * than two batches in flight only add contention (measured in docs/BENCHMARKS.md).
 */
export const LOCAL_MAX_CONCURRENT_BATCHES = 2;

/** First webhook retry delay locally (doubling per attempt), so a failing receiver is seen soon. */
export const LOCAL_WEBHOOK_RETRY_BASE_SECONDS = 5;

/** Seconds between an erasure's sweeps locally: the local streams settle within a second or two. */
export const LOCAL_ERASURE_SETTLE_SECONDS = 2;

export interface LocalRuntimeOptions {
  /** Folder for all local state (tables, queue log, checkpoints). @default `.portrait` */
  readonly dataDir?: string;
  /** Port of the HTTP gateway. @default 3000; 0 picks a free port */
  readonly port?: number;
  readonly host?: string;
  /** Lines for the operator (startup, failures). */
  readonly log?: (line: string) => void;
  /**
   * Called when a stand-in the runtime cannot work without dies (DynamoDB Local exiting on its
   * own). The runtime has already begun stopping; the caller should exit non-zero.
   */
  readonly onFatal?: (error: Error) => void;
  /**
   * The instant handlers see (epoch ms). Lets tests and demos move time forward and watch
   * windowed tags change with no new event. @default Date.now
   */
  readonly clock?: () => number;
  /** Seconds between sweeps; 0 turns the timer off (tests call `sweep()`). @default the declaration's local period */
  readonly sweepEverySeconds?: number;
  /** Seconds between backfiller runs; 0 turns the timer off (tests call `backfill()`). @default the declaration's local period */
  readonly backfillEverySeconds?: number;
  /**
   * Seconds between runs of the nightly analytics state machine (`npm run nightly` runs it once);
   * 0 turns the timer off (tests call `nightly()`). @default 0: off
   */
  readonly nightlyEverySeconds?: number;
  /**
   * Keep DynamoDB Local's data in memory (lost at stop), for benchmarks that load millions of
   * items quickly. @default false: data on disk in the data folder
   */
  readonly inMemory?: boolean;
}

/** Where a running runtime can be reached; also written to `<dataDir>/runtime.json` for the CLI. */
export interface RuntimeEndpoints {
  readonly pid: number;
  readonly apiUrl: string;
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  readonly tables: Record<TableId, string>;
  readonly queueUrls: Record<string, string>;
}

/** The runtime running on `dataDir` (its `runtime.json`, while its process lives), if any. */
export function runningRuntime(dataDir: string): RuntimeEndpoints | undefined {
  const file = join(dataDir, 'runtime.json');
  if (!existsSync(file)) return undefined;
  const endpoints = JSON.parse(readFileSync(file, 'utf8')) as RuntimeEndpoints;
  try {
    process.kill(endpoints.pid, 0);
    return endpoints;
  } catch {
    return undefined;
  }
}

export interface LocalRuntime extends RuntimeEndpoints {
  readonly dataDir: string;
  /** The development write key created at first start (kept in `<dataDir>/dev-write-key`). */
  readonly devWriteKey: string;
  /**
   * Resolves when every queued message and stream record has been handled, including the records
   * those handlers wrote to later streams.
   */
  idle(): Promise<void>;
  /** Runs the sweeper now (waiting for a run in progress first) and returns its summary. */
  sweep(): Promise<SweepSummary>;
  /**
   * Runs the backfiller until the current set of segments is backfilled (waiting for a run in
   * progress first) and returns the last run.
   */
  backfill(): Promise<BackfillRun>;
  /** Runs the nightly analytics once (waiting for a run in progress first). */
  nightly(options?: LocalNightlyOptions): Promise<LocalNightlyResult>;
  stop(): Promise<void>;
}

export class RuntimeAlreadyRunningError extends Error {
  readonly code = 'runtime_already_running';
  constructor(dataDir: string, pid: number) {
    super(
      `Another Portrait runtime (pid ${pid}) is using ${dataDir}. Stop it or pass another --data-dir.`,
    );
    this.name = 'RuntimeAlreadyRunningError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
    } catch {
      return '';
    }
  }
}

/**
 * Refuses a data folder another live runtime holds, and stops a DynamoDB Local left behind by a
 * runtime that was killed with SIGKILL (its JVM outlives it and still holds the database).
 */
function claimDataDir(dataDir: string): void {
  const lockFile = join(dataDir, 'runtime.pid');
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8'));
    if (pid !== process.pid && isAlive(pid) && /node|tsx/.test(commandLineOf(pid))) {
      throw new RuntimeAlreadyRunningError(dataDir, pid);
    }
  }
  const dynamoPidFile = join(dataDir, 'dynamodb.pid');
  if (existsSync(dynamoPidFile)) {
    const pid = Number(readFileSync(dynamoPidFile, 'utf8'));
    if (pid > 0 && isAlive(pid) && commandLineOf(pid).includes('DynamoDBLocal')) {
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && isAlive(pid); i += 1) execFileSync('sleep', ['0.05']);
    }
  }
  writeFileSync(lockFile, String(process.pid));
}

/**
 * Loads a function's real `handler` export, exactly as Lambda would, and returns it wrapped to
 * be called like Lambda calls it: with a context and the declared timeout.
 */
async function loadHandler<E, R>(id: FunctionId): Promise<(event: E) => Promise<R>> {
  const module = (await import(pathToFileURL(join(repoRoot, functions[id].entry)).href)) as {
    handler: LambdaHandler<E, R>;
  };
  return invokeLocally(functions[id], module.handler);
}

/** Loads a streaming function's `handler` (`streamifyResponse`) and wraps it as Lambda calls it. */
async function loadStreamingHandler(id: FunctionId): Promise<StreamingHttpHandler> {
  const module = (await import(pathToFileURL(join(repoRoot, functions[id].entry)).href)) as {
    handler: StreamingHandler<APIGatewayProxyEventV2>;
  };
  return invokeStreamingLocally(functions[id], module.handler);
}

/**
 * Starts the whole pipeline on this machine: DynamoDB Local with data on disk, tables from the
 * declarations, a durable SQS stand-in, the queue and stream event sources, and the HTTP gateway
 * with the declared routes, all calling the same handler modules Lambda runs.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const rawLog = options.log ?? (() => {});
  // Handler errors reach this log as text: scrub keys and contact details as the logger does.
  const log = (line: string) => rawLog(scrubText(line));
  const dataDir = resolve(options.dataDir ?? '.portrait');
  mkdirSync(dataDir, { recursive: true });
  claimDataDir(dataDir);
  const config = environmentConfig('local');
  // A malformed rule catalogue stops the start here, before anything is launched.
  configuredRuleCatalogue(process.env[runtimeEnvNames.tagCatalogueFile] || undefined);
  if (options.clock) useClock(options.clock);
  const stoppers: Array<() => Promise<void>> = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const stop of stoppers.reverse()) {
      await stop().catch((error: unknown) => log(`stop failed: ${String(error)}`));
    }
    stoppers.length = 0;
  };

  try {
    log('starting DynamoDB Local ...');
    const dynamo: DynamoDbLocalHandle = await startDynamoDbLocal({
      ...(options.inMemory ? {} : { dbPath: join(dataDir, 'dynamodb') }),
    });
    writeFileSync(join(dataDir, 'dynamodb.pid'), String(dynamo.process.pid ?? 0));
    stoppers.push(() => dynamo.stop());
    dynamo.process.once('exit', (code, signal) => {
      if (stopping) return;
      const error = new Error(
        `DynamoDB Local exited unexpectedly (${signal ?? `code ${code}`}); stopping the runtime so no event is accepted that cannot be stored.`,
      );
      log(error.message);
      void stopAll().finally(() => options.onFatal?.(error));
    });
    const clientConfig = localAwsClientConfig(dynamo.endpoint);
    const dynamoClient = new DynamoDBClient(clientConfig);
    const tables = await ensureTables(dynamoClient, LOCAL_TABLE_PREFIX);

    const sqsServer = await startLocalSqs({
      dir: join(dataDir, 'queue'),
      queues: [
        ...queues.flatMap((queue) => [
          {
            name: localDeadLetterQueueName(queue.id),
            visibilityTimeoutSeconds: 30,
            messageRetentionSeconds: queue.deadLetterRetentionSeconds,
          },
          {
            name: localQueueName(queue.id),
            visibilityTimeoutSeconds: queue.visibilityTimeoutSeconds,
            messageRetentionSeconds: queue.retentionSeconds,
            maxReceiveCount: queue.maxReceiveCount,
            deadLetterQueueName: localDeadLetterQueueName(queue.id),
          },
        ]),
        { name: STREAM_FAILURE_QUEUE, visibilityTimeoutSeconds: 30 },
      ],
    });
    stoppers.push(() => sqsServer.stop());
    const queueUrls: Record<string, string> = {};
    for (const queue of queues) {
      queueUrls[queue.id] = sqsServer.queueUrl(localQueueName(queue.id));
      queueUrls[`${queue.id}-dlq`] = sqsServer.queueUrl(localDeadLetterQueueName(queue.id));
    }

    // The personal-data key (docs/PRIVACY.md, "Storage"): made on first start, kept with the data.
    const personalKeyFile = join(dataDir, 'personal-data.key');
    loadOrCreateLocalKey(personalKeyFile);
    // The handlers read exactly what they read on AWS; the SDK's standard endpoint variables
    // point their clients at the stand-ins.
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SQS: sqsServer.endpoint,
      [runtimeEnvNames.environment]: config.name,
      [runtimeEnvNames.eventsTable]: tables.events,
      [runtimeEnvNames.writeKeysTable]: tables['write-keys'],
      [runtimeEnvNames.profilesTable]: tables.profiles,
      [runtimeEnvNames.segmentsTable]: tables.segments,
      [runtimeEnvNames.membershipsTable]: tables.memberships,
      [runtimeEnvNames.analyticsTable]: tables.analytics,
      [runtimeEnvNames.tagCatalogueFile]: process.env[runtimeEnvNames.tagCatalogueFile] ?? '',
      [runtimeEnvNames.eventsQueueUrl]: queueUrls.events,
      [runtimeEnvNames.eventRetentionDays]: String(config.eventRetentionDays),
      [runtimeEnvNames.maxFutureSkewSeconds]: String(config.maxFutureSkewSeconds),
      [runtimeEnvNames.brandTimeZone]: config.brandTimeZone,
      [runtimeEnvNames.lakeDir]: join(dataDir, 'lake'),
      [runtimeEnvNames.personalKeyFile]: personalKeyFile,
      [runtimeEnvNames.logLevel]: process.env[runtimeEnvNames.logLevel] ?? config.logLevel,
      // Local receivers may listen on plain http on this machine; retries start after 5 s.
      [runtimeEnvNames.webhooksQueueUrl]: queueUrls.webhooks,
      [runtimeEnvNames.webhookAllowLoopbackHttp]: 'true',
      [runtimeEnvNames.webhookRetryBaseSeconds]:
        process.env[runtimeEnvNames.webhookRetryBaseSeconds] ??
        String(LOCAL_WEBHOOK_RETRY_BASE_SECONDS),
      [runtimeEnvNames.erasuresTable]: tables.erasures,
      [runtimeEnvNames.erasuresQueueUrl]: queueUrls.erasures,
      [runtimeEnvNames.erasureSettleSeconds]:
        process.env[runtimeEnvNames.erasureSettleSeconds] ?? String(LOCAL_ERASURE_SETTLE_SECONDS),
    });

    const sqsClient = new SQSClient({ ...clientConfig, endpoint: sqsServer.endpoint });
    const sources: SqsEventSource[] = [];
    for (const queue of queues) {
      const handler = await loadHandler<SQSEvent, SQSBatchResponse>(queue.consumer.function);
      const source = new SqsEventSource({
        sqs: sqsClient,
        queueUrl: sqsServer.queueUrl(localQueueName(queue.id)),
        queueArn: `arn:aws:sqs:${REGION}:000000000000:${localQueueName(queue.id)}`,
        handler,
        batchSize: queue.consumer.batchSize,
        maxBatchingWindowSeconds: queue.consumer.maxBatchingWindowSeconds,
        maxConcurrency: Math.min(queue.consumer.maxConcurrency, LOCAL_MAX_CONCURRENT_BATCHES),
        reportBatchItemFailures: true,
        log,
      });
      source.start();
      sources.push(source);
      stoppers.push(() => source.stop());
    }

    const streamsClient = new DynamoDBStreamsClient(clientConfig);
    const pollers: StreamPoller[] = [];
    for (const consumer of streamConsumers) {
      const handler = await loadHandler<DynamoDBStreamEvent, DynamoDBBatchResponse | undefined>(
        consumer.function,
      );
      const poller = new StreamPoller({
        streamsClient,
        dynamoClient,
        tableName: tables[consumer.table],
        handler,
        batchSize: consumer.batchSize,
        maxBatchingWindowSeconds: consumer.maxBatchingWindowSeconds,
        retryAttempts: consumer.retryAttempts,
        bisectBatchOnError: consumer.bisectBatchOnError,
        reportBatchItemFailures: consumer.reportBatchItemFailures,
        startingPosition: 'TRIM_HORIZON',
        checkpoint: new FileCheckpointStore(
          join(dataDir, 'checkpoints', `${consumer.table}-${consumer.function}.json`),
        ),
        onFailure: async (failure) => {
          log(
            `stream ${consumer.table} → ${consumer.function}: ${failure.records.length} record(s) sent to ${STREAM_FAILURE_QUEUE}: ${failure.reason}`,
          );
          await sqsServer.queues
            .get(STREAM_FAILURE_QUEUE)
            ?.send(
              JSON.stringify({ table: consumer.table, function: consumer.function, ...failure }),
            );
        },
        log,
      });
      poller.start();
      pollers.push(poller);
      stoppers.push(() => poller.stop());
    }

    /** A scheduled function: one run at a time, on a timer unless `everySeconds` is 0. */
    const scheduled = async <T>(schedule: ScheduleDeclaration, everySeconds: number) => {
      const handler = await loadHandler<unknown, T>(schedule.function);
      let running: Promise<T> | undefined;
      const run = async (): Promise<T> => {
        while (running !== undefined) await running.catch(() => undefined);
        running = handler({ source: 'portrait.local', 'detail-type': 'Scheduled Event' });
        try {
          return await running;
        } finally {
          running = undefined;
        }
      };
      if (everySeconds > 0) {
        const timer = setInterval(() => {
          if (running !== undefined) return;
          run().catch((error: unknown) => log(`${schedule.id} failed: ${String(error)}`));
        }, everySeconds * 1000);
        timer.unref();
        stoppers.push(async () => {
          clearInterval(timer);
          await running?.catch(() => undefined);
        });
      }
      return run;
    };
    const sweep = await scheduled<SweepSummary>(
      sweeperSchedule,
      options.sweepEverySeconds ?? sweeperSchedule.localEverySeconds,
    );
    const backfillOnce = await scheduled<BackfillRun>(
      backfillerSchedule,
      options.backfillEverySeconds ?? backfillerSchedule.localEverySeconds,
    );
    const backfill = async (): Promise<BackfillRun> => {
      for (;;) {
        const run = await backfillOnce();
        if (run.state !== 'running') return run;
      }
    };

    let nightlyRunning: Promise<LocalNightlyResult> | undefined;
    const nightly = async (nightlyOptions: LocalNightlyOptions = {}) => {
      while (nightlyRunning !== undefined) await nightlyRunning.catch(() => undefined);
      nightlyRunning = runLocalNightly(
        {
          documents: DynamoDBDocumentClient.from(dynamoClient),
          tables,
          lakeDir: join(dataDir, 'lake'),
          catalogue: configuredRuleCatalogue(
            process.env[runtimeEnvNames.tagCatalogueFile] || undefined,
          ),
          zone: config.brandTimeZone,
          now: options.clock ?? Date.now,
          progress: (line) => log(`nightly: ${line}`),
        },
        nightlyOptions,
      );
      try {
        return await nightlyRunning;
      } finally {
        nightlyRunning = undefined;
      }
    };
    const nightlyEvery = options.nightlyEverySeconds ?? nightlySchedule.localEverySeconds;
    if (nightlyEvery > 0) {
      const timer = setInterval(() => {
        if (nightlyRunning !== undefined) return;
        nightly().catch((error: unknown) => log(`nightly failed: ${String(error)}`));
      }, nightlyEvery * 1000);
      timer.unref();
      stoppers.push(async () => {
        clearInterval(timer);
        await nightlyRunning?.catch(() => undefined);
      });
    }

    const httpHandlers: Partial<Record<FunctionId, HttpHandler>> = {};
    const streamingHandlers: Partial<Record<FunctionId, StreamingHttpHandler>> = {};
    for (const id of new Set(routes.filter((r) => !r.streaming).map((r) => r.function))) {
      httpHandlers[id] = await loadHandler<APIGatewayProxyEventV2, APIGatewayProxyResultV2>(id);
    }
    for (const id of new Set(routes.filter((r) => r.streaming).map((r) => r.function))) {
      streamingHandlers[id] = await loadStreamingHandler(id);
    }
    const gateway: Gateway = await startGateway({
      routes,
      handlers: httpHandlers,
      streamingHandlers,
      port: options.port ?? 3000,
      host: options.host ?? '127.0.0.1',
      onError: (error) => log(`handler error: ${String(error)}`),
    });
    stoppers.push(() => gateway.stop());

    const devWriteKey = await ensureDevWriteKey(
      dataDir,
      new WriteKeyStore(DynamoDBDocumentClient.from(dynamoClient), tables['write-keys']),
    );

    const endpoints: RuntimeEndpoints = {
      pid: process.pid,
      apiUrl: gateway.url,
      dynamoEndpoint: dynamo.endpoint,
      sqsEndpoint: sqsServer.endpoint,
      tables,
      queueUrls,
    };
    writeFileSync(join(dataDir, 'runtime.json'), `${JSON.stringify(endpoints, null, 2)}\n`);

    return {
      ...endpoints,
      dataDir,
      devWriteKey,
      nightly,
      idle: async () => {
        await Promise.all(sources.map((source) => source.idle()));
        // In declaration order, so a consumer's writes (tagger → profiles) are in the next
        // stream (profiles → segmenter, historian) before that one is waited for.
        for (const poller of pollers) await poller.drained();
        // The last stream consumer (the webhook notifier) feeds a queue again.
        await Promise.all(sources.map((source) => source.idle()));
      },
      sweep,
      backfill,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Scopes of the local development key: send events, read members, manage segments. */
export const devKeyScopes: readonly Scope[] = [
  'events:write',
  'members:read',
  'segments:read',
  'segments:write',
];

/**
 * The development key: created at first start with `devKeyScopes` and kept in the data folder,
 * so the banner can show it again. It exists only in local data; never on AWS.
 */
async function ensureDevWriteKey(dataDir: string, store: WriteKeyStore): Promise<string> {
  const file = join(dataDir, 'dev-write-key');
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    const record = await store.lookup(key);
    if (record && devKeyScopes.every((scope) => record.scopes.includes(scope))) return key;
    // A key from an older version lacks a scope the local API now has: replace it.
    if (record) await store.revoke(hashWriteKey(key));
  }
  const key = generateWriteKey('dev');
  await store.create(key, {
    sourceId: 'dev',
    name: 'Development key (local runtime)',
    scopes: devKeyScopes,
  });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
