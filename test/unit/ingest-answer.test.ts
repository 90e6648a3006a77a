import { describe, expect, it } from 'vitest';
import type { PortraitEvent, ValidationResult } from '../../events/envelope.ts';
import { ingestAnswer, sortResults } from '../../shared/domain/ingest/answer.ts';

const event = (messageId: string): PortraitEvent => ({
  messageId,
  type: 'track',
  userId: 'u',
  event: 'Shared',
  timestamp: '2026-11-01T00:00:00.000Z',
  receivedAt: '2026-11-01T00:00:00.000Z',
  sourceId: '',
});
const ok = (messageId: string): ValidationResult => ({ ok: true, event: event(messageId) });
const bad = (code: 'missing_identity' | 'event_too_large'): ValidationResult => ({
  ok: false,
  error: { code, message: `bad: ${code}`, pointer: '' },
});

describe('ingest answers', () => {
  it('stamps accepted events with the key source and keeps a result per event in order', () => {
    const { accepted, results } = sortResults(
      [
        { index: 0, result: ok('a') },
        { index: 1, result: bad('missing_identity'), raw: { messageId: 'b' } },
        { index: 2, result: ok('c') },
      ],
      'shop',
    );
    expect(accepted.map((e) => [e.messageId, e.sourceId])).toEqual([
      ['a', 'shop'],
      ['c', 'shop'],
    ]);
    expect(results.map((r) => [r.index, r.messageId, r.status, r.code])).toEqual([
      [0, 'a', 'accepted', undefined],
      [1, 'b', 'rejected', 'missing_identity'],
      [2, 'c', 'accepted', undefined],
    ]);
  });

  it('answers like Segment: 200 for all accepted, 207 for some, 400 for none, the code status on a single route', () => {
    const all = sortResults([{ index: 0, result: ok('a') }], 's').results;
    const some = sortResults(
      [
        { index: 0, result: ok('a') },
        { index: 1, result: bad('missing_identity') },
      ],
      's',
    ).results;
    const none = sortResults([{ index: 0, result: bad('missing_identity') }], 's').results;
    const huge = sortResults([{ index: 0, result: bad('event_too_large') }], 's').results;
    expect(ingestAnswer('/v1/batch', all, 'r')).toEqual({ status: 200, body: { success: true } });
    expect(ingestAnswer('/v1/batch', some, 'r')).toMatchObject({
      status: 207,
      body: { code: 'partial_success', accepted: 1, rejected: 1 },
    });
    expect(ingestAnswer('/v1/batch', none, 'r')).toMatchObject({
      status: 400,
      body: { code: 'all_events_rejected' },
    });
    expect(ingestAnswer('/v1/track', none, 'r')).toMatchObject({
      status: 400,
      body: { code: 'missing_identity' },
    });
    expect(ingestAnswer('/v1/track', huge, 'r')).toMatchObject({
      status: 413,
      body: { code: 'event_too_large' },
    });
  });
});
