/** The receiver in docs/WEBHOOKS.md works as written: it accepts signed deliveries and refuses the rest. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../infra/local/dynamodb-local.ts';
import { deliveryBody, planDeliveries } from '../../../shared/domain/webhooks/deliveries.ts';
import { signatureHeader } from '../../../shared/domain/webhooks/signature.ts';

const page = readFileSync(new URL('../../../docs/WEBHOOKS.md', import.meta.url), 'utf8');
const [receiverSource] = [...page.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
const secret = 'Vb0cE1q2w3e4r5t6y7u8i9o0pAsDfGhJkLzXcVbNm12';

let dir: string;
let child: ChildProcess;
let url: string;
let output = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portrait-docs-receiver-'));
  const file = join(dir, 'receiver.mjs');
  writeFileSync(file, receiverSource ?? '');
  const port = await freePort();
  url = `http://127.0.0.1:${port}/hooks`;
  child = spawn(process.execPath, [file], {
    env: { ...process.env, PORTRAIT_WEBHOOK_SECRET: secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  for (let i = 0; ; i += 1) {
    try {
      await fetch(url, { method: 'POST', body: '{}' });
      break;
    } catch (error) {
      if (i > 100) throw new Error(`receiver did not start: ${String(error)}\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});

afterAll(() => {
  child?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const [delivery] = planDeliveries(
  [
    {
      key: 'sl#regulars#3|000001764064800000#u#u-1001#0000000007',
      segmentId: 'regulars',
      memberKey: 'u#u-1001',
      change: 'enter',
      at: 1_764_064_800_000,
      seq: 7,
      cause: { kind: 'profile', profileVersion: 7 },
    },
  ],
  () => ['wh_docs'],
);
const body = delivery ? deliveryBody(delivery) : '';

const post = (signature: string, text = body) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'portrait-signature': signature },
    body: text,
  });

describe('the receiver in docs/WEBHOOKS.md', () => {
  it('accepts a delivery signed now, once per event id', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await post(signatureHeader(secret, now, body))).status).toBe(204);
    expect((await post(signatureHeader(secret, now + 1, body))).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = output.split('\n').filter((line) => line.startsWith('segment.'));
    expect(lines).toEqual([
      'segment.entered regulars {"userId":"u-1001"} 2025-11-25T10:00:00.000Z',
    ]);
  });

  it('refuses a wrong secret, a changed body, an old timestamp and no signature', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await post(signatureHeader('another-secret-0000', now, body))).status).toBe(401);
    expect(
      (await post(signatureHeader(secret, now, body), body.replace('u-1001', 'u-1002'))).status,
    ).toBe(401);
    expect((await post(signatureHeader(secret, now - 600, body))).status).toBe(401);
    expect((await post('')).status).toBe(401);
  });
});
