import { Stack } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { addNagChecks } from '../../infra/aws/portrait-app.ts';
import { eventsTable } from '../../infra/declarations/index.ts';
import {
  acknowledgements,
  consumerStack,
  portraitApp,
  reportedViolations,
  testApp,
} from './synth.ts';

const nagPlugin = 'AwsSolutions';
const minimumReasonWords = 10;

function words(text: string): number {
  return text.trim().split(/\s+/).length;
}

describe.each(['dev', 'staging', 'prod'])('cdk-nag AwsSolutions on the %s app', (env) => {
  const { app } = portraitApp(env, { nag: true });
  const violations = reportedViolations(app.synth());

  it('reports no unacknowledged error or warning', () => {
    expect(violations.filter((v) => v.plugin === nagPlugin)).toEqual([]);
  });

  it('leaves no CDK annotation or template-validation warning either', () => {
    expect(violations).toEqual([]);
  });

  it('gives every acknowledgement a written reason', () => {
    const acknowledged = acknowledgements(app);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { path, id, reason } of acknowledged) {
      expect(words(reason), `${id} on ${path}: "${reason}"`).toBeGreaterThanOrEqual(
        minimumReasonWords,
      );
    }
  });
});

describe('cdk-nag over a declared stream consumer', () => {
  it('is clean once the ListStreams wildcard and the failure queue are acknowledged', () => {
    const app = testApp();
    consumerStack(app, 'prod', [
      {
        table: eventsTable.id,
        function: 'ingest',
        batchSize: 100,
        maxBatchingWindowSeconds: 1,
        retryAttempts: 3,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
      },
    ]);
    addNagChecks(app);
    expect(reportedViolations(app.synth()).filter((v) => v.plugin === nagPlugin)).toEqual([]);
    const ids = acknowledgements(app).map((a) => a.id);
    expect(ids).toEqual(
      expect.arrayContaining(['AwsSolutions-IAM5[Resource::*]', 'AwsSolutions-SQS3']),
    );
    for (const { reason } of acknowledgements(app)) {
      expect(words(reason)).toBeGreaterThanOrEqual(minimumReasonWords);
    }
  });
});

describe('the violation collector', () => {
  it('sees a finding cdk-nag reports, so a clean result is not vacuous', () => {
    const { app } = portraitApp('dev', { nag: true });
    new Queue(new Stack(app, 'Canary'), 'PlainQueue');
    const rules = reportedViolations(app.synth())
      .filter((v) => v.plugin === nagPlugin)
      .map((v) => v.rule);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
  });
});
