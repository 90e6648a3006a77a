/**
 * `MembershipStore.page` against DynamoDB Local: walking a segment page by page from random
 * cursors gives exactly the members in UTF-8 byte order, with `more` right, for random member
 * sets (awkward keys included), limits and cursors.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { membershipsTable } from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';

let clients: TestClients;
let store: MembershipStore;

beforeAll(async () => {
  clients = testClients();
  const name = `${uniquePrefix('membership-page')}-memberships`;
  await clients.dynamo.send(new CreateTableCommand(createTableInput(membershipsTable, name)));
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: name },
  );
  store = new MembershipStore(clients.documents, name);
});
afterAll(() => clients.destroy());

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const memberKey = fc
  .tuple(
    fc.constantFrom('u#', 'a#'),
    fc.string({
      unit: fc.constantFrom('a', 'm', 'z', '0', ',', '"', ' ', 'é', '北', '\uff5e', '😀', '𝄞'),
      minLength: 1,
      maxLength: 5,
    }),
  )
  .map(([prefix, rest]) => prefix + rest);

describe('MembershipStore.page on DynamoDB Local', () => {
  it('pages through any segment in byte order from any cursor, with more and counts right', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(memberKey, { maxLength: 150 }),
        fc.integer({ min: 1, max: 60 }),
        fc.option(memberKey, { nil: undefined }),
        async (keys, limit, start) => {
          const segmentId = `s${run++}`;
          await store.bulkLoad(
            segmentId,
            keys.map((key, i) => ({ memberKey: key, since: 1_700_000_000_000 + i })),
          );
          expect(await store.count(segmentId)).toBe(keys.length);
          const sorted = [...keys].sort(byBytes);
          const since = new Map(keys.map((key, i) => [key, 1_700_000_000_000 + i]));
          let after = start;
          const seen: string[] = [];
          for (let pages = 0; pages < 400; pages += 1) {
            const page = await store.page(segmentId, limit, after);
            const rest = sorted.filter((key) => after === undefined || byBytes(key, after) > 0);
            expect(page.members.map((m) => m.memberKey)).toEqual(rest.slice(0, limit));
            for (const member of page.members)
              expect(member.since).toBe(since.get(member.memberKey));
            if (rest.length > limit) expect(page.more).toBe(true);
            seen.push(...page.members.map((m) => m.memberKey));
            const last = page.members[page.members.length - 1];
            if (!page.more || !last) break;
            after = last.memberKey;
          }
          expect(seen).toEqual(
            sorted.filter((key) => start === undefined || byBytes(key, start) > 0),
          );
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 25) },
    );
  });
});
