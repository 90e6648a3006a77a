/**
 * Rule changes against DynamoDB Local: after the catalogue gains an aggregate, the re-evaluation
 * job rebuilds members from the events table, and events whose stream records were still on the
 * way when it ran are counted once — whatever part of the stream the tagger had folded, and
 * however the rest is delivered or replayed afterwards.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeTaggerHandler, type TaggerDeps } from '../../functions/tagger/tagger.ts';
import {
  eventsTable as eventsTableDeclaration,
  profilesTable as profilesTableDeclaration,
} from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { EventStore } from '../../shared/adapters/event-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { defaultCatalogueJson } from '../../shared/domain/tags/default-catalogue.ts';
import { evaluateTags } from '../../shared/domain/tags/evaluate.ts';
import { foldEvents } from '../../shared/domain/tags/fold.ts';
import { emptyProfile, profileToJson } from '../../shared/domain/tags/profile.ts';
import {
  loadRuleCatalogue,
  type RuleCatalogue,
  type RuleCatalogueDefinition,
} from '../../shared/domain/tags/rule-catalogue.ts';
import { DAY_MS } from '../../shared/domain/tags/zone-calendar.ts';
import { reevaluateProfiles } from '../../shared/jobs/reevaluate-profiles.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { batch, stream } from '../support/tagger-stream.ts';

const zone = 'Asia/Shanghai';
const NOW = Date.parse('2026-11-20T04:00:00Z');
const base = defaultCatalogueJson as RuleCatalogueDefinition;
const before = loadRuleCatalogue(base);
/** The default catalogue plus an aggregate the stored profiles never kept, and a tag on it. */
const after = loadRuleCatalogue({
  ...base,
  aggregates: [
    ...base.aggregates,
    {
      id: 'views_all',
      kind: 'count',
      events: ['Product Viewed'],
      window: 'all',
    },
  ],
  tags: [
    ...base.tags,
    {
      id: 'keen_viewer',
      labels: { 'zh-CN': '爱逛', en: 'Keen viewer' },
      dimension: 'behaviour',
      type: 'dynamic',
      condition: { aggregate: 'views_all', op: '>=', value: 3 },
    },
  ],
});
/** The default catalogue with one threshold changed: no aggregate to backfill. */
const stricter = loadRuleCatalogue({
  ...base,
  tags: base.tags.map((tag) =>
    tag.id === 'car_purchase_intent'
      ? { ...tag, condition: { aggregate: 'car_consultations_30d', op: '>=', value: 1 } }
      : tag,
  ),
});

let clients: TestClients;
let profiles: ProfileStore;
let events: EventStore;

