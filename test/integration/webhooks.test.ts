/**
 * Segment webhooks through the local runtime: a tool subscribes over HTTP, events make a member
 * enter the segment, and a real HTTP receiver gets a correctly signed `segment.entered`; a
 * receiver that keeps failing fills the webhook dead-letter queue, which `npm run cli --
 * webhooks redrive` empties again.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhooksQueue } from '../../infra/declarations/queues.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { verifySignature } from '../../shared/domain/webhooks/signature.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
let t: TestRuntime;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

beforeAll(async () => {
  // Failed deliveries are retried at once here, so the dead-letter queue fills in seconds.
  process.env[runtimeEnvNames.webhookRetryBaseSeconds] = '0';
  receiver = await startWebhookReceiver();
  t = await startTestRuntime({ sweepEverySeconds: 0 });
}, 120_000);

afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'infra/cli.ts', ...args, '--data-dir', t.runtime.dataDir],
      { cwd: repoRoot, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

const now = () => new Date().toISOString();
const orders = (userId: string) =>
  [1, 2].map((n) => ({
    type: 'track',
    userId,
    event: 'Order Completed',
    messageId: `${userId}-order-${n}`,
    timestamp: now(),
    properties: { orderId: `${userId}-${n}`, revenue: 20, currency: 'CNY' },
  }));

describe('segment webhooks through the local runtime', () => {
  it('delivers a signed segment.entered, redrives dead-lettered deliveries from the CLI, unsubscribes', async () => {
    const created = await t.post('/v1/segments', {
      id: 'regulars',
      labels: { 'zh-CN': '常客', en: 'Regulars' },
      purpose: 'marketing',
      expression: { aggregate: 'orders_365d', op: '>=', value: 2 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const subscribed = await t.post('/v1/segments/regulars/webhooks', {
      url: receiver.url,
      description: 'CRM sync',
    });
    expect(subscribed.status, JSON.stringify(subscribed.body)).toBe(201);
    const { id: hookId, secret } = subscribed.body as { id: string; secret: string };
    const listed = await t.get('/v1/segments/regulars/webhooks');
    expect(listed.body).toMatchObject({ webhooks: [{ id: hookId, url: receiver.url }] });

    const sent = await t.post('/v1/batch', { batch: orders('wh-1') });
    expect(sent.status).toBe(200);
    const [request] = await receiver.waitFor(1, 60_000);
    expect(
      verifySignature(secret, request?.headers['portrait-signature'], request?.body ?? '', 300),
    ).toBe(true);
    const payload = JSON.parse(request?.body ?? '{}') as Record<string, unknown>;
    expect(payload).toMatchObject({
      id: request?.headers['portrait-delivery'],
      segment: 'regulars',
      subscription: hookId,
      events: [{ type: 'segment.entered', memberId: { userId: 'wh-1' } }],
    });

    // A receiver that keeps failing: the delivery is tried maxReceiveCount times, then parked.
    receiver.setAnswer(() => 503);
    const before = receiver.received.length;
    await t.post('/v1/batch', { batch: orders('wh-2') });
    await receiver.waitFor(before + webhooksQueue.maxReceiveCount, 60_000);
    await t.runtime.idle();
    expect(receiver.received).toHaveLength(before + webhooksQueue.maxReceiveCount);
    const counted = await cli('webhooks', 'count');
    expect(counted.stdout, counted.stderr).toContain(
      '1 delivery(ies) in the webhook dead-letter queue',
    );

    receiver.setAnswer(() => 200);
    const redriven = await cli('webhooks', 'redrive', '--segment', 'regulars');
    expect(redriven.code, redriven.stderr).toBe(0);
    expect(redriven.stdout).toContain('Redrove 1 webhook delivery(ies)');
    const last = (await receiver.waitFor(before + webhooksQueue.maxReceiveCount + 1, 60_000)).at(
      -1,
    );
    expect(
      verifySignature(secret, last?.headers['portrait-signature'], last?.body ?? '', 300),
    ).toBe(true);
    expect(JSON.parse(last?.body ?? '{}')).toMatchObject({
      events: [{ type: 'segment.entered', memberId: { userId: 'wh-2' } }],
    });
    expect((await cli('webhooks', 'count')).stdout).toContain('0 delivery(ies)');

    const deleted = await fetch(`${t.runtime.apiUrl}/v1/segments/regulars/webhooks/${hookId}`, {
      method: 'DELETE',
      headers: { authorization: t.authorization },
    });
    expect(deleted.status).toBe(200);
    expect((await t.get('/v1/segments/regulars/webhooks')).body).toEqual({
      segment: 'regulars',
      webhooks: [],
    });
  });
});
