/**
 * A k-way merge of sorted shard partitions into one page, reading each shard only as far as the
 * page needs. Pure: the reads are passed in.
 */

/** One row of a shard, ordered by `key`. */
export interface ShardRow {
  readonly key: string;
}

/** What one read of a shard returned: rows after `after`, in key order. */
export interface ShardRead<Row extends ShardRow> {
  readonly rows: readonly Row[];
  /**
   * The key to read on from when the shard may hold more (DynamoDB's `LastEvaluatedKey`);
   * undefined when the shard has nothing after the rows returned.
   */
  readonly continueAfter: string | undefined;
}

/** Reads up to `limit` rows of `shard` with keys after `after` (exclusive), in key order. */
export type ReadShard<Row extends ShardRow> = (
  shard: number,
  after: string | undefined,
  limit: number,
) => Promise<ShardRead<Row>>;

/**
 * Rows to ask of each shard for a page that needs `needed` more rows from `shards` shards: the
 * expected share plus three standard deviations of a binomial share (and 3), so the first round
 * of reads is enough for nearly every page and a refill is rare, while reading about 1/shards of
 * what one `Limit: needed` per shard would.
 */
export function perShardLimit(needed: number, shards: number): number {
  const share = needed / shards;
  const spread = Math.sqrt(share * (1 - 1 / shards));
  return Math.min(needed, Math.ceil(share + 3 * spread + 3));
}

/**
 * DynamoDB orders sort keys by their UTF-8 bytes, which is Unicode code point order; JavaScript's
 * `<` compares UTF-16 code units, which differs above U+FFFF (surrogates sort below U+E000).
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    // A surrogate starts a code point above U+FFFF, so it sorts after any other BMP unit.
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

interface ShardCursor<Row extends ShardRow> {
  rows: readonly Row[];
  next: number;
  continueAfter: string | undefined;
}

/**
 * One page of at most `limit` rows after `after`, merged from `shards` shards in UTF-8 byte
 * order. Each shard is first read with {@link perShardLimit}; a shard that runs out of read rows
 * while it may still hold more is read again (from its last key) before anything else is taken,
 * since its next row could be the smallest. So every row taken is the smallest left, and the page
 * equals the first `limit` rows of the sorted union. `more` is true when a row was left over or a
 * shard may hold more (possibly none, as with any DynamoDB page).
 */
export async function mergeShardPages<Row extends ShardRow>(
  shards: number,
  limit: number,
  after: string | undefined,
  read: ReadShard<Row>,
  options: { readonly firstLimit?: number } = {},
): Promise<{ rows: Row[]; more: boolean; reads: number }> {
  const first = options.firstLimit ?? perShardLimit(limit, shards);
  const cursors: ShardCursor<Row>[] = await Promise.all(
    Array.from({ length: shards }, async (_, shard) => {
      const page = await read(shard, after, first);
      return { rows: page.rows, next: 0, continueAfter: page.continueAfter };
    }),
  );
  let reads = shards;
  const out: Row[] = [];
  while (out.length < limit) {
    const dry = cursors
      .map((cursor, shard) => ({ cursor, shard }))
      .filter(
        ({ cursor }) => cursor.next >= cursor.rows.length && cursor.continueAfter !== undefined,
      );
    if (dry.length > 0) {
      // The rest of the page can come from this shard alone, so ask for all of it.
      const needed = limit - out.length;
      await Promise.all(
        dry.map(async ({ cursor, shard }) => {
          const page = await read(shard, cursor.continueAfter, needed);
          cursor.rows = page.rows;
          cursor.next = 0;
          cursor.continueAfter = page.continueAfter;
        }),
      );
      reads += dry.length;
      continue;
    }
    let best: ShardCursor<Row> | undefined;
    for (const cursor of cursors) {
      const row = cursor.rows[cursor.next];
      if (row === undefined) continue;
      const bestRow = best?.rows[best.next];
      if (bestRow === undefined || compareUtf8(row.key, bestRow.key) < 0) best = cursor;
    }
    if (!best) break;
    out.push(best.rows[best.next] as Row);
    best.next += 1;
  }
  const more = cursors.some(
    (cursor) => cursor.next < cursor.rows.length || cursor.continueAfter !== undefined,
  );
  return { rows: out, more, reads };
}
