/**
 * The nightly state machine run locally: the definition from `infra/declarations/nightly.ts`,
 * executed by aws-local-stepfunctions with task overrides that call the same handlers in-process
 * (DuckDB over the lake folder in place of Athena), printing progress per state.
 */

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { makeCompactorHandler } from '../../functions/compactor/compactor.ts';
import { makeNightlyClusterHandler } from '../../functions/nightly-cluster/nightly-cluster.ts';
import { makeNightlyPersonasHandler } from '../../functions/nightly-personas/nightly-personas.ts';
import { makeNightlyRunHandler, type PlannedRun } from '../../functions/nightly-run/nightly-run.ts';
import { makeNightlyWriteBackHandler } from '../../functions/nightly-write-back/nightly-write-back.ts';
import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { DEFAULT_RFM_WINDOW_DAYS } from '../../shared/config/nightly.ts';
import type { RuleCatalogue } from '../../shared/domain/tags/rule-catalogue.ts';
import { configuredClustering } from '../../shared/jobs/nightly/cluster-step.ts';
import { memberFactsFromProfiles } from '../../shared/jobs/nightly/member-facts.ts';
import {
  readRfmRows,
  renderRfmSql,
  rfmOutputPrefix,
  runRfmLocal,
} from '../../shared/jobs/rfm-job.ts';
import { profileStoreWriteBack } from '../../shared/jobs/write-back.ts';
import { type Logger, silentLogger } from '../../shared/logging/logger.ts';
import { nightlyDefinition, nightlyStates, WRITE_BACK_SHARDS } from '../declarations/nightly.ts';

export interface LocalNightlyDeps {
  readonly documents: DynamoDBDocumentClient;
  readonly tables: { readonly profiles: string; readonly analytics: string };
  /** The lake folder (`<dataDir>/lake`). */
  readonly lakeDir: string;
  readonly catalogue: RuleCatalogue;
  readonly zone: string;
  readonly now: () => number;
  readonly logger?: Logger;
  /** Called with one line per state entered and left. */
  readonly progress?: (line: string) => void;
  /** @default WRITE_BACK_SHARDS */
  readonly shards?: number;
}

export interface LocalNightlyOptions {
  /** Overrides the as-of date (`YYYY-MM-DD`); default the brand-zone day before now. */
  readonly asOf?: string;
  readonly windowDays?: number;
  /** The execution name; default `local-<epoch ms>`. */
  readonly executionName?: string;
}

export interface LocalNightlyResult {
  readonly status: 'succeeded' | 'failed';
  readonly runId: string | undefined;
  /** The final state of the execution. */
  readonly output: unknown;
}

/** ARNs that only name the function: the local overrides answer every task. */
const localArn = (name: string) =>
  `arn:aws:lambda:us-east-1:000000000000:function:portrait-local-${name}`;

/** The definition as the local runner executes it (the same one the CDK app deploys). */
export function localNightlyDefinition() {
  return nightlyDefinition({
    functions: {
      run: localArn('nightly-run'),
      compact: localArn('compactor'),
      cluster: localArn('nightly-cluster'),
      personas: localArn('nightly-personas'),
      writeBack: localArn('nightly-write-back'),
    },
    athena: { workGroup: 'portrait-local', database: 'portrait_local_lake' },
  });
}

type StepFunctionsModule = typeof import('aws-local-stepfunctions');
let stepFunctions: Promise<StepFunctionsModule> | undefined;

/**
 * aws-local-stepfunctions 3 calls `Promise.withResolvers`, which Node gained in 22: give Node 20
 * a standard-conforming one before the module loads.
 */
function loadStepFunctions(): Promise<StepFunctionsModule> {
  const withResolvers = Promise as unknown as { withResolvers?: unknown };
  if (typeof withResolvers.withResolvers !== 'function') {
    Object.defineProperty(Promise, 'withResolvers', {
      configurable: true,
      writable: true,
      value: function withResolversPolyfill<T>(this: PromiseConstructor) {
        let resolve!: (value: T | PromiseLike<T>) => void;
        let reject!: (reason?: unknown) => void;
        const promise = new this<T>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        return { promise, resolve, reject };
      },
    });
  }
  stepFunctions ??= import('aws-local-stepfunctions');
  return stepFunctions;
}

