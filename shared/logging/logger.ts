/**
 * Structured JSON logs (one object a line, as Lambda's JSON log format expects). Values under
 * keys that can carry secrets or personal data are replaced before they are written, so a
 * careless `log.info('x', { headers })` cannot leak a write key.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const REDACTED = '[redacted]';
const sensitiveKey =
  /^(authorization|writekey|write_key|apikey|api_key|key|secret|password|token|email|phone|name|address|traits|properties)$/i;
const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function redact(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[truncated]';
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = sensitiveKey.test(key) ? REDACTED : redact(item, depth + 1);
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
      message,
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
