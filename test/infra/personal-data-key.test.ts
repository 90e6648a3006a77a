/**
 * The personal-data key on AWS (docs/PRIVACY.md, "Storage"): one customer-managed KMS key per
 * environment, rotated, kept where the environment keeps its data, and usable by ingest and query
 * only, for this environment's encryption context only.
 */
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnKey } from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { functions } from '../../infra/declarations/index.ts';
import {
  PERSONAL_DATA_KEY_PURPOSE,
  WRAPPED_KEY_ITEM,
} from '../../shared/adapters/kms-personal-data-cipher.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { portraitApp } from './synth.ts';
import {
  functionIdByDescription,
  hasConditionOn,
  type Resources,
  resourceNamer,
  roleIdOfFunction,
  statementsOfRole,
} from './template-queries.ts';

/** The functions that protect (ingest) or reveal (query) personal fields. */
const keyUsers = ['ingest', 'query'] as const;

function keyTemplates(env: string) {
  const { stateful, stateless } = portraitApp(env);
  const statefulTemplate = Template.fromStack(stateful);
  const template = Template.fromStack(stateless);
  const keyLogicalId = stateful.getLogicalId(
    stateful.personalDataKey.key.node.defaultChild as CfnKey,
  );
  const tableNamer = resourceNamer(stateful, statefulTemplate);
  const outputs = (statefulTemplate.toJSON().Outputs ?? {}) as Record<string, { Value: unknown }>;
  /** `key` for the key's ARN (followed through the stateful stack's outputs), else the table namer's. */
  const nameResource = (resource: unknown): string => {
    const output = (resource as { 'Fn::GetStackOutput'?: { OutputName?: string } } | null)?.[
      'Fn::GetStackOutput'
    ];
    const value = output?.OutputName ? outputs[output.OutputName]?.Value : resource;
    const getAtt = (value as { 'Fn::GetAtt'?: [string, string] } | null)?.['Fn::GetAtt'];
    if (getAtt?.[0] === keyLogicalId && getAtt[1] === 'Arn') return 'key';
    return tableNamer(resource);
  };
  const fnId = (id: keyof typeof functions) =>
    functionIdByDescription(template, functions[id].description);
  const statements = (functionId: string) =>
    statementsOfRole(template, roleIdOfFunction(template, functionId));
  return { statefulTemplate, template, nameResource, fnId, statements };
}

describe.each(['dev', 'prod'])('the personal-data key in %s', (env) => {
  const t = keyTemplates(env);
  const fns = t.template.findResources('AWS::Lambda::Function') as Resources;
  const users = keyUsers.map((id) => t.fnId(id));

  it('is one customer-managed key with automatic rotation and an alias', () => {
    const keys = t.statefulTemplate.findResources('AWS::KMS::Key') as Resources;
    expect(Object.values(keys)).toHaveLength(1);
    const [key] = Object.values(keys);
    expect(key?.Properties.EnableKeyRotation).toBe(true);
    t.statefulTemplate.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: `alias/Portrait-${env}-Stateful/personal-data`,
    });
  });

  it('is kept on stack deletion exactly where the tables are', () => {
    const [key] = Object.values(t.statefulTemplate.findResources('AWS::KMS::Key') as Resources);
    const [table] = Object.values(
      t.statefulTemplate.findResources('AWS::DynamoDB::Table') as Resources,
    );
    expect(key?.DeletionPolicy).toBe(table?.DeletionPolicy);
    expect(key?.DeletionPolicy).toBe(env === 'prod' ? 'Retain' : 'Delete');
  });

  it('lets ingest and query generate and decrypt data keys, bound to this environment', () => {
    for (const functionId of users) {
      const kms = t
        .statements(functionId)
        .filter((s) => [s.Action].flat().some((action) => action.startsWith('kms:')));
      expect(kms).toHaveLength(1);
      expect([kms[0]?.Action].flat().sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect([kms[0]?.Resource].flat().map(t.nameResource)).toEqual(['key']);
      expect(kms[0]?.Condition).toEqual({
        StringEquals: {
          'kms:EncryptionContext:purpose': PERSONAL_DATA_KEY_PURPOSE,
          'kms:EncryptionContext:environment': env,
        },
      });
    }
  });

  it('gives no other function any KMS action', () => {
    for (const functionId of Object.keys(fns).filter((id) => !users.includes(id))) {
      const actions = t.statements(functionId).flatMap((s) => [s.Action].flat());
      expect(
        actions.filter((action) => action.startsWith('kms:')),
        functionId,
      ).toEqual([]);
    }
  });

  it("opens only the erasures table's personal-data-key partition for the wrapped key", () => {
    for (const functionId of users) {
      const pinned = t
        .statements(functionId)
        .filter((s) => hasConditionOn(s, 'dynamodb:LeadingKeys'));
      expect(pinned).toHaveLength(1);
      expect([pinned[0]?.Action].flat().sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
      expect([pinned[0]?.Resource].flat().map(t.nameResource)).toEqual(['erasures']);
      expect(pinned[0]?.Condition).toEqual({
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [WRAPPED_KEY_ITEM.pk] },
      });
    }
  });

  it('tells ingest and query the key ARN, and no other function', () => {
    for (const [functionId, fn] of Object.entries(fns)) {
      const { Variables: variables } = fn.Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      const value = variables[runtimeEnvNames.personalKeyArn];
      if (users.includes(functionId)) expect(t.nameResource(value)).toBe('key');
      else expect(value, functionId).toBe('');
      expect(variables[runtimeEnvNames.personalKeyFile]).toBe('');
    }
  });
});
