/**
 * Consent per purpose. Members grant or refuse each purpose a segment can serve (marketing,
 * analytics, service, personalisation) through any event's `context.consent.categoryPreferences`
 * (the Segment Spec's consent object), `identify` traits' `consent`, or the `Consent Updated`
 * track event's `categoryPreferences`. A category name (a consent manager's "Advertising",
 * "Functional", …) is mapped to purposes by a {@link ConsentCategoryMap}. Per purpose, the latest
 * (timestamp, messageId) wins, so replayed, duplicated or reordered events give the same state.
 * Pure: no configuration is read here; defaults come in as arguments.
 */

import { canonicalEventName } from '../../../events/catalogue.ts';
import type { JsonValue, PortraitEvent } from '../../../events/envelope.ts';
import { type SegmentPurpose, segmentPurposes } from '../segments/segment-definition.ts';

/** One purpose's consent with the (timestamp, messageId) of the event that set it. */
export interface ConsentEntry {
  readonly granted: boolean;
  readonly ts: number;
  readonly messageId: string;
}

/** Category name (compared lower-cased and trimmed) → the purposes it grants or refuses. */
export type ConsentCategoryMap = Readonly<Record<string, readonly SegmentPurpose[]>>;

/** Whether each purpose is granted for a member who never said. */
export type ConsentDefaults = Readonly<Record<SegmentPurpose, boolean>>;

/** A member's consent, resolved: every purpose granted or not. */
export type ResolvedConsent = Readonly<Record<SegmentPurpose, boolean>>;

/**
 * The mapping used unless the brand configures another: the purposes by their own names, and
 * the category names common consent managers use.
 */
export const defaultConsentCategories: ConsentCategoryMap = {
  marketing: ['marketing'],
  advertising: ['marketing'],
  analytics: ['analytics'],
  performance: ['analytics'],
  service: ['service'],
  functional: ['service'],
  personalisation: ['personalisation'],
  personalization: ['personalisation'],
};

/** Every purpose granted until the member says otherwise (an opt-out model). */
export const grantedByDefault: ConsentDefaults = {
  marketing: true,
  analytics: true,
  service: true,
  personalisation: true,
};

/** The track event that carries only consent (its `properties.categoryPreferences`). */
export const consentEventName = 'Consent Updated';
const consentEventKey = canonicalEventName(consentEventName);

/** Limits on one consent object. */
export const consentLimits = { maxCategories: 50, maxCategoryLength: 100 } as const;

/** A consent object an event carries, with the JSON Pointer it sits at. */
export interface ConsentSource {
  readonly pointer: string;
  readonly value: JsonValue | undefined;
}

function isObject(value: unknown): value is Readonly<Record<string, JsonValue>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The consent objects an event carries (present or not), for the validator and the fold. */
export function consentSourcesOf(event: {
  readonly type: string;
  readonly event?: string;
  readonly properties?: Readonly<Record<string, JsonValue>>;
  readonly traits?: Readonly<Record<string, JsonValue>>;
  readonly context?: Readonly<Record<string, JsonValue>>;
}): ConsentSource[] {
  const sources: ConsentSource[] = [];
  const consent = event.context?.consent;
  if (consent !== undefined) {
    sources.push({
      pointer: '/context/consent/categoryPreferences',
      value: isObject(consent) ? consent.categoryPreferences : consent,
    });
  }
  if (event.type === 'identify' && event.traits?.consent !== undefined) {
    sources.push({ pointer: '/traits/consent', value: event.traits.consent });
  }
  if (
    event.type === 'track' &&
    event.event !== undefined &&
    canonicalEventName(event.event) === consentEventKey
  ) {
    sources.push({
      pointer: '/properties/categoryPreferences',
      value: event.properties?.categoryPreferences,
    });
  }
  return sources;
}

/**
 * Why a consent object is unacceptable (`{ pointer, message }`), or undefined when it is fine.
 * An object of category → boolean, at most {@link consentLimits}; `context.consent` without
 * `categoryPreferences` is accepted (the Spec allows other consent fields there).
 */
