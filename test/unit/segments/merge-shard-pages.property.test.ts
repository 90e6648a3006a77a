import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../../../shared/domain/keys/shard.ts';
import {
  compareUtf8,
  mergeShardPages,
  perShardLimit,
  type ReadShard,
} from '../../../shared/domain/segments/merge-shard-pages.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 3_000);
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Shards held in memory as DynamoDB would: sorted by UTF-8 bytes, read with a Limit. */
function memoryShards(keys: readonly string[], shards: number, assign: (key: string) => number) {
  const byShard = Array.from({ length: shards }, () => [] as { key: string }[]);
  for (const key of keys) byShard[assign(key)]?.push({ key });
  for (const rows of byShard) rows.sort((a, b) => byBytes(a.key, b.key));
  const reads: { shard: number; after: string | undefined; limit: number }[] = [];
  const read: ReadShard<{ key: string }> = async (shard, after, limit) => {
    reads.push({ shard, after, limit });
    const rows = (byShard[shard] ?? []).filter(
      (row) => after === undefined || byBytes(row.key, after) > 0,
    );
    const taken = rows.slice(0, limit);
    // DynamoDB returns a LastEvaluatedKey whenever it stopped at the Limit, even at the end.
    const stopped = taken.length === limit;
    return { rows: taken, continueAfter: stopped ? taken[taken.length - 1]?.key : undefined };
  };
  return { read, reads };
}

/** Member-like keys, awkward text included: surrogate pairs, U+FFFF-area, commas, quotes. */
const memberKey = fc
  .tuple(
    fc.constantFrom('u#', 'a#'),
    fc.string({
      unit: fc.oneof(
        fc.constantFrom('a', 'b', 'z', '0', ',', '"', '\n', 'é', '北', '京', '\uff5e', '😀', '𝄞'),
        fc.constantFrom('\ue000', '\ufffd', '\u00ff'),
      ),
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([prefix, rest]) => prefix + rest);

describe('mergeShardPages', () => {
  it('compares strings in UTF-8 byte order', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        expect(Math.sign(compareUtf8(a, b))).toBe(Math.sign(byBytes(a, b)));
      }),
      { numRuns: runs },
    );
  });

  it('pages equal the sorted union for random members, limits, cursors and shard layouts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(memberKey, { maxLength: 120 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 8 }),
        fc.oneof(fc.constant('hash' as const), fc.constant('one' as const), fc.nat(7)),
        fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
        fc.option(memberKey, { nil: undefined }),
        async (keys, limit, shards, layout, firstLimit, start) => {
          // Hashing spreads keys as the store does; "one" piles them all on one shard, a number
          // on shard n: the skewed cases that need refills.
          const assign = (key: string) =>
            layout === 'hash' ? shardOf(key, shards) : layout === 'one' ? 0 : layout % shards;
          const { read } = memoryShards(keys, shards, assign);
          const sorted = [...keys].sort(byBytes);
          // Walk the whole segment page by page from a random cursor, as a client would.
          let after = start;
          const seen: string[] = [];
          for (let pages = 0; pages < 500; pages += 1) {
            const page = await mergeShardPages(shards, limit, after, read, { firstLimit });
            const expected = sorted
              .filter((key) => after === undefined || byBytes(key, after) > 0)
              .slice(0, limit);
            expect(page.rows.map((row) => row.key)).toEqual(expected);
            const rest = sorted.filter(
              (key) => after === undefined || byBytes(key, after) > 0,
            ).length;
            // More when rows are left; possibly (as DynamoDB's LastEvaluatedKey) when none are.
            if (rest > limit) expect(page.more).toBe(true);
            if (!page.more) expect(rest).toBeLessThanOrEqual(limit);
            seen.push(...page.rows.map((row) => row.key));
            const last = page.rows[page.rows.length - 1];
            if (!page.more || !last) break;
            after = last.key;
          }
          expect(seen).toEqual(
            sorted.filter((key) => start === undefined || byBytes(key, start) > 0),
          );
        },
      ),
      { numRuns: Math.max(50, Math.floor(runs / 3)) },
    );
  });

  it('reads about limit / shards rows per shard when keys are spread by hash', async () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `u#member-${i}`);
    const { read, reads } = memoryShards(keys, 8, (key) => shardOf(key, 8));
    let after: string | undefined;
    let refills = 0;
    for (let page = 0; page < 100; page += 1) {
      const before = reads.length;
      const result = await mergeShardPages(8, 100, after, read);
      refills += reads.length - before - 8;
      after = result.rows[result.rows.length - 1]?.key;
    }
    expect(perShardLimit(100, 8)).toBeLessThan(30);
    expect(perShardLimit(1_000, 8)).toBeLessThan(170);
    expect(refills).toBeLessThan(10);
  });
});
