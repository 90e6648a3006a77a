import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { EnvironmentConfig } from '../../shared/config/environments.ts';
import { StatefulStack } from './stacks/stateful-stack.ts';
import { StatelessStack } from './stacks/stateless-stack.ts';

/** The stacks of one environment. */
export interface PortraitStacks {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/** Context key that picks the environment: `cdk synth -c env=prod`. */
export const environmentContextKey = 'env';
export const defaultEnvironment = 'dev';

/**
 * Adds one environment's stacks to `app`. Stacks are environment-agnostic (no account or region),
 * so synthesis needs no credentials and does no lookups.
 */
export function addPortraitStacks(app: App, config: EnvironmentConfig): PortraitStacks {
  const prefix = `Portrait-${config.name}`;
  const tags = { 'portrait:environment': config.name, 'portrait:app': 'portrait' };
  const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
    config,
    tags,
    description: `Portrait ${config.name}: tables and queues`,
    terminationProtection: config.deletionProtection,
  });
  const stateless = new StatelessStack(app, `${prefix}-Stateless`, {
    config,
    stateful,
    tags,
    description: `Portrait ${config.name}: functions, HTTP API, event sources and alarms`,
  });
  return { stateful, stateless };
}

/** Runs the AWS Solutions cdk-nag rules over the whole app at synthesis. */
export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
