import { Aspects, Stack, Validations } from 'aws-cdk-lib';
import { CfnPolicy, Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/**
 * Allows `actions` on exactly `resourceArns`. `ITable.grant` is not used for tables the
 * capability constructs open: for a table with indexes it also opens `<table>/index/*`, which
 * no function reads unless it names the index and cdk-nag rightly reports as a wildcard; naming
 * the ARNs also keeps a grant from widening when an index is later declared on a table.
 */
export function allow(grantee: IGrantable, actions: string[], resourceArns: string[]): void {
  Grant.addToPrincipal({ grantee, actions, resourceArns });
}

/** A CloudFormation reference flattened the way cdk-nag names IAM5 findings (`<Bucket.Arn>/p/*`). */
function flattenReference(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (value && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    if (Array.isArray(node['Fn::Join'])) {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(flattenReference).join(separator);
    }
    if (node['Fn::Sub'] !== undefined) return flattenReference(node['Fn::Sub']);
    if (Array.isArray(node['Fn::GetAtt'])) {
      const [resource, attribute] = node['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
    }
    if (node['Fn::ImportValue'] !== undefined) return flattenReference(node['Fn::ImportValue']);
    if (node.Ref !== undefined) return `<${flattenReference(node.Ref)}>`;
  }
  return JSON.stringify(value);
}

/**
 * Acknowledges cdk-nag's IAM5 finding for each object-prefix grant (`…/<prefix>*`) in the
 * policies under `scope`, with `reason`. The finding names the resource as synthesised (tokens
 * included), which is only known at synthesis, so an aspect acknowledges it then; grants to any
 * other wildcard stay reported.
 */
export function acknowledgePrefixGrants(
  scope: IConstruct,
  prefixes: readonly string[],
  reason: string,
): void {
  Aspects.of(scope).add({
    visit(node: IConstruct) {
      if (!(node instanceof CfnPolicy)) return;
      const document = Stack.of(node).resolve(node.policyDocument) as {
        Statement?: { Resource?: unknown }[];
      };
      for (const statement of document.Statement ?? []) {
        for (const resource of [statement.Resource].flat()) {
          const flat = flattenReference(resource);
          if (prefixes.some((prefix) => flat.endsWith(`/${prefix}*`))) {
            Validations.of(node).acknowledge({
              id: `AwsSolutions-IAM5[Resource::${flat}]`,
              reason,
            });
          }
        }
      }
    },
  });
}
