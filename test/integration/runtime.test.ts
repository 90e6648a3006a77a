import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestErrorCodes } from '../../events/envelope.ts';
import { eventFromItem } from '../../shared/adapters/event-store.ts';
import { badInputCorpus } from '../fixtures/bad-input-corpus.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';

let t: TestRuntime;
beforeAll(async () => {
  t = await startTestRuntime();
});
afterAll(async () => {
  await t?.close();
});

describe('local runtime, end to end over HTTP', () => {
  it('stores a tracked event posted to /v1/track', async () => {
    const response = await t.post('/v1/track', {
      messageId: 'it-track-1',
      userId: '会员-1001',
      event: 'Order Completed',
      properties: { orderId: 'o-1', revenue: 88.5, currency: 'CNY' },
    });
    expect(response).toEqual({ status: 200, body: { success: true } });
    await t.runtime.idle();
    const items = await t.storedFor('u#会员-1001');
    expect(items).toHaveLength(1);
    const stored = eventFromItem(items[0] as Record<string, unknown>);
    expect(stored).toMatchObject({
      messageId: 'it-track-1',
      type: 'track',
      event: 'Order Completed',
      sourceId: 'dev',
    });
  });

  it('accepts every Segment call type', async () => {
    const calls: Array<[string, Record<string, unknown>]> = [
      ['/v1/identify', { userId: 'all-1', traits: { name: '张伟', city: '北京' } }],
      ['/v1/alias', { userId: 'all-1', previousId: 'anon-all-1' }],
      ['/v1/page', { anonymousId: 'anon-all-1', name: 'Home' }],
      ['/v1/screen', { userId: 'all-1', name: 'Cart' }],
      ['/v1/group', { userId: 'all-1', groupId: 'store-9' }],
    ];
    for (const [path, body] of calls) {
      expect(await t.post(path, body), path).toEqual({ status: 200, body: { success: true } });
    }
    await t.runtime.idle();
    const types = [...(await t.storedFor('u#all-1')), ...(await t.storedFor('a#anon-all-1'))].map(
      (item) => item.type,
    );
    expect(types.sort()).toEqual(['alias', 'group', 'identify', 'page', 'screen']);
  });

  it('stores the valid events of a batch beside invalid ones and lists per-event results', async () => {
    const response = await t.post('/v1/batch', {
      batch: [
        { type: 'track', messageId: 'mix-1', userId: 'mix', event: 'Shared' },
        { type: 'track', messageId: 'mix-2', event: 'Shared' },
        { type: 'identify', messageId: 'mix-3', userId: 'mix', traits: { city: '上海' } },
      ],
    });
    expect(response.status).toBe(207);
    const body = response.body as {
      results: Array<{ index: number; status: string; code?: string }>;
    };
    expect(body.results.map((r) => r.status)).toEqual(['accepted', 'rejected', 'accepted']);
    expect(body.results[1]?.code).toBe('missing_identity');
    await t.runtime.idle();
    expect((await t.storedFor('u#mix')).map((item) => item.sk).sort()).toEqual(['mix-1', 'mix-3']);
  });

  it('stores a resent event once, with one stream INSERT', async () => {
    const event = {
      messageId: 'dup-1',
      userId: 'dup',
      event: 'Store Visited',
      properties: { store: '北京三里屯店' },
    };
    for (let i = 0; i < 3; i += 1) expect((await t.post('/v1/track', event)).status).toBe(200);
    await t.runtime.idle();
    expect(await t.storedFor('u#dup')).toHaveLength(1);
    expect((await t.streamRecordsByMessageId()).get('dup-1')).toEqual(['INSERT']);
  });

  it('refuses a missing or unknown write key with 401 and a code', async () => {
    const missing = await t.post('/v1/track', { userId: 'k', event: 'x' }, { authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ code: 'missing_write_key' });
    const wrong = await t.post(
      '/v1/track',
      { userId: 'k', event: 'x' },
      { authorization: `Basic ${Buffer.from('nope:').toString('base64')}` },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 'invalid_write_key' });
  });

  it('accepts the write key in the body, as Segment does', async () => {
    const response = await t.post(
      '/v1/track',
      { writeKey: t.runtime.devWriteKey, userId: 'bodykey', event: 'Shared' },
      { authorization: '' },
    );
    expect(response).toEqual({ status: 200, body: { success: true } });
  });

  it('answers every entry of the bad-input corpus with its 4xx code, never a 5xx', async () => {
    for (const entry of badInputCorpus) {
      const response = await t.post(entry.route, entry.body, {
        'content-type': entry.contentType ?? 'application/json',
      });
      expect(response.status, entry.name).toBe(entry.expectedStatus);
      expect((response.body as { code?: string }).code, entry.name).toBe(entry.expectedCode);
      expect(typeof (response.body as { message?: string }).message, entry.name).toBe('string');
    }
  });

  it('keeps every stored event consistent with its item keys', async () => {
    await t.runtime.idle();
    for (const item of await t.storedEvents()) {
      const stored = eventFromItem(item);
      expect(item.sk).toBe(stored.messageId);
      expect(item.pk).toBe(
        stored.userId !== undefined ? `u#${stored.userId}` : `a#${stored.anonymousId}`,
      );
    }
  });

  it('answers fuzzed requests with 2xx or a coded 4xx, never a 5xx, and stores the valid sibling', async () => {
    const codes = new Set<string>([...ingestErrorCodes, 'partial_success', 'all_events_rejected']);
    let n = 0;
    const junk = fc.oneof(
      fc.jsonValue(),
      fc.string({ unit: 'binary' }),
      fc.record(
        {
          type: fc.constantFrom('track', 'identify', 'page', 'nope', 7),
          userId: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
          event: fc.anything(),
          timestamp: fc.oneof(
            fc.string(),
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          ),
          properties: fc.anything(),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(junk, { maxLength: 5 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        async (others, rawBody) => {
          const id = `fuzz-${n++}`;
          const batch = [
            { type: 'track', messageId: id, userId: 'fuzz-member', event: 'Shared' },
            ...others,
          ];
          const response = await t.post('/v1/batch', { batch });
          expect(response.status).toBeLessThan(500);
          if (response.status !== 200) {
            const body = response.body as {
              code?: string;
              results?: Array<{ index: number; status: string; code?: string }>;
            };
            expect(codes.has(String(body.code)), JSON.stringify(body)).toBe(true);
            expect(body.results?.[0]?.status).toBe('accepted');
            for (const result of body.results ?? [])
              if (result.status === 'rejected') expect(codes.has(String(result.code))).toBe(true);
          }
          const raw = await t.post('/v1/track', rawBody);
          expect(raw.status).toBeLessThan(500);
          expect(
            raw.status === 200 || codes.has(String((raw.body as { code?: string }).code)),
          ).toBe(true);
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_FUZZ_RUNS ?? 150) },
    );
    await t.runtime.idle();
    const stored = new Set((await t.storedFor('u#fuzz-member')).map((item) => String(item.sk)));
    for (let i = 0; i < n; i += 1) expect(stored.has(`fuzz-${i}`), `fuzz-${i}`).toBe(true);
  });

  it('answers a request line that URL parsing refuses with 400 and keeps serving', async () => {
    const { port } = new URL(t.runtime.apiUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          'POST //[x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
        );
      });
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 400/);
    const after = await t.post('/v1/track', { userId: 'still-up', event: 'Shared' });
    expect(after.status).toBe(200);
  });

  it("accepts the paths Segment's browser and mobile libraries use", async () => {
    const oneLetter = await t.post('/v1/t', {
      messageId: 'alias-t',
      userId: 'alias-user',
      event: 'Shared',
    });
    expect(oneLetter).toEqual({ status: 200, body: { success: true } });
    const mobile = await t.post('/v1/import', {
      batch: [{ type: 'screen', messageId: 'alias-import', userId: 'alias-user', name: 'Home' }],
    });
    expect(mobile).toEqual({ status: 200, body: { success: true } });
    await t.runtime.idle();
    expect((await t.storedFor('u#alias-user')).map((item) => item.sk).sort()).toEqual([
      'alias-import',
      'alias-t',
    ]);
  });

  it('answers CORS preflights and lets browsers read answers, as the HTTP API does', async () => {
    const preflight = await fetch(`${t.runtime.apiUrl}/v1/t`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const response = await fetch(`${t.runtime.apiUrl}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'https://shop.example' },
      body: JSON.stringify({ writeKey: t.runtime.devWriteKey, userId: 'cors', event: 'Shared' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
  });
});
