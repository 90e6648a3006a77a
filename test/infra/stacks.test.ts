import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { MissingFunctionError } from '../../infra/aws/constructs/function-registry.ts';
import { nodeRuntime } from '../../infra/aws/constructs/portrait-function.ts';
import { PublicApi } from '../../infra/aws/constructs/public-api.ts';
import { UndeclaredStreamError } from '../../infra/aws/constructs/stream-consumers.ts';
import {
  corsPolicy,
  tables as declaredTables,
  eventsQueue,
  eventsTable,
  functions,
  routes,
  type StreamConsumerDeclaration,
  streamConsumers,
  type TableDeclaration,
  writeKeysTable,
} from '../../infra/declarations/index.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { consumerStack as buildConsumerStack, portraitApp, testApp } from './synth.ts';
import {
  actionsOfRole,
  dynamoPermissionsOfRole,
  functionIdByDescription,
  type Resources,
  resourceNamer,
  roleIdOfFunction,
} from './template-queries.ts';

/** AWS requires Resource "*" for these: they have no resource-level permissions. */
// ListStreams for stream consumers; log delivery and X-Ray for the nightly state machine's
// execution logging and tracing (Step Functions' own policy; none of them takes a resource).
const actionsThatRequireWildcard = new Set([
  'dynamodb:ListStreams',
  'logs:CreateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:DescribeLogGroups',
  'logs:DescribeResourcePolicies',
  'logs:GetLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:UpdateLogDelivery',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'xray:PutTelemetryRecords',
  'xray:PutTraceSegments',
]);

function templates(env: string) {
  const { stateful, stateless, config } = portraitApp(env);
  return {
    config,
    stateful: Template.fromStack(stateful),
    stateless: Template.fromStack(stateless),
    statefulStack: stateful,
    statelessStack: stateless,
  };
}

function keySchema(declaration: TableDeclaration) {
  return [
    { AttributeName: declaration.partitionKey.name, KeyType: 'HASH' },
    ...(declaration.sortKey ? [{ AttributeName: declaration.sortKey.name, KeyType: 'RANGE' }] : []),
  ];
}

/** Statements with a literal "*" resource whose actions AWS does not force onto "*". */
function wildcardStatements(template: Template): unknown[] {
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  return Object.values(policies).flatMap((policy) => {
    const document = policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] };
    return document.Statement.filter((statement) => {
      const resources = [statement.Resource].flat();
      const actions = [statement.Action].flat() as string[];
      return resources.includes('*') && !actions.every((a) => actionsThatRequireWildcard.has(a));
    });
  });
}

