/**
 * The tag engine's main invariant, end to end through the real tagger and sweeper handlers:
 * random event histories of several users and anonymous visitors (with identify calls that link
 * them) are delivered as a stream — partitions interleaved at random, cut into random batches,
 * records duplicated inside a batch, whole ranges replayed as retries do, the clock moved between
 * batches and the sweeper run — and after every step each member's aggregates and tags equal a
 * plain recomputation from the raw events it owns at that instant (test/unit/tags/reference.ts).
 *
 * The profiles live in `MemoryProfileStore` (same contract as the DynamoDB store, which
 * test/handlers checks against DynamoDB Local), so thousands of runs fit in CI's budget.
 * Runs: PORTRAIT_PIPELINE_RUNS (default 10,000: about 40 s on this 2-core VM).
 */
import type { DynamoDBStreamEvent } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, PortraitEvent } from '../../../events/envelope.ts';
import { makeSweeperHandler } from '../../../functions/sweeper/sweeper.ts';
import { makeTaggerHandler } from '../../../functions/tagger/tagger.ts';
import { memberKeyOf } from '../../../shared/adapters/event-store.ts';
import {
  defaultCatalogueJson,
  defaultRuleCatalogue,
} from '../../../shared/domain/tags/default-catalogue.ts';
import { evaluateTags } from '../../../shared/domain/tags/evaluate.ts';
import type { RuleCatalogueDefinition } from '../../../shared/domain/tags/rule-catalogue.ts';
import { silentLogger } from '../../../shared/logging/logger.ts';
import { MemoryProfileStore } from '../../support/memory-profile-store.ts';
import { insertRecord, type StreamedEvent, stream } from '../../support/tagger-stream.ts';
import { referenceAt } from './reference.ts';

const runs = Number(process.env.PORTRAIT_PIPELINE_RUNS ?? 10_000);
const definition = defaultCatalogueJson as RuleCatalogueDefinition;
const catalogue = defaultRuleCatalogue();
const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 10, 3, 0, 0);

const users = ['u0', 'u1', 'u2'] as const;
const visitors = ['a0', 'a1', 'a2'] as const;

interface EventSpec {
  readonly owner: string;
  readonly kind: number;
  readonly dayOffset: number;
  readonly ms: number;
  readonly pick: number;
  readonly link: string | undefined;
}

const eventSpec: fc.Arbitrary<EventSpec> = fc.record({
  owner: fc.constantFrom<string>(...users, ...visitors),
  kind: fc.integer({ min: 0, max: 5 }),
  dayOffset: fc.integer({ min: -400, max: 60 }),
  ms: fc.integer({ min: 0, max: DAY - 1 }),
  pick: fc.nat(),
  link: fc.option(fc.constantFrom<string>(...visitors), { nil: undefined, freq: 2 }),
});

const genders = ['female', '男', 'f', 'x'];
const cities = ['北京', '上海', 'Hangzhou'];
const categories = ['tech', 'beauty', 'food', 'travel'];

function toEvent(spec: EventSpec, n: number): PortraitEvent {
  const isUser = spec.owner.startsWith('u');
  const ids = isUser ? { userId: spec.owner } : { anonymousId: spec.owner };
  const timestamp = new Date(START + spec.dayOffset * DAY + spec.ms).toISOString();
  const base = { ...ids, messageId: `m${n}`, timestamp, receivedAt: timestamp, sourceId: 't' };
  const category = categories[spec.pick % categories.length] as string;
  switch (spec.kind) {
    case 0: {
      const traits: JsonObject = {
        gender: genders[spec.pick % genders.length] as string,
        city: cities[spec.pick % cities.length] as string,
        birthday: `19${70 + (spec.pick % 30)}-0${1 + (spec.pick % 9)}-1${spec.pick % 10}`,
      };
      const link = isUser && spec.link !== undefined ? { anonymousId: spec.link } : {};
      return { ...base, ...link, type: 'identify', traits };
    }
    case 1: {
      const properties: JsonObject = {
        orderId: `o${n}`,
        revenue: spec.pick % 7 === 0 ? 'n/a' : ((spec.pick % 50_000) / 100).toFixed(2),
        currency: spec.pick % 11 === 0 ? 'USD' : 'CNY',
        products: [{ category }],
      };
      if (spec.pick % 3 === 0) properties.coupon = 'C';
      return { ...base, type: 'track', event: 'Order Completed', properties };
    }
    case 2:
      return {
        ...base,
        type: 'track',
        event: 'Consultation',
        properties: { topic: spec.pick % 4 === 0 ? 'house' : 'car' },
      };
    case 3:
      return { ...base, type: 'track', event: 'Product Viewed', properties: { category } };
    case 4:
      return { ...base, type: 'track', event: 'Content Liked', properties: { category } };
    default:
      return { ...base, type: 'page', name: 'Home', properties: {} };
  }
}

interface Step {
  /** Cut the stream after this record. */
  readonly cut: boolean;
  readonly advance: { kind: 'by'; ms: number } | { kind: 'toNextChange'; offset: number };
  /** Deliver one record of the batch twice. */
  readonly duplicate: number | undefined;
  /** After the batch, deliver again everything from this earlier record to the batch's end. */
  readonly replay: number | undefined;
  readonly sweep: boolean;
}

