/**
 * The event catalogue, as data: one JSON Schema per known `track` event name for `properties`,
 * one for `identify` traits, and the Segment Spec envelope. These schemas are the single source
 * for edge validation (`shared/domain/ingest/validate-event.ts`), the TypeScript types below and
 * the published API document.
 *
 * Conventions the validator and the document generator rely on:
 * - `format: 'money'` is a non-negative decimal string such as `"19.90"`; money fields are
 *   `type: ['number', 'string']`, so a number must satisfy `minimum` and a string the format.
 * - `format: 'currency'` is an ISO 4217 code: three upper-case letters.
 * - `personal: true` marks personal data (phone, email, name, address) for privacy work.
 * - Catalogue objects allow extra properties: apps may send more than the catalogue names.
 */
import {
  type EventType,
  eventTypes,
  ingestLimits,
  type JsonObject,
  type JsonValue,
} from './envelope.ts';

type SchemaTypeName = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'array' | 'object';

/** The subset of JSON Schema (draft 07) the catalogue is written in. */
export interface CatalogueSchema {
  readonly type?: SchemaTypeName | readonly SchemaTypeName[];
  readonly title?: string;
  readonly description?: string;
  readonly properties?: { readonly [name: string]: CatalogueSchema };
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly items?: CatalogueSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: string;
  readonly enum?: readonly JsonValue[];
  readonly examples?: readonly JsonValue[];
  /** Personal data: erased with the member, never logged, hidden without `members:read:pii`. */
  readonly personal?: boolean;
}

/** Custom string formats used by the catalogue, with the wording error messages use. */
export const catalogueFormats = {
  money: {
    pattern: /^\d{1,18}(?:\.\d{1,18})?$/,
    description: 'a non-negative decimal string such as "19.90"',
  },
  currency: {
    pattern: /^[A-Z]{3}$/,
    description: 'an ISO 4217 currency code of three upper-case letters such as "CNY"',
  },
} as const;

const shortText = (description: string, maxLength = 200) =>
  ({ type: 'string', minLength: 1, maxLength, description }) as const;

const money = (description: string) =>
  ({
    type: ['number', 'string'],
    minimum: 0,
    format: 'money',
    description: `${description}. A number ≥ 0 or a decimal string; send a string for exact amounts.`,
  }) as const;

const product = {
  type: 'object',
  description: 'One line of an order.',
  required: ['sku'],
  properties: {
    sku: shortText('Stock keeping unit'),
    productId: shortText('Product id'),
    name: shortText('Product name'),
    category: shortText('Product category, e.g. "美妆" or "Electronics"'),
    brand: shortText('Brand'),
    price: money('Unit price'),
    quantity: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Units, ≥ 1' },
  },
} as const satisfies CatalogueSchema;

const orderCompleted = {
  type: 'object',
  title: 'Order Completed',
  description: 'A member completed an order (online, in a mini-program or at a POS).',
  required: ['orderId', 'revenue'],
  properties: {
    orderId: shortText('Order id, unique per brand'),
    revenue: money('Revenue of the order, after discounts, without shipping and tax'),
    currency: {
      type: 'string',
      format: 'currency',
      description: 'ISO 4217 code of every amount in the order',
    },
    discount: money('Total discount'),
    coupon: shortText('Coupon code used'),
    store: shortText('Store id or name; absent for online orders'),
    products: {
      type: 'array',
      maxItems: 500,
      items: product,
      description: 'Order lines',
    },
  },
} as const satisfies CatalogueSchema;

const productViewed = {
  type: 'object',
  title: 'Product Viewed',
  description: 'A member viewed a product.',
  properties: {
    sku: shortText('Stock keeping unit'),
    productId: shortText('Product id'),
    name: shortText('Product name'),
    category: shortText('Product category'),
    brand: shortText('Brand'),
    price: money('Unit price'),
    currency: { type: 'string', format: 'currency', description: 'ISO 4217 code of `price`' },
    store: shortText('Store id or name'),
  },
} as const satisfies CatalogueSchema;

const storeVisited = {
  type: 'object',
  title: 'Store Visited',
  description: 'A member visited a physical store.',
  required: ['store'],
  properties: {
    store: shortText('Store id or name'),
    city: shortText('City of the store'),
    durationSeconds: { type: 'number', minimum: 0, description: 'Length of the visit' },
  },
} as const satisfies CatalogueSchema;

const consultation = {
  type: 'object',
  title: 'Consultation',
  description: 'A member asked an adviser about a topic (chat, phone or in store).',
  required: ['topic'],
  properties: {
    topic: shortText('What the consultation was about, e.g. "cars" or "护肤"'),
    channel: shortText('Where it happened, e.g. "wecom", "phone", "store"'),
    store: shortText('Store id or name'),
  },
} as const satisfies CatalogueSchema;

