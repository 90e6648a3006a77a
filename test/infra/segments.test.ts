import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import { describe, expect, it } from 'vitest';
import { defaultIteratorAgeThreshold } from '../../infra/aws/constructs/alarms.ts';
import {
  functions,
  membershipsTable,
  segmentRoutes,
  segmentsTable,
  streamConsumers,
  type TableId,
} from '../../infra/declarations/index.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { portraitApp } from './synth.ts';
import {
  actionsOfRole,
  dynamoPermissionsOfRole,
  functionIdByDescription,
  type Resources,
  resourceNamer,
  roleIdOfFunction,
} from './template-queries.ts';

function segmentsTemplates(env: string) {
  const { stateful, stateless, config } = portraitApp(env);
  const statefulTemplate = Template.fromStack(stateful);
  const template = Template.fromStack(stateless);
  const tableId = (id: TableId) =>
    stateful.getLogicalId(stateful.eventStore.table(id).node.defaultChild as CfnTable);
  return {
    config,
    stateful: statefulTemplate,
    stateless: template,
    segments: functionIdByDescription(template, functions.segments.description),
    segmenter: functionIdByDescription(template, functions.segmenter.description),
    backfiller: functionIdByDescription(template, functions.backfiller.description),
    nightlyScanners: (['nightly-personas', 'nightly-write-back'] as const).map((id) =>
      functionIdByDescription(template, functions[id].description),
    ),
    webhookFunctions: (['webhooks', 'notifier', 'deliverer'] as const).map((id) =>
      functionIdByDescription(template, functions[id].description),
    ),
    query: functionIdByDescription(template, functions.query.description),
    segmentsTableId: tableId(segmentsTable.id),
    membershipsTableId: tableId(membershipsTable.id),
    nameResource: resourceNamer(stateful, statefulTemplate),
  };
}

const segmenterConsumer = streamConsumers.find((consumer) => consumer.function === 'segmenter');

describe('segments on AWS', () => {
  const dev = segmentsTemplates('dev');
  const prod = segmentsTemplates('prod');

  it('builds the segments table keyed by pk and sk, on-demand, with no stream and no index', () => {
    const tables = dev.stateful.findResources('AWS::DynamoDB::Table') as Resources;
    const table = tables[dev.segmentsTableId];
    expect(table?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    });
    expect(table?.Properties.StreamSpecification).toBeUndefined();
    expect(table?.Properties.GlobalSecondaryIndexes).toBeUndefined();
    expect(table?.Properties.TimeToLiveSpecification).toBeUndefined();
  });

  it('keeps segment definitions in prod: recovery, deletion protection, Retain', () => {
    const tables = prod.stateful.findResources('AWS::DynamoDB::Table') as Resources;
    const table = tables[prod.segmentsTableId];
    expect(table?.DeletionPolicy).toBe('Retain');
    expect(table?.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table?.Properties.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
  });

  it('outputs the segments table name for the operator CLI', () => {
    const outputs = dev.stateful.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(dev.nameResource(outputs.SegmentsTableName?.Value)).toBe('segments name');
  });

  it('routes the definition, preview, members, changes and check routes to the segments function, and nothing else', () => {
    const routeKeys = segmentRoutes.map((route) => `${route.method} ${route.path}`).sort();
    expect(routeKeys).toEqual([
      'DELETE /v1/segments/{id}',
      'GET /v1/segments',
      'GET /v1/segments/{id}',
      'GET /v1/segments/{id}/changes',
      'GET /v1/segments/{id}/members',
      'POST /v1/segments',
      'POST /v1/segments/preview',
      'POST /v1/segments/{id}/check',
      'PUT /v1/segments/{id}',
    ]);
    const integrations = Object.keys(
      dev.stateless.findResources('AWS::ApiGatewayV2::Integration', {
        Properties: { IntegrationUri: { 'Fn::GetAtt': [dev.segments, 'Arn'] } },
      }),
    );
    expect(integrations).toHaveLength(1);
    const routed = dev.stateless.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrations[0] }]] } },
    }) as Resources;
    const routedKeys = Object.values(routed).map((route) => String(route.Properties.RouteKey));
    expect(routedKeys.sort()).toEqual(routeKeys);
  });

  it('grants the segments function exactly the DynamoDB actions it calls, on exactly its tables', () => {
    const permissions = dynamoPermissionsOfRole(
      dev.stateless,
      roleIdOfFunction(dev.stateless, dev.segments),
      dev.nameResource,
    );
    expect(permissions).toEqual(
      [
        'dynamodb:GetItem on segments',
        'dynamodb:PutItem on segments',
        'dynamodb:Query on segments',
        'dynamodb:Query on memberships',
        'dynamodb:BatchGetItem on memberships',
        'dynamodb:GetItem on write-keys',
        'dynamodb:Scan on profiles',
      ].sort(),
    );
  });

  it('grants the segments function nothing beyond its logs and its tables', () => {
    const others = [
      ...new Set(
        actionsOfRole(dev.stateless, roleIdOfFunction(dev.stateless, dev.segments)).filter(
          (action) => !action.startsWith('dynamodb:'),
        ),
      ),
    ].sort();
    expect(others).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
  });

  it('grants no function but the segment engine, the query function, the webhook functions and the exporter access to the segments table', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    // The webhook functions' grants are checked in test/infra/webhooks.test.ts.
    const readers = [
      dev.segments,
      dev.segmenter,
      dev.backfiller,
      dev.query,
      ...dev.webhookFunctions,
      functionIdByDescription(dev.stateless, functions.exporter.description),
    ];
    for (const functionId of Object.keys(fns).filter((id) => !readers.includes(id))) {
      const permissions = dynamoPermissionsOfRole(
        dev.stateless,
        roleIdOfFunction(dev.stateless, functionId),
        dev.nameResource,
      );
      expect(permissions.filter((permission) => permission.includes(' on segments'))).toEqual([]);
    }
  });

  it('points every function at the segments table', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    expect(Object.keys(fns)).toHaveLength(Object.keys(functions).length);
    for (const fn of Object.values(fns)) {
      const { Variables: variables } = fn.Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      expect(dev.nameResource(variables[runtimeEnvNames.segmentsTable])).toBe('segments name');
    }
  });

  it('alarms on errors and throttles of the segments function', () => {
    for (const { stateless, config, segments } of [dev, prod]) {
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: segments } }],
        Threshold: config.alarms.functionErrorsThreshold,
      });
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: segments } }],
        Threshold: config.alarms.throttlesThreshold,
      });
    }
  });
});

