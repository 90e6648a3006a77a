import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ingestErrorCodes, ingestErrors, ingestLimits } from '../../events/envelope.ts';
import {
  type IngestRequestContext,
  type ParsedIngestRequest,
  parseIngestBody,
} from '../../shared/domain/ingest/parse-request.ts';
import { badInputCorpus } from '../fixtures/bad-input-corpus.ts';

function context(overrides: Partial<IngestRequestContext> = {}): IngestRequestContext {
  let next = 0;
  return {
    receivedAt: new Date(),
    sourceId: 'source-1',
    maxFutureSkewSeconds: 24 * 3600,
    retentionDays: 400,
    newMessageId: () => `generated-${++next}`,
    ...overrides,
  };
}

function parsed(result: ReturnType<typeof parseIngestBody>): ParsedIngestRequest {
  if (result.kind !== 'parsed')
    throw new Error(`expected parsed, got ${JSON.stringify(result.error)}`);
  return result;
}

const fixedContext = () => context({ receivedAt: new Date('2024-05-01T12:00:00Z') });

describe('parseIngestBody: single-event routes', () => {
  it('validates the body as one event of the route type', () => {
    const result = parsed(
      parseIngestBody(JSON.stringify({ userId: 'm', event: 'x' }), '/v1/track', fixedContext()),
    );
    expect(result.items).toHaveLength(1);
    expect(result.items[0]).toMatchObject({
      index: 0,
      result: { ok: true, event: { type: 'track', userId: 'm', event: 'x' } },
    });
    expect(result.writeKeyFromBody).toBeUndefined();
  });

  it.each([
    ['/v1/identify', { userId: 'm', traits: { city: '成都' } }, 'identify'],
    ['/v1/alias', { userId: 'm', previousId: 'a' }, 'alias'],
    ['/v1/page', { anonymousId: 'a', name: '首页' }, 'page'],
    ['/v1/screen', { anonymousId: 'a', name: 'Home' }, 'screen'],
    ['/v1/group', { userId: 'm', groupId: 'g' }, 'group'],
  ] as const)('reads %s bodies as %s events', (route, body, type) => {
    const result = parsed(parseIngestBody(JSON.stringify(body), route, fixedContext()));
    expect(result.items[0]?.result).toMatchObject({ ok: true, event: { type } });
  });

  it('returns the body writeKey and drops it from the event', () => {
    const result = parsed(
      parseIngestBody(
        JSON.stringify({ userId: 'm', event: 'x', writeKey: 'wk_123' }),
        '/v1/track',
        fixedContext(),
      ),
    );
    expect(result.writeKeyFromBody).toBe('wk_123');
    expect(result.items[0]?.result).not.toHaveProperty('event.writeKey');
  });

  it('reports an invalid event as an item, not a rejected request', () => {
    const result = parsed(parseIngestBody('{"event":"x"}', '/v1/track', fixedContext()));
    expect(result.items[0]?.result).toMatchObject({
      ok: false,
      error: { code: 'missing_identity' },
    });
  });

  it('accepts UTF-8 bytes, with or without a byte order mark', () => {
    const body = JSON.stringify({ userId: '会员', event: '下单 🛒' });
    for (const bytes of [
      new TextEncoder().encode(body),
      new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(body)]),
    ]) {
      const result = parsed(parseIngestBody(bytes, '/v1/track', fixedContext()));
      expect(result.items[0]?.result).toMatchObject({
        ok: true,
        event: { userId: '会员', event: '下单 🛒' },
      });
    }
    const withBom = parsed(parseIngestBody(`\uFEFF${body}`, '/v1/track', fixedContext()));
    expect(withBom.items[0]?.result.ok).toBe(true);
  });

  it('rejects bytes that are not UTF-8', () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    expect(parseIngestBody(bytes, '/v1/track', fixedContext())).toMatchObject({
      kind: 'rejected',
      status: 400,
      error: { code: 'invalid_json', message: 'The body is not valid UTF-8.' },
    });
  });

  it('does not echo the body in a JSON error', () => {
    const result = parseIngestBody('{"password": "hunter2" oops}', '/v1/track', fixedContext());
    expect(result.kind).toBe('rejected');
    if (result.kind !== 'rejected') return;
    expect(result.error.code).toBe('invalid_json');
    expect(result.error.message).not.toContain('hunter2');
  });

  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON;charset=UTF-8', true],
    ['text/plain;charset=UTF-8', true],
    ['application/vnd.segment+json', true],
    ['application/json; charset=iso-8859-1', false],
    ['application/x-www-form-urlencoded', false],
    ['multipart/form-data; boundary=x', false],
    ['', false],
  ])('content type %j accepted: %s', (contentType, accepted) => {
    const result = parseIngestBody(
      '{"userId":"m","event":"x"}',
      '/v1/track',
      context({ contentType }),
    );
    if (accepted) expect(result.kind).toBe('parsed');
    else
      expect(result).toMatchObject({
        kind: 'rejected',
        status: 415,
        error: { code: 'unsupported_media_type' },
      });
  });

  it('takes a body at the size limit and rejects one byte more', () => {
    const base = JSON.stringify({ userId: 'm', event: 'x', properties: {} });
    const padding = ingestLimits.maxRequestBytes - Buffer.byteLength(base);
    const atLimit = `${base}${' '.repeat(padding)}`;
    expect(parseIngestBody(atLimit, '/v1/track', fixedContext()).kind).toBe('parsed');
    expect(parseIngestBody(`${atLimit} `, '/v1/track', fixedContext())).toMatchObject({
      kind: 'rejected',
      status: 413,
      error: { code: 'payload_too_large' },
    });
  });

  it('counts the size in UTF-8 bytes, not characters', () => {
    const chinese = '文'.repeat(Math.ceil(ingestLimits.maxRequestBytes / 3) + 1);
    expect(parseIngestBody(chinese, '/v1/track', fixedContext())).toMatchObject({
      kind: 'rejected',
      error: { code: 'payload_too_large' },
    });
  });
});