describe('stateful stack', () => {
  const dev = templates('dev');
  const prod = templates('prod');

  it('builds the events table from its declaration: keys, stream view, TTL, on-demand', () => {
    dev.stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: keySchema(eventsTable),
      StreamSpecification: { StreamViewType: eventsTable.stream },
      TimeToLiveSpecification: { AttributeName: eventsTable.timeToLiveAttribute, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('builds the write keys table from its declaration, without a stream', () => {
    dev.stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: keySchema(writeKeysTable),
      StreamSpecification: Match.absent(),
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('protects prod tables: point-in-time recovery, deletion protection, Retain', () => {
    const tables = prod.stateful.findResources('AWS::DynamoDB::Table') as Resources;
    expect(Object.keys(tables)).toHaveLength(declaredTables.length);
    for (const table of Object.values(tables)) {
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.UpdateReplacePolicy).toBe('Retain');
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
      expect(table.Properties.PointInTimeRecoverySpecification).toEqual({
        PointInTimeRecoveryEnabled: true,
      });
    }
    expect(prod.statefulStack.terminationProtection).toBe(true);
  });

  it('leaves dev tables disposable: no recovery, no deletion protection, Delete', () => {
    const tables = dev.stateful.findResources('AWS::DynamoDB::Table') as Resources;
    for (const table of Object.values(tables)) {
      expect(table.DeletionPolicy).toBe('Delete');
      expect(table.Properties.DeletionProtectionEnabled).toBe(false);
      expect(table.Properties.PointInTimeRecoverySpecification).toEqual({
        PointInTimeRecoveryEnabled: false,
      });
    }
    expect(dev.statefulStack.terminationProtection).toBe(false);
  });

  it('gives the events queue a dead-letter queue after the declared number of receives', () => {
    dev.stateful.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: eventsQueue.visibilityTimeoutSeconds,
      RedrivePolicy: {
        maxReceiveCount: eventsQueue.maxReceiveCount,
        deadLetterTargetArn: Match.anyValue(),
      },
      SqsManagedSseEnabled: true,
    });
    dev.stateful.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: eventsQueue.deadLetterRetentionSeconds,
      RedrivePolicy: Match.absent(),
      SqsManagedSseEnabled: true,
    });
  });

  it('refuses plain-HTTP access to every queue', () => {
    const policies = dev.stateful.findResources('AWS::SQS::QueuePolicy', {
      Properties: {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      },
    });
    // The events, webhook and erasure queues, each with its dead-letter queue.
    expect(Object.keys(policies)).toHaveLength(6);
  });

  it('keeps prod queues on stack deletion and drops dev ones', () => {
    for (const queue of Object.values(
      prod.stateful.findResources('AWS::SQS::Queue') as Resources,
    )) {
      expect(queue.DeletionPolicy).toBe('Retain');
    }
    for (const queue of Object.values(dev.stateful.findResources('AWS::SQS::Queue') as Resources)) {
      expect(queue.DeletionPolicy).toBe('Delete');
    }
  });

  it('outputs the names the operator CLI is pointed at', () => {
    for (const output of [
      'EventsTableName',
      'WriteKeysTableName',
      'ProfilesTableName',
      'SegmentsTableName',
      'MembershipsTableName',
      'EventsQueueUrl',
      'EventsDeadLetterQueueUrl',
    ]) {
      dev.stateful.hasOutput(output, { Value: Match.anyValue() });
    }
    dev.stateless.hasOutput('ApiUrl', { Value: Match.anyValue() });
  });

  it('tags both stacks with the environment', () => {
    for (const { statefulStack, statelessStack, config } of [dev, prod]) {
      expect(statefulStack.tags.tagValues()['portrait:environment']).toBe(config.name);
      expect(statelessStack.tags.tagValues()['portrait:environment']).toBe(config.name);
    }
  });
});

