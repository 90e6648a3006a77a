import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from '../../infra/local/dynamodb-local.ts';

export { freePort };

const repoRoot = resolve(import.meta.dirname, '..', '..');

/** `npm start` as a child process (the real entry point), ready when its API answers. */
export interface ChildRuntime {
  readonly child: ChildProcess;
  readonly apiUrl: string;
  output(): string;
}

export async function spawnRuntime(
  dataDir: string,
  port: number,
  timeoutMs = 90_000,
): Promise<ChildRuntime> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'infra/local/main.ts', '--data-dir', dataDir, '--port', String(port)],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const deadline = Date.now() + timeoutMs;
  while (!output.includes('Portrait local runtime is ready')) {
    if (child.exitCode !== null) throw new Error(`runtime exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`runtime not ready after ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, apiUrl: `http://127.0.0.1:${port}`, output: () => output };
}

/** Waits until a child process has exited. */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}
