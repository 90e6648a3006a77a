/**
 * Starts and stops DynamoDB Local (AWS's own emulator, a Java jar) as a child process.
 *
 * The jar is fetched into `.vendor/dynamodb-local` by `scripts/fetch-dynamodb-local.mjs`
 * (the `postinstall` script), so `npm install` is the only setup step.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

/** How a local AWS SDK client reaches DynamoDB Local; any credentials are accepted. */
export interface LocalAwsClientConfig {
  readonly endpoint: string;
  readonly region: 'us-east-1';
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export interface StartDynamoDbLocalOptions {
  /** Port to listen on. @default 0 (a free port is picked) */
  readonly port?: number;
  /** Folder that persists the data (created when missing). @default in memory */
  readonly dbPath?: string;
  /** One database for every credential and region, so all clients see the same tables. @default true */
  readonly sharedDb?: boolean;
  /** Receives every stdout and stderr line of the emulator. */
  readonly log?: (line: string) => void;
  /** How long to wait for the first successful API call. @default 30_000 */
  readonly readyTimeoutMs?: number;
  /** Folder holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib`. @default dynamoDbLocalDir() */
  readonly dir?: string;
  /** Java executable. @default 'java' */
  readonly java?: string;
  /**
   * JVM options placed before `-jar`.
   * @default none. `FAST_START_JVM_ARGS` halves startup on a busy laptop at the cost of ~10 %
   * write throughput (no C2 compiler); the tests use it, the long-running runtime does not.
   */
  readonly jvmArgs?: readonly string[];
}

export interface DynamoDbLocalHandle {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** DynamoDB Local could not be started; the message says why and what to do. */
export class DynamoDbLocalStartError extends Error {
  readonly code = 'DYNAMODB_LOCAL_START_FAILED';
  override readonly name = 'DynamoDbLocalStartError';
}

const READY_POLL_INTERVAL_MS = 100;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_LINES = 30;
const PORT_ATTEMPTS = 3;
const PING_TIMEOUT_MS = 2_000;
const DEFAULT_JVM_ARGS: readonly string[] = [];

/** JVM options for a short-lived emulator (tests): quicker start, slower steady state. */
export const FAST_START_JVM_ARGS: readonly string[] = [
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
];

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folder holding DynamoDB Local: `$PORTRAIT_DYNAMODB_LOCAL_DIR`, else `<repo>/.vendor/dynamodb-local`. */
export function dynamoDbLocalDir(): string {
  const fromEnv = process.env.PORTRAIT_DYNAMODB_LOCAL_DIR;
  return fromEnv ? resolve(fromEnv) : join(repoRoot, '.vendor', 'dynamodb-local');
}

/** SDK client configuration for DynamoDB Local at `endpoint` (dummy credentials, us-east-1). */
export function localAwsClientConfig(endpoint: string): LocalAwsClientConfig {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

/**
 * Starts DynamoDB Local and resolves once it answers `ListTables`.
 * The child is killed when this process exits, so a crashed test run leaves no Java behind.
 */
export async function startDynamoDbLocal(
  options: StartDynamoDbLocalOptions = {},
): Promise<DynamoDbLocalHandle> {
  const dir = options.dir ?? dynamoDbLocalDir();
  const jar = join(dir, 'DynamoDBLocal.jar');
  if (!existsSync(jar)) {
    throw new DynamoDbLocalStartError(
      `DynamoDB Local not found: ${jar} does not exist. Run \`npm install\` (its postinstall ` +
        'script fetches DynamoDB Local), or set PORTRAIT_DYNAMODB_LOCAL_DIR to a folder holding ' +
        'DynamoDBLocal.jar and DynamoDBLocal_lib.',
    );
  }
  const dbPath = options.dbPath === undefined ? undefined : resolve(options.dbPath);
  if (dbPath !== undefined) mkdirSync(dbPath, { recursive: true });

  const pickPort = !options.port;
  if (options.port && !(await isPortFree(options.port))) {
    throw new DynamoDbLocalStartError(
      `Cannot start DynamoDB Local on port ${options.port}: the port is in use (another ` +
        'DynamoDB Local?). Stop that process or choose another port.',
    );
  }
  for (let attempt = 1; ; attempt++) {
    const port = pickPort ? await freePort() : (options.port as number);
    try {
      return await launch({ ...options, dir, jar, dbPath, port });
    } catch (error) {
      // A picked port can be taken between picking and binding; pick another.
      const portTaken = error instanceof PortInUseError;
      if (!(portTaken && pickPort && attempt < PORT_ATTEMPTS)) {
        throw portTaken ? new DynamoDbLocalStartError(error.message) : error;
      }
    }
  }
}

class PortInUseError extends Error {}

interface LaunchOptions extends StartDynamoDbLocalOptions {
  readonly dir: string;
  readonly jar: string;
  readonly dbPath: string | undefined;
  readonly port: number;
}

async function launch(options: LaunchOptions): Promise<DynamoDbLocalHandle> {
  const args = [
    ...(options.jvmArgs ?? DEFAULT_JVM_ARGS),
    `-Djava.library.path=${join(options.dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    options.jar,
    '-port',
    String(options.port),
    ...(options.dbPath === undefined ? ['-inMemory'] : ['-dbPath', options.dbPath]),
    ...(options.sharedDb === false ? [] : ['-sharedDb']),
    // A local emulator has no business phoning home; it also keeps tests offline.
    '-disableTelemetry',
  ];
  const java = options.java ?? 'java';
  // Its own process group, so a terminal's Ctrl-C reaches only the runtime, which then stops
  // the emulator after in-flight writes finish instead of under them.
  const child = spawn(java, args, {
    cwd: options.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  liveChildren.add(child);
  ensureExitHook();

  const tail: string[] = [];
  // When Jetty cannot bind, the main thread dies but other non-daemon threads keep the JVM alive.
  let mainThreadDied = false;
  const onLine = (line: string): void => {
    if (line.startsWith('Exception in thread "main"')) mainThreadDied = true;
    tail.push(line);
    if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
    options.log?.(line);
  };
  forwardLines(child.stdout, onLine);
  forwardLines(child.stderr, onLine);

  let exited = false;
  let spawnError: Error | undefined;
  const exitedPromise = new Promise<void>((resolveExit) => {
    child.once('exit', () => {
      exited = true;
      liveChildren.delete(child);
      resolveExit();
    });
    child.once('error', (error) => {
      spawnError = error;
      // 'exit' does not fire when the executable could not be spawned at all.
      if (child.pid === undefined) {
        exited = true;
        liveChildren.delete(child);
        resolveExit();
      }
    });
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await exitedPromise;
    } finally {
      clearTimeout(timer);
    }
  };

  const endpoint = `http://127.0.0.1:${options.port}`;
  const client = new DynamoDBClient({ ...localAwsClientConfig(endpoint), maxAttempts: 1 });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (mainThreadDied && !exited) {
        await sleep(300); // let the rest of the stack trace arrive for the error message
        await stop();
      }
      if (exited) {
        const output = tail.join('\n');
        if (spawnError && (spawnError as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new DynamoDbLocalStartError(
            `Cannot start DynamoDB Local: '${java}' was not found. Install a Java runtime ` +
              '(17 or later) and put it on PATH.',
          );
        }
        if (/address already in use|BindException|Failed to bind/i.test(output)) {
          throw new PortInUseError(
            `DynamoDB Local could not bind port ${options.port}: it is in use.\n${output}`,
          );
        }
        throw new DynamoDbLocalStartError(
          `DynamoDB Local failed to start (exit code ${child.exitCode ?? child.signalCode}).` +
            `${spawnError ? ` ${spawnError.message}.` : ''} Last output:\n${output}`,
        );
      }
      try {
        // A JVM that accepted the connection but is still starting may not answer for a while.
        await client.send(new ListTablesCommand({ Limit: 1 }), {
          abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS),
        });
        break;
      } catch {
        if (Date.now() > deadline) {
          await stop();
          throw new DynamoDbLocalStartError(
            `DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms. Last output:\n` +
              tail.join('\n'),
          );
        }
        await sleep(READY_POLL_INTERVAL_MS);
      }
    }
  } finally {
    client.destroy();
  }

  return { endpoint, port: options.port, process: child, stop };
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** One `exit` listener for all emulators, so many starts do not trip MaxListeners warnings. */
function ensureExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

function forwardLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split(/\r?\n/);
    buffered = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (buffered) onLine(buffered);
    buffered = '';
  });
}

/** DynamoDB Local binds every interface, so a port is free only if 0.0.0.0 can bind it. */
function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolveFree(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolveFree(true)));
  });
}

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}
