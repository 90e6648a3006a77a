import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { LAKE_EVENTS_TABLE } from '../../infra/aws/constructs/event-lake.ts';
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

  it('declares the Glue table the SQL reads, with partition projection on the UTC day', () => {
    dev.stateful.hasResourceProperties('AWS::Glue::Table', {
      TableInput: {
        Name: LAKE_EVENTS_TABLE,
        PartitionKeys: [{ Name: 'dt', Type: 'string' }],
        Parameters: Match.objectLike({
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
        }),
        StorageDescriptor: Match.objectLike({
          Columns: lakeColumns.map((c) => ({ Name: c.name.toLowerCase(), Type: c.athena })),
          SerdeInfo: Match.objectLike({
            SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
          }),
        }),
      },
    });
    dev.stateful.resourceCountIs('AWS::Glue::Database', 1);
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
    expect(compactorStatements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
          Resource: eventObjects,
        }),
        expect.objectContaining({
          Action: 's3:ListBucket',
          Condition: { StringLike: { 's3:prefix': ['events/*'] } },
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
