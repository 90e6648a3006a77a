/**
 * Reading every table of a running local runtime back in tests, item by item, as searchable
 * text (compressed profile state inflated), and counting what of a member is stored the way an
 * erasure receipt counts it. Used to prove an erasure left nothing of a member.
 */
import { inflateRawSync } from 'node:zlib';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { TableId } from '../../infra/declarations/tables.ts';

export type StoredItem = Record<string, unknown>;

/** Every item of every table (consistent reads), by table id. */
export async function scanTables(
  documents: DynamoDBDocumentClient,
  tables: Readonly<Record<TableId, string>>,
): Promise<Map<TableId, StoredItem[]>> {
  const all = new Map<TableId, StoredItem[]>();
  for (const [id, tableName] of Object.entries(tables) as [TableId, string][]) {
    const items: StoredItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(
        new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    all.set(id, items);
  }
  return all;
}

/** An item as searchable text: binary attributes inflated when they are deflated JSON. */
export function itemText(item: StoredItem): string {
  return JSON.stringify(item, (_, value) => {
    if (value instanceof Uint8Array) {
      try {
        return inflateRawSync(value).toString('utf8');
      } catch {
        return Buffer.from(value).toString('utf8');
      }
    }
    if (value instanceof Set) return [...value];
    return value;
  });
}

/** What a receipt counts of a member in the tables (`removed` without the lake). */
export interface StoredMemberCounts {
  readonly events: number;
  readonly profiles: number;
  readonly identityLinks: number;
  readonly tagHistory: number;
  readonly memberships: number;
  readonly ledgerEntries: number;
  readonly memberStates: number;
}

/**
 * Counts the member's items in a scan, independently of the eraser: `memberKeys` are its source
 * keys (`u#…` and every merged `a#…`).
 */
export function storedMemberCounts(
  scan: ReadonlyMap<TableId, StoredItem[]>,
  memberKeys: readonly string[],
): StoredMemberCounts {
  const isMemberKey = (value: unknown) => memberKeys.includes(String(value));
  const events = scan.get('events') ?? [];
  const profiles = scan.get('profiles') ?? [];
  const memberships = scan.get('memberships') ?? [];
  const ofMember = (item: StoredItem) => isMemberKey(String(item.pk).replace(/^m#/, ''));
  return {
    events: events.filter((item) => isMemberKey(item.pk)).length,
    profiles: profiles.filter(
      (item) => ofMember(item) && item.sk === 'profile' && item.mergedInto === undefined,
    ).length,
    identityLinks: profiles.filter(
      (item) => ofMember(item) && item.sk === 'profile' && item.mergedInto !== undefined,
    ).length,
    tagHistory: profiles.filter((item) => ofMember(item) && String(item.sk).startsWith('h#'))
      .length,
    memberships: memberships.filter(
      (item) => String(item.pk).startsWith('sm#') && isMemberKey(item.sk),
    ).length,
    ledgerEntries: memberships.filter(
      (item) => String(item.pk).startsWith('sl#') && isMemberKey(item.memberKey),
    ).length,
    memberStates: memberships.filter(
      (item) => String(item.pk).startsWith('mm#') && isMemberKey(String(item.pk).slice(3)),
    ).length,
  };
}

/** A receipt's `removed` as it should read for these counts and lake rows. */
export function receiptRemoved(counts: StoredMemberCounts, lakeRows: number) {
  return {
    events: { events: counts.events },
    profiles: {
      profiles: counts.profiles,
      identityLinks: counts.identityLinks,
      tagHistory: counts.tagHistory,
    },
    memberships: {
      memberships: counts.memberships,
      ledgerEntriesPseudonymised: counts.ledgerEntries,
      memberStates: counts.memberStates,
    },
    lake: { rows: lakeRows },
  };
}