const couponRedeemed = {
  type: 'object',
  title: 'Coupon Redeemed',
  description: 'A member redeemed a coupon.',
  required: ['coupon'],
  properties: {
    coupon: shortText('Coupon code'),
    campaignId: shortText('Campaign that issued the coupon'),
    discount: money('Discount granted'),
    currency: { type: 'string', format: 'currency', description: 'ISO 4217 code of `discount`' },
    orderId: shortText('Order the coupon was applied to'),
  },
} as const satisfies CatalogueSchema;

const contentLiked = {
  type: 'object',
  title: 'Content Liked',
  description: 'A member liked an article, video or post.',
  required: ['category'],
  properties: {
    category: shortText('Content category, e.g. "tech", "美食"'),
    contentId: shortText('Content id'),
    title: shortText('Content title', 500),
  },
} as const satisfies CatalogueSchema;

const shared = {
  type: 'object',
  title: 'Shared',
  description: 'A member shared content or a product with others.',
  properties: {
    channel: shortText('Where it was shared, e.g. "wechat_moments"'),
    contentId: shortText('Content id'),
    sku: shortText('Product shared, if any'),
    category: shortText('Category of what was shared'),
  },
} as const satisfies CatalogueSchema;

const campaignResponded = {
  type: 'object',
  title: 'Campaign Responded',
  description: 'A member responded to a marketing campaign (opened, clicked, replied).',
  required: ['campaignId'],
  properties: {
    campaignId: shortText('Campaign id'),
    response: shortText('Kind of response, e.g. "opened", "clicked"'),
    channel: shortText('Channel of the campaign, e.g. "sms", "wechat"'),
  },
} as const satisfies CatalogueSchema;

const consentUpdated = {
  type: 'object',
  title: 'Consent Updated',
  description:
    "A member granted or refused purposes (docs/SEGMENTS.md § Consent). Any event may also carry `context.consent.categoryPreferences`, as Segment's `Segment Consent Preference Updated` does.",
  required: ['categoryPreferences'],
  properties: {
    categoryPreferences: {
      type: 'object',
      description:
        "Category → true (granted) or false (refused), at most 50; categories map to purposes (marketing, analytics, service, personalisation) by the brand's configuration.",
      examples: [{ marketing: false, analytics: true }],
    },
  },
} as const satisfies CatalogueSchema;

const identifyTraits = {
  type: 'object',
  title: 'Identify traits',
  description: 'Member traits sent with `identify`. Custom traits are allowed and kept.',
  properties: {
    gender: shortText('Gender as the brand records it, e.g. "female", "male", "女"', 32),
    birthday: { type: 'string', format: 'date', description: 'Date of birth, YYYY-MM-DD' },
    age: { type: 'integer', minimum: 0, maximum: 150, description: 'Age in years' },
    city: shortText('City'),
    occupation: shortText('Occupation'),
    email: { type: 'string', format: 'email', maxLength: 320, personal: true },
    phone: {
      type: 'string',
      minLength: 3,
      maxLength: 32,
      description: 'Phone number, preferably E.164 (+8613800000000)',
      personal: true,
    },
    name: { ...shortText('Full name'), personal: true },
    firstName: { ...shortText('Given name'), personal: true },
    lastName: { ...shortText('Family name'), personal: true },
    address: {
      type: ['string', 'object'],
      description: 'Postal address, as text or as an object',
      personal: true,
    },
    consent: {
      type: 'object',
      description:
        'Consent per purpose or category: name → true (granted) or false (refused), at most 50 (docs/SEGMENTS.md § Consent)',
    },
  },
} as const satisfies CatalogueSchema;

/** One catalogue entry: the schema of a known event's `properties`. */
export interface CatalogueEntry {
  /** Canonical key: snake_case of the display name (`order_completed`). */
  readonly key: string;
  /** Display name in Segment's Title Case (`Order Completed`). */
  readonly name: string;
  readonly schema: CatalogueSchema;
}

const entries: readonly CatalogueEntry[] = [
  orderCompleted,
  productViewed,
  storeVisited,
  consultation,
  couponRedeemed,
  contentLiked,
  shared,
  campaignResponded,
  consentUpdated,
].map((schema) => ({ key: canonicalEventName(schema.title), name: schema.title, schema }));

const entriesByKey = new Map(entries.map((entry) => [entry.key, entry]));

/** Canonical key of the identify traits schema in `catalogueSchemas()`. */
export const identifyTraitsKey = 'identify_traits';

