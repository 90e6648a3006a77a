import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Size } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import {
  DEFAULT_ERASURE_SETTLE_SECONDS,
  DEFAULT_WEBHOOK_RETRY_BASE_SECONDS,
  runtimeEnvNames,
} from '../../../shared/config/runtime.ts';
import type { FunctionDeclaration, TableId } from '../../declarations/index.ts';
import { dataRemovalPolicy } from './removal.ts';

/** Repository root: declaration entries and the lock file are relative to it. */
export const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The Node.js LTS Lambda runtime every function runs on, and the matching esbuild target. */
export const nodeRuntime = Runtime.NODEJS_24_X;
const esbuildTarget = 'node24';

/**
 * Lets bundled CommonJS dependencies call `require` for Node built-ins inside the ESM bundle.
 * The import is aliased so it cannot collide with a bundled module's own `createRequire`.
 */
const esmRequireBanner =
  "import { createRequire as portraitCreateRequire } from 'node:module';" +
  'const require = portraitCreateRequire(import.meta.url);';

const retentionDays: Readonly<Record<EnvironmentConfig['logRetentionDays'], RetentionDays>> = {
  7: RetentionDays.ONE_WEEK,
  30: RetentionDays.ONE_MONTH,
  90: RetentionDays.THREE_MONTHS,
  365: RetentionDays.ONE_YEAR,
};

/** CloudWatch Logs retention for an environment's log groups. */
export function logRetention(config: EnvironmentConfig): RetentionDays {
  return retentionDays[config.logRetentionDays];
}

/** Values for every variable in `runtimeEnvNames`, keyed like it. */
export type RuntimeSettings = { readonly [K in keyof typeof runtimeEnvNames]: string };

/** The deployed resources whose names and URLs the handlers read. */
export interface RuntimeResources {
  /** Every declared table, by declaration id. */
  readonly tables: Readonly<Record<TableId, ITable>>;
  /** The queue collect sends to. */
  readonly eventsQueue: IQueue;
  /** The queue the webhook notifier sends deliveries to. */
  readonly webhooksQueue: IQueue;
  /**
   * The event lake's bucket.
   * @default - none: functions see an empty lake bucket name
   */
  readonly lakeBucket?: IBucket;
  /** The queue the erasures API sends erasure requests to. */
  readonly erasuresQueue: IQueue;
}

/**
 * The runtime settings every function of an environment shares, built once per stack so no two
 * functions can disagree on a table name or a retention. `tagCatalogueFile` is empty: deployed
 * functions use the rule catalogue shipped in their bundle.
 */
export function runtimeSettings(
  config: EnvironmentConfig,
  resources: RuntimeResources,
): RuntimeSettings {
  return {
    environment: config.name,
    eventsTable: resources.tables.events.tableName,
    writeKeysTable: resources.tables['write-keys'].tableName,
    profilesTable: resources.tables.profiles.tableName,
    segmentsTable: resources.tables.segments.tableName,
    membershipsTable: resources.tables.memberships.tableName,
    analyticsTable: resources.tables.analytics.tableName,
    tagCatalogueFile: '',
    eventsQueueUrl: resources.eventsQueue.queueUrl,
    eventRetentionDays: String(config.eventRetentionDays),
    maxFutureSkewSeconds: String(config.maxFutureSkewSeconds),
    brandTimeZone: config.brandTimeZone,
    logLevel: config.logLevel,
    webhooksQueueUrl: resources.webhooksQueue.queueUrl,
    // Deployed webhooks are https only; the loopback exception is for the local runtime.
    webhookAllowLoopbackHttp: 'false',
    webhookRetryBaseSeconds: String(DEFAULT_WEBHOOK_RETRY_BASE_SECONDS),
    lakeBucket: resources.lakeBucket?.bucketName ?? '',
    // Deployed functions reach the lake in S3; the folder is the local runtime's.
    lakeDir: '',
    // Deployed functions use the KMS-wrapped data key instead of a key file; the key's ARN is
    // set only on the functions granted its use (`PersonalDataKey.grantUse`).
    personalKeyFile: '',
    personalKeyArn: '',
    erasuresTable: resources.tables.erasures.tableName,
    erasuresQueueUrl: resources.erasuresQueue.queueUrl,
    erasureSettleSeconds: String(DEFAULT_ERASURE_SETTLE_SECONDS),
  };
}

