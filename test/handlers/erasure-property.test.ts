/**
 * Erasure as a property, against DynamoDB Local: random histories of a few members (events under
 * their userId and anonymousId, profiles, tag history, identity links, segment enters and exits)
 * with one member erased at a random step, after which its steps are refused as suppression
 * refuses them. The same steps are replayed without the erasure on twin tables. Afterwards no
 * item of the erased tables names the erased member; every other member's items equal the
 * twin's; each segment's count and ledger replay agree with its rows; the receipt counts what a
 * scan counted just before the erasure.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import type { TableId } from '../../infra/declarations/tables.ts';
import { ensureTables } from '../../infra/local/tables.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { EventStore } from '../../shared/adapters/event-store.ts';
import { MemberEraser } from '../../shared/adapters/member-eraser.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { newReceiptId, noCounts } from '../../shared/domain/privacy/erasure.ts';
import { replayLedger } from '../../shared/domain/segments/ledger.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { emptyProfile } from '../../shared/domain/tags/profile.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';

const catalogue = defaultRuleCatalogue();
const zone = 'Asia/Shanghai';
const MEMBERS = 3;
const SEGMENTS = ['s1', 's2'];

let clients: TestClients;
let erasedTables: Record<TableId, string>;
let twinTables: Record<TableId, string>;

beforeAll(async () => {
  clients = testClients();
  erasedTables = await ensureTables(clients.dynamo, uniquePrefix('erasure-prop'));
  twinTables = await ensureTables(clients.dynamo, uniquePrefix('erasure-twin'));
}, 120_000);
afterAll(() => clients?.destroy());

type Step =
  | { readonly kind: 'event'; readonly member: number; readonly anonymous: boolean }
  | { readonly kind: 'profile'; readonly member: number; readonly anonymous: boolean }
  | { readonly kind: 'link'; readonly member: number }
  | { readonly kind: 'toggle'; readonly member: number; readonly segment: number };

const member = fc.integer({ min: 0, max: MEMBERS - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('event' as const), member, anonymous: fc.boolean() }),
  fc.record({ kind: fc.constant('profile' as const), member, anonymous: fc.boolean() }),
  fc.record({ kind: fc.constant('link' as const), member }),
  fc.record({
    kind: fc.constant('toggle' as const),
    member,
    segment: fc.integer({ min: 0, max: SEGMENTS.length - 1 }),
  }),
);

/** The stores of one set of tables, with a clock the steps set. */
function world(tables: Record<TableId, string>) {
  let now = Date.parse('2026-11-25T00:00:00Z');
  const profiles = new ProfileStore(clients.documents, tables.profiles);
  const receipts = new ErasureStore(clients.documents, tables.erasures);
  return {
    tables,
    setNow: (at: number) => {
      now = at;
    },
    events: new EventStore(clients.documents, tables.events, 400),
    profiles,
    memberships: new MembershipStore(clients.documents, tables.memberships, { now: () => now }),
    receipts,
    eraser: new MemberEraser(
      clients.documents,
      { events: tables.events, profiles: tables.profiles, memberships: tables.memberships },
      profiles,
      receipts,
    ),
  };
}
type World = ReturnType<typeof world>;

async function apply(w: World, ns: string, s: Step, i: number): Promise<void> {
  const userKey = `u#${ns}-m${s.member}`;
  const anonKey = `a#${ns}-a${s.member}`;
  const at = Date.parse('2026-11-25T00:00:00Z') + i * 1_000;
  w.setNow(at);
  if (s.kind === 'event') {
    const event: PortraitEvent = {
      messageId: `${ns}-msg-${i}`,
      type: 'track',
      event: 'Shared',
      ...(s.anonymous ? { anonymousId: anonKey.slice(2) } : { userId: userKey.slice(2) }),
      timestamp: new Date(at).toISOString(),
      receivedAt: new Date(at).toISOString(),
      sourceId: 'prop',
    } as PortraitEvent;
    await w.events.putAll([event]);
  } else if (s.kind === 'profile') {
    const key = s.anonymous ? anonKey : userKey;
    const history = [
      { at, cause: { kind: 'clock' as const }, changes: [{ tag: 't', from: null, to: String(i) }] },
    ];
    const written = await w.profiles.apply(key, (current) => ({
      state: current?.state ?? emptyProfile(catalogue, zone),
      tags: { t: String(i) },
      appliedSeq: {},
      nextChangeAt: undefined,
      history,
    }));
    // As the historian does from the profiles stream.
    if (written.status === 'written') {
      await w.profiles.recordHistory(written.profile.memberKey, written.profile.version, history);
    }
  } else if (s.kind === 'link') {
    await w.profiles.merge(anonKey, userKey, (target, _source) => ({
      kind: 'merge',
      change: {
        state: target?.state ?? emptyProfile(catalogue, zone),
        tags: target?.tags ?? {},
        appliedSeq: target?.appliedSeq ?? {},
        nextChangeAt: undefined,
        ids: [...(target?.ids ?? []), anonKey],
      },
    }));
  } else {
    const segmentId = `${ns}-${SEGMENTS[s.segment]}`;
    const state = await w.memberships.member(userKey);
    const inNow = (await w.memberships.members(segmentId)).includes(userKey);
    await w.memberships.change({
      segmentId,
      memberKey: userKey,
      change: inNow ? 'exit' : 'enter',
      seq: i + 1,
      cause: { kind: 'profile', profileVersion: i + 1 },
    });
    const segments = new Set(state?.segments ?? []);
    if (inNow) segments.delete(segmentId);
    else segments.add(segmentId);
    await w.memberships.saveMember(state, {
      memberKey: userKey,
      segments,
      setTag: undefined,
      input: undefined,
      profileVersion: i + 1,
    });
  }
}

