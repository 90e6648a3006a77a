import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';

/**
 * Allows `actions` on exactly `resourceArns`. `ITable.grant` is not used for tables the
 * capability constructs open: for a table with indexes it also opens `<table>/index/*`, which
 * no function reads unless it names the index and cdk-nag rightly reports as a wildcard; naming
 * the ARNs also keeps a grant from widening when an index is later declared on a table.
 */
export function allow(grantee: IGrantable, actions: string[], resourceArns: string[]): void {
  Grant.addToPrincipal({ grantee, actions, resourceArns });
}
