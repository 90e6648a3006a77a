import Rudder from '@rudderstack/rudder-sdk-node';
import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventFromItem } from '../../shared/adapters/event-store.ts';
import { startFaultyProxy } from '../support/faulty-proxy.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

// Real clients nobody here wrote, pointed at the local runtime by changing only the host.
let t: TestRuntime;
beforeAll(async () => {
  t = await startTestRuntime();
});
afterAll(async () => {
  await t?.close();
});

/**
 * Stream INSERTs per messageId with the prefix. Items are unique by key whatever ingest does;
 * the stream is where a second write of the same event would show.
 */
async function insertsByMessageId(prefix: string): Promise<Map<string, number>> {
  await t.runtime.idle();
  const counts = new Map<string, number>();
  for (const [id, names] of await t.streamRecordsByMessageId()) {
    if (!id.startsWith(prefix)) continue;
    expect(
      names.every((name) => name === 'INSERT'),
      id,
    ).toBe(true);
    counts.set(id, names.length);
  }
  return counts;
}

async function drainRudder(client: Rudder): Promise<void> {
  // The SDK exposes no close(); its queue is internal (not in its typings).
  const internal = client as unknown as { queue: unknown[] };
  while (internal.queue.length > 0) await client.flush();
  await client.flush();
}

describe('Segment and RudderStack SDKs against the local runtime', () => {
  it('@segment/analytics-node: every event stored exactly once, retries included', async () => {
    const proxy = await startFaultyProxy(t.runtime.apiUrl, 2);
    const analytics = new Analytics({
      writeKey: t.runtime.devWriteKey,
      host: proxy.url,
      flushAt: 5,
      flushInterval: 50,
      maxRetries: 5,
    });
    const errors: unknown[] = [];
    analytics.on('error', (error) => errors.push(error));
    const sent: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const messageId = `seg-${i}`;
      sent.push(messageId);
      analytics.track({
        messageId,
        userId: 'seg-user',
        event: 'Product Viewed',
        properties: { sku: `s${i}`, 名字: '烧烤' },
      });
    }
    analytics.identify({ messageId: 'seg-identify', userId: 'seg-user', traits: { city: '北京' } });
    analytics.page({ messageId: 'seg-page', anonymousId: 'seg-anon', name: 'Home' });
    analytics.alias({ messageId: 'seg-alias', userId: 'seg-user', previousId: 'seg-anon' });
    analytics.group({ messageId: 'seg-group', userId: 'seg-user', groupId: 'g1' });
    analytics.screen({ messageId: 'seg-screen', userId: 'seg-user', name: 'Cart' });
    sent.push('seg-identify', 'seg-page', 'seg-alias', 'seg-group', 'seg-screen');
    await analytics.closeAndFlush({ timeout: 60_000 });
    await proxy.close();
    expect(errors).toEqual([]);
    // The proxy threw away two answers, so the SDK sent at least two requests again.
    expect(proxy.requests()).toBeGreaterThanOrEqual(Math.ceil(sent.length / 5) + 2);
    const counts = await insertsByMessageId('seg-');
    expect([...counts.keys()].sort()).toEqual([...sent].sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const viewed = (await t.storedFor('u#seg-user'))
      .map(eventFromItem)
      .find((e) => e.messageId === 'seg-0');
    expect(viewed?.properties).toMatchObject({ sku: 's0', 名字: '烧烤' });
  });

  it('@rudderstack/rudder-sdk-node (gzip): every event stored exactly once, retries included', async () => {
    const proxy = await startFaultyProxy(t.runtime.apiUrl, 1);
    const errors: unknown[] = [];
    const client = new Rudder(t.runtime.devWriteKey, {
      dataPlaneUrl: proxy.url,
      flushAt: 4,
      flushInterval: 50,
      retryCount: 3,
      logLevel: 'none',
      errorHandler: (error: unknown) => errors.push(error),
    });
    const sent: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const messageId = `rud-${i}`;
      sent.push(messageId);
      // The SDK forwards messageId although its typings omit it.
      client.track({
        messageId,
        userId: 'rud-user',
        event: 'Order Completed',
        properties: { orderId: `o${i}`, revenue: 9.9 },
      } as Parameters<Rudder['track']>[0]);
    }
    client.identify({
      messageId: 'rud-identify',
      userId: 'rud-user',
      traits: { city: '上海' },
    } as Parameters<Rudder['identify']>[0]);
    sent.push('rud-identify');
    await drainRudder(client);
    await proxy.close();
    expect(errors).toEqual([]);
    expect(proxy.requests()).toBeGreaterThan(1);
    const counts = await insertsByMessageId('rud-');
    expect([...counts.keys()].sort()).toEqual([...sent].sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});
