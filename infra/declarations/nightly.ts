/**
 * The nightly analytics pipeline, declared once as an Amazon States Language definition with
 * JSONPath only (no JSONata): the CDK app deploys it as a Step Functions state machine, and
 * `npm run nightly` runs the very same definition locally with aws-local-stepfunctions, whose
 * task overrides call the same handlers in-process and DuckDB in place of Athena.
 *
 * Plan → Compact → Rfm (Athena, `.sync`) → Cluster → Personas → WriteBack (Map over shards)
 * → Record → Done; every task retries, and any failure goes to RecordFailure → Failed.
 */

/** The state names (task overrides and progress lines use them). */
export const nightlyStates = {
  plan: 'Plan',
  compact: 'Compact',
  rfm: 'Rfm',
  cluster: 'Cluster',
  personas: 'Personas',
  writeBack: 'WriteBack',
  writeBackShard: 'WriteBackShard',
  record: 'Record',
  done: 'Done',
  recordFailure: 'RecordFailure',
  failed: 'Failed',
} as const;

/** Where the run's RFM rows land in the lake (Athena's UNLOAD writes there). */
export const rfmRowPrefixFormat = 'analytics/runs/{}/rfm/';

/**
 * The nightly schedule: 02:30 in the brand zone, when the previous day is complete and traffic
 * is lowest (EventBridge Scheduler evaluates the cron in that zone).
 */
export const nightlySchedule = {
  id: 'nightly-analytics',
  description: 'Run the nightly analytics state machine (RFM, clusters, personas, write-back)',
  cron: 'cron(30 2 * * ? *)',
  /** The local runtime runs it every this many seconds when asked to (`--nightly-every`); off by default. */
  localEverySeconds: 0,
} as const;

/** Write-back shards: parallel-scan segments of the profiles table, one Map iteration each. */
export const WRITE_BACK_SHARDS = 8;
/** Shards written at once (each is a Lambda holding DynamoDB write concurrency). */
export const WRITE_BACK_MAX_CONCURRENCY = 4;

export interface NightlyResources {
  /** Function ARNs (or local names) of the task states. */
  readonly functions: {
    /** Plan and Record (the run's bookkeeping). */
    readonly run: string;
    readonly compact: string;
    readonly cluster: string;
    readonly personas: string;
    readonly writeBack: string;
  };
  readonly athena: {
    readonly workGroup: string;
    readonly database: string;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const retryTask: Json = [
  {
    ErrorEquals: ['States.ALL'],
    IntervalSeconds: 5,
    MaxAttempts: 2,
    BackoffRate: 2,
  },
];

const catchToFailure: Json = [
  { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: nightlyStates.recordFailure },
];

function task(resource: string, parameters: Json, resultPath: string, next: string): Json {
  return {
    Type: 'Task',
    Resource: resource,
    Parameters: parameters,
    ResultPath: resultPath,
    Retry: retryTask,
    Catch: catchToFailure,
    Next: next,
  };
}

const rowPrefix = `States.Format('${rfmRowPrefixFormat}', $.run.runId)`;

/** The state machine definition (a JSON object; `JSON.stringify` it for the service). */
export function nightlyDefinition(resources: NightlyResources): Record<string, Json> {
  const s = nightlyStates;
  const fn = resources.functions;
  return {
    Comment: 'Portrait nightly analytics: compact, RFM, clusters, personas, write-back',
    QueryLanguage: 'JSONPath',
    StartAt: s.plan,
    TimeoutSeconds: 4 * 3600,
    States: {
      [s.plan]: task(
        fn.run,
        {
          action: 'plan',
          'startTime.$': '$$.Execution.StartTime',
          'executionName.$': '$$.Execution.Name',
          'input.$': '$',
        },
        '$.run',
        s.compact,
      ),
      [s.compact]: task(fn.compact, { 'day.$': '$.run.day' }, '$.compaction', s.rfm),
      [s.rfm]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
        Parameters: {
          // Rendered by Plan from shared/sql/rfm.sql (`renderRfmSql({ engine: 'athena' })`):
          // the window's dates are computed there, which intrinsics cannot do.
          'QueryString.$': '$.run.rfmQuery',
          WorkGroup: resources.athena.workGroup,
          QueryExecutionContext: { Database: resources.athena.database },
        },
        ResultSelector: {
          'queryExecutionId.$': '$.QueryExecution.QueryExecutionId',
          'state.$': '$.QueryExecution.Status.State',
        },
        ResultPath: '$.rfm',
        Retry: [
          {
            ErrorEquals: ['States.ALL'],
            IntervalSeconds: 30,
            MaxAttempts: 2,
            BackoffRate: 2,
          },
        ],
        Catch: catchToFailure,
        Next: s.cluster,
      },
      [s.cluster]: task(
        fn.cluster,
        { 'run.$': '$.run', rfm: { 'rowPrefix.$': rowPrefix } },
        '$.cluster',
        s.personas,
      ),
      [s.personas]: task(
        fn.personas,
        { 'run.$': '$.run', 'cluster.$': '$.cluster' },
        '$.personas',
        s.writeBack,
      ),
      [s.writeBack]: {
        Type: 'Map',
        ItemsPath: '$.personas.shards',
        MaxConcurrency: WRITE_BACK_MAX_CONCURRENCY,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: s.writeBackShard,
          States: {
            [s.writeBackShard]: {
              Type: 'Task',
              Resource: fn.writeBack,
              Retry: retryTask,
              End: true,
            },
          },
        },
        ResultPath: '$.writeBack',
        Catch: catchToFailure,
        Next: s.record,
      },
      [s.record]: task(
        fn.run,
        {
          action: 'record',
          status: 'succeeded',
          'run.$': '$.run',
          'cluster.$': '$.cluster',
          'writeBack.$': '$.writeBack',
        },
        '$.record',
        s.done,
      ),
      [s.done]: { Type: 'Succeed' },
      [s.recordFailure]: {
        Type: 'Task',
        Resource: fn.run,
        Parameters: {
          action: 'record',
          status: 'failed',
          'state.$': '$',
          'startTime.$': '$$.Execution.StartTime',
          'executionName.$': '$$.Execution.Name',
        },
        ResultPath: '$.record',
        Retry: retryTask,
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.recordError', Next: s.failed }],
        Next: s.failed,
      },
      [s.failed]: {
        Type: 'Fail',
        Error: 'NightlyRunFailed',
        Cause: 'A step of the nightly analytics failed; the run is recorded as failed.',
      },
    },
  };
}
