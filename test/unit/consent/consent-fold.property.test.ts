/**
 * Consent folded into a profile equals a plain reference over the raw events: per purpose, the
 * statement of the latest (timestamp, messageId) event that says anything about it, refusal
 * winning within one event — whatever the order, batching, duplication (replays), JSON round
 * trips and identity merges (two halves folded apart, then merged).
 *
 * Runs: PORTRAIT_PROPERTY_RUNS (default 600).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonObject, PortraitEvent } from '../../../events/envelope.ts';
import {
  type ConsentCategoryMap,
  defaultConsentCategories,
} from '../../../shared/domain/consent/consent.ts';
import { segmentPurposes } from '../../../shared/domain/segments/segment-definition.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import { foldEvents } from '../../../shared/domain/tags/fold.ts';
import {
  emptyProfile,
  mergeProfiles,
  type ProfileState,
  profileFromJson,
  profileToJson,
} from '../../../shared/domain/tags/profile.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 600);
const catalogue = defaultRuleCatalogue();
const zone = 'Asia/Shanghai';
const T0 = Date.UTC(2026, 0, 1);

/** A brand mapping with a category shared by two purposes, and one purpose under two names. */
const brandCategories: ConsentCategoryMap = {
  ...defaultConsentCategories,
  c0004: ['marketing', 'personalisation'],
};
/** Category names as apps send them: any case, some unknown to the mapping. */
const categoryNames = [
  'Marketing',
  'advertising',
  'Analytics',
  'Functional',
  'personalization',
  'C0004',
  'Strictly Necessary',
  'sms',
];

const preferences = fc.dictionary(fc.constantFrom(...categoryNames), fc.boolean(), {
  maxKeys: 3,
});

interface Said {
  readonly ts: number;
  readonly messageId: string;
  readonly prefs: readonly Readonly<Record<string, boolean>>[];
}

/** A consent-bearing event (or one without consent), in one of the three ways to say it. */
const eventArb: fc.Arbitrary<PortraitEvent> = fc
  .record({
    // Few instants and ids, so ties on the timestamp and on the messageId both happen.
    ts: fc.integer({ min: 0, max: 5 }).map((n) => T0 + n * 60_000),
    messageId: fc.constantFrom('m-a', 'm-b', 'm-c', 'm-d', 'm-e', 'm-f'),
    how: fc.constantFrom('context', 'traits', 'event', 'both', 'none'),
    first: preferences,
    second: preferences,
  })
  .map(({ ts, messageId, how, first, second }): PortraitEvent => {
    const timestamp = new Date(ts).toISOString();
    const base = { messageId, timestamp, receivedAt: timestamp, sourceId: 's', userId: 'u1' };
    const context: JsonObject = { consent: { categoryPreferences: first } };
    switch (how) {
      case 'context':
        return { ...base, type: 'track', event: 'Order Completed', context, properties: {} };
      case 'traits':
        return { ...base, type: 'identify', traits: { consent: first, city: '北京' } };
      case 'event':
        return {
          ...base,
          type: 'track',
          event: 'consent_updated',
          properties: { categoryPreferences: first },
        };
      case 'both':
        return { ...base, type: 'identify', traits: { consent: second }, context };
      default:
        return { ...base, type: 'page', name: 'home', properties: {} };
    }
  });

/** What an event says, read straight from the raw JSON. */
function saidBy(event: PortraitEvent): Said {
  const prefs: Record<string, boolean>[] = [];
  const context = event.context?.consent as { categoryPreferences?: Record<string, boolean> };
  if (context?.categoryPreferences) prefs.push(context.categoryPreferences);
  if (event.type === 'identify' && event.traits?.consent) {
    prefs.push(event.traits.consent as Record<string, boolean>);
  }
  if (event.type === 'track' && event.properties?.categoryPreferences) {
    prefs.push(event.properties.categoryPreferences as Record<string, boolean>);
  }
  return { ts: Date.parse(event.timestamp), messageId: event.messageId, prefs };
}

/** The reference: per purpose, the winning statement over all events. */
function reference(events: readonly PortraitEvent[], map: ConsentCategoryMap) {
  const best = new Map<string, { ts: number; messageId: string; granted: boolean }>();
  for (const event of events) {
    const said = saidBy(event);
    for (const purpose of segmentPurposes) {
      let statement: boolean | undefined;
      for (const prefs of said.prefs) {
        for (const [name, granted] of Object.entries(prefs)) {
          if (!(map[name.toLowerCase()] ?? []).includes(purpose)) continue;
          statement = statement === undefined ? granted : statement && granted;
        }
      }
      if (statement === undefined) continue;
      const held = best.get(purpose);
      const later =
        !held ||
        said.ts > held.ts ||
        (said.ts === held.ts && said.messageId > held.messageId) ||
        (said.ts === held.ts && said.messageId === held.messageId && !statement);
      if (later) best.set(purpose, { ts: said.ts, messageId: said.messageId, granted: statement });
    }
  }
  return Object.fromEntries([...best].map(([purpose, entry]) => [purpose, entry.granted]));
}

function consentOf(state: ProfileState) {
  return Object.fromEntries([...(state.consent ?? [])].map(([p, entry]) => [p, entry.granted]));
}

function foldInBatches(
  events: readonly PortraitEvent[],
  cuts: readonly number[],
  map: ConsentCategoryMap,
  roundTrip: boolean,
): ProfileState {
  let state = emptyProfile(catalogue, zone);
  let from = 0;
  for (const cut of [...cuts, events.length]) {
    const to = Math.min(events.length, Math.max(from, cut));
    state = foldEvents(state, events.slice(from, to), catalogue, zone, map).state;
    if (roundTrip) state = profileFromJson(JSON.parse(JSON.stringify(profileToJson(state))));
    from = to;
  }
  return state;
}

describe('consent fold (property)', () => {
  it('equals the latest statement per purpose, in any order, batching, replay and round trip', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 12 }),
        fc.array(fc.nat(12), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        fc.boolean(),
        fc.constantFrom(defaultConsentCategories, brandCategories),
        (events, cuts, replays, roundTrip, map) => {
          const expected = reference(events, map);
          expect(consentOf(foldInBatches(events, [], map, false))).toEqual(expected);
          // Reordered, with some events delivered again, cut into batches.
          const shuffled = [...events].reverse();
          for (const r of replays) {
            const again = events[r % Math.max(1, events.length)];
            if (again) shuffled.splice(r % (shuffled.length + 1), 0, again);
          }
          const sortedCuts = [...cuts].sort((a, b) => a - b);
          const state = foldInBatches(shuffled, sortedCuts, map, roundTrip);
          expect(consentOf(state)).toEqual(expected);
          // The stored form is canonical: the same consent serialises the same way.
          expect(JSON.stringify(profileToJson(state).consent)).toBe(
            JSON.stringify(profileToJson(foldInBatches(events, [], map, false)).consent),
          );
        },
      ),
      { numRuns: runs },
    );
  });

  it('merging two folded halves gives the consent of the whole history', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 12 }), fc.nat(12), (events, at) => {
        const half = (list: readonly PortraitEvent[]) =>
          foldEvents(emptyProfile(catalogue, zone), list, catalogue, zone).state;
        const merged = mergeProfiles(half(events.slice(0, at)), half(events.slice(at)), catalogue);
        expect(consentOf(merged)).toEqual(reference(events, defaultConsentCategories));
        expect(
          consentOf(mergeProfiles(half(events.slice(at)), half(events.slice(0, at)), catalogue)),
        ).toEqual(consentOf(merged));
      }),
      { numRuns: runs },
    );
  });
});