/**
 * Canonical catalogue key of an event name: camelCase split, letters lower-cased, runs of
 * anything but letters and digits turned into one `_`. `Order Completed`, `order_completed`,
 * `order-completed` and `OrderCompleted` are all `order_completed`. Non-Latin names keep their
 * letters (`下单` stays `下单`).
 */
export function canonicalEventName(name: string): string {
  return name
    .replace(/(\p{Ll}|\p{Nd})(\p{Lu})/gu, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '');
}

/** The catalogue entry for an event name in any spelling, or `undefined` for custom events. */
export function catalogueEntry(eventName: string): CatalogueEntry | undefined {
  return entriesByKey.get(canonicalEventName(eventName));
}

/** Schema of `identify` traits. */
export const identifyTraitsSchema: CatalogueSchema = identifyTraits;

export interface CatalogueListing {
  readonly kind: 'track_properties' | 'identify_traits';
  readonly key: string;
  readonly name: string;
  readonly schema: CatalogueSchema;
  /** JSON Pointers (relative to `properties` / `traits`) of fields marked `personal`. */
  readonly personalFields: readonly string[];
}

/** Every catalogue schema, for the API document and the privacy tooling. */
export function catalogueSchemas(): readonly CatalogueListing[] {
  return [
    ...entries.map(
      (entry): CatalogueListing => ({
        kind: 'track_properties',
        key: entry.key,
        name: entry.name,
        schema: entry.schema,
        personalFields: personalFields(entry.schema),
      }),
    ),
    {
      kind: 'identify_traits',
      key: identifyTraitsKey,
      name: identifyTraits.title,
      schema: identifyTraits,
      personalFields: personalFields(identifyTraits),
    },
  ];
}

/** JSON Pointers of the fields a schema marks `personal: true` (array items as `/-`). */
export function personalFields(schema: CatalogueSchema, prefix = ''): string[] {
  const found: string[] = schema.personal ? [prefix] : [];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    found.push(
      ...personalFields(child, `${prefix}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`),
    );
  }
  if (schema.items) found.push(...personalFields(schema.items, `${prefix}/-`));
  return found;
}

/** Ids compared against this list (trimmed, case-insensitive) are placeholders, not ids. */
export const blockedIdentityValues = [
  '',
  'null',
  'undefined',
  'nil',
  'none',
  'nan',
  '0',
  '-1',
  'anonymous',
  'unknown',
  'n/a',
  '[object object]',
  'true',
  'false',
] as const;

const idSchema = (description: string) =>
  ({
    type: ['string', 'integer', 'null'],
    minLength: 1,
    maxLength: ingestLimits.maxIdLength,
    description: `${description}. An integer is converted to its decimal string; null means absent; placeholder values (${blockedIdentityValues
      .filter((value) => value !== '')
      .map((value) => `"${value}"`)
      .join(', ')}, the empty string) are rejected.`,
  }) as const;

const instant = (description: string) =>
  ({ type: ['string', 'null'], format: 'date-time', description }) as const;

const objectOrNull = (description: string) => ({ type: ['object', 'null'], description }) as const;

const envelopeProperties = {
  messageId: {
    type: ['string', 'null'],
    minLength: 1,
    maxLength: ingestLimits.maxIdLength,
    description:
      'Client-chosen unique id, the dedup key. Assigned by the server when absent. ' +
      'The first event stored with a given messageId for a member wins.',
  },
  type: { type: 'string', enum: eventTypes, description: 'Required in a batch.' },
  userId: idSchema("The member's id in the brand's systems"),
  anonymousId: idSchema('Device or cookie id of a not-yet-identified visitor'),
  previousId: idSchema('`alias`: the id being linked to `userId`'),
  groupId: idSchema('`group`: the group (company, household, store) id'),
  event: {
    type: ['string', 'null'],
    minLength: 1,
    maxLength: ingestLimits.maxEventNameLength,
    description: '`track`: event name, a catalogue name in any spelling or a custom name.',
  },
  name: {
    type: ['string', 'null'],
    maxLength: ingestLimits.maxEventNameLength,
    description: '`page` / `screen`: page or screen name.',
  },
  properties: objectOrNull('`track` / `page` / `screen`: checked against the catalogue'),
  traits: objectOrNull('`identify`: member traits; `group`: group traits'),
  context: objectOrNull('Device, app, locale, campaign and so on; stored as sent'),
  integrations: { description: 'Accepted and ignored.' },
  timestamp: instant('When it happened on the client (RFC 3339 with Z or an offset)'),
  originalTimestamp: instant('Client time when `timestamp` is absent'),
  sentAt: instant('When the client sent it; used to correct client clock skew'),
  writeKey: { type: 'string', description: 'Source write key, when not sent as Basic auth.' },
} as const;

