import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { LAKE_NDJSON_TABLE, LAKE_PARQUET_TABLE } from '../../infra/aws/constructs/event-lake.ts';
import { functions, streamConsumers } from '../../infra/declarations/index.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { lakeColumns } from '../../shared/domain/analytics/lake-row.ts';
import { portraitApp } from './synth.ts';
import {
  functionIdByDescription,
  type Resources,
  roleIdOfFunction,
  statementsOfRole,
} from './template-queries.ts';

function lakeTemplates(env: string) {
  const { stateful, stateless, config } = portraitApp(env);
  const template = Template.fromStack(stateless);
  return {
    config,
    stateful: Template.fromStack(stateful),
    stateless: template,
    exportName: stateful.eventLake.bucketArnExportName,
    archiver: functionIdByDescription(template, functions.archiver.description),
    compactor: functionIdByDescription(template, functions.compactor.description),
  };
}

const archiverConsumer = streamConsumers.find((consumer) => consumer.function === 'archiver');

describe('event lake on AWS', () => {
  const dev = lakeTemplates('dev');
  const prod = lakeTemplates('prod');

  it('keeps the lake in an encrypted, private, TLS-only bucket that expires events and runs', () => {
    dev.stateful.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: 'events/',
            ExpirationInDays: dev.config.eventRetentionDays,
            Status: 'Enabled',
          }),
          Match.objectLike({
            Prefix: 'events-parquet/',
            ExpirationInDays: dev.config.eventRetentionDays,
            Status: 'Enabled',
          }),
          Match.objectLike({ Prefix: 'analytics/runs/', ExpirationInDays: 30 }),
        ]),
      },
    });
    dev.stateful.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    prod.stateful.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    dev.stateful.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
  });

  it('declares the two Glue tables the SQL reads, with partition projection on the UTC day', () => {
    const projection = Match.objectLike({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
    });
    dev.stateful.hasResourceProperties('AWS::Glue::Table', {
      TableInput: {
        Name: LAKE_NDJSON_TABLE,
        PartitionKeys: [{ Name: 'dt', Type: 'string' }],
        Parameters: projection,
        StorageDescriptor: Match.objectLike({
          Columns: lakeColumns.map((c) => ({ Name: c.name.toLowerCase(), Type: c.athena })),
          SerdeInfo: Match.objectLike({
            SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
          }),
        }),
      },
    });
    dev.stateful.hasResourceProperties('AWS::Glue::Table', {
      TableInput: {
        Name: LAKE_PARQUET_TABLE,
        PartitionKeys: [{ Name: 'dt', Type: 'string' }],
        Parameters: projection,
        StorageDescriptor: Match.objectLike({
          Location: Match.objectLike({
            'Fn::Join': Match.arrayWith([Match.arrayWith(['/events-parquet/'])]),
          }),
          // Revenue is a decimal in Parquet, text in NDJSON; every other column is the same.
          Columns: lakeColumns.map((c) => ({
            Name: c.name.toLowerCase(),
            Type: c.name === 'revenue' ? 'decimal(38,6)' : c.athena,
          })),
          SerdeInfo: {
            SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
          },
        }),
      },
    });
    dev.stateful.resourceCountIs('AWS::Glue::Table', 2);
    dev.stateful.resourceCountIs('AWS::Glue::Database', 1);
  });

  it('installs DuckDB into the compactor bundle and gives it room in /tmp', () => {
    dev.stateless.hasResourceProperties('AWS::Lambda::Function', {
      Description: functions.compactor.description,
      EphemeralStorage: { Size: 4096 },
      MemorySize: 3008,
    });
    expect(functions.compactor.nativeModules).toEqual(['@duckdb/node-api']);
  });

  it('feeds the archiver INSERT records of the events stream with the declared batching', () => {
    expect(archiverConsumer).toBeDefined();
    dev.stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: dev.archiver },
      BatchSize: archiverConsumer?.batchSize,
      MaximumBatchingWindowInSeconds: archiverConsumer?.maxBatchingWindowSeconds,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ['INSERT'] }) }] },
    });
  });

  it('lets the archiver only put event objects and the compactor only touch event objects', () => {
    const eventObjects = {
      'Fn::Join': ['', [{ 'Fn::ImportValue': dev.exportName }, '/events/*']],
    };
    const archiverStatements = statementsOfRole(
      dev.stateless,
      roleIdOfFunction(dev.stateless, dev.archiver),
    ).filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
    expect(archiverStatements).toEqual([
      expect.objectContaining({ Action: 's3:PutObject', Resource: eventObjects }),
    ]);
    const compactorStatements = statementsOfRole(
      dev.stateless,
      roleIdOfFunction(dev.stateless, dev.compactor),
    ).filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
    const parquetObjects = {
      'Fn::Join': ['', [{ 'Fn::ImportValue': dev.exportName }, '/events-parquet/*']],
    };
    expect(compactorStatements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
          Resource: expect.arrayContaining([eventObjects, parquetObjects]),
        }),
        expect.objectContaining({
          Action: 's3:ListBucket',
          Condition: { StringLike: { 's3:prefix': ['events/*', 'events-parquet/*'] } },
        }),
      ]),
    );
    expect(compactorStatements).toHaveLength(2);
  });

  it('tells every function where the lake is', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    for (const fn of Object.values(fns)) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> })
        .Variables;
      expect(variables[runtimeEnvNames.lakeBucket]).toBeDefined();
      expect(variables[runtimeEnvNames.lakeDir]).toBe('');
    }
  });
});
