import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventTypes, type JsonValue, type PortraitEvent } from '../../events/envelope.ts';
import { sqsLimits } from '../../infra/declarations/queues.ts';
import {
  EventTooLargeForMessageError,
  MalformedQueueMessageError,
  packMessages,
  type QueuePackingLimits,
  unpackMessage,
} from '../../shared/domain/ingest/pack-messages.ts';

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
const serialisedBytes = (e: unknown) =>
  bytes(JSON.stringify(e).replace(/[\uFFFE\uFFFF]/g, '\\uffff'));
const bodyOverhead = bytes('{"v":1,"events":[]}');

function event(index: number, extra: Partial<PortraitEvent> = {}): PortraitEvent {
  return {
    messageId: `m-${index}`,
    type: 'track',
    userId: `member-${index}`,
    event: 'Order Completed',
    properties: { orderId: `o-${index}`, revenue: '19.90', currency: 'CNY' },
    timestamp: '2024-05-01T12:00:00.000Z',
    receivedAt: '2024-05-01T12:00:01.000Z',
    sourceId: 'source-1',
    ...extra,
  };
}

const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      'a',
      '会',
      '员',
      '😀',
      '🎉',
      '"',
      '\\',
      '\n',
      '\u0001',
      '\uFFFE',
      '\uFFFF',
      'é',
    ),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 300,
});

const portraitEvent: fc.Arbitrary<PortraitEvent> = fc.record(
  {
    messageId: fc.uuid(),
    type: fc.constantFrom(...eventTypes),
    userId: text,
    anonymousId: text,
    event: text,
    properties: fc.dictionary(
      text,
      // Through JSON, as events arrive; also gives fast-check's JSON type the envelope's.
      fc
        .jsonValue({ maxDepth: 2, stringUnit: 'grapheme' })
        .map((value): JsonValue => JSON.parse(JSON.stringify(value))),
      {
        maxKeys: 4,
      },
    ),
    timestamp: fc.constant('2024-05-01T12:00:00.000Z'),
    receivedAt: fc.constant('2024-05-01T12:00:01.000Z'),
    sourceId: fc.constant('source-1'),
  },
  { requiredKeys: ['messageId', 'type', 'userId', 'timestamp', 'receivedAt', 'sourceId'] },
);

const limits: fc.Arbitrary<QueuePackingLimits> = fc.record({
  maxMessageBytes: fc.integer({ min: 500, max: 20_000 }),
  maxBatchEntries: fc.integer({ min: 1, max: 10 }),
  maxBatchBytes: fc.integer({ min: 500, max: 40_000 }),
});

describe('packMessages', () => {
  it('packs every event exactly once, in order, within every limit', () => {
    fc.assert(
      fc.property(fc.array(portraitEvent, { maxLength: 200 }), limits, (events, limit) => {
        const maxBody = Math.min(limit.maxMessageBytes, limit.maxBatchBytes);
        if (events.some((e) => bodyOverhead + serialisedBytes(e) > maxBody)) {
          expect(() => packMessages(events, limit)).toThrow(EventTooLargeForMessageError);
          return;
        }
        const batches = packMessages(events, limit);

        // Compared as JSON: -0 travels as 0.
        expect(batches.flat().flatMap(unpackMessage)).toEqual(JSON.parse(JSON.stringify(events)));
        for (const batch of batches) {
          expect(batch.length).toBeGreaterThan(0);
          expect(batch.length).toBeLessThanOrEqual(limit.maxBatchEntries);
          expect(batch.reduce((sum, body) => sum + bytes(body), 0)).toBeLessThanOrEqual(
            limit.maxBatchBytes,
          );
          for (const body of batch) {
            expect(bytes(body)).toBeLessThanOrEqual(maxBody);
            expect(unpackMessage(body).length).toBeGreaterThan(0);
            // Characters SQS refuses never reach a body.
            expect(/[\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(body)).toBe(false);
          }
        }
        // Greedy: the next body's first event would not have fitted in the previous body.
        const bodies = batches.flat();
        for (let i = 0; i + 1 < bodies.length; i++) {
          const [first] = unpackMessage(bodies[i + 1] ?? '');
          expect(bytes(bodies[i] ?? '') + 1 + serialisedBytes(first)).toBeGreaterThan(maxBody);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('returns no batches for no events', () => {
    expect(packMessages([], sqsLimits)).toEqual([]);
  });

  it('packs a full request of small events into few messages under the SQS limits', () => {
    const events = Array.from({ length: 2_500 }, (_, index) => event(index));
    const batches = packMessages(events, sqsLimits);
    const bodies = batches.flat();
    const total = events.reduce((sum, e) => sum + bytes(JSON.stringify(e)), 0);
    expect(bodies.length).toBeLessThanOrEqual(Math.ceil(total / sqsLimits.maxMessageBytes) + 1);
    expect(batches.flat().flatMap(unpackMessage)).toEqual(events);
    for (const body of bodies) expect(bytes(body)).toBeLessThanOrEqual(sqsLimits.maxMessageBytes);
  });

  it('uses the SQS limits by default', () => {
    const events = [event(1), event(2)];
    expect(packMessages(events)).toEqual(packMessages(events, sqsLimits));
    expect(packMessages(events)).toEqual([[JSON.stringify({ v: 1, events })]]);
  });

  it('throws a typed error for an event larger than a message', () => {
    const huge = event(1, { properties: { blob: 'x'.repeat(2_000) } });
    expect(() =>
      packMessages([huge], { maxMessageBytes: 1_000, maxBatchEntries: 10, maxBatchBytes: 1_000 }),
    ).toThrow(EventTooLargeForMessageError);
  });

  it('escapes U+FFFE and U+FFFF so SQS accepts the body, and restores them on unpack', () => {
    const odd = event(1, { properties: { note: 'a\uFFFEb\uFFFF' } });
    const [[body = '']] = packMessages([odd], sqsLimits) as [[string]];
    expect(body).toContain('a\\ufffeb\\uffff');
    expect(unpackMessage(body)).toEqual([odd]);
  });
});

describe('unpackMessage', () => {
  it.each([
    ['not JSON', 'v=1'],
    ['an array', '[]'],
    ['null', 'null'],
    ['another version', JSON.stringify({ v: 2, events: [] })],
    ['no version', JSON.stringify({ events: [] })],
    ['events not an array', JSON.stringify({ v: 1, events: {} })],
    ['an event that is a string', JSON.stringify({ v: 1, events: ['x'] })],
    [
      'an event without messageId',
      JSON.stringify({ v: 1, events: [{ ...event(1), messageId: undefined }] }),
    ],
    [
      'an event with an unknown type',
      JSON.stringify({ v: 1, events: [{ ...event(1), type: 'purchase' }] }),
    ],
    [
      'an event without identity',
      JSON.stringify({ v: 1, events: [{ ...event(1), userId: undefined }] }),
    ],
  ])('rejects %s with a typed error', (_name, body) => {
    let caught: unknown;
    try {
      unpackMessage(body);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MalformedQueueMessageError);
    expect(caught).toMatchObject({
      code: 'malformed_queue_message',
      name: 'MalformedQueueMessageError',
    });
  });

  it('reads an empty event list', () => {
    expect(unpackMessage('{"v":1,"events":[]}')).toEqual([]);
  });
});
