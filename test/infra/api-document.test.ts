import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { documentRoutes, functions } from '../../infra/declarations/index.ts';
import { portraitApp } from './synth.ts';
import {
  actionsOfRole,
  functionIdByDescription,
  type Resources,
  roleIdOfFunction,
} from './template-queries.ts';

describe('the API document on AWS', () => {
  const { stateless } = portraitApp('dev');
  const template = Template.fromStack(stateless);
  const openapi = functionIdByDescription(template, functions.openapi.description);

  it('routes GET /v1/openapi.json, and only it, to the openapi function', () => {
    const integrations = Object.keys(
      template.findResources('AWS::ApiGatewayV2::Integration', {
        Properties: { IntegrationUri: { 'Fn::GetAtt': [openapi, 'Arn'] } },
      }),
    );
    expect(integrations).toHaveLength(1);
    const routed = template.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrations[0] }]] } },
    }) as Resources;
    expect(Object.values(routed).map((route) => route.Properties.RouteKey)).toEqual(
      documentRoutes.map((route) => `${route.method} ${route.path}`),
    );
  });

  it('gives the openapi function no permission beyond writing its own logs', () => {
    const actions = actionsOfRole(template, roleIdOfFunction(template, openapi));
    expect(actions.every((action) => action.startsWith('logs:'))).toBe(true);
  });
});