describe('parseIngestBody: /v1/batch', () => {
  const valid = (index: number) => ({
    type: 'track',
    userId: `m${index}`,
    event: 'x',
    messageId: `id-${index}`,
  });

  it('drops nothing when one event in a batch is invalid', () => {
    const batch = [valid(0), { type: 'track', event: 'x' }, valid(2), 'not an event', valid(4)];
    const result = parsed(parseIngestBody(JSON.stringify({ batch }), '/v1/batch', fixedContext()));
    expect(result.items.map((item) => [item.index, item.result.ok])).toEqual([
      [0, true],
      [1, false],
      [2, true],
      [3, false],
      [4, true],
    ]);
    expect(result.items[1]?.result).toMatchObject({
      ok: false,
      error: { code: 'missing_identity' },
    });
    expect(result.items[3]?.result).toMatchObject({ ok: false, error: { code: 'invalid_event' } });
  });

  it('returns each event as received, so a rejection can echo its messageId', () => {
    const batch = [{ type: 'track', messageId: 'bad-1', event: 'x' }];
    const result = parsed(
      parseIngestBody(
        JSON.stringify({ batch, context: { locale: 'zh-CN' } }),
        '/v1/batch',
        fixedContext(),
      ),
    );
    expect(result.items[0]).toMatchObject({ raw: batch[0], result: { ok: false } });
  });

  it('requires a type on every batch item', () => {
    const result = parsed(
      parseIngestBody(
        JSON.stringify({ batch: [{ userId: 'm', event: 'x' }] }),
        '/v1/batch',
        fixedContext(),
      ),
    );
    expect(result.items[0]?.result).toMatchObject({
      ok: false,
      error: { code: 'missing_field', pointer: '/type' },
    });
  });

  it('accepts an empty batch', () => {
    expect(parsed(parseIngestBody('{"batch":[]}', '/v1/batch', fixedContext())).items).toEqual([]);
  });

  it('merges the batch context into each event, the event winning, and drops integrations', () => {
    const body = {
      batch: [
        { ...valid(0), context: { locale: 'en-US', app: { name: 'mini' } } },
        valid(1),
        { ...valid(2), context: null },
      ],
      context: { locale: 'zh-CN', library: { name: 'analytics-node' } },
      integrations: { All: true },
      writeKey: 'wk_batch',
    };
    const result = parsed(parseIngestBody(JSON.stringify(body), '/v1/batch', fixedContext()));
    expect(result.writeKeyFromBody).toBe('wk_batch');
    const contexts = result.items.map((item) =>
      item.result.ok ? item.result.event.context : undefined,
    );
    expect(contexts).toEqual([
      { locale: 'en-US', library: { name: 'analytics-node' }, app: { name: 'mini' } },
      { locale: 'zh-CN', library: { name: 'analytics-node' } },
      { locale: 'zh-CN', library: { name: 'analytics-node' } },
    ]);
  });

  it('still rejects an event whose own context is not an object', () => {
    const body = { batch: [{ ...valid(0), context: 'web' }], context: { locale: 'zh-CN' } };
    const result = parsed(parseIngestBody(JSON.stringify(body), '/v1/batch', fixedContext()));
    expect(result.items[0]?.result).toMatchObject({
      ok: false,
      error: { code: 'invalid_field', pointer: '/context' },
    });
  });

  it('corrects skew with the batch sentAt unless the event has its own', () => {
    const body = {
      sentAt: '2024-05-01T12:10:00Z',
      batch: [
        { ...valid(0), timestamp: '2024-05-01T12:09:00Z' },
        { ...valid(1), timestamp: '2024-05-01T12:09:00Z', sentAt: '2024-05-01T12:09:30Z' },
      ],
    };
    const result = parsed(parseIngestBody(JSON.stringify(body), '/v1/batch', fixedContext()));
    const times = result.items.map((item) =>
      item.result.ok ? item.result.event.timestamp : undefined,
    );
    expect(times).toEqual(['2024-05-01T11:59:00.000Z', '2024-05-01T11:59:30.000Z']);
  });

  it('takes exactly the maximum number of events', () => {
    const batch = Array.from({ length: ingestLimits.maxBatchEvents }, (_, index) => valid(index));
    const result = parsed(parseIngestBody(JSON.stringify({ batch }), '/v1/batch', fixedContext()));
    expect(result.items).toHaveLength(ingestLimits.maxBatchEvents);
    expect(result.items.every((item) => item.result.ok)).toBe(true);
  });
});

