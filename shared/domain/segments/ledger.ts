/**
 * The ledger of a segment, as pure functions: the order of its entries, what replaying it gives,
 * and who was in the segment at an earlier instant. The memberships store keeps the entries; the
 * segments API pages through them.
 */
import { compareUtf8 } from './merge-shard-pages.ts';

/** One enter or exit of one member, as the ledger orders it. */
export interface LedgerChange {
  readonly memberKey: string;
  readonly change: 'enter' | 'exit';
  /** Epoch ms, the instant the change was recorded. */
  readonly at: number;
  /** The member state version it belongs to: orders changes of the same instant. */
  readonly seq: number;
}

/**
 * The sort key of an entry within its shard partition. Its byte order is the ledger's order:
 * time, then member, then sequence; entries of one member and segment have strictly increasing
 * times (the store enforces it), so their order is the order they happened in.
 */
export function ledgerKey(entry: Pick<LedgerChange, 'at' | 'memberKey' | 'seq'>): string {
  return `${String(entry.at).padStart(15, '0')}#${entry.memberKey}#${String(entry.seq).padStart(10, '0')}`;
}

/**
 * A key after every entry recorded at or before `at` and before every later one: a reader that
 * has seen everything up to a settled instant continues from here.
 */
export function ledgerKeyAfter(at: number): string {
  // '$' sorts right after the '#' that follows the time in every entry's key.
  return `${String(at).padStart(15, '0')}$`;
}

/** The time part of a ledger key (or of a {@link ledgerKeyAfter} key). */
export function ledgerKeyTime(key: string): number {
  return Number(key.slice(0, 15));
}

/** The members a ledger leaves in the segment, replayed from empty in ledger order. */
export function replayLedger(entries: Iterable<LedgerChange>): Set<string> {
  const sorted = [...entries].sort((a, b) => compareUtf8(ledgerKey(a), ledgerKey(b)));
  const members = new Set<string>();
  for (const entry of sorted) {
    if (entry.change === 'enter') members.add(entry.memberKey);
    else members.delete(entry.memberKey);
  }
  return members;
}

/**
 * Whether each member changed after an instant was in the segment at it: its first later change
 * is an exit exactly when it was in.
 */
export function wasInBefore(after: Iterable<LedgerChange>): Map<string, boolean> {
  const first = new Map<string, LedgerChange>();
  for (const entry of after) {
    const seen = first.get(entry.memberKey);
    if (!seen || compareUtf8(ledgerKey(entry), ledgerKey(seen)) < 0) {
      first.set(entry.memberKey, entry);
    }
  }
  return new Map([...first].map(([key, entry]) => [key, entry.change === 'exit']));
}

/** A page of today's members in member-key order after a key (`MembershipStore.page`). */
export type CurrentMembersPage = (
  limit: number,
  after: string | undefined,
) => Promise<{ members: readonly { memberKey: string }[]; more: boolean }>;

/**
 * One page of the members of a segment at an earlier instant, in member-key order after `after`:
 * today's members not changed since (read page by page), and the members changed since that were
 * in it then (`wasIn`, from {@link wasInBefore}). At most `limit` members, and `next`, the key to
 * continue after, while there may be more. A page may be short (even empty, with a `next`) when
 * many of today's members changed since.
 */
export async function membersAsOfPage(
  current: CurrentMembersPage,
  wasIn: ReadonlyMap<string, boolean>,
  limit: number,
  after: string | undefined,
  rounds = 8,
): Promise<{ members: string[]; next: string | undefined }> {
  const thenIn = [...wasIn]
    .filter(([, in_]) => in_)
    .map(([key]) => key)
    .sort(compareUtf8);
  const members: string[] = [];
  let from = after;
  for (let round = 0; round < rounds; round += 1) {
    const page = await current(limit, from);
    const bound = page.more ? page.members[page.members.length - 1]?.memberKey : undefined;
    const inRange = (key: string) =>
      (from === undefined || compareUtf8(key, from) > 0) &&
      (bound === undefined || compareUtf8(key, bound) <= 0);
    const merged = [
      ...page.members.map((row) => row.memberKey).filter((key) => !wasIn.has(key)),
      ...thenIn.filter(inRange),
    ].sort(compareUtf8);
    const room = limit - members.length;
    members.push(...merged.slice(0, room));
    if (merged.length > room) return { members, next: members[members.length - 1] };
    if (bound === undefined) return { members, next: undefined };
    from = bound;
    if (members.length === limit) return { members, next: from };
  }
  return { members, next: from };
}