/** Runs the nightly pipeline once, locally; resolves when the execution ends. */
export async function runLocalNightly(
  deps: LocalNightlyDeps,
  options: LocalNightlyOptions = {},
): Promise<LocalNightlyResult> {
  const { StateMachine } = await loadStepFunctions();
  const logger = deps.logger ?? silentLogger;
  const lake = new FolderLakeStore(deps.lakeDir);
  const profiles = new ProfileStore(deps.documents, deps.tables.profiles);
  const analytics = new AnalyticsStore(deps.documents, deps.tables.analytics);
  const readRows = (keys: readonly string[]) => readRfmRows(lake, keys);
  let planned: PlannedRun | undefined;

  const run = makeNightlyRunHandler({
    saveRun: (record) => analytics.saveRun(record),
    now: deps.now,
    zone: deps.zone,
    windowDays: DEFAULT_RFM_WINDOW_DAYS,
    // What Athena would run on AWS (shown in the state's input); locally DuckDB runs the same query.
    rfmQuery: (plan) =>
      renderRfmSql({
        engine: 'athena',
        asOf: plan.asOf,
        windowDays: plan.windowDays,
        zone: plan.zone,
        output: `s3://portrait-local-lake/${rfmOutputPrefix(plan.runId)}`,
      }),
    logger,
  });
  const compact = makeCompactorHandler({ lake, logger });
  const cluster = makeNightlyClusterHandler({
    lake,
    readRows,
    ...configuredClustering,
    logger,
  });
  const personas = makeNightlyPersonasHandler({
    lake,
    readRows,
    facts: () =>
      memberFactsFromProfiles((s, t, start) => profiles.scanTags(s, t, start), deps.catalogue),
    latestSucceeded: () => analytics.latestSucceeded(),
    saveRfm: (runId, summary) => analytics.saveRfm(runId, summary),
    savePersonas: (cards) => analytics.savePersonas(cards),
    shards: deps.shards ?? WRITE_BACK_SHARDS,
    logger,
  });
  const writeBack = makeNightlyWriteBackHandler({
    lake,
    readRows,
    ...profileStoreWriteBack(profiles),
    logger,
  });

  // The library's definition type is its own ASL model; ours is plain JSON of the same shape.
  const machine = new StateMachine(localNightlyDefinition() as never, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const s = nightlyStates;
  // The handlers' inputs and outputs are JSON (the state machine passes JSON between states).
  type Json = Parameters<InstanceType<StepFunctionsModule['StateMachine']>['run']>[0];
  const json = async (value: Promise<unknown>) => JSON.parse(JSON.stringify(await value)) as Json;
  const startTime = new Date(deps.now()).toISOString();
  const executionName = options.executionName ?? `local-${deps.now()}`;
  const execution = machine.run(
    {
      ...(options.asOf !== undefined ? { asOf: options.asOf } : {}),
      ...(options.windowDays !== undefined ? { windowDays: options.windowDays } : {}),
    },
    {
      overrides: {
        taskResourceLocalHandlers: {
          [s.plan]: async (input) => {
            const result = (await json(run(input))) as unknown as PlannedRun;
            planned = result;
            return result as unknown as Json;
          },
          // The compactor checks its input itself (`invalid_day`), as on AWS.
          [s.compact]: (input) => json(compact(input as never)),
          // Athena's place: DuckDB runs the same SQL file over the lake folder; the answer has
          // the shape of the `.sync` integration's (QueryExecution with its id and state).
          [s.rfm]: async () => {
            if (!planned) throw new Error('Rfm ran before Plan');
            const output = await runRfmLocal(
              { lake },
              {
                runId: planned.runId,
                asOf: planned.asOf,
                windowDays: planned.windowDays,
                zone: planned.zone,
              },
            );
            return {
              QueryExecution: {
                QueryExecutionId: `local-${output.runId}`,
                Status: { State: 'SUCCEEDED' },
                Statistics: { members: output.members },
              },
            };
          },
          [s.cluster]: (input) => json(cluster(input)),
          [s.personas]: (input) => json(personas(input)),
          [s.writeBackShard]: (input) => json(writeBack(input)),
          [s.record]: (input) => json(run(input)),
          [s.recordFailure]: (input) => json(run(input)),
        },
        // Retries wait 0.1 s locally instead of the deployed backoff.
        retryIntervalOverrides: Object.fromEntries(Object.values(s).map((name) => [name, 100])),
      },
      context: {
        Execution: {
          Id: `arn:aws:states:us-east-1:000000000000:execution:portrait-local-nightly:${executionName}`,
          Name: executionName,
          StartTime: startTime,
          Input: {},
          RoleArn: 'arn:aws:iam::000000000000:role/portrait-local',
        },
        // The library types the context object loosely; this is the documented shape.
      } as never,
    },
  );
  const entered = new Map<string, number>();
  const progress = (async () => {
    for await (const event of execution.eventLogs) {
      if (!deps.progress) continue;
      if (event.type === 'StateEntered') {
        entered.set(`${event.state.name}#${event.index ?? ''}`, event.timestamp);
        if (event.index === undefined) deps.progress(`▶ ${event.state.name}`);
      } else if (event.type === 'StateExited') {
        const started = entered.get(`${event.state.name}#${event.index ?? ''}`) ?? event.timestamp;
        const seconds = ((event.timestamp - started) / 1000).toFixed(1);
        const where = event.index === undefined ? '' : ` [${event.index}]`;
        deps.progress(`✓ ${event.state.name}${where} ${seconds} s${summary(event.state.output)}`);
      } else if (event.type === 'StateRetried') {
        deps.progress(`↻ ${event.state.name} retry ${event.retry.retrier}`);
      } else if (event.type === 'StateFailed') {
        deps.progress(`✗ ${event.state.name}: ${event.Error} ${event.Cause ?? ''}`);
      }
    }
  })();
  let output: unknown;
  let status: LocalNightlyResult['status'] = 'succeeded';
  try {
    output = await execution.result;
  } catch (error) {
    status = 'failed';
    output = { error: error instanceof Error ? error.message : String(error) };
  }
  await progress.catch(() => undefined);
  return { status, runId: planned?.runId, output };
}

/** A short note of what a state produced, for the progress line. */
function summary(output: unknown): string {
  if (typeof output !== 'object' || output === null) return '';
  const state = output as Record<string, unknown>;
  const pick = (value: unknown, fields: readonly string[]) => {
    if (typeof value !== 'object' || value === null) return '';
    const record = value as Record<string, unknown>;
    const parts = fields
      .filter((field) => typeof record[field] === 'number' || typeof record[field] === 'string')
      .map((field) => `${field} ${record[field]}`);
    return parts.length > 0 ? ` (${parts.join(', ')})` : '';
  };
  if ('written' in state) return pick(state, ['written', 'cleared', 'unchanged']);
  if ('record' in state) return pick(state.record, ['runId', 'status']);
  if ('personas' in state) return pick(state.personas, ['clusters', 'previousRunId']);
  if ('cluster' in state) return pick(state.cluster, ['members', 'k']);
  if ('rfm' in state) return pick(state.rfm, ['queryExecutionId']);
  if ('run' in state) return pick(state.run, ['runId', 'asOf']);
  return '';
}
