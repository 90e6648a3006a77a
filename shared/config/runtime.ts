import type { LogLevel } from '../logging/logger.ts';
import { baseEnvironment } from './environments.ts';

/**
 * Configuration a handler reads from its environment, read once at cold start. The CDK app and
 * the local runtime set exactly these variables (names in `runtimeEnvNames`).
 */

export const runtimeEnvNames = {
  eventsTable: 'PORTRAIT_EVENTS_TABLE',
  writeKeysTable: 'PORTRAIT_WRITE_KEYS_TABLE',
  profilesTable: 'PORTRAIT_PROFILES_TABLE',
  segmentsTable: 'PORTRAIT_SEGMENTS_TABLE',
  membershipsTable: 'PORTRAIT_MEMBERSHIPS_TABLE',
  analyticsTable: 'PORTRAIT_ANALYTICS_TABLE',
  tagCatalogueFile: 'PORTRAIT_TAG_CATALOGUE',
  eventsQueueUrl: 'PORTRAIT_EVENTS_QUEUE_URL',
  eventRetentionDays: 'PORTRAIT_EVENT_RETENTION_DAYS',
  maxFutureSkewSeconds: 'PORTRAIT_MAX_FUTURE_SKEW_SECONDS',
  brandTimeZone: 'PORTRAIT_BRAND_TIME_ZONE',
  environment: 'PORTRAIT_ENV',
  logLevel: 'PORTRAIT_LOG_LEVEL',
  webhooksQueueUrl: 'PORTRAIT_WEBHOOKS_QUEUE_URL',
  webhookAllowLoopbackHttp: 'PORTRAIT_WEBHOOK_ALLOW_LOOPBACK_HTTP',
  webhookRetryBaseSeconds: 'PORTRAIT_WEBHOOK_RETRY_BASE_SECONDS',
  lakeBucket: 'PORTRAIT_LAKE_BUCKET',
  lakeDir: 'PORTRAIT_LAKE_DIR',
  personalKeyFile: 'PORTRAIT_PERSONAL_KEY_FILE',
  personalKeyArn: 'PORTRAIT_PERSONAL_KEY_ARN',
  erasuresTable: 'PORTRAIT_ERASURES_TABLE',
  erasuresQueueUrl: 'PORTRAIT_ERASURES_QUEUE_URL',
  erasureSettleSeconds: 'PORTRAIT_ERASURE_SETTLE_SECONDS',
} as const;

export interface RuntimeConfig {
  readonly environment: string;
  readonly eventsTable: string;
  readonly writeKeysTable: string;
  readonly profilesTable: string;
  readonly segmentsTable: string;
  readonly membershipsTable: string;
  /** Nightly analytics results; empty where a test does not set it. */
  readonly analyticsTable: string;
  /** A rule catalogue file replacing the shipped one; absent for the default catalogue. */
  readonly tagCatalogueFile: string | undefined;
  readonly eventsQueueUrl: string;
  readonly eventRetentionDays: number;
  readonly maxFutureSkewSeconds: number;
  readonly brandTimeZone: string;
  readonly logLevel: LogLevel;
  /** The webhook queue (notifier → deliverer); empty where a test does not set it. */
  readonly webhooksQueueUrl: string;
  /**
   * Webhook URLs may also be `http://` to 127.0.0.1, localhost or [::1] (the local runtime);
   * otherwise https only. @default false
   */
  readonly webhookAllowLoopbackHttp: boolean;
  /** First webhook retry delay, doubled per attempt. @default 60 */
  readonly webhookRetryBaseSeconds: number;
  /** The event lake's S3 bucket on AWS; empty locally. */
  readonly lakeBucket: string;
  /** The event lake's folder locally (`<dataDir>/lake`); empty on AWS. */
  readonly lakeDir: string;
  /** Local key file for personal fields (the local runtime's data folder); empty on AWS. */
  readonly personalKeyFile: string;
  /**
   * The KMS key that wraps the personal-data key on AWS (set on the functions that protect or
   * reveal personal fields: ingest and query); empty locally and on every other function.
   */
  readonly personalKeyArn: string;
  /** Erasure receipts, suppressions and the pseudonym key; empty where a test does not set it. */
  readonly erasuresTable: string;
  /** The erasure queue (erasures API → eraser); empty where a test does not set it. */
  readonly erasuresQueueUrl: string;
  /** Seconds between an erasure's sweeps (streams in flight settle meanwhile). @default 60 */
  readonly erasureSettleSeconds: number;
}

