import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import { EventQueue } from '../../infra/aws/constructs/event-queue.ts';
import { EventStore } from '../../infra/aws/constructs/event-store.ts';
import { Ingest } from '../../infra/aws/constructs/ingest.ts';
import { repositoryRoot, runtimeSettings } from '../../infra/aws/constructs/portrait-function.ts';
import { StreamConsumers } from '../../infra/aws/constructs/stream-consumers.ts';
import {
  addNagChecks,
  addPortraitStacks,
  type PortraitStacks,
} from '../../infra/aws/portrait-app.ts';
import type { StreamConsumerDeclaration } from '../../infra/declarations/index.ts';
import { type EnvironmentConfig, environmentConfig } from '../../shared/config/environments.ts';

/** The context `cdk synth` runs with: the feature flags in cdk.json. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(repositoryRoot, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/**
 * An app with the same feature flags as `cdk synth`, asset bundling off (no esbuild run), and
 * validation failures collected in the report instead of thrown.
 */
export function testApp(): App {
  return new App({
    context: {
      ...cdkJsonContext(),
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/core:failSynthOnValidationErrors': false,
    },
  });
}

export interface PortraitTestApp extends PortraitStacks {
  readonly app: App;
  readonly config: EnvironmentConfig;
}

/** One environment's stacks, as `cdk synth -c env=NAME` builds them. */
export function portraitApp(
  config: EnvironmentConfig | string,
  options: { readonly nag?: boolean } = {},
): PortraitTestApp {
  const resolved = typeof config === 'string' ? environmentConfig(config) : config;
  const app = testApp();
  const stacks = addPortraitStacks(app, resolved);
  if (options.nag) addNagChecks(app);
  return { app, config: resolved, ...stacks };
}

export interface ReportedViolation {
  readonly plugin: string;
  readonly rule: string;
  readonly severity: string;
  readonly paths: readonly string[];
}

interface ValidationReportJson {
  readonly pluginReports: readonly {
    readonly pluginName: string;
    readonly violations: readonly {
      readonly ruleName: string;
      readonly severity: string;
      readonly violatingConstructs?: readonly { readonly constructPath?: string }[];
    }[];
  }[];
}

/** Every violation (error or warning) in the assembly's validation report, per plugin. */
export function reportedViolations(assembly: CloudAssembly): ReportedViolation[] {
  const report = JSON.parse(
    readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'),
  ) as ValidationReportJson;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.map((violation) => ({
      plugin: plugin.pluginName,
      rule: violation.ruleName,
      severity: violation.severity,
      paths: (violation.violatingConstructs ?? []).map((c) => c.constructPath ?? '?'),
    })),
  );
}

export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every rule acknowledged (suppressed) anywhere under `root`, with its reason. */
export function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, unknown>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason: String(reason),
        })),
      ),
  );
}

/**
 * One stack with the event store, queue, ingest functions and the given stream consumers, for
 * tests of the generic consumer wiring, independent of the consumers the real app declares.
 */
export function consumerStack(
  app: App,
  environment: string,
  consumers: readonly StreamConsumerDeclaration[],
): { stack: Stack; attached: StreamConsumers } {
  const config = environmentConfig(environment);
  const stack = new Stack(app, 'Consumers');
  const store = new EventStore(stack, 'EventStore', { config });
  const queue = new EventQueue(stack, 'EventQueue', { config });
  const ingest = new Ingest(stack, 'Ingest', {
    config,
    settings: runtimeSettings(config, {
      tables: store.tables,
      eventsQueue: queue.queue,
      webhooksQueue: queue.queue,
      erasuresQueue: queue.queue,
    }),
    eventsTable: store.table('events'),
    writeKeysTable: store.table('write-keys'),
    eventsQueue: queue.queue,
  });
  const attached = new StreamConsumers(stack, 'StreamConsumers', {
    config,
    tables: store.tables,
    functions: ingest.functions,
    consumers,
  });
  return { stack, attached };
}
