/**
 * The pure parts of erasure and suppression: keyed hashes and pseudonyms, which events collect
 * refuses, and what the deliverer leaves of a queued delivery. Properties over random inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import {
  type EventResult,
  identityKeysOf,
  rejectSuppressed,
} from '../../shared/domain/ingest/answer.ts';
import { memberIdOf } from '../../shared/domain/keys/member-id.ts';
import {
  isErasedMemberKey,
  isReceiptId,
  memberHash,
  newReceiptId,
  pseudonymousKey,
} from '../../shared/domain/privacy/erasure.ts';
import { withoutSuppressed } from '../../shared/domain/webhooks/deliveries.ts';

const runs = { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 100) };
const secret = fc.uint8Array({ minLength: 32, maxLength: 32 });
const memberKey = fc.tuple(fc.constantFrom('u#', 'a#'), fc.string({ minLength: 1, maxLength: 20 }));

describe('keyed hashes and pseudonyms', () => {
  it('are stable per key, differ between keys and between secrets, and never hold the id', () => {
    fc.assert(
      fc.property(secret, secret, memberKey, memberKey, (s1, s2, [p1, id1], [p2, id2]) => {
        const k1 = `${p1}${id1}`;
        const k2 = `${p2}${id2}`;
        expect(pseudonymousKey(s1, k1)).toBe(pseudonymousKey(s1, k1));
        expect(pseudonymousKey(s1, k1)).toMatch(/^e#[0-9a-f]{32}$/);
        expect(isErasedMemberKey(pseudonymousKey(s1, k1))).toBe(true);
        expect(memberHash(s1, k1)).toMatch(/^[0-9a-f]{64}$/);
        // The ledger's pseudonym is not a prefix of the suppression hash: they cannot be joined.
        expect(memberHash(s1, k1).startsWith(pseudonymousKey(s1, k1).slice(2))).toBe(false);
        if (k1 !== k2) expect(pseudonymousKey(s1, k1)).not.toBe(pseudonymousKey(s1, k2));
        if (Buffer.compare(s1, s2) !== 0) {
          expect(memberHash(s1, k1)).not.toBe(memberHash(s2, k1));
        }
      }),
      runs,
    );
  });

  it('shows a pseudonym in the API as an erased member, never as a userId', () => {
    expect(memberIdOf('e#0123456789abcdef0123456789abcdef')).toEqual({
      erased: '0123456789abcdef0123456789abcdef',
    });
    expect(memberIdOf('u#e#x')).toEqual({ userId: 'e#x' });
  });

  it('makes receipt ids it recognises, and recognises no other', () => {
    for (let i = 0; i < 50; i += 1) expect(isReceiptId(newReceiptId())).toBe(true);
    for (const bad of [
      '',
      'er_',
      'er_short',
      `er_${'a'.repeat(23)}`,
      'xx_AAAAAAAAAAAAAAAAAAAAAA',
    ]) {
      expect(isReceiptId(bad)).toBe(false);
    }
  });
});

const id = fc.constantFrom('m1', 'm2', 'm3', 'm4');
const event = fc.record(
  {
    userId: id,
    anonymousId: id,
    previousId: id,
    messageId: fc.uuid(),
  },
  { requiredKeys: ['messageId'] },
);

describe('collect: rejectSuppressed', () => {
  it('refuses exactly the accepted events naming a suppressed id, keeps the rest in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(event, fc.boolean()), { maxLength: 20 }),
        fc.subarray(['u#m1', 'a#m2', 'u#m3', 'a#m3', 'u#m4']),
        (items, suppressedKeys) => {
          const suppressed = new Set(suppressedKeys);
          const accepted: PortraitEvent[] = [];
          const results: EventResult[] = items.map(([e, valid], index) => {
            if (!valid) {
              return { index, status: 'rejected', code: 'invalid_field', message: 'x' } as const;
            }
            accepted.push(e as unknown as PortraitEvent);
            return { index, messageId: e.messageId, status: 'accepted' } as const;
          });
          const out = rejectSuppressed({ accepted, results }, suppressed);
          const names = (e: PortraitEvent) => identityKeysOf(e).some((k) => suppressed.has(k));
          expect(out.accepted).toEqual(accepted.filter((e) => !names(e)));
          expect(out.results.map((r) => r.index)).toEqual(results.map((r) => r.index));
          expect(out.results.filter((r) => r.status === 'accepted')).toHaveLength(
            out.accepted.length,
          );
          expect(out.results.filter((r) => r.code === 'member_suppressed')).toHaveLength(
            accepted.length - out.accepted.length,
          );
          // Events rejected for another reason keep their own code.
          results.forEach((r, i) => {
            if (r.status === 'rejected') expect(out.results[i]).toEqual(r);
          });
        },
      ),
      runs,
    );
  });
});

describe('deliverer: withoutSuppressed', () => {
  it('leaves out exactly the events of suppressed members, and drops a delivery left with none', () => {
    const memberId = fc.oneof(
      id.map((userId) => ({ userId })),
      id.map((anonymousId) => ({ anonymousId })),
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.uuid(), memberId }), { minLength: 1, maxLength: 12 }),
        fc.subarray(['u#m1', 'a#m2', 'u#m3', 'a#m3']),
        (events, suppressedKeys) => {
          const suppressed = new Set(suppressedKeys);
          const body = JSON.stringify({ id: 'dlv_1', segment: 's', subscription: 'wh', events });
          const keyOf = (m: { userId?: string; anonymousId?: string }) =>
            m.userId !== undefined ? `u#${m.userId}` : `a#${m.anonymousId}`;
          const kept = events.filter((e) => !suppressed.has(keyOf(e.memberId)));
          const out = withoutSuppressed(body, suppressed);
          if (kept.length === 0) {
            expect(out).toBeUndefined();
            return;
          }
          expect(out?.removed).toBe(events.length - kept.length);
          const parsed = JSON.parse(out?.body ?? '{}') as { id: string; events: unknown[] };
          expect(parsed.id).toBe('dlv_1');
          expect(parsed.events).toEqual(kept);
          if (kept.length === events.length) expect(out?.body).toBe(body);
        },
      ),
      runs,
    );
  });
});
