import { type ConsentDefaults, grantedByDefault } from '../domain/consent/consent.ts';
import type { PersonalFieldStorage } from '../domain/privacy/protect-personal.ts';
import type { LogLevel } from '../logging/logger.ts';
import {
  defaultKeyRateLimits,
  type KeyRateLimitDefaults,
  noDefaultKeyRateLimits,
} from './rate-limits.ts';

/**
 * Per-environment configuration, typed, in one place. The CDK app picks one with `-c env=NAME`;
 * the local runtime uses `local`. Physical resource names are generated, never configured.
 */

export interface EnvironmentConfig {
  readonly name: string;
  /** IANA zone in which the brand counts days and windows. */
  readonly brandTimeZone: string;
  /** How long stored events stay in the events table; also the dedup horizon (≥ 35 days). */
  readonly eventRetentionDays: number;
  /** Events with a timestamp further in the future than this (after skew correction) are rejected. */
  readonly maxFutureSkewSeconds: number;
  /** Keep stateful resources (tables, queues with data) when the stack is deleted. */
  readonly retainData: boolean;
  readonly pointInTimeRecovery: boolean;
  readonly deletionProtection: boolean;
  readonly logRetentionDays: 7 | 30 | 90 | 365;
  /** Lowest level handlers write. */
  readonly logLevel: LogLevel;
  /**
   * How each personal field (by name: `email`, `phone`, …; docs/PRIVACY.md) is stored: `encrypt`
   * (readable by `members:read:pii` keys), `hash` (keyed, salted per environment: matchable,
   * never readable) or `plain`. Fields not listed are encrypted.
   */
  readonly personalFieldStorage: Readonly<Record<string, PersonalFieldStorage>>;
  readonly api: {
    /** Steady-state requests per second across the HTTP API stage. */
    readonly throttleRateLimit: number;
    readonly throttleBurstLimit: number;
  };
  /**
   * Per purpose, whether a member who never said is served in segments of that purpose (true:
   * opt-out, false: opt-in). docs/SEGMENTS.md § Consent.
   */
  readonly consentDefaults: ConsentDefaults;
  /** Per-key limits by scope family, for keys created without `--rate` (docs/API.md). */
  readonly keyRateLimits: KeyRateLimitDefaults;
  readonly alarms: {
    /** Messages in the dead-letter queue before the alarm fires. */
    readonly dlqDepthThreshold: number;
    /** Function errors in 5 minutes before the alarm fires. */
    readonly functionErrorsThreshold: number;
    /** Throttled invocations or requests in 5 minutes before the alarm fires. */
    readonly throttlesThreshold: number;
    /** Optional SNS topic ARN alarms notify. */
    readonly notifyTopicArn?: string;
  };
}

export type { PersonalFieldStorage };

/** The minimum dedup horizon the ingest contract promises. */
export const MIN_DEDUP_DAYS = 35;

/** Settings every environment shares unless it overrides them; also handlers' fallbacks. */
export const baseEnvironment = {
  brandTimeZone: 'Asia/Shanghai',
  eventRetentionDays: 400,
  maxFutureSkewSeconds: 24 * 3600,
  logRetentionDays: 30,
  logLevel: 'info',
  keyRateLimits: defaultKeyRateLimits,
  // Opt-out everywhere: members imported with the brand's existing terms stay served until they
  // say otherwise. Set a purpose to false (e.g. `{ ...grantedByDefault, marketing: false }`)
  // where the law or the brand wants opt-in.
  consentDefaults: grantedByDefault,
  personalFieldStorage: {},
} as const;

export const environments: Readonly<Record<string, EnvironmentConfig>> = {
  local: {
    ...baseEnvironment,
    name: 'local',
    retainData: false,
    pointInTimeRecovery: false,
    deletionProtection: false,
    logRetentionDays: 7,
    keyRateLimits: noDefaultKeyRateLimits,
    api: { throttleRateLimit: 10_000, throttleBurstLimit: 20_000 },
    alarms: { dlqDepthThreshold: 1, functionErrorsThreshold: 1, throttlesThreshold: 1 },
  },
  dev: {
    ...baseEnvironment,
    name: 'dev',
    retainData: false,
    pointInTimeRecovery: false,
    deletionProtection: false,
    logRetentionDays: 7,
    api: { throttleRateLimit: 500, throttleBurstLimit: 1_000 },
    alarms: { dlqDepthThreshold: 1, functionErrorsThreshold: 5, throttlesThreshold: 10 },
  },
  staging: {
    ...baseEnvironment,
    name: 'staging',
    retainData: false,
    pointInTimeRecovery: true,
    deletionProtection: false,
    api: { throttleRateLimit: 2_000, throttleBurstLimit: 4_000 },
    alarms: { dlqDepthThreshold: 1, functionErrorsThreshold: 5, throttlesThreshold: 10 },
  },
  prod: {
    ...baseEnvironment,
    name: 'prod',
    retainData: true,
    pointInTimeRecovery: true,
    deletionProtection: true,
    logRetentionDays: 365,
    api: { throttleRateLimit: 10_000, throttleBurstLimit: 20_000 },
    alarms: { dlqDepthThreshold: 1, functionErrorsThreshold: 1, throttlesThreshold: 1 },
  },
};

export class UnknownEnvironmentError extends Error {
  readonly code = 'unknown_environment';
  constructor(name: string) {
    super(
      `Unknown environment "${name}". Known: ${Object.keys(environments).join(', ')}. ` +
        'Add it to shared/config/environments.ts.',
    );
    this.name = 'UnknownEnvironmentError';
  }
}

export class InvalidEnvironmentConfigError extends Error {
  readonly code = 'invalid_environment_config';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEnvironmentConfigError';
  }
}

/** Returns the named environment's configuration, checked. */
export function environmentConfig(name: string): EnvironmentConfig {
  const config = environments[name];
  if (!config) throw new UnknownEnvironmentError(name);
  if (config.eventRetentionDays < MIN_DEDUP_DAYS) {
    throw new InvalidEnvironmentConfigError(
      `${name}: eventRetentionDays is ${config.eventRetentionDays}; it is also the dedup horizon ` +
        `and must be at least ${MIN_DEDUP_DAYS}.`,
    );
  }
  return config;
}
