/**
 * Fuzz of the ingest edge: whatever arrives, parseIngestBody answers (never throws), every error
 * carries a known code, a message and a pointer, and valid events survive invalid siblings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockedIdentityValues } from '../../events/catalogue.ts';
import {
  type EventError,
  type eventTypes,
  ingestErrorCodes,
  ingestErrors,
  ingestLimits,
} from '../../events/envelope.ts';
import { ingestPaths } from '../../infra/declarations/routes.ts';
import {
  type IngestRequestContext,
  parseIngestBody,
} from '../../shared/domain/ingest/parse-request.ts';

const receivedAt = new Date('2024-05-01T12:00:00.000Z');
const ctx: IngestRequestContext = {
  receivedAt,
  sourceId: 'source-fuzz',
  maxFutureSkewSeconds: 24 * 3600,
  retentionDays: 400,
  newMessageId: () => 'generated',
};

function expectWellFormedError(error: EventError): void {
  expect(ingestErrorCodes).toContain(error.code);
  expect(error.message.trim()).not.toBe('');
  expect(typeof error.pointer).toBe('string');
  expect(error.pointer === '' || error.pointer?.startsWith('/')).toBe(true);
}

/** Parses and checks the invariants that hold for any input; returns the answer. */
function answer(body: string | Uint8Array, route: (typeof ingestPaths)[number]) {
  const result = parseIngestBody(body, route, ctx);
  if (result.kind === 'rejected') {
    expectWellFormedError(result.error);
    expect(result.status).toBe(ingestErrors[result.error.code].status);
  } else {
    for (const item of result.items) {
      if (!item.result.ok) expectWellFormedError(item.result.error);
      else expect(() => JSON.stringify(item.result)).not.toThrow();
    }
    if (route !== '/v1/batch') expect(result.items).toHaveLength(1);
  }
  return result;
}

const route = fc.constantFrom(...ingestPaths);
/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const anyText = fc.string({
  unit: fc.oneof(codeUnit, fc.constantFrom('{', '}', '[', ']', '"', ':', ',', '\\')),
});

describe('ingest fuzz: arbitrary input', () => {
  it('answers any JSON value on any route', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary' }), route, (value, path) => {
        answer(JSON.stringify(value) ?? 'null', path);
      }),
      { numRuns: 1_000 },
    );
  });

  it('answers any JSON object shaped like a batch', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            batch: fc.array(fc.jsonValue({ maxDepth: 3 })),
            context: fc.jsonValue({ maxDepth: 2 }),
            sentAt: fc.jsonValue({ maxDepth: 0 }),
            writeKey: fc.jsonValue({ maxDepth: 0 }),
          },
          { requiredKeys: ['batch'] },
        ),
        (body) => {
          answer(JSON.stringify(body), '/v1/batch');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('answers any byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2_000 }), route, (bytes, path) => {
        answer(bytes, path);
      }),
      { numRuns: 1_000 },
    );
  });

  it('answers any string, lone surrogates included', () => {
    fc.assert(
      fc.property(anyText, route, (text, path) => {
        answer(text, path);
      }),
      { numRuns: 1_000 },
    );
  });
});

// --- valid events and their mutations ----------------------------------------------------------

const name = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
  .filter((s) => s.trim() !== '');
