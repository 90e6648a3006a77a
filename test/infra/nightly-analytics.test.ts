/**
 * The NightlyAnalytics construct in a stack of its own (the event store, a lake bucket and the
 * compactor around it): the synthesised state machine equals the golden definition once tokens
 * are named by what they point at; the definition is the declared one; the tasks retry and are
 * caught; least-privilege grants; cdk-nag clean.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../infra/aws/constructs/event-queue.ts';
import { EventStore } from '../../infra/aws/constructs/event-store.ts';
import { NightlyAnalytics } from '../../infra/aws/constructs/nightly-analytics.ts';
import { PortraitFunction, runtimeSettings } from '../../infra/aws/constructs/portrait-function.ts';
import { addNagChecks } from '../../infra/aws/portrait-app.ts';
import { functions } from '../../infra/declarations/index.ts';
import { nightlyDefinition, nightlyStates } from '../../infra/declarations/nightly.ts';
import { environmentConfig } from '../../shared/config/environments.ts';
import { reportedViolations, testApp } from './synth.ts';

const goldenFile = new URL('./nightly-state-machine.golden.json', import.meta.url);

function nightlyStack(nag: boolean) {
  const app = testApp();
  const config = environmentConfig('prod');
  const stack = new Stack(app, 'Nightly');
  const store = new EventStore(stack, 'EventStore', { config });
  const queue = new EventQueue(stack, 'EventQueue', { config });
  const settings = runtimeSettings(config, {
    tables: store.tables,
    eventsQueue: queue.queue,
    webhooksQueue: queue.queue,
    erasuresQueue: queue.queue,
  });
  const lake = new Bucket(stack, 'Lake', {
    encryption: BucketEncryption.S3_MANAGED,
    enforceSSL: true,
  });
  const compactor = new PortraitFunction(stack, 'Compactor', {
    declaration: functions.compactor,
    config,
    settings,
  });
  const nightly = new NightlyAnalytics(stack, 'NightlyAnalytics', {
    config,
    settings,
    lakeBucket: lake,
    lakeDatabaseName: 'portrait_lake',
    compactor: compactor.function,
    profilesTable: store.table('profiles'),
    analyticsTable: store.table('analytics'),
  });
  if (nag) addNagChecks(app);
  return { app, stack, nightly };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The definition string with every CloudFormation token replaced by a name for what it points
 * at (`<function:nightly-run>`, `<workgroup>`), so the golden file does not depend on logical ids.
 */
function normalisedDefinition(template: Template): Json {
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  const names = new Map<string, string>();
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::Lambda::Function') {
      const declared = Object.values(functions).find(
        (f) => f.description === resource.Properties?.Description,
      );
      names.set(logicalId, `<function:${declared?.id ?? 'unknown'}>`);
    } else if (resource.Type === 'AWS::Athena::WorkGroup') {
      names.set(logicalId, '<workgroup>');
    }
  }
  const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  if (!machine) throw new Error('no state machine in the template');
  const body = (machine.Properties as { DefinitionString: Json }).DefinitionString;
  const text = (part: Json): string => {
    if (typeof part === 'string') return part;
    if (part && typeof part === 'object' && !Array.isArray(part)) {
      if ('Fn::Join' in part) {
        const [separator, parts] = part['Fn::Join'] as [string, Json[]];
        return parts.map(text).join(separator);
      }
      if ('Fn::GetAtt' in part)
        return names.get((part['Fn::GetAtt'] as string[])[0] as string) ?? '<token>';
      if ('Ref' in part) return names.get(part.Ref as string) ?? `<${part.Ref}>`;
    }
    return '<token>';
  };
  return JSON.parse(text(body)) as Json;
}

describe('NightlyAnalytics', () => {
  const { stack } = nightlyStack(false);
  const template = Template.fromStack(stack);

  it('deploys the declared state machine, equal to the golden definition', () => {
    const definition = normalisedDefinition(template);
    if (process.env.PORTRAIT_UPDATE_GOLDEN === '1') {
      writeFileSync(goldenFile, `${JSON.stringify(definition, null, 2)}\n`);
    }
    expect(definition).toEqual(JSON.parse(readFileSync(goldenFile, 'utf8')));
    // And it is the declared one, which the local runner executes too.
    expect(definition).toEqual(
      nightlyDefinition({
        functions: {
          run: '<function:nightly-run>',
          compact: '<function:compactor>',
          cluster: '<function:nightly-cluster>',
          personas: '<function:nightly-personas>',
          writeBack: '<function:nightly-write-back>',
        },
        athena: { workGroup: '<workgroup>', database: 'portrait_lake' },
      }),
    );
  });

  it('runs RFM on Athena through the .sync integration, and every task retries and is caught', () => {
    const definition = normalisedDefinition(template) as {
      States: Record<
        string,
        {
          Type: string;
          Resource?: string;
          Retry?: unknown[];
          Catch?: unknown[];
          ItemProcessor?: { States: Record<string, { Retry?: unknown[] }> };
        }
      >;
      QueryLanguage: string;
    };
    expect(definition.QueryLanguage).toBe('JSONPath');
    expect(definition.States[nightlyStates.rfm]?.Resource).toBe(
      'arn:aws:states:::athena:startQueryExecution.sync',
    );
    for (const [name, state] of Object.entries(definition.States)) {
      if (state.Type !== 'Task' && state.Type !== 'Map') continue;
      expect(state.Catch?.length, `${name} Catch`).toBeGreaterThan(0);
      if (state.Type === 'Task') expect(state.Retry?.length, `${name} Retry`).toBeGreaterThan(0);
    }
    const shard =
      definition.States[nightlyStates.writeBack]?.ItemProcessor?.States[
        nightlyStates.writeBackShard
      ];
    expect(shard?.Retry?.length).toBeGreaterThan(0);
    expect(JSON.stringify(definition)).not.toContain('JSONata');
  });

  it('schedules the run nightly in the brand time zone and alarms on a failed execution', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 2 * * ? *)',
      ScheduleExpressionTimezone: 'Asia/Shanghai',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      Threshold: 1,
    });
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: Match.objectLike({
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
        }),
      }),
    });
  });

  it('grants no wildcard action and no DynamoDB write to the cluster step', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    for (const policy of policies) {
      const statements = (
        policy.Properties as { PolicyDocument: { Statement: { Action: string | string[] }[] } }
      ).PolicyDocument.Statement;
      for (const statement of statements) {
        for (const action of [statement.Action].flat()) expect(action).not.toMatch(/\*$/);
      }
    }
  });

  it('is cdk-nag clean', () => {
    const nagged = nightlyStack(true);
    const violations = reportedViolations(nagged.app.synth()).filter(
      (v) => v.plugin === 'AwsSolutions' && v.paths.some((p) => p.includes('NightlyAnalytics')),
    );
    expect(violations.map((v) => `${v.rule} ${v.paths.join(',')}`)).toEqual([]);
  });
});
