import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { exportRoute, functions, routes } from '../../infra/declarations/index.ts';
import { portraitApp } from './synth.ts';
import {
  actionsOfRole,
  dynamoPermissionsOfRole,
  functionIdByDescription,
  type Resources,
  resourceNamer,
  roleIdOfFunction,
} from './template-queries.ts';

describe('the segment export on AWS', () => {
  const { stateful, stateless } = portraitApp('dev');
  const template = Template.fromStack(stateless);
  const nameResource = resourceNamer(stateful, Template.fromStack(stateful));
  const exporter = functionIdByDescription(template, functions.exporter.description);

  it('serves the exporter from a Function URL that streams, authorised by the function', () => {
    const urls = Object.values(template.findResources('AWS::Lambda::Url') as Resources);
    expect(urls).toHaveLength(1);
    expect(urls[0]?.Properties).toMatchObject({
      AuthType: 'NONE',
      InvokeMode: 'RESPONSE_STREAM',
      TargetFunctionArn: { 'Fn::GetAtt': [exporter, 'Arn'] },
      Cors: { AllowMethods: ['GET'], AllowHeaders: ['authorization', 'accept'] },
    });
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.ExportUrl?.Value).toBeDefined();
  });

  it('runs for up to 15 minutes, the time a segment of millions may stream', () => {
    const fns = template.findResources('AWS::Lambda::Function') as Resources;
    expect(fns[exporter]?.Properties.Timeout).toBe(900);
  });

  it('keeps streaming routes off the HTTP API and every other route on it', () => {
    const keys = Object.values(template.findResources('AWS::ApiGatewayV2::Route') as Resources)
      .map((route) => String(route.Properties.RouteKey))
      .sort();
    expect(keys).not.toContain(`${exportRoute.method} ${exportRoute.path}`);
    expect(keys).toEqual(
      routes
        .filter((route) => !route.streaming)
        .map((route) => `${route.method} ${route.path}`)
        .sort(),
    );
  });

  it('lets the exporter read heads, keys and member rows, and nothing else', () => {
    const role = roleIdOfFunction(template, exporter);
    expect(dynamoPermissionsOfRole(template, role, nameResource)).toEqual(
      [
        'dynamodb:GetItem on segments',
        'dynamodb:GetItem on write-keys',
        'dynamodb:Query on memberships',
      ].sort(),
    );
    expect(
      actionsOfRole(template, role)
        .filter((action) => !action.startsWith('dynamodb:'))
        .sort(),
    ).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
  });
});
