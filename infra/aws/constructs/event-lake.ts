import { CfnOutput, Duration, Fn, Stack, Validations } from 'aws-cdk-lib';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule } from 'aws-cdk-lib/aws-lambda';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { NIGHTLY_RUN_RETENTION_DAYS } from '../../../shared/config/nightly.ts';
import {
  LAKE_EVENT_PREFIXES,
  LAKE_EVENTS_PREFIX,
  LAKE_PARQUET_PREFIX,
  lakeColumns,
} from '../../../shared/domain/analytics/lake-row.ts';
import { functions } from '../../declarations/index.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';
import { dataRemovalPolicy } from './removal.ts';

/** The Glue table of raw days (the archiver's gzip NDJSON under `events/`). */
export const LAKE_NDJSON_TABLE = 'lake_events_ndjson';
/** The Glue table of compacted days (Parquet under `events-parquet/`). */
export const LAKE_PARQUET_TABLE = 'lake_events_parquet';
/** Both tables the RFM SQL reads (it unions them as `lake_events`); an Athena reader needs both. */
export const LAKE_EVENT_TABLES = [LAKE_NDJSON_TABLE, LAKE_PARQUET_TABLE] as const;
/** Where analytics runs keep their intermediate files (`analytics/runs/<runId>/…`). */
export const LAKE_RUNS_PREFIX = 'analytics/runs/';

export interface EventLakeStorageProps {
  /** Environment whose removal policy applies to the bucket. */
  readonly config: EnvironmentConfig;
  /**
   * Days an event file is kept in the lake.
   * @default - the environment's `eventRetentionDays`, as long as the events table keeps events
   */
  readonly eventRetentionDays?: number;
  /**
   * Days a nightly run's intermediate files (RFM rows, clusters) are kept.
   * @default 30
   */
  readonly runRetentionDays?: number;
  /**
   * First day partition projection offers to Athena (`yyyy-MM-dd`).
   * @default '2020-01-01'
   */
  readonly firstDay?: string;
}

/**
 * The event lake's storage: an S3 bucket (encrypted, TLS only, no public access, expiring by
 * prefix) and the Glue database and table over `events/dt=YYYY-MM-DD/` that Athena queries.
 * The table uses partition projection on `dt`, so new days need no crawler and no
 * `ALTER TABLE ADD PARTITION`. Stateful: it lives in the stateful stack.
 */
export class EventLakeStorage extends Construct {
  readonly bucket: Bucket;
  readonly database: CfnDatabase;
  /** Raw days: gzip NDJSON, JSON SerDe. */
  readonly table: CfnTable;
  /** Compacted days: Parquet. */
  readonly parquetTable: CfnTable;
  readonly databaseName: string;
  readonly tableNames = LAKE_EVENT_TABLES;
  /**
   * The export holding the bucket's ARN. Grants on the lake's object prefixes import it by this
   * name, so their resource reads the same in the template and in cdk-nag's findings.
   */
  readonly bucketArnExportName: string;

  constructor(scope: Construct, id: string, props: EventLakeStorageProps) {
    super(scope, id);
    const { config } = props;
    const runRetention = props.runRetentionDays ?? NIGHTLY_RUN_RETENTION_DAYS;
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: dataRemovalPolicy(config),
      autoDeleteObjects: false,
      lifecycleRules: [
        ...LAKE_EVENT_PREFIXES.map((prefix) => ({
          id: prefix === LAKE_EVENTS_PREFIX ? 'expire-events' : 'expire-compacted-events',
          prefix,
          expiration: Duration.days(props.eventRetentionDays ?? config.eventRetentionDays),
        })),
        { id: 'expire-runs', prefix: LAKE_RUNS_PREFIX, expiration: Duration.days(runRetention) },
        { id: 'abort-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'The lake is written only by the archiver and compactor roles and read by Athena under ' +
        'the nightly role; object access is audited with CloudTrail data events rather than ' +
        'server access logs, which would need a second bucket per environment.',
    });

    this.bucketArnExportName = `${Stack.of(this).stackName}-LakeBucketArn`;
    new CfnOutput(this, 'BucketArn', {
      value: this.bucket.bucketArn,
      exportName: this.bucketArnExportName,
    });

    // Glue names allow lower-case letters, digits and underscores; the stack name keeps two
    // environments in one account apart.
    this.databaseName = `${Stack.of(this).stackName}_lake`
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, '_');
    this.database = new CfnDatabase(this, 'Database', {
      catalogId: Stack.of(this).account,
      databaseInput: {
        name: this.databaseName,
        description: `Portrait ${config.name} event lake`,
      },
    });
    const projection = (location: string) => ({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': `${props.firstDay ?? '2020-01-01'},NOW`,
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
      'storage.location.template': `${location}dt=\${dt}/`,
    });
    const location = `s3://${this.bucket.bucketName}/${LAKE_EVENTS_PREFIX}`;
    this.table = new CfnTable(this, 'EventsTable', {
      catalogId: Stack.of(this).account,
      databaseName: this.databaseName,
      tableInput: {
        name: LAKE_NDJSON_TABLE,
        description: 'Raw archived events, gzip NDJSON, one file set per UTC day (docs/LAKE.md)',
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: [{ name: 'dt', type: 'string' }],
        parameters: { classification: 'json', compressionType: 'gzip', ...projection(location) },
        storageDescriptor: {
          location,
          // Glue column names are lower case; the JSON SerDe matches keys case-insensitively.
          columns: lakeColumns.map((column) => ({
            name: column.name.toLowerCase(),
            type: column.athena,
          })),
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'case.insensitive': 'true' },
          },
        },
      },
    });
    const parquetLocation = `s3://${this.bucket.bucketName}/${LAKE_PARQUET_PREFIX}`;
    this.parquetTable = new CfnTable(this, 'CompactedEventsTable', {
      catalogId: Stack.of(this).account,
      databaseName: this.databaseName,
      tableInput: {
        name: LAKE_PARQUET_TABLE,
        description: 'Compacted events, Parquet (ZSTD), one file set per UTC day (docs/LAKE.md)',
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: [{ name: 'dt', type: 'string' }],
        parameters: { classification: 'parquet', ...projection(parquetLocation) },
        storageDescriptor: {
          location: parquetLocation,
          // The Parquet files name their columns in lower case too (parquetColumnName).
          columns: lakeColumns.map((column) => ({
            name: column.name.toLowerCase(),
            type: column.parquetAthena ?? column.athena,
          })),
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
          },
        },
      },
    });
    this.parquetTable.addDependency(this.database);
    this.table.addDependency(this.database);
  }
}