describe('segmenter on AWS', () => {
  const dev = segmentsTemplates('dev');
  const prod = segmentsTemplates('prod');

  it('builds the memberships table keyed by pk and sk, on-demand, with a new-image stream and no index', () => {
    const tables = dev.stateful.findResources('AWS::DynamoDB::Table') as Resources;
    const table = tables[dev.membershipsTableId];
    expect(table?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    });
    // New ledger entries feed the webhook notifier.
    expect(table?.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_IMAGE' });
    expect(table?.Properties.GlobalSecondaryIndexes).toBeUndefined();
    expect(table?.Properties.TimeToLiveSpecification).toBeUndefined();
  });

  it('keeps memberships in prod: recovery, deletion protection, Retain', () => {
    const tables = prod.stateful.findResources('AWS::DynamoDB::Table') as Resources;
    const table = tables[prod.membershipsTableId];
    expect(table?.DeletionPolicy).toBe('Retain');
    expect(table?.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table?.Properties.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
  });

  it('outputs the memberships table name for the operator CLI', () => {
    const outputs = dev.stateful.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(dev.nameResource(outputs.MembershipsTableName?.Value)).toBe('memberships name');
  });

  it('feeds the profiles stream to the segmenter in batches of 100, bisecting, 10 retries, then the failure queue', () => {
    expect(segmenterConsumer?.table).toBe('profiles');
    const mappings = dev.stateless.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { FunctionName: { Ref: dev.segmenter } },
    }) as Resources;
    const [mapping, ...more] = Object.values(mappings);
    expect(more).toHaveLength(0);
    expect(mapping?.Properties).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      MaximumRetryAttempts: 10,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // Profile items only: the historian's history items share the stream.
    expect(mapping?.Properties.FilterCriteria).toEqual({
      Filters: [{ Pattern: JSON.stringify({ dynamodb: { Keys: { sk: { S: ['profile'] } } } }) }],
    });
    expect(dev.nameResource(mapping?.Properties.EventSourceArn)).toBe('profiles stream');
    dev.stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: dev.segmenter },
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('FailureQueue'), 'Arn'] },
        },
      },
    });
  });

  it('grants the segmenter exactly the DynamoDB actions it calls, on exactly its resources', () => {
    const permissions = dynamoPermissionsOfRole(
      dev.stateless,
      roleIdOfFunction(dev.stateless, dev.segmenter),
      dev.nameResource,
    );
    expect(permissions).toEqual(
      [
        // Suppressions (erased members are skipped).
        'dynamodb:BatchGetItem on erasures',
        'dynamodb:GetItem on erasures',
        'dynamodb:GetItem on memberships',
        'dynamodb:PutItem on memberships',
        'dynamodb:UpdateItem on memberships',
        'dynamodb:DeleteItem on memberships',
        'dynamodb:Query on segments',
        'dynamodb:DescribeStream on profiles stream',
        'dynamodb:GetRecords on profiles stream',
        'dynamodb:GetShardIterator on profiles stream',
        'dynamodb:ListStreams on *',
      ].sort(),
    );
  });

  it('grants the segmenter nothing beyond its logs, its tables and the stream failure queue', () => {
    const others = [
      ...new Set(
        actionsOfRole(dev.stateless, roleIdOfFunction(dev.stateless, dev.segmenter)).filter(
          (action) => !action.startsWith('dynamodb:'),
        ),
      ),
    ].sort();
    expect(others).toEqual(
      [
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ].sort(),
    );
  });

  it('grants no function but the segmenter, the backfiller, the segments function, the query function, the notifier (stream), the exporter and the eraser access to the memberships table', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    // The notifier reads the table's stream only (test/infra/webhooks.test.ts).
    const notifier = dev.webhookFunctions[1];
    const exporter = functionIdByDescription(dev.stateless, functions.exporter.description);
    const eraser = functionIdByDescription(dev.stateless, functions.eraser.description);
    const readers = [
      dev.segmenter,
      dev.backfiller,
      dev.segments,
      dev.query,
      notifier,
      exporter,
      eraser,
    ];
    for (const functionId of Object.keys(fns).filter((id) => !readers.includes(id))) {
      const permissions = dynamoPermissionsOfRole(
        dev.stateless,
        roleIdOfFunction(dev.stateless, functionId),
        dev.nameResource,
      );
      expect(permissions.filter((permission) => permission.includes(' on memberships'))).toEqual(
        [],
      );
    }
  });

  it('points every function at the memberships table', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    expect(Object.keys(fns)).toHaveLength(Object.keys(functions).length);
    for (const fn of Object.values(fns)) {
      const { Variables: variables } = fn.Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      expect(dev.nameResource(variables[runtimeEnvNames.membershipsTable])).toBe(
        'memberships name',
      );
    }
  });

  it('alarms when the segmenter falls behind the profiles stream', () => {
    for (const { stateless, segmenter } of [dev, prod]) {
      stateless.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { Namespace: 'AWS/Lambda', MetricName: 'IteratorAge' },
        streamConsumers.length,
      );
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Statistic: 'Maximum',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: segmenter } }],
        Threshold: defaultIteratorAgeThreshold.toMilliseconds(),
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it('alarms on errors and throttles of the segmenter', () => {
    for (const { stateless, config, segmenter } of [dev, prod]) {
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: segmenter } }],
        Threshold: config.alarms.functionErrorsThreshold,
      });
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: segmenter } }],
        Threshold: config.alarms.throttlesThreshold,
      });
    }
  });
});

