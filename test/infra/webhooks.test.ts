import { Template } from 'aws-cdk-lib/assertions';
import type { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import {
  functions,
  routes,
  streamConsumers,
  webhookRoutes,
  webhooksQueue,
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
  statementsOfRole,
} from './template-queries.ts';

function webhookTemplates(env: string) {
  const { stateful, stateless, config } = portraitApp(env);
  const statefulTemplate = Template.fromStack(stateful);
  const template = Template.fromStack(stateless);
  const tableNamer = resourceNamer(stateful, statefulTemplate);
  const outputs = (statefulTemplate.toJSON().Outputs ?? {}) as Record<string, { Value: unknown }>;
  const queueIds = new Map([
    [stateful.getLogicalId(stateful.webhookQueue.queue.node.defaultChild as CfnQueue), 'webhooks'],
    [
      stateful.getLogicalId(stateful.webhookQueue.deadLetterQueue.node.defaultChild as CfnQueue),
      'webhooks-dlq',
    ],
  ]);
  /** Tables as `resourceNamer` names them; the webhook queues as `webhooks` / `webhooks-dlq`. */
  const nameResource = (resource: unknown): string => {
    const output = (resource as { 'Fn::GetStackOutput'?: { OutputName?: string } } | null)?.[
      'Fn::GetStackOutput'
    ];
    const value = output?.OutputName ? outputs[output.OutputName]?.Value : resource;
    const getAtt = (value as { 'Fn::GetAtt'?: [string, string] } | null)?.['Fn::GetAtt'];
    const ref = (value as { Ref?: string } | null)?.Ref;
    const queue = queueIds.get(getAtt?.[0] ?? ref ?? '');
    if (queue) return getAtt ? `${queue} ${getAtt[1]}` : `${queue} url`;
    return tableNamer(resource);
  };
  const fn = (id: 'webhooks' | 'notifier' | 'deliverer') =>
    functionIdByDescription(template, functions[id].description);
  return {
    config,
    stateful,
    statefulTemplate,
    stateless: template,
    nameResource,
    webhooks: fn('webhooks'),
    notifier: fn('notifier'),
    deliverer: fn('deliverer'),
  };
}

const nonDynamoActions = (t: ReturnType<typeof webhookTemplates>, functionId: string) =>
  [
    ...new Set(
      actionsOfRole(t.stateless, roleIdOfFunction(t.stateless, functionId)).filter(
        (action) => !action.startsWith('dynamodb:'),
      ),
    ),
  ].sort();

describe('webhooks on AWS', () => {
  const dev = webhookTemplates('dev');
  const prod = webhookTemplates('prod');

  it('builds the webhook queue with a dead-letter queue after 8 receives, both encrypted', () => {
    const queues = dev.statefulTemplate.findResources('AWS::SQS::Queue') as Resources;
    const queueId = dev.stateful.getLogicalId(
      dev.stateful.webhookQueue.queue.node.defaultChild as CfnQueue,
    );
    const dlqId = dev.stateful.getLogicalId(
      dev.stateful.webhookQueue.deadLetterQueue.node.defaultChild as CfnQueue,
    );
    expect(queues[queueId]?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: webhooksQueue.visibilityTimeoutSeconds,
      MessageRetentionPeriod: webhooksQueue.retentionSeconds,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: 8,
      },
    });
    expect(queues[dlqId]?.Properties).toMatchObject({ SqsManagedSseEnabled: true });
    expect(queues[queueId]?.DeletionPolicy).toBe('Delete');
    const prodQueues = prod.statefulTemplate.findResources('AWS::SQS::Queue') as Resources;
    for (const queue of Object.values(prodQueues)) expect(queue.DeletionPolicy).toBe('Retain');
  });

  it('outputs both queue URLs for `cli webhooks redrive --aws`', () => {
    const outputs = dev.statefulTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(dev.nameResource(outputs.WebhookQueueUrl?.Value)).toBe('webhooks url');
    expect(dev.nameResource(outputs.WebhookDeadLetterQueueUrl?.Value)).toBe('webhooks-dlq url');
  });

  it('routes the subscription routes to the webhooks function with their scopes', () => {
    expect(webhookRoutes.map((r) => `${r.method} ${r.path} ${r.scope}`)).toEqual([
      'POST /v1/segments/{id}/webhooks segments:write',
      'GET /v1/segments/{id}/webhooks segments:read',
      'DELETE /v1/segments/{id}/webhooks/{hookId} segments:write',
    ]);
    expect(routes.filter((route) => route.function === 'webhooks')).toHaveLength(3);
    const integrations = Object.keys(
      dev.stateless.findResources('AWS::ApiGatewayV2::Integration', {
        Properties: { IntegrationUri: { 'Fn::GetAtt': [dev.webhooks, 'Arn'] } },
      }),
    );
    expect(integrations).toHaveLength(1);
    const routed = dev.stateless.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrations[0] }]] } },
    }) as Resources;
    expect(
      Object.values(routed)
        .map((route) => String(route.Properties.RouteKey))
        .sort(),
    ).toEqual(webhookRoutes.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('feeds new ledger entries only from the memberships stream to the notifier', () => {
    const declared = streamConsumers.find((consumer) => consumer.function === 'notifier');
    expect(declared?.table).toBe('memberships');
    const mappings = Object.values(
      dev.stateless.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: { FunctionName: { Ref: dev.notifier } },
      }) as Resources,
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(dev.nameResource(mappings[0]?.Properties.EventSourceArn)).toBe('memberships stream');
    expect(mappings[0]?.Properties.FilterCriteria).toEqual({
      Filters: [
        {
          Pattern: JSON.stringify({
            eventName: ['INSERT'],
            dynamodb: { Keys: { pk: { S: [{ prefix: 'sl#' }] } } },
          }),
        },
      ],
    });
  });

  it('feeds the webhook queue to the deliverer with partial batch responses', () => {
    const mappings = Object.values(
      dev.stateless.findResources('AWS::Lambda::EventSourceMapping', {
        Properties: { FunctionName: { Ref: dev.deliverer } },
      }) as Resources,
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      BatchSize: webhooksQueue.consumer.batchSize,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: webhooksQueue.consumer.maxConcurrency },
    });
    expect(dev.nameResource(mappings[0]?.Properties.EventSourceArn)).toBe('webhooks Arn');
  });

  it('grants each webhook function exactly what it calls', () => {
    const dynamo = (functionId: string) =>
      dynamoPermissionsOfRole(
        dev.stateless,
        roleIdOfFunction(dev.stateless, functionId),
        dev.nameResource,
      );
    expect(dynamo(dev.webhooks)).toEqual(
      [
        'dynamodb:DeleteItem on segments',
        'dynamodb:GetItem on segments',
        'dynamodb:PutItem on segments',
        'dynamodb:Query on segments',
        'dynamodb:GetItem on write-keys',
      ].sort(),
    );
    expect(nonDynamoActions(dev, dev.webhooks)).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(dynamo(dev.notifier)).toEqual(
      [
        'dynamodb:Query on segments',
        'dynamodb:DescribeStream on memberships stream',
        'dynamodb:GetRecords on memberships stream',
        'dynamodb:GetShardIterator on memberships stream',
        'dynamodb:ListStreams on *',
      ].sort(),
    );
    // The deliverer also reads suppressions, to drop queued events of erased members.
    expect(dynamo(dev.deliverer)).toEqual(
      [
        'dynamodb:BatchGetItem on erasures',
        'dynamodb:GetItem on erasures',
        'dynamodb:GetItem on segments',
      ].sort(),
    );
    const sqsResources = (functionId: string) =>
      statementsOfRole(dev.stateless, roleIdOfFunction(dev.stateless, functionId))
        .filter((statement) => [statement.Action].flat().some((a) => a.startsWith('sqs:')))
        .flatMap((statement) =>
          [statement.Resource]
            .flat()
            .flatMap((resource) =>
              [statement.Action]
                .flat()
                .map((action) => `${action} on ${dev.nameResource(resource)}`),
            ),
        )
        .filter((permission) => permission.includes(' on webhooks'))
        .sort();
    expect(sqsResources(dev.notifier)).toEqual([
      'sqs:GetQueueAttributes on webhooks Arn',
      'sqs:GetQueueUrl on webhooks Arn',
      'sqs:SendMessage on webhooks Arn',
    ]);
    expect(sqsResources(dev.deliverer)).toEqual([
      'sqs:ChangeMessageVisibility on webhooks Arn',
      'sqs:DeleteMessage on webhooks Arn',
      'sqs:GetQueueAttributes on webhooks Arn',
      'sqs:GetQueueUrl on webhooks Arn',
      'sqs:ReceiveMessage on webhooks Arn',
    ]);
    expect(nonDynamoActions(dev, dev.deliverer).filter((a) => !a.startsWith('sqs:'))).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
  });

  it('points every function at the webhook queue, https only, 60 s first retry', () => {
    const fns = dev.stateless.findResources('AWS::Lambda::Function') as Resources;
    for (const fn of Object.values(fns)) {
      const { Variables: variables } = fn.Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      expect(dev.nameResource(variables[runtimeEnvNames.webhooksQueueUrl])).toBe('webhooks url');
      expect(variables[runtimeEnvNames.webhookAllowLoopbackHttp]).toBe('false');
      expect(variables[runtimeEnvNames.webhookRetryBaseSeconds]).toBe('60');
    }
  });

  it('alarms when a delivery is dead-lettered and when the deliverer reports errors', () => {
    for (const { stateless, config, deliverer, nameResource } of [dev, prod]) {
      const dlqAlarms = Object.values(
        stateless.findResources('AWS::CloudWatch::Alarm', {
          Properties: { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' },
        }) as Resources,
      ).filter((alarm) => {
        const [dimension] = alarm.Properties.Dimensions as { Value: unknown }[];
        return nameResource(dimension?.Value) === 'webhooks-dlq QueueName';
      });
      expect(dlqAlarms).toHaveLength(1);
      expect(dlqAlarms[0]?.Properties).toMatchObject({
        Threshold: config.alarms.dlqDepthThreshold,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expect(config.alarms.dlqDepthThreshold).toBe(1);
      stateless.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: deliverer } }],
        Threshold: config.alarms.functionErrorsThreshold,
      });
    }
  });
});
