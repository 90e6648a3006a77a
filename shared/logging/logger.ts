/**
 * Structured JSON logs (one object a line, as Lambda's JSON log format expects). Everything is
 * scrubbed before it is written, so a careless `log.info('x', { headers, event })` or an error
 * message that echoes a request cannot leak a write key or a member's personal data:
 *
 * - values under keys that carry secrets or personal data are replaced: credentials
 *   (`authorization`, `writeKey`, `secret`, `token`, …), whole `traits`, `properties`, `context`
 *   and raw `body` objects, and every key that names a personal field of the event catalogue
 *   (`isPersonalKey`: the last segment of each `personalFields` pointer — `email`, `phone`,
 *   `name`, `firstName`, `lastName`, `address` — and their usual synonyms), wherever they appear;
 * - in every string (the message, field values, error messages) write keys (`pk_…`),
 *   `Basic` / `Bearer` credentials, e-mail addresses and phone numbers are replaced.
 *
 * Names and postal addresses cannot be recognised in free text; they are kept out by the keys
 * above (the handlers never put event bodies into messages). docs/PRIVACY.md, "Logs".
 */
import { isPersonalKey } from '../domain/privacy/personal-fields.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const REDACTED = '[redacted]';

/** Lower-cased keys with `-` / `_` removed whose values are never written. */
const credentialKeys = [
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'xapikey',
  'writekey',
  'rawkey',
  'apikey',
  'key',
  'secret',
  'clientsecret',
  'password',
  'token',
  'accesstoken',
  'sessiontoken',
  'secretaccesskey',
  'credentials',
  'signature',
  'hmac',
  'pseudonymkey',
  'localkey',
  'datakey',
  'plaintext',
];
const containerKeys = ['traits', 'properties', 'context', 'body', 'rawbody', 'payload'];
const normaliseKey = (key: string): string => key.toLowerCase().replace(/[-_\s]/g, '');

const sensitiveKeys = new Set([...credentialKeys, ...containerKeys, 'ip'].map(normaliseKey));

/** Whether a value under this key is replaced whatever it is. */
export function isSensitiveKey(key: string): boolean {
  return sensitiveKeys.has(normaliseKey(key)) || isPersonalKey(key);
}

const scrubbers: readonly [RegExp, string][] = [
  [/\bpk_[A-Za-z0-9]+_[A-Za-z0-9_-]{8,}/g, '[redacted-key]'],
  [/\b(Basic|Bearer)\s+(?!(?:Basic|Bearer)\b)[A-Za-z0-9+/=._~-]+/gi, '$1 [redacted]'],
  [/[^\s@"'<>()[\]{},;:]+@[^\s@"'<>()[\]{},;:]+\.[A-Za-z]{2,}/g, '[redacted-email]'],
  [/\+\d[\d\s-]{5,18}\d/g, '[redacted-phone]'],
  [/(?<![\d.])1[3-9]\d{9}(?![\d.])/g, '[redacted-phone]'],
];

/** A string with write keys, credentials, e-mail addresses and phone numbers replaced. */
export function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of scrubbers) out = out.replace(pattern, replacement);
  return out;
}

/**
 * An error's message fit for a log line: parse errors echo the text they failed on, and other
 * errors quote the values they refused, so a `SyntaxError` keeps only its name and anything
 * between the first and the last quote of other messages is dropped.
 */
function errorMessage(error: Error): string {
  if (error instanceof SyntaxError) return REDACTED;
  return scrubText(error.message.replace(/(["'`])[\s\S]*\1/, `$1${REDACTED}$1`));
}

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function redact(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[truncated]';
  if (value instanceof Error) return { name: value.name, message: errorMessage(value) };
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = isSensitiveKey(key) ? REDACTED : redact(item, depth + 1);
  }
  return out;
}

/** A logger writing JSON lines to `write` (default stdout) at `level` and above. */
export function createLogger(
  options: { service?: string; level?: LogLevel; write?: (line: string) => void } = {},
): Logger {
  const minimum = levelRank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (levelRank[level] < minimum) return;
    const entry = {
      level: level.toUpperCase(),
      timestamp: new Date().toISOString(),
      service: options.service ?? 'portrait',
      message: scrubText(message),
      ...(fields ? (redact(fields, 0) as Record<string, unknown>) : {}),
    };
    write(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that discards everything (tests that do not inspect logs). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
