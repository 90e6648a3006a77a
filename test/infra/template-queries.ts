import type { Template } from 'aws-cdk-lib/assertions';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import type { StatefulStack } from '../../infra/aws/stacks/stateful-stack.ts';

export type Resources = Record<
  string,
  { Properties: Record<string, unknown> } & Record<string, unknown>
>;

export interface PolicyStatement {
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** The logical id of the one function with this description (descriptions come from declarations). */
export function functionIdByDescription(template: Template, description: string): string {
  const found = Object.keys(
    template.findResources('AWS::Lambda::Function', { Properties: { Description: description } }),
  );
  if (found.length !== 1) {
    throw new Error(`expected one function described "${description}", found ${found.length}`);
  }
  return found[0] as string;
}

/** The logical id of a function's execution role. */
export function roleIdOfFunction(template: Template, functionId: string): string {
  const fns = template.findResources('AWS::Lambda::Function') as Resources;
  const role = fns[functionId]?.Properties.Role as { 'Fn::GetAtt': [string, string] } | undefined;
  if (!role) throw new Error(`function ${functionId} has no role`);
  return role['Fn::GetAtt'][0];
}

/** Every statement of the policies attached to a role. */
export function statementsOfRole(template: Template, roleId: string): PolicyStatement[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: roleId }] },
  }) as Resources;
  return Object.values(policies).flatMap(
    (policy) => (policy.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement,
  );
}

/** Every action the policies attached to a role allow. */
export function actionsOfRole(template: Template, roleId: string): string[] {
  return statementsOfRole(template, roleId).flatMap((statement) => [statement.Action].flat());
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Names references of the stateless stack by what they are in the stateful one: a declared
 * table's ARN is its declaration id (`profiles`), its name `profiles name`, its stream
 * `events stream`, an index ARN `profiles/index/due`; anything else is its JSON. Cross-stack references are followed through
 * the stateful stack's outputs, so no generated logical id is written into a test.
 */
export function resourceNamer(
  stateful: StatefulStack,
  statefulTemplate: Template,
): (resource: unknown) => string {
  const outputs = (statefulTemplate.toJSON().Outputs ?? {}) as Record<string, { Value: unknown }>;
  const tableByLogicalId = new Map(
    Object.entries(stateful.eventStore.tables).map(([id, table]) => [
      stateful.getLogicalId(table.node.defaultChild as CfnTable),
      id,
    ]),
  );
  const name = (resource: unknown): string => {
    if (resource === '*') return '*';
    if (isRecord(resource)) {
      const output = resource['Fn::GetStackOutput'];
      if (isRecord(output) && typeof output.OutputName === 'string') {
        const value = outputs[output.OutputName]?.Value;
        if (value !== undefined) return name(value);
      }
      const ref = tableByLogicalId.get(String(resource.Ref));
      if (ref) return `${ref} name`;
      const getAtt = resource['Fn::GetAtt'];
      if (Array.isArray(getAtt)) {
        const table = tableByLogicalId.get(String(getAtt[0]));
        if (table && getAtt[1] === 'Arn') return table;
        if (table && getAtt[1] === 'StreamArn') return `${table} stream`;
      }
      const join = resource['Fn::Join'];
      if (Array.isArray(join) && join[0] === '' && Array.isArray(join[1])) {
        return join[1].map((part) => (typeof part === 'string' ? part : name(part))).join('');
      }
    }
    return JSON.stringify(resource);
  };
  return name;
}

/** Whether a statement has a condition on the key `conditionKey` (any operator). */
export function hasConditionOn(statement: PolicyStatement, conditionKey: string): boolean {
  return Object.values(statement.Condition ?? {}).some((keys) => conditionKey in keys);
}

/**
 * `"<action> on <resource>"` for every DynamoDB action a role allows, sorted; with
 * `withoutCondition`, statements conditioned on that key are left out.
 */
export function dynamoPermissionsOfRole(
  template: Template,
  roleId: string,
  nameResource: (resource: unknown) => string,
  options: { readonly withoutCondition?: string } = {},
): string[] {
  const { withoutCondition } = options;
  return statementsOfRole(template, roleId)
    .filter((statement) => !withoutCondition || !hasConditionOn(statement, withoutCondition))
    .flatMap((statement) =>
      [statement.Action]
        .flat()
        .filter((action) => action.startsWith('dynamodb:'))
        .flatMap((action) =>
          [statement.Resource].flat().map((resource) => `${action} on ${nameResource(resource)}`),
        ),
    )
    .sort();
}