const step: fc.Arbitrary<Step> = fc.record({
  cut: fc.boolean(),
  advance: fc.oneof(
    fc.record({ kind: fc.constant('by' as const), ms: fc.integer({ min: 0, max: 40 * DAY }) }),
    fc.record({
      kind: fc.constant('toNextChange' as const),
      offset: fc.integer({ min: -1, max: 1 }),
    }),
  ),
  duplicate: fc.option(fc.nat(), { nil: undefined, freq: 4 }),
  replay: fc.option(fc.nat(), { nil: undefined, freq: 3 }),
  sweep: fc.boolean(),
});

function streamEvent(records: readonly StreamedEvent[]): DynamoDBStreamEvent {
  return { Records: records.map(insertRecord) };
}

describe('tagger and sweeper against recomputation from raw events', () => {
  it(
    `any interleaving, batching, duplication, replay, identity link and clock (${runs} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(eventSpec, { minLength: 1, maxLength: 30 }),
          fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
          fc.array(step, { minLength: 30, maxLength: 30 }),
          async (specs, choices, steps) => {
            const events = specs.map(toEvent);
            // Stream order: each partition's events in order, partitions interleaved at random.
            const partitions = new Map<string, PortraitEvent[]>();
            for (const event of events) {
              const key = memberKeyOf(event);
              partitions.set(key, [...(partitions.get(key) ?? []), event]);
            }
            const queues = [...partitions.values()];
            const ordered: PortraitEvent[] = [];
            for (let i = 0; ordered.length < events.length; i += 1) {
              const open = queues.filter((queue) => queue.length > 0);
              const queue = open[
                (choices[i % choices.length] ?? 0) % open.length
              ] as PortraitEvent[];
              ordered.push(queue.shift() as PortraitEvent);
            }
            const streamed = stream(ordered);

            const store = new MemoryProfileStore();
            let now = START;
            const deps = {
              catalogue,
              zone: 'Asia/Shanghai',
              now: () => now,
              logger: silentLogger,
            };
            const tagger = makeTaggerHandler({
              ...deps,
              applyProfile: (key, update) => store.apply(key, update),
              mergeIdentity: (source, into, combine) => store.merge(source, into, combine),
            });
            const sweeper = makeSweeperHandler({
              ...deps,
              dueMembers: (shard, at) => store.due(shard, at),
              applyProfile: (key, update) => store.apply(key, update),
              shards: 1,
            });

            // What the reference sees: events delivered so far, and which member owns each
            // partition (an anonymous id joins the first user an identify links it to).
            const delivered = new Set<number>();
            const owner = new Map<string, string>();
            let position = 0;
            for (const [i, plan] of steps.entries()) {
              if (position >= streamed.length) break;
              let end = position + 1;
              while (end < streamed.length && !(steps[(i + end) % steps.length] as Step).cut) {
                end += 1;
              }
              const items = streamed.slice(position, end);

              if (plan.advance.kind === 'by') now += plan.advance.ms;
              else {
                const next = Math.min(
                  ...store.memberKeys().map((key) => store.get(key)?.nextChangeAt ?? Infinity),
                );
                if (Number.isFinite(next)) now = Math.max(now, next + plan.advance.offset);
              }

              const batch = [...items];
              if (plan.duplicate !== undefined) {
                const at = plan.duplicate % batch.length;
                batch.splice(at, 0, batch[at] as StreamedEvent);
              }
              expect((await tagger(streamEvent(batch))).batchItemFailures).toEqual([]);
              for (let k = position; k < end; k += 1) {
                delivered.add(k);
                const event = (streamed[k] as StreamedEvent).event;
                if (event.type === 'identify' && event.userId && event.anonymousId) {
                  const visitor = `a#${event.anonymousId}`;
                  if (!owner.has(visitor)) owner.set(visitor, `u#${event.userId}`);
                }
              }
              if (plan.replay !== undefined) {
                const from = plan.replay % end;
                const again = streamed.slice(from, end);
                expect((await tagger(streamEvent(again))).batchItemFailures).toEqual([]);
              }
              position = end;
              if (plan.sweep) await sweeper();

              // Every member, at this instant.
              const owned = new Map<string, PortraitEvent[]>();
              for (const k of delivered) {
                const event = (streamed[k] as StreamedEvent).event;
                const key = memberKeyOf(event);
                const member = owner.get(key) ?? key;
                owned.set(member, [...(owned.get(member) ?? []), event]);
              }
              for (const [key, link] of owner) {
                expect(store.resolve(key).memberKey, `${key} joined ${link}`).toBe(link);
              }
              for (const [member, memberEvents] of owned) {
                const stored = store.get(member);
                const want = referenceAt(definition, memberEvents, now, 'Asia/Shanghai');
                const read = evaluateTags(
                  stored?.state ?? (undefined as never),
                  catalogue,
                  now,
                  'Asia/Shanghai',
                );
                const at = `${member} at ${new Date(now).toISOString()}`;
                expect(read.aggregates, at).toEqual(want.aggregates);
                expect(read.tags, at).toEqual(want.tags);
                // After a sweep, what is stored is exact too, not only what is read.
                if (plan.sweep) expect(stored?.tags, `${at} (stored)`).toEqual(want.tags);
              }
            }
          },
        ),
        { numRuns: runs },
      );
    },
    120_000 + runs * 200,
  );
});
