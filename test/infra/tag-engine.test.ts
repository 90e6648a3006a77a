import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { defaultIteratorAgeThreshold } from '../../infra/aws/constructs/alarms.ts';
import {
  functions,
  memberRoutes,
  profilesTable,
  schedules,
  streamConsumers,
  sweeperSchedule,
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

function tagEngineTemplates(env: string) {
  const { stateful, stateless, config } = portraitApp(env);
  const statefulTemplate = Template.fromStack(stateful);
  const template = Template.fromStack(stateless);
  const idOf = (declaration: { readonly description: string }) =>
    functionIdByDescription(template, declaration.description);
  return {
    config,
    stateful: statefulTemplate,
    stateless: template,
    tagger: idOf(functions.tagger),
    sweeper: idOf(functions.sweeper),
    historian: idOf(functions.historian),
    query: idOf(functions.query),
    nameResource: resourceNamer(stateful, statefulTemplate),
  };
}

const taggerConsumer = streamConsumers.find((consumer) => consumer.function === 'tagger');

describe('tag engine on AWS', () => {
  const dev = tagEngineTemplates('dev');
  const prod = tagEngineTemplates('prod');

  it('builds the profiles table with the sparse due index, keys only', () => {
    const [due] = profilesTable.indexes;
    dev.stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: profilesTable.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: profilesTable.sortKey.name, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: due.partitionKey.name, AttributeType: 'N' },
        { AttributeName: due.sortKey.name, AttributeType: 'N' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'due',
          KeySchema: [
            { AttributeName: 'dueShard', KeyType: 'HASH' },
            { AttributeName: 'nextChangeAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
      // Every profile write reaches the historian and the segmenter.
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('feeds the events stream to the tagger in batches of 100, bisecting, 10 retries, then the failure queue', () => {
    expect(taggerConsumer).toBeDefined();
    dev.stateless.resourcePropertiesCountIs(
      'AWS::Lambda::EventSourceMapping',
      {
        FunctionName: { Ref: dev.tagger },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        MaximumRetryAttempts: 10,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: {
          OnFailure: {
            Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('FailureQueue'), 'Arn'] },
          },
        },
      },
      1,
    );
    const mappings = dev.stateless.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { FunctionName: { Ref: dev.tagger } },
    }) as Resources;
    const [mapping] = Object.values(mappings);
    expect(dev.nameResource(mapping?.Properties.EventSourceArn)).toBe('events stream');
  });

  it('feeds the profiles stream to the historian with the same retry and failure settings', () => {
    const mappings = dev.stateless.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: {
        FunctionName: { Ref: dev.historian },
        BatchSize: 100,
        MaximumRetryAttempts: 10,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      },
    }) as Resources;
    const [mapping, ...more] = Object.values(mappings);
    expect(more).toHaveLength(0);
    expect(dev.nameResource(mapping?.Properties.EventSourceArn)).toBe('profiles stream');
  });

  it('delivers only INSERT records to the tagger, the only ones it acts on', () => {
    dev.stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: dev.tagger },
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ['INSERT'] }) }] },
    });
  });

  it('delivers only profile items, not history items, to the historian', () => {
    dev.stateless.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: dev.historian },
      FilterCriteria: {
        Filters: [{ Pattern: JSON.stringify({ dynamodb: { Keys: { sk: { S: ['profile'] } } } }) }],
      },
    });
  });

  it('runs the sweeper every declared period and never retries a sweep', () => {
    expect(sweeperSchedule.awsEveryMinutes).toBe(1);
    dev.stateless.resourceCountIs('AWS::Events::Rule', schedules.length);
    dev.stateless.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [dev.sweeper, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
    dev.stateless.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [dev.sweeper, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: Match.anyValue(),
    });
    dev.stateless.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: dev.sweeper },
      MaximumRetryAttempts: 0,
    });
  });

  it('routes the member read API, segments of a member included, to the query function, and nothing else', () => {
    const routeKeys = memberRoutes.map((route) => `${route.method} ${route.path}`).sort();
    expect(routeKeys).toEqual([
      'GET /v1/members/{id}',
      'GET /v1/members/{id}/segments',
      'GET /v1/members/{id}/tags/history',
    ]);
    const integrations = Object.keys(
      dev.stateless.findResources('AWS::ApiGatewayV2::Integration', {
        Properties: { IntegrationUri: { 'Fn::GetAtt': [dev.query, 'Arn'] } },
      }),
    );
    expect(integrations).toHaveLength(1);
    const routed = dev.stateless.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrations[0] }]] } },
    }) as Resources;
    const routedKeys = Object.values(routed).map((route) => String(route.Properties.RouteKey));
    expect(routedKeys.sort()).toEqual(routeKeys);
  });

  it('grants each function exactly the DynamoDB actions it calls, on exactly its resources', () => {
    const permissions = (functionId: string) =>
      dynamoPermissionsOfRole(
        dev.stateless,
        roleIdOfFunction(dev.stateless, functionId),
        dev.nameResource,
      );
    // The tagger, historian and segmenter also read suppressions (erased members).
    const suppressions = ['dynamodb:BatchGetItem on erasures', 'dynamodb:GetItem on erasures'];
    expect(permissions(dev.tagger)).toEqual(
      [
        ...suppressions,
        'dynamodb:GetItem on profiles',
        'dynamodb:PutItem on profiles',
        'dynamodb:DescribeStream on events stream',
        'dynamodb:GetRecords on events stream',
        'dynamodb:GetShardIterator on events stream',
        'dynamodb:ListStreams on *',
      ].sort(),
    );
    expect(permissions(dev.sweeper)).toEqual(
      [
        'dynamodb:GetItem on profiles',
        'dynamodb:PutItem on profiles',
        'dynamodb:Query on profiles/index/due',
      ].sort(),
    );
    expect(permissions(dev.historian)).toEqual(
      [
        ...suppressions,
        'dynamodb:PutItem on profiles',
        'dynamodb:DescribeStream on profiles stream',
        'dynamodb:GetRecords on profiles stream',
        'dynamodb:GetShardIterator on profiles stream',
        'dynamodb:ListStreams on *',
      ].sort(),
    );
    expect(permissions(dev.query)).toEqual(
      [
        'dynamodb:GetItem on profiles',
        'dynamodb:Query on profiles',
        'dynamodb:GetItem on write-keys',
        'dynamodb:GetItem on memberships',
        'dynamodb:Query on segments',
        // The wrapped personal-data key, its partition only (personal-data-key.test.ts).
        'dynamodb:GetItem on erasures',
        'dynamodb:PutItem on erasures',
      ].sort(),
    );
  });

  it('grants the tag engine nothing beyond its logs, its tables, the stream failure queue and the personal-data key', () => {
    const others = (functionId: string) =>
      [
        ...new Set(
          actionsOfRole(dev.stateless, roleIdOfFunction(dev.stateless, functionId)).filter(
            (action) => !action.startsWith('dynamodb:'),
          ),
        ),
      ].sort();
    const logs = ['logs:CreateLogStream', 'logs:PutLogEvents'];
    expect(others(dev.tagger)).toEqual(
      [...logs, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'].sort(),
    );
    expect(others(dev.historian)).toEqual(
      [...logs, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'].sort(),
    );
    expect(others(dev.sweeper)).toEqual(logs);
    // Query reveals personal fields: it unwraps the personal-data key (personal-data-key.test.ts).
    expect(others(dev.query)).toEqual([...logs, 'kms:Decrypt', 'kms:GenerateDataKey'].sort());
  });

  it('alarms when the tagger falls behind its stream', () => {
    for (const { stateless, tagger } of [dev, prod]) {
      stateless.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { Namespace: 'AWS/Lambda', MetricName: 'IteratorAge' },
        streamConsumers.length,
      );
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Statistic: 'Maximum',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: tagger } }],
        Threshold: defaultIteratorAgeThreshold.toMilliseconds(),
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it('alarms on errors and throttles of the tagger and the sweeper', () => {
    for (const { stateless, config, tagger, sweeper } of [dev, prod]) {
      for (const functionId of [tagger, sweeper]) {
        stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
          Threshold: config.alarms.functionErrorsThreshold,
        });
        stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: 'Throttles',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
          Threshold: config.alarms.throttlesThreshold,
        });
      }
    }
  });

  it('points the functions at the profiles table and the shipped rule catalogue', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    const variables = (id: string) => {
      const environment = fns[id]?.Properties.Environment as
        | { Variables: Record<string, unknown> }
        | undefined;
      return environment?.Variables ?? {};
    };
    for (const id of [dev.tagger, dev.sweeper, dev.historian, dev.query]) {
      expect(dev.nameResource(variables(id)[runtimeEnvNames.profilesTable])).toBe('profiles name');
      expect(variables(id)[runtimeEnvNames.tagCatalogueFile]).toBe('');
    }
  });
});