/** The Lambda environment: exactly the variables `readRuntimeConfig` reads. */
export function runtimeEnvironment(settings: RuntimeSettings): Record<string, string> {
  const keys = Object.keys(runtimeEnvNames) as (keyof typeof runtimeEnvNames)[];
  return Object.fromEntries(keys.map((key) => [runtimeEnvNames[key], settings[key]]));
}

/** A declaration's `entry` points at a file that does not exist. */
export class MissingHandlerEntryError extends Error {
  readonly code = 'missing_handler_entry';
  constructor(declaration: FunctionDeclaration, path: string) {
    super(
      `Function "${declaration.id}" declares entry ${declaration.entry}, but ${path} is missing.`,
    );
    this.name = 'MissingHandlerEntryError';
  }
}

export interface PortraitFunctionProps {
  /** The declaration the function is built from: entry, memory, timeout, description. */
  readonly declaration: FunctionDeclaration;
  /** Environment whose log retention and removal policy apply. */
  readonly config: EnvironmentConfig;
  /** Values of the runtime configuration variables the handler reads at cold start. */
  readonly settings: RuntimeSettings;
}

/**
 * One Lambda function built from its declaration: Node.js LTS on arm64, an ESM bundle made by the
 * locally installed esbuild (AWS SDK included, so the deployed SDK is the one tests ran against),
 * JSON logs into its own log group, and a role that can write only to that log group. Callers add
 * every other permission next to the resource it opens.
 */
export class PortraitFunction extends Construct {
  readonly declaration: FunctionDeclaration;
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  /** Execution role; starts with log-group write access only. */
  readonly role: Role;

  constructor(scope: Construct, id: string, props: PortraitFunctionProps) {
    super(scope, id);
    const { declaration, config } = props;
    const entry = join(repositoryRoot, declaration.entry);
    if (!existsSync(entry)) throw new MissingHandlerEntryError(declaration, entry);
    this.declaration = declaration;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: logRetention(config),
      removalPolicy: dataRemovalPolicy(config),
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${declaration.id} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      description: declaration.description,
      runtime: nodeRuntime,
      architecture: Architecture.ARM_64,
      memorySize: declaration.memoryMiB,
      ...(declaration.ephemeralStorageMiB === undefined
        ? {}
        : { ephemeralStorageSize: Size.mebibytes(declaration.ephemeralStorageMiB) }),
      timeout: Duration.seconds(declaration.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: {
        ...runtimeEnvironment(props.settings),
        // Stack traces in the logs point at the TypeScript sources, not the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
      },
      projectRoot: repositoryRoot,
      depsLockFilePath: join(repositoryRoot, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: esbuildTarget,
        mainFields: ['module', 'main'],
        banner: esmRequireBanner,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        bundleAwsSDK: true,
        forceDockerBundling: false,
        ...(declaration.bundledFiles?.length
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (inputDir: string, outputDir: string) =>
                  (declaration.bundledFiles ?? []).flatMap((file) => [
                    `mkdir -p "${join(outputDir, dirname(file))}"`,
                    `cp "${join(inputDir, file)}" "${join(outputDir, file)}"`,
                  ]),
              },
            }
          : {}),
        ...(declaration.nativeModules?.length
          ? {
              nodeModules: [...declaration.nativeModules],
              // npm picks a native package's optional per-platform binary by these, not by the
              // machine that deploys: the function runs on Linux arm64.
              environment: {
                npm_config_os: 'linux',
                npm_config_cpu: 'arm64',
                npm_config_libc: 'glibc',
              },
            }
          : {}),
      },
    });
  }
}