describe('stateless stack', () => {
  const dev = templates('dev');
  const prod = templates('prod');

  it('runs every function on the Node.js LTS runtime, arm64, with JSON logs', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    expect(Object.keys(fns)).toHaveLength(Object.keys(functions).length);
    for (const fn of Object.values(fns)) {
      expect(fn.Properties.Runtime).toBe(nodeRuntime.name);
      expect(nodeRuntime.name).toMatch(/^nodejs(22|24)\.x$/);
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
    }
  });

  it('sizes each function from its declaration', () => {
    for (const declaration of Object.values(functions)) {
      dev.stateless.hasResourceProperties('AWS::Lambda::Function', {
        Description: declaration.description,
        MemorySize: declaration.memoryMiB,
        Timeout: declaration.timeoutSeconds,
      });
    }
  });

  it('sets exactly the runtime configuration variables the handlers read', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    const expected = [...Object.values(runtimeEnvNames), 'NODE_OPTIONS'].sort();
    for (const fn of Object.values(fns)) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> })
        .Variables;
      expect(Object.keys(variables).sort()).toEqual(expected);
      expect(variables[runtimeEnvNames.environment]).toBe('dev');
    }
  });

  it('gives every function the same runtime settings, built in one place', () => {
    // But the personal-data key's ARN, set only where it is granted (personal-data-key.test.ts).
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    const environments = new Set(
      Object.values(fns).map((fn) => {
        const { Variables: variables } = fn.Properties.Environment as {
          Variables: Record<string, unknown>;
        };
        const { [runtimeEnvNames.personalKeyArn]: _keyArn, ...shared } = variables;
        return JSON.stringify(shared);
      }),
    );
    expect(environments.size).toBe(1);
  });

  it('keeps function logs for the configured number of days', () => {
    dev.stateless.allResourcesProperties('AWS::Logs::LogGroup', {
      RetentionInDays: dev.config.logRetentionDays,
    });
    prod.stateless.allResourcesProperties('AWS::Logs::LogGroup', {
      RetentionInDays: prod.config.logRetentionDays,
    });
  });

  it('drains the queue into ingest with partial batch responses and the declared batching', () => {
    const ingestId = functionIdByDescription(dev.stateless, functions.ingest.description);
    dev.stateless.resourcePropertiesCountIs(
      'AWS::Lambda::EventSourceMapping',
      {
        FunctionName: { Ref: ingestId },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: eventsQueue.consumer.batchSize,
        MaximumBatchingWindowInSeconds: eventsQueue.consumer.maxBatchingWindowSeconds,
        ScalingConfig: { MaximumConcurrency: eventsQueue.consumer.maxConcurrency },
      },
      1,
    );
  });

  it('exposes every declared route on the HTTP API, but streaming ones (on function URLs)', () => {
    const buffered = routes.filter((route) => !route.streaming);
    dev.stateless.resourceCountIs('AWS::ApiGatewayV2::Route', buffered.length);
    for (const route of buffered) {
      dev.stateless.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: `${route.method} ${route.path}`,
      });
    }
  });

  it('lets browsers call the API from any origin (CORS from the declaration)', () => {
    dev.stateless.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: [...corsPolicy.allowOrigins],
        AllowHeaders: [...corsPolicy.allowHeaders],
        MaxAge: corsPolicy.maxAgeSeconds,
      },
    });
  });

  it('throttles the default stage per environment and writes JSON access logs', () => {
    for (const { stateless, config } of [dev, prod]) {
      stateless.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: {
          ThrottlingRateLimit: config.api.throttleRateLimit,
          ThrottlingBurstLimit: config.api.throttleBurstLimit,
        },
        AccessLogSettings: {
          DestinationArn: Match.anyValue(),
          Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
        },
      });
    }
  });

  it('never logs request headers, where the write key travels', () => {
    const stages = dev.stateless.findResources('AWS::ApiGatewayV2::Stage') as Resources;
    for (const stage of Object.values(stages)) {
      const format = (stage.Properties.AccessLogSettings as { Format: string }).Format;
      expect(format).not.toMatch(/header|authorization/i);
    }
  });

  it('grants collect read on write keys and send on the queue, ingest write on events', () => {
    const collectId = functionIdByDescription(dev.stateless, functions.collect.description);
    const ingestId = functionIdByDescription(dev.stateless, functions.ingest.description);
    const collectActions = actionsOfRole(dev.stateless, roleIdOfFunction(dev.stateless, collectId));
    expect(collectActions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'sqs:SendMessage']));
    expect(collectActions).not.toContain('dynamodb:PutItem');
    const ingestActions = actionsOfRole(dev.stateless, roleIdOfFunction(dev.stateless, ingestId));
    expect(ingestActions).toEqual(
      expect.arrayContaining(['dynamodb:PutItem', 'sqs:ReceiveMessage', 'sqs:DeleteMessage']),
    );
    expect(ingestActions).not.toContain('sqs:SendMessage');
    // Ingest reads only suppressions (erased members), by key or in batches, and gets or puts
    // the wrapped personal-data key (that partition only: personal-data-key.test.ts).
    const nameResource = resourceNamer(dev.statefulStack, dev.stateful);
    expect(
      dynamoPermissionsOfRole(
        dev.stateless,
        roleIdOfFunction(dev.stateless, ingestId),
        nameResource,
      ),
    ).toEqual(
      [
        'dynamodb:BatchGetItem on erasures',
        'dynamodb:GetItem on erasures',
        'dynamodb:GetItem on erasures',
        'dynamodb:PutItem on erasures',
        'dynamodb:PutItem on events',
      ].sort(),
    );
  });

  it('attaches no AWS managed policy to function roles', () => {
    dev.stateless.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('grants the functions only the DynamoDB actions they call', () => {
    const policies = dev.stateless.findResources('AWS::IAM::Policy') as Resources;
    const dynamoActions = new Set(
      Object.values(policies).flatMap((policy) =>
        (
          policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }
        ).Statement.flatMap((statement) =>
          ([statement.Action].flat() as string[]).filter((a) => a.startsWith('dynamodb:')),
        ),
      ),
    );
    // No batch write anywhere; stream reads come with the event source. UpdateItem and
    // DeleteItem are the segmenter's, the backfiller's and the eraser's (pinned in
    // erasure.test.ts), BatchGetItem the segments function's (its `check`) and the suppression
    // readers' (on erasures); Scan the backfiller's and the segments function's
    // (previews), on profiles only (pinned in
    // segments.test.ts).
    expect([...dynamoActions].sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:DeleteItem',
      'dynamodb:DescribeStream',
      'dynamodb:GetItem',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:ListStreams',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
    ]);
  });

  it('has no IAM statement on Resource "*" except actions AWS only grants on "*"', () => {
    for (const { stateful, stateless } of [dev, prod]) {
      expect(wildcardStatements(stateful)).toEqual([]);
      expect(wildcardStatements(stateless)).toEqual([]);
    }
  });

  it('alarms on dead letters, function errors and throttles, and API 5xx at config thresholds', () => {
    for (const { stateless, config } of [dev, prod]) {
      const { alarms } = config;
      stateless.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Threshold: alarms.dlqDepthThreshold,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        },
        // The events, webhook and erasure dead-letter queues and, with stream consumers, their
        // failure queue.
        streamConsumers.length > 0 ? 4 : 3,
      );
      for (const [metric, threshold] of [
        ['Errors', alarms.functionErrorsThreshold],
        ['Throttles', alarms.throttlesThreshold],
      ] as const) {
        stateless.resourcePropertiesCountIs(
          'AWS::CloudWatch::Alarm',
          { Namespace: 'AWS/Lambda', MetricName: metric, Threshold: threshold },
          Object.keys(functions).length,
        );
      }
      stateless.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        {
          Namespace: 'AWS/ApiGateway',
          MetricName: '5xx',
          Threshold: alarms.functionErrorsThreshold,
        },
        1,
      );
      stateless.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: Match.absent() });
    }
  });

  it('notifies the configured SNS topic from every alarm', () => {
    const topicArn = 'arn:aws:sns:ap-east-1:123456789012:portrait-alarms';
    const base = environmentConfig('prod');
    const { stateless } = portraitApp({
      ...base,
      alarms: { ...base.alarms, notifyTopicArn: topicArn },
    });
    Template.fromStack(stateless).allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [topicArn],
    });
  });
});