async function scan(tableName: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.documents.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

const textOf = (item: Record<string, unknown>) =>
  JSON.stringify(item, (_, value) =>
    value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value,
  );

/** Items naming any of the ids (whole ids: `-m1` is not `-m10`), as text, sorted, per table. */
async function itemsNaming(w: World, ids: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const id of ['events', 'profiles', 'memberships'] as const) {
    const items = await scan(w.tables[id]);
    out.set(
      id,
      items
        .filter((item) => !String(item.pk).startsWith('sc#'))
        .map(textOf)
        // Whole ids only: `-m1` must not match `-m10`.
        .filter((text) => ids.some((memberId) => new RegExp(`${memberId}(?![0-9])`).test(text)))
        .sort(),
    );
  }
  return out;
}

describe('erasure, property', () => {
  it('leaves no residue of the erased member and changes no other member', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 14 }),
        fc.nat(),
        fc.integer({ min: 0, max: MEMBERS - 1 }),
        async (steps, eraseAtSeed, erased) => {
          run += 1;
          const ns = `r${run}${Date.now().toString(36)}`;
          const eraseAt = eraseAtSeed % (steps.length + 1);
          const a = world(erasedTables);
          const twin = world(twinTables);
          const receiptId = newReceiptId();
          let suppressed: readonly string[] = [];
          let expected: Record<string, number> | undefined;
          for (let i = 0; i <= steps.length; i += 1) {
            if (i === eraseAt) {
              expected = await countOf(a, ns, erased);
              a.setNow(Date.parse('2026-11-25T00:00:00Z') + i * 1_000 + 500);
              await a.receipts.createReceipt({
                id: receiptId,
                status: 'pending',
                memberHash: 'h',
                requestedAt: 0,
                previouslyErased: false,
                sweeps: 0,
                counts: noCounts,
                lakeRows: 0,
                suppressedKeys: 0,
              });
              const target = await a.eraser.target(`${ns}-m${erased}`);
              await a.eraser.sweep(
                receiptId,
                target.keys,
                Date.parse('2026-11-25T00:00:00Z') + i * 1_000 + 500,
              );
              suppressed = target.keys;
            }
            const s = steps[i];
            if (!s) continue;
            await apply(twin, ns, s, i);
            // Suppressed: steps naming an erased key are refused, as collect refuses their events
            // (a link names both ids; an unlinked anonymous visitor was not erased).
            const names =
              s.kind === 'link'
                ? [`u#${ns}-m${s.member}`, `a#${ns}-a${s.member}`]
                : s.kind === 'toggle' || !s.anonymous
                  ? [`u#${ns}-m${s.member}`]
                  : [`a#${ns}-a${s.member}`];
            if (!names.some((key) => suppressed.includes(key))) await apply(a, ns, s, i);
          }
          // The receipt counts what a scan counted just before the erasure.
          expect((await a.receipts.receipt(receiptId))?.counts).toEqual(expected);
          // Nothing names an erased key (the member and the aliases linked to it).
          expect(
            [
              ...(
                await itemsNaming(
                  a,
                  suppressed.map((key) => key.slice(2)),
                )
              ).values(),
            ].flat(),
            'residue of the erased member',
          ).toEqual([]);
          for (let other = 0; other < MEMBERS; other += 1) {
            if (other === erased) continue;
            const ids = [`${ns}-m${other}`, `${ns}-a${other}`];
            expect(await itemsNaming(a, ids), `member ${other}`).toEqual(
              await itemsNaming(twin, ids),
            );
          }
          for (const segment of SEGMENTS) {
            const segmentId = `${ns}-${segment}`;
            const rows = await a.memberships.members(segmentId);
            expect(await a.memberships.count(segmentId)).toBe(rows.length);
            expect([...replayLedger(await a.memberships.ledger(segmentId))].sort()).toEqual(rows);
          }
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 8) },
    );
  }, 600_000);
});

/** What an erasure of the member should count, from a scan of the tables (not the eraser). */
async function countOf(w: World, ns: string, memberIndex: number): Promise<Record<string, number>> {
  const keys = [`u#${ns}-m${memberIndex}`, `a#${ns}-a${memberIndex}`];
  const isKey = (value: unknown) => keys.includes(String(value));
  const events = await scan(w.tables.events);
  const profiles = (await scan(w.tables.profiles)).filter((item) =>
    isKey(String(item.pk).slice(2)),
  );
  const memberships = await scan(w.tables.memberships);
  // An anonymous id linked to nobody is a member of its own; only a linked one is erased with
  // the user (the erasure names the userId).
  const linked = profiles.some((item) => item.sk === 'profile' && item.mergedInto === keys[0]);
  const erasedKeys = linked ? keys : [keys[0]];
  const isErased = (value: unknown) => erasedKeys.includes(String(value));
  const own = profiles.filter((item) => isErased(String(item.pk).slice(2)));
  return {
    events: events.filter((item) => isErased(item.pk)).length,
    profiles: own.filter((item) => item.sk === 'profile' && item.mergedInto === undefined).length,
    identityLinks: own.filter((item) => item.sk === 'profile' && item.mergedInto !== undefined)
      .length,
    tagHistory: own.filter((item) => String(item.sk).startsWith('h#')).length,
    memberships: memberships.filter(
      (item) => String(item.pk).startsWith('sm#') && isErased(item.sk),
    ).length,
    ledgerEntries: memberships.filter(
      (item) => String(item.pk).startsWith('sl#') && isErased(item.memberKey),
    ).length,
    membershipStates: memberships.filter(
      (item) => String(item.pk).startsWith('mm#') && isErased(String(item.pk).slice(3)),
    ).length,
  };
}