const memberId = fc.oneof(
  fc
    .stringMatching(/^[a-z][a-z0-9-]{2,20}$/)
    .filter((id) => !(blockedIdentityValues as readonly string[]).includes(id)),
  fc.constantFrom('会员-张三', '用户😀01', 'Ünïcödé-42'),
  fc.integer({ min: 1, max: 1_000_000_000 }),
);
const customProperties = fc.dictionary(
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((key) => `c_${key}`),
  fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }),
  { maxKeys: 6 },
);
const money = fc.oneof(
  fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }),
  fc.stringMatching(/^\d{1,9}(\.\d{1,2})?$/),
);
const orderProperties = fc.record(
  {
    orderId: fc.stringMatching(/^o-[0-9a-z]{1,12}$/),
    revenue: money,
    currency: fc.constantFrom('CNY', 'USD', 'HKD'),
    coupon: name,
    store: name,
    products: fc.array(
      fc.record(
        {
          sku: fc.stringMatching(/^[A-Z0-9]{3,10}$/),
          category: fc.constantFrom('美妆', '母婴', 'Electronics'),
          price: money,
          quantity: fc.integer({ min: 1, max: 20 }),
        },
        { requiredKeys: ['sku'] },
      ),
      { maxLength: 5 },
    ),
  },
  { requiredKeys: ['orderId', 'revenue', 'currency'] },
);
/** An instant inside the accepted window (now − 399 days … now + 12 h). */
const recentInstant = fc
  .integer({ min: -399 * 86_400_000, max: 12 * 3_600_000 })
  .map((offset) => new Date(receivedAt.getTime() + offset).toISOString());

const identity = fc.oneof(
  fc.record({ userId: memberId }),
  fc.record({ anonymousId: memberId }),
  fc.record({ userId: memberId, anonymousId: memberId }),
);

const common = fc.record(
  {
    messageId: fc.uuid(),
    timestamp: recentInstant,
    context: fc.record(
      { locale: fc.constantFrom('zh-CN', 'en-US'), ip: fc.ipV4() },
      { requiredKeys: [] },
    ),
    integrations: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const validEvent: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc
    .tuple(
      common,
      identity,
      fc.oneof(
        fc.record({
          type: fc.constant('track'),
          event: fc.constantFrom('Order Completed', 'order_completed'),
          properties: orderProperties,
        }),
        fc.record({
          type: fc.constant('track'),
          event: fc.constantFrom('Consultation'),
          properties: fc.record({ topic: name }),
        }),
        fc.record({
          type: fc.constant('track'),
          event: name.map((n) => `Custom ${n}`),
          properties: customProperties,
        }),
        fc.record({
          type: fc.constant('identify'),
          traits: fc.record(
            {
              city: name,
              gender: fc.constantFrom('女', 'male'),
              age: fc.integer({ min: 0, max: 120 }),
              c_plan: name,
            },
            { requiredKeys: [] },
          ),
        }),
        fc.record(
          { type: fc.constantFrom('page', 'screen'), name, properties: customProperties },
          { requiredKeys: ['type'] },
        ),
        fc.record({ type: fc.constant('group'), groupId: memberId, traits: customProperties }),
      ),
    )
    .map(([base, ids, specific]) => ({ ...base, ...ids, ...specific })),
  fc
    .tuple(common, memberId, memberId)
    .map(([base, userId, previousId]) => ({ ...base, type: 'alias', userId, previousId })),
);

type Mutation = (event: Record<string, unknown>) => unknown;

const deep = (levels: number): unknown => {
  let value: unknown = 'bottom';
  for (let level = 0; level < levels; level++) value = { next: value };
  return value;
};

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom<Mutation>(
    (e) => ({ ...e, type: 'purchase' }),
    (e) => ({ ...e, type: 42 }),
    (e) => ({ ...e, messageId: 12345 }),
    (e) => ({ ...e, userId: undefined, anonymousId: undefined }),
    (e) => ({ ...e, userId: 'null' }),
    (e) => ({ ...e, userId: { id: 1 } }),
    (e) => ({ ...e, properties: [1, 2, 3] }),
    (e) => ({ ...e, traits: 'vip' }),
    (e) => ({ ...e, context: deep(40) }),
    (e) => ({ ...e, properties: { c_deep: deep(2_000) } }),
    (e) => ({ ...e, properties: { c_long: '长'.repeat(ingestLimits.maxStringLength + 1) } }),
    (e) => ({
      ...e,
      properties: Object.fromEntries([1, 2, 3, 4, 5].map((k) => [`c_${k}`, 'x'.repeat(8_000)])),
    }),
    (e) => ({ ...e, properties: { c_broken: 'emoji \uD83D cut' } }),
    (e) => ({ ...e, context: { '\uDE00key': 1 } }),
    (e) => ({ ...e, timestamp: '0000-00-00T00:00:00Z' }),
    (e) => ({ ...e, timestamp: '1999-12-31T23:59:59Z' }),
    (e) => ({ ...e, timestamp: '2999-01-01T00:00:00Z' }),
    (e) => ({ ...e, timestamp: '2001-01-01T00:00:00Z' }),
    (e) => ({ ...e, timestamp: 'not a time' }),
    (e) => ({ ...e, timestamp: 1714564800000 }),
    (e) => ({ ...e, sentAt: '1970-01-01T00:00:00Z' }),
    (e) => ({ ...e, event: undefined }),
    (e) => ({ ...e, groupId: null, previousId: null }),
    () => 'not an object',
    () => null,
    () => [1, 2],
  ),
  // Replace one field with an arbitrary JSON value.
  fc
    .tuple(
      fc.constantFrom(
        'messageId',
        'type',
        'userId',
        'anonymousId',
        'event',
        'name',
        'properties',
        'traits',
        'context',
        'timestamp',
        'sentAt',
        'groupId',
        'previousId',
      ),
      fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }),
    )
    .map(
      ([key, value]): Mutation =>
        (e) => ({ ...e, [key]: value }),
    ),
);