export interface EventLakeProps {
  /** Environment whose log retention and removal policy apply to the functions. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack; they name the lake bucket. */
  readonly settings: RuntimeSettings;
  /** The export of the bucket's ARN (`EventLakeStorage.bucketArnExportName`). */
  readonly bucketArnExportName: string;
}

/**
 * The event lake's functions: the archiver copies the events stream to the bucket (its event
 * source mapping is made by `StreamConsumers` from its declaration, with `streamFilters` from
 * here), and the compactor turns a day's small files into a few (the nightly state machine's
 * first task). Each may touch only `events/` and only what it needs there.
 */
export class EventLake extends Construct {
  readonly archiver: PortraitFunction;
  readonly compactor: PortraitFunction;
  /** Functions by declaration id, for the stack's registry. */
  readonly functions: {
    readonly archiver: PortraitFunction['function'];
    readonly compactor: PortraitFunction['function'];
  };
  /** The archiver acts on INSERT records only; filtering saves the other invocations. */
  readonly streamFilters = {
    archiver: [FilterCriteria.filter({ eventName: FilterRule.isEqual('INSERT') })],
  } as const;

  constructor(scope: Construct, id: string, props: EventLakeProps) {
    super(scope, id);
    const { config, settings } = props;
    const objectsUnder = (prefix: string) =>
      Fn.join('', [Fn.importValue(props.bucketArnExportName), `/${prefix}*`]);
    const eventObjects = objectsUnder(LAKE_EVENTS_PREFIX);
    const parquetObjects = objectsUnder(LAKE_PARQUET_PREFIX);
    const finding = (prefix: string) =>
      `AwsSolutions-IAM5[Resource::${props.bucketArnExportName}/${prefix}*]`;

    this.archiver = new PortraitFunction(this, 'Archiver', {
      declaration: functions.archiver,
      config,
      settings,
    });
    allow(this.archiver.function, ['s3:PutObject'], [eventObjects]);

    this.compactor = new PortraitFunction(this, 'Compactor', {
      declaration: functions.compactor,
      config,
      settings,
    });
    allow(
      this.compactor.function,
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      [eventObjects, parquetObjects],
    );
    // Listing is a bucket action; the condition keeps it to the two event prefixes.
    this.compactor.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [Fn.importValue(props.bucketArnExportName)],
        conditions: { StringLike: { 's3:prefix': LAKE_EVENT_PREFIXES.map((p) => `${p}*`) } },
      }),
    );

    const reason =
      'Object keys under the event prefixes are made per stream batch and per compaction ' +
      '(events/dt=YYYY-MM-DD/part-….ndjson.gz, events-parquet/dt=YYYY-MM-DD/compact-….parquet), ' +
      'so the grant names the prefix, not keys; the role reaches no other prefix or bucket.';
    Validations.of(this.archiver.role).acknowledge({ id: finding(LAKE_EVENTS_PREFIX), reason });
    for (const prefix of LAKE_EVENT_PREFIXES) {
      Validations.of(this.compactor.role).acknowledge({ id: finding(prefix), reason });
    }
    this.functions = { archiver: this.archiver.function, compactor: this.compactor.function };
  }
}
