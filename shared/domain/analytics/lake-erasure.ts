/**
 * Which lake rows belong to an erased member, as pure functions: the columns that carry a
 * member's ids in any file of the lake (event rows, compacted rows, nightly outputs), the test
 * of one row, the rewrite of NDJSON text, and the same test as a DuckDB predicate for Parquet.
 * No I/O (the job is `shared/jobs/erase-lake-rows.ts`; docs/PRIVACY.md § The lake).
 */

/**
 * The columns that name a member in lake files, and how a value maps to source keys (`u#…`,
 * `a#…`): event rows carry `memberKey` (a key), `userId` and `anonymousId` (bare ids); nightly
 * outputs carry `memberId` / `member_id` (the RFM SQL's userId, or a member key); an alias names
 * the id it merges as `previousId`, which may be either kind.
 */
export const memberIdColumns = [
  { name: 'memberKey', prefixes: [''] },
  { name: 'userId', prefixes: ['u#'] },
  { name: 'anonymousId', prefixes: ['a#'] },
  { name: 'memberId', prefixes: ['', 'u#'] },
  { name: 'member_id', prefixes: ['', 'u#'] },
  { name: 'previousId', prefixes: ['u#', 'a#'] },
] as const;

/** A line of an NDJSON lake file that is not a JSON object: the file cannot be judged. */
export class UnreadableLakeFileError extends Error {
  readonly code = 'unreadable_lake_file';
  constructor(
    readonly source: string,
    readonly line: number,
  ) {
    super(`${source}, line ${line}: not a JSON object; the member's rows cannot be told apart`);
    this.name = 'UnreadableLakeFileError';
  }
}

/** Whether a parsed row names one of the source keys in one of {@link memberIdColumns}. */
export function rowNamesAnyKey(row: Record<string, unknown>, keys: ReadonlySet<string>): boolean {
  for (const column of memberIdColumns) {
    const value = row[column.name];
    if (typeof value !== 'string') continue;
    for (const prefix of column.prefixes) if (keys.has(prefix + value)) return true;
  }
  return false;
}

/**
 * The bare ids of source keys as they appear inside JSON text, or `undefined` when one cannot be
 * found by a plain substring search (an id with characters a JSON writer may escape): then every
 * line must be parsed.
 */
export function plainIdsOf(keys: Iterable<string>): string[] | undefined {
  const ids = new Set<string>();
  for (const key of keys) {
    const id = key.replace(/^[ua]#/, '');
    if (id === '' || !/^[\x20-\x7e]+$/.test(id) || /["\\/]/.test(id)) return undefined;
    ids.add(id);
  }
  return [...ids];
}

export interface NdjsonErasure {
  /** The text without the member's lines; every other line byte for byte as it was. */
  readonly kept: string;
  /** Lines removed. */
  readonly removed: number;
}

/**
 * Removes the lines of NDJSON text whose row names one of the keys. Text that does not contain
 * any of the ids at all is answered unchanged without parsing (a day's files mostly hold other
 * members). Throws {@link UnreadableLakeFileError} on a line that is not a JSON object.
 */
export function eraseFromNdjson(
  text: string,
  keys: ReadonlySet<string>,
  source: string,
): NdjsonErasure {
  const plain = plainIdsOf(keys);
  if (plain !== undefined && !plain.some((id) => text.includes(id))) {
    return { kept: text, removed: 0 };
  }
  const lines = text.split('\n');
  const kept: string[] = [];
  let removed = 0;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    if (line.trim() === '') {
      kept.push(line);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new UnreadableLakeFileError(source, i + 1);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new UnreadableLakeFileError(source, i + 1);
    }
    if (rowNamesAnyKey(parsed as Record<string, unknown>, keys)) removed += 1;
    else kept.push(line);
  }
  return { kept: removed === 0 ? text : kept.join('\n'), removed };
}

const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The DuckDB predicate "this row names a key in `keysTable` (one VARCHAR column `k`)" over the
 * columns a file has, never NULL (so `NOT (…)` keeps rows whose id columns are NULL);
 * `FALSE` for a file without any member id column.
 */
export function memberPredicateSql(columns: readonly string[], keysTable: string): string {
  // Parquet files name their columns in lower case (`memberkey`), so names match in any case.
  const present = new Map(columns.map((name) => [name.toLowerCase(), name]));
  const tests: string[] = [];
  for (const column of memberIdColumns) {
    const name = present.get(column.name.toLowerCase());
    if (name === undefined) continue;
    for (const prefix of column.prefixes) {
      const value = `CAST(${quoteIdentifier(name)} AS VARCHAR)`;
      const expression = prefix === '' ? value : `'${prefix}' || ${value}`;
      tests.push(`coalesce(${expression} IN (SELECT k FROM ${keysTable}), FALSE)`);
    }
  }
  return tests.length === 0 ? 'FALSE' : `(${tests.join(' OR ')})`;
}