describe('ingest fuzz: valid events and mutations', () => {
  it('accepts every generated valid event on its own route', () => {
    fc.assert(
      fc.property(validEvent, (event) => {
        const type = event.type as (typeof eventTypes)[number];
        const result = answer(JSON.stringify(event), `/v1/${type}`);
        expect(result.kind).toBe('parsed');
        if (result.kind !== 'parsed') return;
        expect(result.items[0]?.result, JSON.stringify(result.items[0]?.result)).toMatchObject({
          ok: true,
        });
      }),
      { numRuns: 500 },
    );
  });

  it('returns valid siblings ok whatever the mutated events in the batch', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            validEvent.map((event) => ({ event, valid: true })),
            fc
              .tuple(validEvent, mutation)
              .map(([event, mutate]) => ({ event: mutate(event), valid: false })),
          ),
          { minLength: 1, maxLength: 20 },
        ),
        (entries) => {
          const body = JSON.stringify({ batch: entries.map((entry) => entry.event) });
          const result = answer(body, '/v1/batch');
          expect(result.kind).toBe('parsed');
          if (result.kind !== 'parsed') return;
          expect(result.items.map((item) => item.index)).toEqual(entries.map((_, index) => index));
          entries.forEach((entry, index) => {
            if (entry.valid) {
              expect(
                result.items[index]?.result,
                JSON.stringify(result.items[index]?.result),
              ).toMatchObject({ ok: true });
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects the targeted mutations with their specific codes', () => {
    const cases: Array<[Mutation, string]> = [
      [(e) => ({ ...e, properties: { c_broken: 'emoji \uD83D cut' } }), 'invalid_string'],
      [(e) => ({ ...e, context: deep(40) }), 'too_deep'],
      [(e) => ({ ...e, timestamp: '1999-12-31T23:59:59Z' }), 'invalid_timestamp'],
      [(e) => ({ ...e, timestamp: '2999-01-01T00:00:00Z' }), 'timestamp_in_future'],
      [(e) => ({ ...e, messageId: 12345 }), 'invalid_field'],
    ];
    fc.assert(
      fc.property(validEvent, fc.constantFrom(...cases), (event, [mutate, code]) => {
        const result = answer(JSON.stringify({ batch: [mutate(event)] }), '/v1/batch');
        expect(result).toMatchObject({
          kind: 'parsed',
          items: [{ result: { ok: false, error: { code } } }],
        });
      }),
      { numRuns: 200 },
    );
  });
});