beforeAll(async () => {
  clients = testClients();
  const prefix = uniquePrefix('reevaluate');
  for (const [declaration, name] of [
    [profilesTableDeclaration, `${prefix}-profiles`],
    [eventsTableDeclaration, `${prefix}-events`],
  ] as const) {
    const input = createTableInput(declaration, name);
    await clients.dynamo.send(new CreateTableCommand({ ...input, StreamSpecification: undefined }));
    await waitUntilTableExists(
      { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
      { TableName: name },
    );
  }
  profiles = new ProfileStore(clients.documents, `${prefix}-profiles`);
  events = new EventStore(clients.documents, `${prefix}-events`, 400);
});
afterAll(() => clients.destroy());

function tagger(catalogue: RuleCatalogue, overrides: Partial<TaggerDeps> = {}) {
  return makeTaggerHandler({
    applyProfile: (key, update) => profiles.apply(key, update),
    mergeIdentity: (sourceKey, intoKey, combine) => profiles.merge(sourceKey, intoKey, combine),
    catalogue,
    zone,
    now: () => NOW,
    logger: silentLogger,
    ...overrides,
  });
}

function job(catalogue: RuleCatalogue, only: string[]) {
  return reevaluateProfiles({
    scanMembers: async (segment) => ({ memberKeys: segment === 0 ? only : [], next: undefined }),
    getProfile: (key) => profiles.get(key),
    applyProfile: (key, update) => profiles.apply(key, update),
    eventsOf: (key) => events.eventsOf(key),
    catalogue,
    zone,
    now: () => NOW,
    segments: 1,
  });
}

let runs = 0;
function newRun(name: string): string {
  runs += 1;
  return `${name}-${Date.now().toString(36)}-${runs}`;
}

function memberEvents(userId: string, count: number): PortraitEvent[] {
  return Array.from({ length: count }, (_, n): PortraitEvent => {
    const timestamp = new Date(NOW - (n % 20) * DAY_MS - n * 1000).toISOString();
    // Received recently: their stream records may still be on the way during a rebuild.
    const receivedAt = new Date(NOW - n * 1000).toISOString();
    const common = { userId, messageId: `${userId}-${n}`, timestamp, receivedAt, sourceId: 't' };
    return n % 3 === 2
      ? { ...common, type: 'track', event: 'Consultation', properties: { topic: 'car' } }
      : { ...common, type: 'track', event: 'Product Viewed', properties: { category: 'tech' } };
  });
}

function fromScratch(catalogue: RuleCatalogue, all: readonly PortraitEvent[]) {
  const state = foldEvents(emptyProfile(catalogue, zone), all, catalogue, zone).state;
  return { state: profileToJson(state), tags: evaluateTags(state, catalogue, NOW, zone).tags };
}

describe('re-evaluating members after a rule change', () => {
  it('rebuilds a member missing a new aggregate from stored events, and counts in-flight events once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        async (count, foldedShare, storedShare, replayFrom) => {
          const userId = newRun('rebuild');
          const all = memberEvents(userId, count);
          const streamed = stream(all);
          // The tagger (still on the old rules) has folded a prefix; the events table holds a
          // longer prefix; the rest is not even stored yet when the job runs.
          const stored = 1 + (storedShare % count);
          const folded = foldedShare % (stored + 1);
          await events.putAll(all.slice(0, stored));
          if (folded > 0) await tagger(before)(batch(streamed.slice(0, folded)));
          else await tagger(before)(batch(streamed.slice(0, 1))); // the member must exist
          const foldedNow = Math.max(folded, 1);

          const summary = await job(after, [`u#${userId}`]);
          expect(summary).toMatchObject({ done: 1, rebuilt: 1, failed: 0 });

          await events.putAll(all.slice(stored));
          const next = tagger(after);
          // The rest of the stream arrives, then a replay from an arbitrary earlier record.
          await next(batch(streamed.slice(foldedNow)));
          await next(batch(streamed.slice(replayFrom % count)));

          const member = await profiles.get(`u#${userId}`);
          const want = fromScratch(after, all);
          expect(profileToJson(member?.state ?? emptyProfile(after, zone))).toEqual(want.state);
          expect(member?.tags).toEqual(want.tags);
        },
      ),
      { numRuns: Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 15) },
    );
  });

  it('re-evaluates a changed threshold without replaying events, recording the rules as the cause', async () => {
    const userId = newRun('threshold');
    const all = memberEvents(userId, 3); // one car consultation
    await events.putAll(all);
    await tagger(before)(batch(stream(all)));
    expect((await profiles.get(`u#${userId}`))?.tags.car_purchase_intent).toBeUndefined();

    const summary = await job(stricter, [`u#${userId}`]);
    expect(summary).toMatchObject({ done: 1, rebuilt: 0, changed: 1, failed: 0 });
    const member = await profiles.get(`u#${userId}`);
    expect(member?.tags.car_purchase_intent).toBe(true);
    const latest = member?.lastChanges?.[0];
    expect(latest).toMatchObject({
      cause: { kind: 'rules' },
      changes: [{ tag: 'car_purchase_intent', from: null, to: true }],
    });
    // Run again: nothing left to change.
    expect(await job(stricter, [`u#${userId}`])).toMatchObject({ changed: 0 });
  });
});
