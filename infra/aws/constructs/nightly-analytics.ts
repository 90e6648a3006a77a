import { Aws, Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import { CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { Alarm, ComparisonOperator, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import { Topic } from 'aws-cdk-lib/aws-sns';
import {
  DefinitionBody,
  LogLevel,
  StateMachine,
  StateMachineType,
} from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { LAKE_EVENT_PREFIXES } from '../../../shared/domain/analytics/lake-row.ts';
import { functions } from '../../declarations/index.ts';
import { nightlyDefinition, nightlySchedule } from '../../declarations/nightly.ts';
import { LAKE_EVENT_TABLES } from './event-lake.ts';
import { acknowledgePrefixGrants, allow } from './grants.ts';
import { logRetention, PortraitFunction, type RuntimeSettings } from './portrait-function.ts';
import { dataRemovalPolicy } from './removal.ts';

/** Lake prefix of the nightly runs' files (RFM rows, clusters, member results). */
const RUNS_PREFIX = 'analytics/runs/';
/** Lake prefix of Athena's own query results (the workgroup's output location). */
const ATHENA_RESULTS_PREFIX = 'athena-results/';
/** Lake prefixes the RFM SQL reads: raw NDJSON and compacted Parquet. */
const EVENT_PREFIXES = LAKE_EVENT_PREFIXES;

export interface NightlyAnalyticsProps {
  /** Environment whose alarms, log retention, removal policy and brand time zone apply. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** The event lake's bucket: events are read from it, the runs' files written under `analytics/runs/`. */
  readonly lakeBucket: IBucket;
  /** The Glue database holding the `lake_events` table. */
  readonly lakeDatabaseName: string;
  /** The compactor (the first task after Plan). */
  readonly compactor: IFunction;
  /** Read by the persona step (tags), read and written by the write-back (results). */
  readonly profilesTable: ITable;
  /** Where runs, RFM summaries and persona cards are kept. */
  readonly analyticsTable: ITable;
  /**
   * Whether the nightly schedule is enabled.
   * @default true
   */
  readonly scheduleEnabled?: boolean;
}

/**
 * The nightly analytics: the Step Functions state machine declared in
 * `infra/declarations/nightly.ts` (Plan → Compact → RFM on Athena through the `.sync`
 * integration → Cluster → Personas → WriteBack Map → Record, with Retry and a Catch that records
 * the failed run), its Lambda tasks with least-privilege grants, an Athena workgroup with an
 * encrypted results location in the lake, a nightly EventBridge Scheduler schedule in the brand
 * time zone, and an alarm on failed executions.
 */
export class NightlyAnalytics extends Construct {
  readonly run: PortraitFunction;
  readonly cluster: PortraitFunction;
  readonly personas: PortraitFunction;
  readonly writeBack: PortraitFunction;
  readonly workGroup: CfnWorkGroup;
  readonly stateMachine: StateMachine;
  readonly schedule: Schedule;
  readonly failedAlarm: Alarm;

  constructor(scope: Construct, id: string, props: NightlyAnalyticsProps) {
    super(scope, id);
    const { config, settings, lakeBucket: bucket } = props;
    const runObjects = bucket.arnForObjects(`${RUNS_PREFIX}*`);
    const make = (name: string, declaration: (typeof functions)[keyof typeof functions]) => {
      // The lake bucket reaches them in the shared settings (`PORTRAIT_LAKE_BUCKET`).
      return new PortraitFunction(this, name, { declaration, config, settings });
    };

    // Plan and Record: the run's items in the analytics table.
    this.run = make('Run', functions['nightly-run']);
    allow(this.run.function, ['dynamodb:PutItem'], [props.analyticsTable.tableArn]);

    // Cluster: reads the RFM rows, writes the clustering, under the run's prefix only.
    this.cluster = make('Cluster', functions['nightly-cluster']);
    allow(this.cluster.function, ['s3:GetObject', 's3:PutObject'], [runObjects]);
    allow(this.cluster.function, ['s3:ListBucket'], [bucket.bucketArn]);

    // Personas: the clustering and rows in, member results out; profiles' tags by a scan; the
    // previous run and the cards in the analytics table.
    this.personas = make('Personas', functions['nightly-personas']);
    allow(this.personas.function, ['s3:GetObject', 's3:PutObject'], [runObjects]);
    allow(this.personas.function, ['dynamodb:Scan'], [props.profilesTable.tableArn]);
    allow(
      this.personas.function,
      ['dynamodb:GetItem', 'dynamodb:PutItem'],
      [props.analyticsTable.tableArn],
    );

    // Write-back: the run's member results in; a scan of its shard, and conditional updates.
    this.writeBack = make('WriteBack', functions['nightly-write-back']);
    allow(this.writeBack.function, ['s3:GetObject'], [runObjects]);
    allow(
      this.writeBack.function,
      ['dynamodb:Scan', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
      [props.profilesTable.tableArn],
    );
    acknowledgePrefixGrants(
      this,
      [RUNS_PREFIX, ...EVENT_PREFIXES, ATHENA_RESULTS_PREFIX],
      `A run's files are named per run id (${RUNS_PREFIX}<runId>/…), Athena names its UNLOAD ` +
        'and result files itself, and event files are named per day and batch, so these grants ' +
        'name a prefix of the lake bucket, not keys; no role reaches another prefix or bucket.',
    );

    this.workGroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: `${Stack.of(this).stackName}-nightly`,
      description: 'Portrait nightly RFM queries over the event lake',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        resultConfiguration: {
          outputLocation: `s3://${bucket.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    const definition = nightlyDefinition({
      functions: {
        run: this.run.function.functionArn,
        compact: props.compactor.functionArn,
        cluster: this.cluster.function.functionArn,
        personas: this.personas.function.functionArn,
        writeBack: this.writeBack.function.functionArn,
      },
      athena: { workGroup: this.workGroup.ref, database: props.lakeDatabaseName },
    });
    const logs = new LogGroup(this, 'StateMachineLogs', {
      retention: logRetention(config),
      removalPolicy: dataRemovalPolicy(config),
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      comment: 'Portrait nightly analytics (infra/declarations/nightly.ts)',
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromString(Stack.of(this).toJsonString(definition)),
      timeout: Duration.hours(4),
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    });
    const machine = this.stateMachine;
    // The unqualified functions only: the definition names no version or alias.
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [
          props.compactor.functionArn,
          ...[this.run, this.cluster, this.personas, this.writeBack].map(
            (fn) => fn.function.functionArn,
          ),
        ],
      }),
    );

    // Athena runs the RFM query with the state machine's credentials: the workgroup, the lake's
    // Glue table, the events it reads, and the prefixes UNLOAD and the results go to.
    const workGroupArn = Stack.of(this).formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: this.workGroup.ref,
    });
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: [
          'athena:StartQueryExecution',
          'athena:GetQueryExecution',
          'athena:StopQueryExecution',
        ],
        resources: [workGroupArn],
      }),
    );
    const glue = (resource: string) =>
      `arn:${Aws.PARTITION}:glue:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
        resources: [
          glue('catalog'),
          glue(`database/${props.lakeDatabaseName}`),
          ...LAKE_EVENT_TABLES.map((table) => glue(`table/${props.lakeDatabaseName}/${table}`)),
        ],
      }),
    );
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [bucket.bucketArn],
      }),
    );
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: EVENT_PREFIXES.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
      }),
    );
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: [
          's3:GetObject',
          's3:PutObject',
          's3:AbortMultipartUpload',
          's3:ListMultipartUploadParts',
        ],
        resources: [runObjects, bucket.arnForObjects(`${ATHENA_RESULTS_PREFIX}*`)],
      }),
    );
    Validations.of(machine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray trace segments and CloudWatch Logs log delivery, which Step Functions needs for ' +
        'tracing and execution logging, support no resource-level permissions.',
    });

    this.schedule = new Schedule(this, 'Schedule', {
      description: nightlySchedule.description,
      schedule: ScheduleExpression.expression(
        nightlySchedule.cron,
        TimeZone.of(config.brandTimeZone),
      ),
      target: new StepFunctionsStartExecution(machine, { retryAttempts: 2 }),
      enabled: props.scheduleEnabled ?? true,
    });

    this.failedAlarm = new Alarm(this, 'ExecutionsFailed', {
      alarmDescription: 'A nightly analytics run failed (its run record holds the error)',
      metric: machine.metricFailed({ period: Duration.hours(1), statistic: Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (config.alarms.notifyTopicArn) {
      this.failedAlarm.addAlarmAction(
        new SnsAction(Topic.fromTopicArn(this, 'NotifyTopic', config.alarms.notifyTopicArn)),
      );
    }
  }

  /** The functions this construct built, by declaration id. */
  get functions() {
    return {
      'nightly-run': this.run.function,
      'nightly-cluster': this.cluster.function,
      'nightly-personas': this.personas.function,
      'nightly-write-back': this.writeBack.function,
    } as const;
  }
}
