/**
 * Moves between in, withheld and out as the memberships store records them, against DynamoDB
 * Local: whatever the writer believes the member's status is, and however often a move is
 * delivered again, the rows, the withheld rows and the kept counts equal the member's last
 * status, and the ledger holds exactly one entry per move into or out of `in` — so it replays to
 * the rows.
 *
 * Runs: PORTRAIT_PROPERTY_RUNS (default 10; each run creates a table).
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipsTable } from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import type { MembershipStatus } from '../../shared/domain/segments/membership.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';

let clients: TestClients;
beforeAll(() => {
  clients = testClients();
});
afterAll(() => clients.destroy());

async function freshStore(): Promise<MembershipStore> {
  const name = `${uniquePrefix('moves')}-memberships`;
  await clients.dynamo.send(new CreateTableCommand(createTableInput(membershipsTable, name)));
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: name },
  );
  let ms = Date.parse('2026-11-20T00:00:00Z');
  return new MembershipStore(clients.documents, name, { now: () => (ms += 1), settleMs: 0 });
}

const statuses: MembershipStatus[] = ['in', 'withheld', 'out'];
const members = ['u#a', 'u#b', 'a#匿名'];

describe('membership transitions', () => {
  it('keep rows, withheld rows, counts and ledger equal to the last status, exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            member: fc.constantFrom(...members),
            to: fc.constantFrom(...statuses),
            // What the writer believes: usually right, sometimes stale.
            believed: fc.option(fc.constantFrom(...statuses), { freq: 3 }),
            redelivered: fc.boolean(),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        async (moves) => {
          const store = await freshStore();
          const status = new Map<string, MembershipStatus>(members.map((m) => [m, 'out']));
          let expectedEntries = 0;
          for (const [i, move] of moves.entries()) {
            const was = status.get(move.member) as MembershipStatus;
            const record = {
              segmentId: 'promo',
              memberKey: move.member,
              from: move.believed ?? was,
              to: move.to,
              seq: i + 1,
              cause: {
                kind: 'consent_withdrawn',
                purpose: 'marketing',
                profileVersion: i + 1,
              } as const,
            };
            const result = await store.transition(record);
            expect(result.applied, `move ${i}`).toBe(was !== move.to);
            const ledgered = was !== move.to && (was === 'in' || move.to === 'in');
            expect(result.entry !== undefined, `entry of move ${i}`).toBe(ledgered);
            if (ledgered) expectedEntries += 1;
            if (move.redelivered) {
              expect((await store.transition(record)).applied, `redelivered ${i}`).toBe(false);
            }
            status.set(move.member, move.to);
          }
          const holding = (wanted: MembershipStatus) =>
            members.filter((m) => status.get(m) === wanted).sort();
          expect(await store.members('promo')).toEqual(holding('in'));
          expect(await store.withheldMembers('promo')).toEqual(holding('withheld'));
          expect(await store.counts('promo')).toEqual({
            count: holding('in').length,
            withheld: holding('withheld').length,
          });
          const ledger = await store.ledger('promo');
          expect(ledger).toHaveLength(expectedEntries);
          const replayed = new Set<string>();
          for (const entry of ledger) {
            if (entry.change === 'enter') replayed.add(entry.memberKey);
            else expect(replayed.delete(entry.memberKey)).toBe(true);
          }
          expect([...replayed].sort()).toEqual(holding('in'));
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 10) },
    );
  }, 300_000);
});