describe('stream consumers', () => {
  const consumer: StreamConsumerDeclaration = {
    table: eventsTable.id,
    function: 'ingest',
    batchSize: 100,
    maxBatchingWindowSeconds: 2,
    retryAttempts: 4,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  };

  function consumerStack(consumers: readonly StreamConsumerDeclaration[]) {
    const { stack, attached } = buildConsumerStack(testApp(), 'dev', consumers);
    return { stack, attached, template: Template.fromStack(stack) };
  }

  it('creates nothing while no consumer is declared', () => {
    const { template, attached } = consumerStack([]);
    expect(attached.failureQueue).toBeUndefined();
    template.resourcePropertiesCountIs(
      'AWS::Lambda::EventSourceMapping',
      { StartingPosition: Match.anyValue() },
      0,
    );
  });

  it('maps a declared consumer with its batching, retries, bisection and an SQS on-failure queue', () => {
    const { template } = consumerStack([consumer]);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: Match.objectLike({ 'Fn::GetAtt': Match.arrayWith(['StreamArn']) }),
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: consumer.batchSize,
      MaximumBatchingWindowInSeconds: consumer.maxBatchingWindowSeconds,
      MaximumRetryAttempts: consumer.retryAttempts,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it('grants "*" only for dynamodb:ListStreams, which has no resource-level permissions', () => {
    const { template } = consumerStack([consumer]);
    expect(wildcardStatements(template)).toEqual([]);
  });

  it('rejects a consumer on a table without a stream', () => {
    expect(() => consumerStack([{ ...consumer, table: writeKeysTable.id }])).toThrow(
      UndeclaredStreamError,
    );
  });
});

describe('public API', () => {
  it('refuses a route whose function no construct built', () => {
    const stack = new Stack(testApp(), 'Api');
    expect(
      () =>
        new PublicApi(stack, 'PublicApi', {
          config: environmentConfig('dev'),
          functions: {},
          routes,
        }),
    ).toThrow(MissingFunctionError);
  });
});