describe('bad input corpus', () => {
  it('has unique names and only known codes whose status matches the table', () => {
    expect(new Set(badInputCorpus.map((entry) => entry.name)).size).toBe(badInputCorpus.length);
    for (const entry of badInputCorpus) {
      expect(ingestErrorCodes).toContain(entry.expectedCode);
      expect(ingestErrors[entry.expectedCode].status).toBe(entry.expectedStatus);
    }
  });

  it.each(badInputCorpus.map((entry) => [entry.name, entry] as const))('%s', (_name, entry) => {
    const result = parseIngestBody(
      entry.body,
      entry.route,
      context({ contentType: entry.contentType ?? 'application/json' }),
    );
    if (result.kind === 'rejected') {
      expect(result.status).toBe(entry.expectedStatus);
      expect(result.error.code).toBe(entry.expectedCode);
      expect(result.error.message).not.toBe('');
      return;
    }
    // Per-event errors on a single-event route answer the request with the code's status.
    expect(entry.route).not.toBe('/v1/batch');
    expect(result.items).toHaveLength(1);
    const item = result.items[0]?.result;
    expect(item?.ok).toBe(false);
    if (!item || item.ok) return;
    expect(item.error.code).toBe(entry.expectedCode);
    expect(ingestErrors[item.error.code].status).toBe(entry.expectedStatus);
    expect(item.error.message).not.toBe('');
  });
});

describe('docs/EVENTS.md', () => {
  it('lists every error code with its status', () => {
    const doc = readFileSync(new URL('../../docs/EVENTS.md', import.meta.url), 'utf8');
    const rows = new Map(
      [...doc.matchAll(/^\| `([a-z_]+)`\s*\| (\d{3})\s*\|/gm)].map((match) => [
        match[1],
        Number(match[2]),
      ]),
    );
    for (const code of ingestErrorCodes)
      expect([code, rows.get(code)]).toEqual([code, ingestErrors[code].status]);
    expect(rows.size).toBe(ingestErrorCodes.length);
  });
});