export function consentProblem(
  source: ConsentSource,
): { pointer: string; message: string } | undefined {
  const { pointer, value } = source;
  if (value === undefined && pointer.startsWith('/context/')) return undefined;
  if (value === undefined) {
    return {
      pointer,
      message: 'categoryPreferences is required: an object of category → true or false.',
    };
  }
  if (!isObject(value)) {
    return { pointer, message: 'consent must be an object of category → true or false.' };
  }
  const keys = Object.keys(value);
  if (keys.length > consentLimits.maxCategories) {
    return {
      pointer,
      message: `consent names ${keys.length} categories; at most ${consentLimits.maxCategories}.`,
    };
  }
  for (const key of keys) {
    const at = `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (key.trim() === '' || key.length > consentLimits.maxCategoryLength) {
      return {
        pointer: at,
        message: `a consent category is 1–${consentLimits.maxCategoryLength} characters, not blank.`,
      };
    }
    if (typeof value[key] !== 'boolean') {
      return { pointer: at, message: `consent for "${key}" must be true or false.` };
    }
  }
  return undefined;
}

/**
 * What one event says about each purpose: the categories it names, mapped to purposes. When one
 * event says both yes and no to a purpose (two categories, or two sources), no wins.
 */
export function consentOfEvent(
  event: PortraitEvent,
  categories: ConsentCategoryMap,
): Map<SegmentPurpose, boolean> {
  const said = new Map<SegmentPurpose, boolean>();
  for (const source of consentSourcesOf(event)) {
    if (!isObject(source.value)) continue;
    for (const [category, granted] of Object.entries(source.value)) {
      if (typeof granted !== 'boolean') continue;
      const purposes = Object.hasOwn(categories, category.trim().toLowerCase())
        ? categories[category.trim().toLowerCase()]
        : undefined;
      for (const purpose of purposes ?? []) {
        said.set(purpose, (said.get(purpose) ?? true) && granted);
      }
    }
  }
  return said;
}

/** Whether entry `a` wins over `b`: later (timestamp, messageId), then refusal over grant. */
export function consentWins(a: ConsentEntry, b: ConsentEntry): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if (a.messageId !== b.messageId) return a.messageId > b.messageId;
  return !a.granted && b.granted;
}

/** Folds one entry into a consent map (in place). */
export function applyConsent(
  into: Map<string, ConsentEntry>,
  purpose: SegmentPurpose,
  entry: ConsentEntry,
): void {
  const held = into.get(purpose);
  if (held === undefined || consentWins(entry, held)) into.set(purpose, entry);
}

/** The consent of two histories together (identity merges): per purpose, the winner. */
export function mergeConsent(
  a: ReadonlyMap<string, ConsentEntry> | undefined,
  b: ReadonlyMap<string, ConsentEntry> | undefined,
): Map<string, ConsentEntry> {
  const merged = new Map(a ?? []);
  for (const [purpose, entry] of b ?? []) {
    const held = merged.get(purpose);
    if (held === undefined || consentWins(entry, held)) merged.set(purpose, entry);
  }
  return merged;
}

/** Every purpose granted or not: what the member said, else the default. */
export function resolveConsent(
  consent: ReadonlyMap<string, ConsentEntry> | undefined,
  defaults: ConsentDefaults,
): ResolvedConsent {
  const resolved = {} as Record<SegmentPurpose, boolean>;
  for (const purpose of segmentPurposes) {
    resolved[purpose] = consent?.get(purpose)?.granted ?? defaults[purpose];
  }
  return resolved;
}

/** The dependency field under which segments of a purpose read consent. */
export function consentField(purpose: SegmentPurpose): string {
  return `consent:${purpose}`;
}

/** Checks a brand's mapping: known purposes only, lower-case trimmed keys. */
export function checkConsentCategories(categories: ConsentCategoryMap): string[] {
  const problems: string[] = [];
  for (const [category, purposes] of Object.entries(categories)) {
    if (category !== category.trim().toLowerCase() || category === '') {
      problems.push(`category "${category}" must be lower-case, trimmed and non-empty`);
    }
    for (const purpose of purposes) {
      if (!(segmentPurposes as readonly string[]).includes(purpose)) {
        problems.push(`category "${category}" maps to unknown purpose "${purpose}"`);
      }
    }
  }
  return problems;
}