const idValue = { type: ['string', 'integer'] } as const;

/** What each type requires beyond the common fields. */
const typeRules = {
  track: [{ required: ['event'], properties: { event: { type: 'string' } } }],
  identify: [identityRule()],
  alias: [
    { required: ['userId', 'previousId'], properties: { userId: idValue, previousId: idValue } },
  ],
  page: [identityRule()],
  screen: [identityRule()],
  group: [identityRule(), { required: ['groupId'], properties: { groupId: idValue } }],
} as const;

function identityRule() {
  return {
    anyOf: [
      { required: ['userId'], properties: { userId: idValue } },
      { required: ['anonymousId'], properties: { anonymousId: idValue } },
    ],
  } as const;
}

const envelopeItemSchema = {
  title: 'SegmentEvent',
  description: `One Segment Spec event, at most ${ingestLimits.maxEventBytes} bytes serialised, nested at most ${ingestLimits.maxDepth} levels, strings at most ${ingestLimits.maxStringLength} characters.`,
  type: 'object',
  required: ['type'],
  properties: envelopeProperties,
  allOf: eventTypes.map((type) => ({
    if: { required: ['type'], properties: { type: { const: type } } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable.
    then: { allOf: typeRules[type] },
  })),
} as const;

/**
 * JSON Schema of one Segment Spec event as sent in a `/v1/batch` request (`type` required).
 * Per-route bodies are {@link routeEnvelopeSchema}. The validator is at least as strict as this
 * schema: timestamps must also be after 2000 and inside the accepted window, ids not placeholders.
 */
export const envelopeSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  ...envelopeItemSchema,
} as const;

/** JSON Schema of a single-event route's body (`/v1/track` …): `type` optional, fixed. */
export function routeEnvelopeSchema(type: EventType) {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: `Segment${type[0]?.toUpperCase() ?? ''}${type.slice(1)}`,
    type: 'object',
    properties: { ...envelopeProperties, type: { enum: [type, null] } },
    allOf: typeRules[type],
  } as const;
}

/** JSON Schema of a `/v1/batch` body. */
export const batchRequestSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'SegmentBatch',
  description: `At most ${ingestLimits.maxBatchEvents} events and ${ingestLimits.maxBatchBytes} bytes.`,
  type: 'object',
  required: ['batch'],
  properties: {
    batch: {
      type: 'array',
      maxItems: ingestLimits.maxBatchEvents,
      items: envelopeItemSchema,
    },
    context: objectOrNull('Merged into every event’s context; the event’s own keys win'),
    integrations: { description: 'Accepted and ignored.' },
    sentAt: instant('When the client sent the batch; applies to events without their own'),
    writeKey: { type: 'string', description: 'Source write key, when not sent as Basic auth.' },
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Types derived from the schemas, so code reading properties sees the catalogue's shape.

type PrimitiveOf<T> = T extends 'string'
  ? string
  : T extends 'number' | 'integer'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : T extends 'array'
          ? JsonValue[]
          : T extends 'object'
            ? JsonObject
            : never;

type ObjectOf<P, R> = { -readonly [K in keyof P & R]: FromSchema<P[K]> } & {
  -readonly [K in Exclude<keyof P, R>]?: FromSchema<P[K]>;
} & JsonObject;

/** The TypeScript type of values a catalogue schema accepts (the subset the catalogue uses). */
export type FromSchema<S> = S extends { readonly type: 'object'; readonly properties: infer P }
  ? ObjectOf<P, S extends { readonly required: readonly (infer R)[] } ? R : never>
  : S extends { readonly type: 'array'; readonly items: infer I }
    ? FromSchema<I>[]
    : S extends { readonly type: infer T }
      ? T extends readonly (infer U)[]
        ? PrimitiveOf<U>
        : PrimitiveOf<T>
      : JsonValue;

export type OrderCompletedProperties = FromSchema<typeof orderCompleted>;
export type OrderLine = FromSchema<typeof product>;
export type ProductViewedProperties = FromSchema<typeof productViewed>;
export type StoreVisitedProperties = FromSchema<typeof storeVisited>;
export type ConsultationProperties = FromSchema<typeof consultation>;
export type CouponRedeemedProperties = FromSchema<typeof couponRedeemed>;
export type ContentLikedProperties = FromSchema<typeof contentLiked>;
export type SharedProperties = FromSchema<typeof shared>;
export type CampaignRespondedProperties = FromSchema<typeof campaignResponded>;
export type IdentifyTraits = FromSchema<typeof identifyTraits>;

/** Canonical keys of the catalogue's events. */
export const catalogueEventKeys = entries.map((entry) => entry.key);
