/**
 * The ledger's pure parts against plain references (the shard merge has its own tests): replay, and who was in a
 * segment at an earlier instant (today's members corrected by the changes since, page by page)
 * against replaying the ledger up to that instant.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type LedgerChange,
  ledgerKey,
  ledgerKeyAfter,
  membersAsOfPage,
  replayLedger,
  wasInBefore,
} from '../../../shared/domain/segments/ledger.ts';
import { compareUtf8 } from '../../../shared/domain/segments/merge-shard-pages.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 500);

/** Member keys, some beyond the BMP so UTF-16 and UTF-8 orders differ. */
const memberKey = fc
  .tuple(fc.constantFrom('u#', 'a#'), fc.constantFrom('a', 'b', 'z', 'é', '中', '😀', 'ｚ', '1'))
  .chain(([prefix, first]) =>
    fc.string({ maxLength: 3 }).map((rest) => `${prefix}${first}${rest}`),
  );

/** A valid ledger: per member, alternating enters and exits at strictly increasing times. */
const ledger = fc
  .array(fc.tuple(memberKey, fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 6 })), {
    maxLength: 25,
  })
  .map((members) => {
    const entries: LedgerChange[] = [];
    const seen = new Set<string>();
    for (const [key, gaps] of members) {
      if (seen.has(key)) continue;
      seen.add(key);
      let at = 0;
      gaps.forEach((gap, i) => {
        at += gap;
        entries.push({ memberKey: key, change: i % 2 === 0 ? 'enter' : 'exit', at, seq: i + 1 });
      });
    }
    return entries;
  });

/** Today's members as a store pages them: sorted by bytes, `limit` after a key. */
function pager(members: Iterable<string>) {
  const sorted = [...members].sort(compareUtf8);
  return async (limit: number, after: string | undefined) => {
    const rest = sorted.filter((key) => after === undefined || compareUtf8(key, after) > 0);
    return {
      members: rest.slice(0, limit).map((key) => ({ memberKey: key })),
      more: rest.length > limit,
    };
  };
}

describe('ledger', () => {
  it('orders a member’s entries by time, and replays to the members whose last change is an enter', () => {
    fc.assert(
      fc.property(ledger, (entries) => {
        const keys = entries.map(ledgerKey);
        const last = new Map<string, LedgerChange>();
        for (const entry of entries) last.set(entry.memberKey, entry);
        const expected = [...last.values()]
          .filter((e) => e.change === 'enter')
          .map((e) => e.memberKey);
        expect([...replayLedger(entries)].sort(compareUtf8)).toEqual(expected.sort(compareUtf8));
        // A position after an instant is after every entry of that instant, before every later.
        for (const [i, entry] of entries.entries()) {
          expect(compareUtf8(keys[i] as string, ledgerKeyAfter(entry.at))).toBeLessThan(0);
          expect(compareUtf8(keys[i] as string, ledgerKeyAfter(entry.at - 1))).toBeGreaterThan(0);
        }
      }),
      { numRuns: runs },
    );
  });

  it('answers who was in at an instant exactly as replaying the ledger up to it, page by page', async () => {
    await fc.assert(
      fc.asyncProperty(
        ledger,
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 8 }),
        async (entries, asOf, limit, rounds) => {
          const today = replayLedger(entries);
          const expected = [...replayLedger(entries.filter((e) => e.at <= asOf))].sort(compareUtf8);
          const wasIn = wasInBefore(entries.filter((e) => e.at > asOf));
          const current = pager(today);
          const read: string[] = [];
          let after: string | undefined;
          for (let guard = 0; guard < 1_000; guard += 1) {
            const page = await membersAsOfPage(current, wasIn, limit, after, rounds);
            expect(page.members.length).toBeLessThanOrEqual(limit);
            read.push(...page.members);
            if (page.next === undefined) break;
            after = page.next;
          }
          expect(read).toEqual(expected);
        },
      ),
      { numRuns: runs },
    );
  });
});