describe('backfiller on AWS', () => {
  const dev = segmentsTemplates('dev');

  it('grants the backfiller exactly the DynamoDB actions it calls, on exactly its tables', () => {
    const permissions = dynamoPermissionsOfRole(
      dev.stateless,
      roleIdOfFunction(dev.stateless, dev.backfiller),
      dev.nameResource,
    );
    expect(permissions).toEqual(
      [
        'dynamodb:Scan on profiles',
        'dynamodb:GetItem on profiles',
        'dynamodb:Query on segments',
        'dynamodb:GetItem on segments',
        'dynamodb:PutItem on segments',
        'dynamodb:GetItem on memberships',
        'dynamodb:PutItem on memberships',
        'dynamodb:UpdateItem on memberships',
        'dynamodb:DeleteItem on memberships',
      ].sort(),
    );
  });

  it('grants no other function than the backfiller, the segments function (previews) and the nightly personas and write-back steps a Scan', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    const scanners = [dev.backfiller, dev.segments, ...dev.nightlyScanners];
    for (const functionId of Object.keys(fns).filter((id) => !scanners.includes(id))) {
      const permissions = dynamoPermissionsOfRole(
        dev.stateless,
        roleIdOfFunction(dev.stateless, functionId),
        dev.nameResource,
      );
      expect(permissions.filter((permission) => permission.startsWith('dynamodb:Scan'))).toEqual(
        [],
      );
    }
  });

  it('runs the backfiller every minute from an EventBridge rule, never retrying a missed run', () => {
    dev.stateless.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Description: Match.stringLikeRegexp('Backfill'),
      Targets: Match.arrayWith([
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [dev.backfiller, 'Arn'] },
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }),
        }),
      ]),
    });
  });
});
