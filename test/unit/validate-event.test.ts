import { Ajv } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  batchRequestSchema,
  canonicalEventName,
  catalogueEntry,
  catalogueSchemas,
  envelopeSchema,
  type IdentifyTraits,
  type OrderCompletedProperties,
  type OrderLine,
  routeEnvelopeSchema,
} from '../../events/catalogue.ts';
import {
  type EventType,
  eventTypes,
  type IngestErrorCode,
  ingestErrorCodes,
  ingestLimits,
  type PortraitEvent,
} from '../../events/envelope.ts';
import {
  parseInstant,
  type ValidationContext,
  validateEvent,
} from '../../shared/domain/ingest/validate-event.ts';

const receivedAt = new Date('2024-05-01T12:00:00.000Z');

function context(overrides: Partial<ValidationContext> = {}): ValidationContext {
  let next = 0;
  return {
    receivedAt,
    sourceId: 'source-1',
    maxFutureSkewSeconds: 24 * 3600,
    retentionDays: 400,
    newMessageId: () => `generated-${++next}`,
    ...overrides,
  };
}

function accepted(raw: unknown, overrides: Partial<ValidationContext> = {}): PortraitEvent {
  const result = validateEvent(raw, context(overrides));
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.error)}`);
  return result.event;
}

const track = (fields: Record<string, unknown> = {}) => ({
  type: 'track',
  userId: 'member-1',
  event: 'Custom Thing',
  ...fields,
});
const order = (properties: Record<string, unknown> = {}) =>
  track({
    event: 'Order Completed',
    properties: { orderId: 'o-1', revenue: '19.90', currency: 'CNY', ...properties },
  });

describe('validateEvent: accepted events', () => {
  it('normalises a minimal track event', () => {
    expect(accepted(track())).toEqual({
      messageId: 'generated-1',
      type: 'track',
      userId: 'member-1',
      event: 'Custom Thing',
      timestamp: '2024-05-01T12:00:00.000Z',
      receivedAt: '2024-05-01T12:00:00.000Z',
      sourceId: 'source-1',
    });
  });

  it.each<[string, Record<string, unknown>, Partial<PortraitEvent>]>([
    [
      'identify with traits',
      { type: 'identify', userId: 'm', traits: { city: '上海' } },
      { traits: { city: '上海' } },
    ],
    [
      'anonymous page',
      { type: 'page', anonymousId: 'a-1', name: 'Home' },
      { anonymousId: 'a-1', name: 'Home' },
    ],
    ['screen without a name', { type: 'screen', anonymousId: 'a-1' }, { type: 'screen' }],
    [
      'group',
      { type: 'group', userId: 'm', groupId: 'store-9', traits: { size: 3 } },
      { groupId: 'store-9', traits: { size: 3 } },
    ],
    [
      'alias',
      { type: 'alias', userId: 'm', previousId: 'anon-7' },
      { userId: 'm', previousId: 'anon-7' },
    ],
    ['numeric userId becomes a string', { type: 'identify', userId: 12345 }, { userId: '12345' }],
    [
      'numeric groupId becomes a string',
      { type: 'group', userId: 'm', groupId: 77 },
      { groupId: '77' },
    ],
    [
      'null userId with an anonymousId',
      { type: 'track', userId: null, anonymousId: 'a', event: 'x' },
      { anonymousId: 'a' },
    ],
    ['null properties read as absent', track({ properties: null }), { event: 'Custom Thing' }],
    ['client messageId kept', track({ messageId: 'm-123' }), { messageId: 'm-123' }],
    [
      'Chinese and emoji',
      track({
        userId: '会员-张三',
        event: '点赞 👍',
        properties: { 名字: '李雷 🎉', 城市: '北京' },
      }),
      { userId: '会员-张三', event: '点赞 👍', properties: { 名字: '李雷 🎉', 城市: '北京' } },
    ],
    ['catalogue event, decimal string revenue', order(), { event: 'Order Completed' }],
    [
      'catalogue event, snake_case name, number revenue',
      order({ revenue: 0 }),
      { properties: { orderId: 'o-1', revenue: 0, currency: 'CNY' } },
    ],
    [
      'order lines',
      order({ products: [{ sku: 's', category: '美妆', price: '9.5', quantity: 2 }] }),
      { type: 'track' },
    ],
    [
      'custom event with any properties',
      track({ event: 'Lucky Draw', properties: { prize: ['a', 1, null, { x: true }] } }),
      { event: 'Lucky Draw' },
    ],
    [
      'identify with all known traits',
      {
        type: 'identify',
        userId: 'm',
        traits: {
          gender: '女',
          birthday: '1990-07-15',
          age: 33,
          city: '杭州',
          occupation: '设计师',
          email: 'a@b.cn',
          phone: '+8613800000000',
          name: '王芳',
          plan: 'gold',
        },
      },
      { userId: 'm' },
    ],
  ])('accepts %s', (_name, raw, expected) => {
    expect(accepted(raw)).toMatchObject(expected);
  });

  it('takes the type from the route when the body has none', () => {
    expect(accepted({ userId: 'm', event: 'x' }, { routeType: 'track' }).type).toBe('track');
    expect(accepted({ type: 'identify', userId: 'm' }, { routeType: 'identify' }).type).toBe(
      'identify',
    );
  });

  it('drops integrations, writeKey and fields the type does not define', () => {
    const event = accepted({
      type: 'identify',
      userId: 'm',
      integrations: { All: false },
      writeKey: 'secret',
      event: 'ignored',
      properties: { a: 1 },
      channel: 'server',
    });
    expect(event).not.toHaveProperty('integrations');
    expect(event).not.toHaveProperty('writeKey');
    expect(event).not.toHaveProperty('event');
    expect(event).not.toHaveProperty('properties');
    expect(event).not.toHaveProperty('channel');
  });

  it('keeps money as sent', () => {
    const event = accepted(order({ revenue: '123456789012345678.123456789' }));
    expect(event.properties?.revenue).toBe('123456789012345678.123456789');
  });

  it('accepts strings of exactly the length limit and events of exactly the depth limit', () => {
    accepted(track({ properties: { s: 'x'.repeat(ingestLimits.maxStringLength) } }));
    let nested: unknown = 1;
    // The event is level 1 and properties level 2, so 14 more objects reach the limit.
    for (let level = 0; level < ingestLimits.maxDepth - 2; level++) nested = { a: nested };
    accepted(track({ properties: nested }));
  });
});

describe('validateEvent: rejected events', () => {
  const deep = (levels: number): unknown => {
    let value: unknown = 1;
    for (let level = 0; level < levels; level++) value = [value];
    return value;
  };
  const cases: Array<[string, unknown, IngestErrorCode, string, Partial<ValidationContext>?]> = [
    ['a non-object event', ['x'], 'invalid_event', ''],
    ['null', null, 'invalid_event', ''],
    ['a string event', 'track', 'invalid_event', ''],
    ['a missing type in a batch', { userId: 'm', event: 'x' }, 'missing_field', '/type'],
    ['an unknown type', track({ type: 'purchase' }), 'invalid_type', '/type'],
    ['an upper-case type', track({ type: 'Track' }), 'invalid_type', '/type'],
    [
      'a type that disagrees with the route',
      track({ type: 'page' }),
      'invalid_type',
      '/type',
      { routeType: 'track' },
    ],
    ['a numeric messageId', track({ messageId: 42 }), 'invalid_field', '/messageId'],
    ['an empty messageId', track({ messageId: '' }), 'invalid_field', '/messageId'],
    ['a blank messageId', track({ messageId: '   ' }), 'invalid_field', '/messageId'],
    ['a long messageId', track({ messageId: 'm'.repeat(257) }), 'invalid_field', '/messageId'],
    ['no identity', { type: 'track', event: 'x' }, 'missing_identity', ''],
    [
      'null identities',
      { type: 'track', event: 'x', userId: null, anonymousId: null },
      'missing_identity',
      '',
    ],
    ['userId ""', track({ userId: '' }), 'missing_identity', '/userId'],
    ['userId "null"', track({ userId: 'null' }), 'missing_identity', '/userId'],
    ['userId "undefined"', track({ userId: 'undefined' }), 'missing_identity', '/userId'],
    ['userId "0"', track({ userId: '0' }), 'missing_identity', '/userId'],
    ['userId 0', track({ userId: 0 }), 'missing_identity', '/userId'],
    ['userId " NULL "', track({ userId: ' NULL ' }), 'missing_identity', '/userId'],
    [
      'anonymousId "undefined" beside a userId',
      track({ anonymousId: 'undefined' }),
      'missing_identity',
      '/anonymousId',
    ],
    ['a fractional userId', track({ userId: 1.5 }), 'invalid_field', '/userId'],
    ['an unsafe integer userId', track({ userId: 2 ** 60 }), 'invalid_field', '/userId'],
    ['a boolean anonymousId', track({ anonymousId: true }), 'invalid_field', '/anonymousId'],
    ['a long userId', track({ userId: 'u'.repeat(257) }), 'invalid_field', '/userId'],
    [
      'alias without userId',
      { type: 'alias', anonymousId: 'a', previousId: 'p' },
      'missing_identity',
      '/userId',
    ],
    ['alias without previousId', { type: 'alias', userId: 'm' }, 'missing_identity', '/previousId'],
    [
      'alias with previousId "null"',
      { type: 'alias', userId: 'm', previousId: 'null' },
      'missing_identity',
      '/previousId',
    ],
    ['track without event', { type: 'track', userId: 'm' }, 'missing_field', '/event'],
    ['track with a blank event', track({ event: '  ' }), 'invalid_field', '/event'],
    ['track with a numeric event', track({ event: 3 }), 'invalid_field', '/event'],
    ['a long event name', track({ event: 'e'.repeat(201) }), 'invalid_field', '/event'],
    [
      'a page name that is an object',
      { type: 'page', userId: 'm', name: {} },
      'invalid_field',
      '/name',
    ],
    ['group without groupId', { type: 'group', userId: 'm' }, 'missing_field', '/groupId'],
    ['properties as an array', track({ properties: [] }), 'invalid_field', '/properties'],
    ['properties as a string', track({ properties: 'a=1' }), 'invalid_field', '/properties'],
    [
      'traits as a number',
      { type: 'identify', userId: 'm', traits: 1 },
      'invalid_field',
      '/traits',
    ],
    ['context as an array', track({ context: [] }), 'invalid_field', '/context'],
    [
      'a non-finite number',
      track({ properties: { n: Number.POSITIVE_INFINITY } }),
      'invalid_field',
      '/properties/n',
    ],
    [
      'a non-JSON value',
      track({ properties: { d: new Date() } }),
      'invalid_field',
      '/properties/d',
    ],
    [
      'an undefined value',
      track({ properties: { u: undefined } }),
      'invalid_field',
      '/properties/u',
    ],
    [
      'nesting past the limit',
      track({ properties: { a: deep(15) } }),
      'too_deep',
      '/properties/a/0/0/0/0/0/0/0/0/0/0/0/0/0/0',
    ],
    [
      'very deep nesting',
      track({ context: deep(50_000) }),
      'too_deep',
      `/context${'/0'.repeat(15)}`,
    ],
    [
      'a lone high surrogate',
      track({ properties: { name: 'x\uD83D' } }),
      'invalid_string',
      '/properties/name',
    ],
    [
      'a lone low surrogate',
      track({ properties: { list: ['ok', '\uDE00y'] } }),
      'invalid_string',
      '/properties/list/1',
    ],
    ['reversed surrogates', track({ event: '\uDE00\uD83D' }), 'invalid_string', '/event'],
    [
      'a lone surrogate in a key',
      track({ properties: { 'k\uD800': 1 } }),
      'invalid_string',
      '/properties/k\uFFFD',
    ],
    [
      'a string over the limit',
      track({ properties: { s: 'x'.repeat(ingestLimits.maxStringLength + 1) } }),
      'invalid_string',
      '/properties/s',
    ],
    [
      'a key over the limit',
      track({ context: { ['k'.repeat(ingestLimits.maxStringLength + 1)]: 1 } }),
      'invalid_string',
      `/context/${'k'.repeat(ingestLimits.maxStringLength + 1)}`,
    ],
    [
      'an event over the size limit',
      track({
        properties: Object.fromEntries([1, 2, 3, 4, 5].map((k) => [`p${k}`, '文'.repeat(3000)])),
      }),
      'event_too_large',
      '',
    ],
    [
      'a timestamp without a zone',
      track({ timestamp: '2024-05-01T12:00:00' }),
      'invalid_timestamp',
      '/timestamp',
    ],
    [
      'a date-only timestamp',
      track({ timestamp: '2024-05-01' }),
      'invalid_timestamp',
      '/timestamp',
    ],
    ['a timestamp in words', track({ timestamp: 'yesterday' }), 'invalid_timestamp', '/timestamp'],
    ['an epoch timestamp', track({ timestamp: 1714564800000 }), 'invalid_timestamp', '/timestamp'],
    [
      'a timestamp on 30 February',
      track({ timestamp: '2024-02-30T00:00:00Z' }),
      'invalid_timestamp',
      '/timestamp',
    ],
    [
      'a timestamp at 24:00',
      track({ timestamp: '2024-04-30T24:00:00Z' }),
      'invalid_timestamp',
      '/timestamp',
    ],
    [
      'a timestamp in year 0',
      track({ timestamp: '0000-01-01T00:00:00Z' }),
      'invalid_timestamp',
      '/timestamp',
    ],
    [
      'a timestamp in 1999',
      track({ timestamp: '1999-12-31T23:59:59.999Z' }),
      'invalid_timestamp',
      '/timestamp',
    ],
    [
      'a timestamp in 1970 without sentAt',
      track({ timestamp: '1970-01-01T00:00:00Z' }),
      'invalid_timestamp',
      '/timestamp',
    ],
    [
      'an originalTimestamp in 1990',
      track({ originalTimestamp: '1990-01-01T00:00:00Z' }),
      'invalid_timestamp',
      '/originalTimestamp',
    ],
    ['a sentAt that is not a timestamp', track({ sentAt: 'soon' }), 'invalid_timestamp', '/sentAt'],
    [
      'a batch sentAt that is not a timestamp',
      track(),
      'invalid_timestamp',
      '',
      { batchSentAt: 'soon' },
    ],
    [
      'a timestamp far in the future',
      track({ timestamp: '2999-01-01T00:00:00Z' }),
      'timestamp_in_future',
      '/timestamp',
    ],
    [
      'a timestamp just past the future skew',
      track({ timestamp: '2024-05-02T12:00:00.001Z' }),
      'timestamp_in_future',
      '/timestamp',
    ],
    [
      'a timestamp just past retention',
      track({ timestamp: '2023-03-28T11:59:59.999Z' }),
      'timestamp_too_old',
      '/timestamp',
    ],
    [
      'a corrected time past retention',
      track({ timestamp: '2020-01-01T00:00:00Z', sentAt: '2024-05-01T12:00:00Z' }),
      'timestamp_too_old',
      '/timestamp',
    ],
    [
      'a corrected time in the future',
      track({ timestamp: '2024-05-10T00:00:00Z', sentAt: '2024-05-01T00:00:00Z' }),
      'timestamp_in_future',
      '/timestamp',
    ],
    [
      'order without orderId',
      track({ event: 'Order Completed', properties: { revenue: 1, currency: 'CNY' } }),
      'invalid_property',
      '/properties/orderId',
    ],
    [
      'order without revenue (snake_case name)',
      track({ event: 'order_completed', properties: { orderId: 'o', currency: 'CNY' } }),
      'invalid_property',
      '/properties/revenue',
    ],
    [
      'order without properties',
      track({ event: 'Order Completed' }),
      'invalid_property',
      '/properties/orderId',
    ],
    ['negative revenue', order({ revenue: -0.01 }), 'invalid_property', '/properties/revenue'],
    [
      'negative decimal string revenue',
      order({ revenue: '-1.00' }),
      'invalid_property',
      '/properties/revenue',
    ],
    [
      'revenue with a comma',
      order({ revenue: '1,000.00' }),
      'invalid_property',
      '/properties/revenue',
    ],
    ['boolean revenue', order({ revenue: true }), 'invalid_property', '/properties/revenue'],
    ['lower-case currency', order({ currency: 'cny' }), 'invalid_property', '/properties/currency'],
    [
      'a four-letter currency',
      order({ currency: 'CNYY' }),
      'invalid_property',
      '/properties/currency',
    ],
    [
      'products as an object',
      order({ products: { sku: 's' } }),
      'invalid_property',
      '/properties/products',
    ],
    [
      'a product without sku',
      order({ products: [{ sku: 'a' }, { price: 1 }] }),
      'invalid_property',
      '/properties/products/1/sku',
    ],
    [
      'a fractional quantity',
      order({ products: [{ sku: 'a', quantity: 1.5 }] }),
      'invalid_property',
      '/properties/products/0/quantity',
    ],
    [
      'a zero quantity',
      order({ products: [{ sku: 'a', quantity: 0 }] }),
      'invalid_property',
      '/properties/products/0/quantity',
    ],
    [
      'a negative price',
      order({ products: [{ sku: 'a', price: -3 }] }),
      'invalid_property',
      '/properties/products/0/price',
    ],
    [
      'Consultation without topic',
      track({ event: 'Consultation', properties: {} }),
      'invalid_property',
      '/properties/topic',
    ],
    [
      'Content Liked without category',
      track({ event: 'content_liked' }),
      'invalid_property',
      '/properties/category',
    ],
    [
      'Store Visited with a numeric store',
      track({ event: 'Store Visited', properties: { store: 12 } }),
      'invalid_property',
      '/properties/store',
    ],
    [
      'Coupon Redeemed without coupon',
      track({ event: 'CouponRedeemed' }),
      'invalid_property',
      '/properties/coupon',
    ],
    [
      'Campaign Responded without campaignId',
      track({ event: 'campaign-responded' }),
      'invalid_property',
      '/properties/campaignId',
    ],
    [
      'an impossible birthday',
      { type: 'identify', userId: 'm', traits: { birthday: '1990-02-30' } },
      'invalid_property',
      '/traits/birthday',
    ],
    [
      'a birthday with slashes',
      { type: 'identify', userId: 'm', traits: { birthday: '1990/07/15' } },
      'invalid_property',
      '/traits/birthday',
    ],
    [
      'a negative age',
      { type: 'identify', userId: 'm', traits: { age: -1 } },
      'invalid_property',
      '/traits/age',
    ],
    [
      'a text age',
      { type: 'identify', userId: 'm', traits: { age: 'thirty' } },
      'invalid_property',
      '/traits/age',
    ],
    [
      'an invalid email',
      { type: 'identify', userId: 'm', traits: { email: 'not an email' } },
      'invalid_property',
      '/traits/email',
    ],
  ];

  it.each(cases)('rejects %s', (_name, raw, code, pointer, overrides) => {
    const result = validateEvent(raw, context(overrides));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe(code);
    expect(result.error.pointer).toBe(pointer);
    expect(result.error.message.length).toBeGreaterThan(10);
    expect(ingestErrorCodes).toContain(result.error.code);
  });

  it('names the field and the catalogue event in property messages', () => {
    const result = validateEvent(order({ products: [{ sku: 'a', quantity: 0 }] }), context());
    expect(result).toMatchObject({
      ok: false,
      error: {
        message: 'properties.products[0].quantity must be ≥ 1 (catalogue: Order Completed).',
      },
    });
    expect(validateEvent(order({ revenue: 'free' }), context())).toMatchObject({
      ok: false,
      error: {
        message: expect.stringContaining('properties.revenue must be a non-negative decimal'),
      },
    });
  });

  it('never echoes a lone surrogate back in the message or pointer', () => {
    const result = validateEvent(track({ properties: { 'k\uD800': 'v' } }), context());
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(/[\uD800-\uDFFF]/.test(result.error.message + result.error.pointer)).toBe(false);
  });
});

describe('validateEvent: time', () => {
  it.each<
    [string, Record<string, unknown>, Partial<ValidationContext>, string, string | undefined]
  >([
    // Device clock 10 minutes fast: event at device 12:05, sent at device 12:10, received 12:00.
    [
      'a fast device clock',
      { timestamp: '2024-05-01T12:05:00Z', sentAt: '2024-05-01T12:10:00Z' },
      {},
      '2024-05-01T11:55:00.000Z',
      '2024-05-01T12:05:00Z',
    ],
    // Device clock 2 hours slow, in +08:00.
    [
      'a slow device clock with an offset',
      { timestamp: '2024-05-01T17:59:30+08:00', sentAt: '2024-05-01T18:00:00+08:00' },
      {},
      '2024-05-01T11:59:30.000Z',
      '2024-05-01T17:59:30+08:00',
    ],
    // A device reset to 1970: the difference still places the event 5 s before receipt.
    [
      'a device reset to 1970',
      { timestamp: '1970-01-01T00:00:05Z', sentAt: '1970-01-01T00:00:10Z' },
      {},
      '2024-05-01T11:59:55.000Z',
      '1970-01-01T00:00:05Z',
    ],
    [
      'the batch sentAt',
      { timestamp: '2024-05-01T12:30:00.250Z' },
      { batchSentAt: '2024-05-01T12:31:00Z' },
      '2024-05-01T11:59:00.250Z',
      '2024-05-01T12:30:00.250Z',
    ],
    [
      'the event sentAt over the batch one',
      { timestamp: '2024-05-01T12:30:00Z', sentAt: '2024-05-01T12:30:01Z' },
      { batchSentAt: '2024-05-01T13:00:00Z' },
      '2024-05-01T11:59:59.000Z',
      '2024-05-01T12:30:00Z',
    ],
    [
      'no sentAt: timestamp as sent, in UTC',
      { timestamp: '2024-04-30T20:00:00.123456+08:00' },
      {},
      '2024-04-30T12:00:00.123Z',
      '2024-04-30T20:00:00.123456+08:00',
    ],
    [
      'a UTC timestamp already in canonical form',
      { timestamp: '2024-04-30T12:00:00.000Z' },
      {},
      '2024-04-30T12:00:00.000Z',
      undefined,
    ],
    [
      'originalTimestamp when timestamp is absent',
      { originalTimestamp: '2024-05-01T12:00:10Z', sentAt: '2024-05-01T12:00:20Z' },
      {},
      '2024-05-01T11:59:50.000Z',
      '2024-05-01T12:00:10Z',
    ],
    ['no time at all: receivedAt', {}, {}, '2024-05-01T12:00:00.000Z', undefined],
    [
      'sentAt alone: receivedAt',
      { sentAt: '2030-01-01T00:00:00Z' },
      {},
      '2024-05-01T12:00:00.000Z',
      undefined,
    ],
    [
      'exactly the future skew',
      { timestamp: '2024-05-02T12:00:00Z' },
      {},
      '2024-05-02T12:00:00.000Z',
      '2024-05-02T12:00:00Z',
    ],
    [
      'exactly the retention',
      { timestamp: '2023-03-28T12:00:00Z' },
      {},
      '2023-03-28T12:00:00.000Z',
      '2023-03-28T12:00:00Z',
    ],
    [
      'lower-case t and z, space separator',
      { timestamp: '2024-05-01 10:00:00z' },
      {},
      '2024-05-01T10:00:00.000Z',
      '2024-05-01 10:00:00z',
    ],
    [
      'a compact offset',
      { timestamp: '2024-05-01T18:00:00+0800' },
      {},
      '2024-05-01T10:00:00.000Z',
      '2024-05-01T18:00:00+0800',
    ],
  ])('corrects %s', (_name, fields, overrides, timestamp, originalTimestamp) => {
    const event = accepted(track(fields), overrides);
    expect(event.timestamp).toBe(timestamp);
    expect(event.originalTimestamp).toBe(originalTimestamp);
  });

  it('stores the sentAt it used, in UTC', () => {
    expect(accepted(track({ sentAt: '2024-05-01T20:00:00+08:00' })).sentAt).toBe(
      '2024-05-01T12:00:00.000Z',
    );
    expect(accepted(track(), { batchSentAt: '2024-05-01T12:00:00Z' }).sentAt).toBe(
      '2024-05-01T12:00:00.000Z',
    );
  });

  it('parses instants exactly', () => {
    expect(parseInstant('2024-02-29T23:59:59.999-00:30')).toBe(
      Date.UTC(2024, 2, 1, 0, 29, 59, 999),
    );
    expect(parseInstant('2023-02-29T00:00:00Z')).toBeUndefined();
    expect(parseInstant('2024-05-01T12:00:00+24:00')).toBeUndefined();
    expect(parseInstant('2024-05-01T12:00:60Z')).toBeUndefined();
    expect(parseInstant('+002024-05-01T12:00:00Z')).toBeUndefined();
  });

  it('agrees with Date.parse on generated RFC 3339 instants', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1970-01-01T00:00:00Z'),
          max: new Date('9999-12-31T00:00:00Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        (date, offsetMinutes) => {
          const local = new Date(date.getTime() + offsetMinutes * 60_000);
          if (local.getUTCFullYear() < 1970 || local.getUTCFullYear() > 9999) return;
          const sign = offsetMinutes < 0 ? '-' : '+';
          const abs = Math.abs(offsetMinutes);
          const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
          const text = `${local.toISOString().slice(0, 23)}${zone}`;
          expect(parseInstant(text)).toBe(date.getTime());
          expect(parseInstant(text)).toBe(Date.parse(text));
        },
      ),
    );
  });
});

describe('event catalogue', () => {
  it.each([
    ['Order Completed', 'order_completed'],
    ['order_completed', 'order_completed'],
    ['order-completed', 'order_completed'],
    ['OrderCompleted', 'order_completed'],
    ['  ORDER   COMPLETED ', 'order_completed'],
    ['Product Viewed', 'product_viewed'],
    ['下单 成功', '下单_成功'],
  ])('canonicalises %j to %j', (name, key) => {
    expect(canonicalEventName(name)).toBe(key);
  });

  it('knows the catalogue events and no others', () => {
    for (const name of [
      'Order Completed',
      'Product Viewed',
      'Store Visited',
      'Consultation',
      'Coupon Redeemed',
      'Content Liked',
      'Shared',
      'Campaign Responded',
    ]) {
      expect(catalogueEntry(name)?.name).toBe(name);
    }
    expect(catalogueEntry('Lucky Draw')).toBeUndefined();
  });

  it('lists every schema with its personal fields', () => {
    const listing = catalogueSchemas();
    expect(listing.map((entry) => entry.key)).toEqual([
      'order_completed',
      'product_viewed',
      'store_visited',
      'consultation',
      'coupon_redeemed',
      'content_liked',
      'shared',
      'campaign_responded',
      'consent_updated',
      'identify_traits',
    ]);
    const traits = listing.find((entry) => entry.key === 'identify_traits');
    expect(traits?.personalFields).toEqual([
      '/email',
      '/phone',
      '/name',
      '/firstName',
      '/lastName',
      '/address',
    ]);
    expect(listing.find((entry) => entry.key === 'order_completed')?.personalFields).toEqual([]);
  });

  it('derives TypeScript types from the schemas', () => {
    const properties: OrderCompletedProperties = {
      orderId: 'o-1',
      revenue: '19.90',
      currency: 'CNY',
      products: [{ sku: 's', quantity: 2 }],
      custom: { anything: true },
    };
    expectTypeOf(properties.revenue).toEqualTypeOf<number | string>();
    expectTypeOf(properties.products).toEqualTypeOf<OrderLine[] | undefined>();
    expectTypeOf<{ revenue: 1; currency: 'CNY' }>().not.toExtend<OrderCompletedProperties>();
    expectTypeOf<IdentifyTraits['age']>().toEqualTypeOf<number | undefined>();
  });

  it('compiles every schema under strict Ajv', () => {
    const ajv = strictAjv();
    for (const entry of catalogueSchemas()) expect(() => ajv.compile(entry.schema)).not.toThrow();
    expect(() => ajv.compile(envelopeSchema)).not.toThrow();
    expect(() => ajv.compile(batchRequestSchema)).not.toThrow();
    for (const type of eventTypes)
      expect(() => ajv.compile(routeEnvelopeSchema(type))).not.toThrow();
  });
});

function strictAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, logger: false });
  ajv.addKeyword({ keyword: 'personal', schemaType: 'boolean' });
  // ajv-formats is CommonJS; under NodeNext its default import types as the module namespace.
  (addFormatsPlugin as unknown as typeof addFormatsPlugin.default)(ajv);
  ajv.addFormat('money', /^\d{1,18}(?:\.\d{1,18})?$/);
  ajv.addFormat('currency', /^[A-Z]{3}$/);
  return ajv;
}

describe('envelope schema and validator agree', () => {
  const ajv = strictAjv();
  const batchItem = ajv.compile(envelopeSchema);
  const perRoute = Object.fromEntries(
    eventTypes.map((type) => [type, ajv.compile(routeEnvelopeSchema(type))]),
  ) as Record<EventType, ReturnType<typeof ajv.compile>>;

  const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
    fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: bad });
  const id = mostly(
    fc.constantFrom('member-1', '会员007', 'anon-😀', 42),
    fc.oneof(
      fc.constantFrom('null', '', '0', 'a'.repeat(300)),
      fc.integer(),
      fc.double(),
      fc.constant(null),
      fc.boolean(),
    ),
  );
  const time = mostly(
    fc.constantFrom(
      '2024-05-01T11:00:00Z',
      '2024-05-01T19:00:00+08:00',
      '2024-05-01 11:00:00.5z',
      '2024-05-01T11:00:30+0800',
    ),
    fc.oneof(
      fc.constantFrom(
        '1970-01-01T00:00:00Z',
        '2024-05-01T11:00:00',
        '2024-13-01T00:00:00Z',
        '2024-05-01T11:00:60Z',
        'now',
      ),
      fc.constant(null),
      fc.integer(),
    ),
  );
  const json = fc.jsonValue({ maxDepth: 2, stringUnit: 'grapheme' });
  const object = fc.dictionary(fc.string({ unit: 'grapheme' }), json, { maxKeys: 5 });
  const rawEvent = fc.record(
    {
      type: mostly(fc.constantFrom(...eventTypes), fc.oneof(fc.constant('other'), fc.integer())),
      messageId: mostly(fc.uuid(), fc.oneof(fc.string(), fc.integer(), fc.constant(null))),
      userId: id,
      anonymousId: id,
      previousId: id,
      groupId: id,
      event: mostly(
        fc.constantFrom('Lucky Draw', 'Shared', '点赞 👍'),
        fc.oneof(fc.string(), fc.constant(null), fc.integer()),
      ),
      name: mostly(
        fc.constantFrom('Home', '首页'),
        fc.oneof(fc.string(), fc.constant(null), fc.integer()),
      ),
      properties: mostly(object, json),
      traits: mostly(object, fc.constantFrom([], 'x', null)),
      context: mostly(object, fc.constantFrom([], 'web', null)),
      integrations: json,
      writeKey: mostly(fc.string(), fc.integer()),
      timestamp: time,
      originalTimestamp: time,
      sentAt: time,
    },
    { requiredKeys: ['type'] },
  );

  it('every raw event the validator accepts in a batch also satisfies envelopeSchema', () => {
    let acceptedCount = 0;
    fc.assert(
      fc.property(rawEvent, (raw) => {
        const result = validateEvent(raw, context());
        if (!result.ok) return;
        acceptedCount++;
        expect(batchItem(raw), JSON.stringify(batchItem.errors)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
    expect(acceptedCount).toBeGreaterThan(100);
  });

  it('every raw event the validator accepts on a route also satisfies that route schema', () => {
    let acceptedCount = 0;
    fc.assert(
      fc.property(rawEvent, fc.constantFrom(...eventTypes), (raw, routeType) => {
        const result = validateEvent(raw, context({ routeType }));
        if (!result.ok) return;
        acceptedCount++;
        expect(perRoute[routeType](raw), JSON.stringify(perRoute[routeType].errors)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
    expect(acceptedCount).toBeGreaterThan(20);
  });
});