/** Seconds between an erasure's sweeps on AWS: longer than a stream consumer's usual lag. */
export const DEFAULT_ERASURE_SETTLE_SECONDS = 60;

/** The first webhook retry delay on AWS, in seconds. */
export const DEFAULT_WEBHOOK_RETRY_BASE_SECONDS = 60;

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw !== '' && raw !== 'true' && raw !== 'false') {
    throw new MissingConfigurationError(`${name} (true or false, got "${raw}")`);
  }
  return raw === 'true';
}

function wholeSeconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new MissingConfigurationError(`${name} (whole seconds ≥ 0, got "${raw}")`);
  }
  return value;
}

export class MissingConfigurationError extends Error {
  readonly code = 'missing_configuration';
  constructor(variable: string) {
    super(`Environment variable ${variable} is not set`);
    this.name = 'MissingConfigurationError';
  }
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new MissingConfigurationError(name);
  return value;
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new MissingConfigurationError(`${name} (a positive number, got "${raw}")`);
  }
  return value;
}

const logLevels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function logLevel(raw: string | undefined): LogLevel {
  const value = (raw ?? 'info').toLowerCase();
  if (!(logLevels as readonly string[]).includes(value)) {
    throw new MissingConfigurationError(
      `${runtimeEnvNames.logLevel} (one of ${logLevels.join(', ')}, got "${raw}")`,
    );
  }
  return value as LogLevel;
}

/** Reads the handler configuration from `env` (default `process.env`). */
export function readRuntimeConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const n = runtimeEnvNames;
  return {
    environment: env[n.environment] ?? 'local',
    eventsTable: required(env, n.eventsTable),
    writeKeysTable: required(env, n.writeKeysTable),
    profilesTable: required(env, n.profilesTable),
    segmentsTable: required(env, n.segmentsTable),
    membershipsTable: required(env, n.membershipsTable),
    analyticsTable: env[n.analyticsTable] ?? '',
    tagCatalogueFile: env[n.tagCatalogueFile] || undefined,
    eventsQueueUrl: required(env, n.eventsQueueUrl),
    eventRetentionDays: positiveNumber(
      env,
      n.eventRetentionDays,
      baseEnvironment.eventRetentionDays,
    ),
    maxFutureSkewSeconds: positiveNumber(
      env,
      n.maxFutureSkewSeconds,
      baseEnvironment.maxFutureSkewSeconds,
    ),
    brandTimeZone: env[n.brandTimeZone] ?? baseEnvironment.brandTimeZone,
    logLevel: logLevel(env[n.logLevel]),
    webhooksQueueUrl: env[n.webhooksQueueUrl] ?? '',
    webhookAllowLoopbackHttp: flag(env, n.webhookAllowLoopbackHttp),
    webhookRetryBaseSeconds: wholeSeconds(
      env,
      n.webhookRetryBaseSeconds,
      DEFAULT_WEBHOOK_RETRY_BASE_SECONDS,
    ),
    lakeBucket: env[n.lakeBucket] ?? '',
    lakeDir: env[n.lakeDir] ?? '',
    personalKeyFile: env[n.personalKeyFile] ?? '',
    personalKeyArn: env[n.personalKeyArn] ?? '',
    erasuresTable: env[n.erasuresTable] ?? '',
    erasuresQueueUrl: env[n.erasuresQueueUrl] ?? '',
    erasureSettleSeconds: wholeSeconds(env, n.erasureSettleSeconds, DEFAULT_ERASURE_SETTLE_SECONDS),
  };
}
