/**
 * The ledger as the memberships store keeps it, against DynamoDB Local: writers whose clocks
 * disagree still record a member's changes in one segment at strictly increasing times, so the
 * ledger replays to the rows; a settled page never shows an entry a later read could put before
 * the reader's position.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipsTable } from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import {
  type LedgerPageEntry,
  MembershipStore,
  SEGMENT_SHARDS,
} from '../../shared/adapters/membership-store.ts';
import { replayLedger } from '../../shared/domain/segments/ledger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';

let clients: TestClients;
beforeAll(() => {
  clients = testClients();
});
afterAll(() => clients.destroy());

async function freshTable(): Promise<string> {
  const name = `${uniquePrefix('ledger')}-memberships`;
  await clients.dynamo.send(new CreateTableCommand(createTableInput(membershipsTable, name)));
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: name },
  );
  return name;
}

const cause = { kind: 'profile', profileVersion: 1 } as const;

/** Reads the whole settled ledger through `ledgerPage`, `limit` at a time. */
async function readAll(store: MembershipStore, segmentId: string, limit: number) {
  const read: LedgerPageEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.ledgerPage(segmentId, limit, after);
    read.push(...page.entries);
    after = page.next;
    if (!page.more) return { read, next: page.next };
  }
}

describe('memberships ledger', () => {
  it('orders one member’s changes as they were committed, whatever the writers’ clocks', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Each step: which writer (clock skew in seconds), and whether two writers race.
        fc.array(fc.tuple(fc.integer({ min: -120, max: 120 }), fc.boolean()), {
          minLength: 1,
          maxLength: 12,
        }),
        async (steps) => {
          const table = await freshTable();
          let real = Date.parse('2026-11-25T00:00:00Z');
          const writer = (skewSeconds: number) =>
            new MembershipStore(clients.documents, table, {
              now: () => real + skewSeconds * 1_000,
              settleMs: 0,
            });
          const members = ['u#a', 'a#b'];
          for (const [i, [skew, race]] of steps.entries()) {
            real += 10;
            const memberKey = members[i % members.length] as string;
            const inNow = (await writer(0).members('s')).includes(memberKey);
            const change = inNow ? 'exit' : 'enter';
            const entry = { segmentId: 's', memberKey, change, seq: i + 1, cause } as const;
            if (race) {
              // Two writers make the same change at once: exactly one records it.
              const results = await Promise.all([
                writer(skew).change(entry),
                writer(-skew).change(entry),
              ]);
              expect(results.filter(Boolean).length).toBe(1);
            } else {
              expect(await writer(skew).change(entry)).toBeDefined();
            }
          }
          const ledger = await writer(0).ledger('s');
          for (const memberKey of members) {
            const times = ledger.filter((e) => e.memberKey === memberKey).map((e) => e.at);
            for (let i = 1; i < times.length; i += 1) {
              expect(times[i], `${memberKey} times`).toBeGreaterThan(times[i - 1] as number);
            }
          }
          expect([...replayLedger(ledger)].sort()).toEqual(await writer(0).members('s'));
          // Paged reads give the same entries, once each, in order (read once every writer's
          // clock has passed them: an entry is settled by the reader's clock).
          for (const limit of [1, 3]) {
            const { read } = await readAll(writer(1_000), 's', limit);
            expect(read.map((e) => e.key)).toEqual(ledger.map((e) => e.key));
          }
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 10) },
    );
  });

  it('shows an entry only once it is settled, and continues from the same cursor after', async () => {
    const table = await freshTable();
    let now = Date.parse('2026-11-25T00:00:00Z');
    const store = new MembershipStore(clients.documents, table, {
      now: () => now,
      settleMs: 5_000,
    });
    // Members on several shards, so the page merges partitions.
    const keys = Array.from({ length: 3 * SEGMENT_SHARDS }, (_, i) => `u#m${i}`);
    for (const memberKey of keys.slice(0, 10)) {
      await store.change({ segmentId: 's', memberKey, change: 'enter', seq: 1, cause });
    }
    now += 5_000;
    const first = await readAll(store, 's', 4);
    expect(first.read.map((e) => e.memberKey).sort()).toEqual(keys.slice(0, 10).sort());
    // Recorded now, settled only 5 s later.
    for (const memberKey of keys.slice(10)) {
      await store.change({ segmentId: 's', memberKey, change: 'enter', seq: 1, cause });
    }
    await store.change({ segmentId: 's', memberKey: 'u#m0', change: 'exit', seq: 2, cause });
    const early = await store.ledgerPage('s', 100, first.next);
    expect(early.entries).toEqual([]);
    expect(early.more).toBe(false);
    now += 5_000;
    const later = await readAll(store, 's', 4);
    expect(later.read.length).toBe(keys.length + 1);
    const rest = await readAll(store, 's', 5);
    expect(rest.read.map((e) => e.key)).toEqual(later.read.map((e) => e.key));
    const resumed = await store.ledgerPage('s', 100, first.next);
    // Recorded at one instant: in member order.
    expect(resumed.entries.map((e) => `${e.change} ${e.memberKey}`)).toEqual([
      'exit u#m0',
      ...keys
        .slice(10)
        .sort()
        .map((k) => `enter ${k}`),
    ]);
  });
});
