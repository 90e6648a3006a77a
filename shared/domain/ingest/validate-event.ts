/**
 * Edge validation of one Segment Spec event: from an untrusted JSON value to a normalised
 * {@link PortraitEvent}, or one {@link EventError} with a stable code, a readable message and a
 * JSON Pointer. Pure: the clock, the source and the id generator come in through the context.
 * The rules are documented in docs/EVENTS.md.
 */

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import {
  blockedIdentityValues,
  type CatalogueSchema,
  catalogueEntry,
  catalogueFormats,
  catalogueSchemas,
  identifyTraitsKey,
} from '../../../events/catalogue.ts';
import {
  type EventError,
  type EventType,
  eventTypes,
  type IngestErrorCode,
  ingestLimits,
  type JsonObject,
  type PortraitEvent,
  type ValidationResult,
} from '../../../events/envelope.ts';
import { consentProblem, consentSourcesOf } from '../consent/consent.ts';

export interface ValidationContext {
  /** The route's type for single-event routes; `undefined` for `/v1/batch` items. */
  readonly routeType?: EventType;
  /** When collect received the request. */
  readonly receivedAt: Date;
  /** The batch-level `sentAt`, applied to batch items without their own. */
  readonly batchSentAt?: string;
  /** Source whose write key sent the request. */
  readonly sourceId: string;
  /** Events later than receivedAt + this (after skew correction) are rejected. */
  readonly maxFutureSkewSeconds: number;
  /** Events older than receivedAt − this many days (after skew correction) are rejected. */
  readonly retentionDays: number;
  /** Assigns a messageId to events sent without one. */
  readonly newMessageId: () => string;
}

/** Validates and normalises one event. Never throws for any JSON input. */
export function validateEvent(raw: unknown, ctx: ValidationContext): ValidationResult {
  if (!isPlainObject(raw)) {
    return failed(
      'invalid_event',
      `An event must be a JSON object, not ${describeJsonType(raw)}.`,
      [],
    );
  }
  const structural = inspectJson(raw);
  if (structural) return { ok: false, error: structural };

  const bytes = Buffer.byteLength(JSON.stringify(raw), 'utf8');
  if (bytes > ingestLimits.maxEventBytes) {
    return failed(
      'event_too_large',
      `The event is ${bytes} bytes serialised; the limit is ${ingestLimits.maxEventBytes}.`,
      [],
    );
  }

  const type = readType(raw, ctx.routeType);
  if (!type.ok) return type;
  const messageId = readMessageId(raw, ctx);
  if (!messageId.ok) return messageId;
  const identity = readIdentity(raw, type.value);
  if (!identity.ok) return identity;
  const specific = readTypeSpecific(raw, type.value);
  if (!specific.ok) return specific;
  const writeKey = checkWriteKey(raw);
  if (writeKey) return { ok: false, error: writeKey };
  const objects = readObjects(raw, type.value);
  if (!objects.ok) return objects;
  const time = readTime(raw, ctx);
  if (!time.ok) return time;
  const catalogue = checkCatalogue(type.value, specific.value.event, objects.value);
  if (catalogue) return { ok: false, error: catalogue };
  const consent = checkConsent(type.value, specific.value.event, objects.value);
  if (consent) return { ok: false, error: consent };

  const event: Draft<PortraitEvent> = {
    messageId: messageId.value,
    type: type.value,
    timestamp: time.value.timestamp,
    receivedAt: ctx.receivedAt.toISOString(),
    sourceId: ctx.sourceId,
  };
  assignDefined(event, 'userId', identity.value.userId);
  assignDefined(event, 'anonymousId', identity.value.anonymousId);
  assignDefined(event, 'previousId', identity.value.previousId);
  assignDefined(event, 'event', specific.value.event);
  assignDefined(event, 'name', specific.value.name);
  assignDefined(event, 'groupId', specific.value.groupId);
  assignDefined(event, 'properties', objects.value.properties);
  assignDefined(event, 'traits', objects.value.traits);
  assignDefined(event, 'context', objects.value.context);
  assignDefined(event, 'originalTimestamp', time.value.originalTimestamp);
  assignDefined(event, 'sentAt', time.value.sentAt);
  return { ok: true, event };
}

// --- results ---------------------------------------------------------------------------------

type Draft<T> = { -readonly [K in keyof T]: T[K] };
type Read<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: EventError };
type PathSegment = string | number;

function ok<T>(value: T): Read<T> {
  return { ok: true, value };
}

function eventError(
  code: IngestErrorCode,
  message: string,
  path: readonly PathSegment[],
): EventError {
  return { code, message, pointer: toPointer(path) };
}

function failed(
  code: IngestErrorCode,
  message: string,
  path: readonly PathSegment[],
): { readonly ok: false; readonly error: EventError } {
  return { ok: false, error: eventError(code, message, path) };
}

function assignDefined<K extends keyof PortraitEvent>(
  target: Draft<PortraitEvent>,
  key: K,
  value: PortraitEvent[K] | undefined,
): void {
  if (value !== undefined) target[key] = value;
}

// --- JSON structure: depth, strings, numbers ---------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** A JSON object (not an array, not a class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * One bounded walk over the event: nesting depth (the event object is level 1), well-formed
 * Unicode and length of every string and key, finite numbers, JSON-only values. It stops
 * descending past the depth limit, so hostile nesting costs nothing.
 */
function inspectJson(root: Record<string, unknown>): EventError | undefined {
  const path: PathSegment[] = [];
  const visit = (value: unknown, depth: number): EventError | undefined => {
    switch (typeof value) {
      case 'string':
        return inspectString(value, path);
      case 'boolean':
        return undefined;
      case 'number':
        return Number.isFinite(value)
          ? undefined
          : eventError('invalid_field', `${fieldLabel(path)} must be a finite number.`, path);
      case 'object': {
        if (value === null) return undefined;
        if (depth >= ingestLimits.maxDepth) {
          return eventError(
            'too_deep',
            `${fieldLabel(path)} nests objects and arrays deeper than ${ingestLimits.maxDepth} levels.`,
            path,
          );
        }
        if (Array.isArray(value)) {
          for (let index = 0; index < value.length; index++) {
            path.push(index);
            const error = visit(value[index], depth + 1);
            if (error) return error;
            path.pop();
          }
          return undefined;
        }
        if (!isPlainObject(value)) break;
        for (const key of Object.keys(value)) {
          path.push(key);
          const error = inspectString(key, path, 'key') ?? visit(value[key], depth + 1);
          if (error) return error;
          path.pop();
        }
        return undefined;
      }
      default:
        break;
    }
    return eventError('invalid_field', `${fieldLabel(path)} is not a JSON value.`, path);
  };
  return visit(root, 0);
}

function inspectString(
  value: string,
  path: readonly PathSegment[],
  what: 'value' | 'key' = 'value',
): EventError | undefined {
  const subject = what === 'key' ? `The key of ${fieldLabel(path)}` : fieldLabel(path);
  if (value.length > ingestLimits.maxStringLength) {
    return eventError(
      'invalid_string',
      `${subject} is ${value.length} characters long; the limit is ${ingestLimits.maxStringLength}.`,
      path,
    );
  }
  if (LONE_SURROGATE.test(value)) {
    return eventError(
      'invalid_string',
      `${subject} is not well-formed Unicode: it contains a lone surrogate (a broken emoji or a string cut in half).`,
      path,
    );
  }
  return undefined;
}

// --- envelope fields ---------------------------------------------------------------------------

/** The field's value, with JSON `null` read as absent (analytics.js sends `userId: null`). */
function field(raw: Record<string, unknown>, key: string): unknown {
  if (!Object.hasOwn(raw, key)) return undefined;
  const value = raw[key];
  return value === null ? undefined : value;
}

function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (eventTypes as readonly string[]).includes(value);
}

function readType(raw: Record<string, unknown>, routeType: EventType | undefined): Read<EventType> {
  const value = field(raw, 'type');
  if (routeType !== undefined) {
    if (value === undefined || value === routeType) return ok(routeType);
    return failed(
      'invalid_type',
      `type ${JSON.stringify(value)} does not match this route, which takes "${routeType}" events.`,
      ['type'],
    );
  }
  if (value === undefined) {
    return failed(
      'missing_field',
      `type is required in a batch: one of ${eventTypes.join(', ')}.`,
      ['type'],
    );
  }
  if (!isEventType(value)) {
    return failed(
      'invalid_type',
      `type ${describeValue(value)} is not one of ${eventTypes.join(', ')}.`,
      ['type'],
    );
  }
  return ok(value);
}

function readMessageId(raw: Record<string, unknown>, ctx: ValidationContext): Read<string> {
  const value = field(raw, 'messageId');
  if (value === undefined) return ok(ctx.newMessageId());
  if (typeof value !== 'string') {
    return failed('invalid_field', `messageId must be a string, not ${describeJsonType(value)}.`, [
      'messageId',
    ]);
  }
  if (value.trim() === '' || value.length > ingestLimits.maxIdLength) {
    return failed(
      'invalid_field',
      `messageId must be 1 to ${ingestLimits.maxIdLength} characters and not blank.`,
      ['messageId'],
    );
  }
  return ok(value);
}

const blockedIds: ReadonlySet<string> = new Set(blockedIdentityValues);

/**
 * An id field: a string, or a safe integer converted to its decimal string (as Segment and
 * RudderStack SDKs do for numeric user ids). Absent when missing or null.
 */
function readId(
  raw: Record<string, unknown>,
  key: 'userId' | 'anonymousId' | 'previousId' | 'groupId',
): Read<string | undefined> {
  const value = field(raw, key);
  if (value === undefined) return ok(undefined);
  let id: string;
  if (typeof value === 'string') id = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) id = String(value);
  else {
    return failed(
      'invalid_field',
      `${key} must be a string or an integer, not ${describeJsonType(value)}.`,
      [key],
    );
  }
  if (id.length > ingestLimits.maxIdLength) {
    return failed(
      'invalid_field',
      `${key} is ${id.length} characters long; the limit is ${ingestLimits.maxIdLength}.`,
      [key],
    );
  }
  if (blockedIds.has(id.trim().toLowerCase())) {
    return failed(
      key === 'groupId' ? 'invalid_field' : 'missing_identity',
      `${key} ${JSON.stringify(id)} is a placeholder, not an id: omit ${key} or send a real id.`,
      [key],
    );
  }
  return ok(id);
}

interface Identity {
  readonly userId?: string;
  readonly anonymousId?: string;
  readonly previousId?: string;
}

/** Every id field present is checked; `previousId` is kept for alias only. */
function readIdentity(raw: Record<string, unknown>, type: EventType): Read<Identity> {
  const userId = readId(raw, 'userId');
  if (!userId.ok) return userId;
  const anonymousId = readId(raw, 'anonymousId');
  if (!anonymousId.ok) return anonymousId;
  const previousId = readId(raw, 'previousId');
  if (!previousId.ok) return previousId;
  if (type === 'alias') {
    if (userId.value === undefined) {
      return failed('missing_identity', 'alias requires userId, the id previousId is linked to.', [
        'userId',
      ]);
    }
    if (previousId.value === undefined) {
      return failed('missing_identity', 'alias requires previousId, the id being linked.', [
        'previousId',
      ]);
    }
    return ok({
      userId: userId.value,
      anonymousId: anonymousId.value,
      previousId: previousId.value,
    });
  }
  if (userId.value === undefined && anonymousId.value === undefined) {
    return failed('missing_identity', 'An event needs a userId or an anonymousId (or both).', []);
  }
  return ok({ userId: userId.value, anonymousId: anonymousId.value });
}

interface TypeSpecific {
  readonly event?: string;
  readonly name?: string;
  readonly groupId?: string;
}

function readName(raw: Record<string, unknown>, key: 'event' | 'name'): Read<string | undefined> {
  const value = field(raw, key);
  if (value === undefined) return ok(undefined);
  if (typeof value !== 'string') {
    return failed('invalid_field', `${key} must be a string, not ${describeJsonType(value)}.`, [
      key,
    ]);
  }
  if (value.trim() === '' || value.length > ingestLimits.maxEventNameLength) {
    return failed(
      'invalid_field',
      `${key} must be 1 to ${ingestLimits.maxEventNameLength} characters and not blank.`,
      [key],
    );
  }
  return ok(value);
}

/**
 * `event`, `name` and `groupId` are checked whenever present, required where the type needs
 * them, and kept only where the Spec defines them (track, page/screen, group).
 */
function readTypeSpecific(raw: Record<string, unknown>, type: EventType): Read<TypeSpecific> {
  const event = readName(raw, 'event');
  if (!event.ok) return event;
  const name = readName(raw, 'name');
  if (!name.ok) return name;
  const groupId = readId(raw, 'groupId');
  if (!groupId.ok) return groupId;
  if (type === 'track' && event.value === undefined) {
    return failed('missing_field', 'track requires event: the name of what happened.', ['event']);
  }
  if (type === 'group' && groupId.value === undefined) {
    return failed('missing_field', 'group requires groupId.', ['groupId']);
  }
  return ok({
    event: type === 'track' ? event.value : undefined,
    name: type === 'page' || type === 'screen' ? name.value : undefined,
    groupId: type === 'group' ? groupId.value : undefined,
  });
}

/** `writeKey` is taken from the request body by the caller; on an event it is checked, then dropped. */
function checkWriteKey(raw: Record<string, unknown>): EventError | undefined {
  const value = field(raw, 'writeKey');
  if (value === undefined || typeof value === 'string') return undefined;
  return eventError('invalid_field', `writeKey must be a string, not ${describeJsonType(value)}.`, [
    'writeKey',
  ]);
}

interface Objects {
  readonly properties?: JsonObject;
  readonly traits?: JsonObject;
  readonly context?: JsonObject;
}

/**
 * `properties`, `traits` and `context` must be objects when present. Kept only where the Spec
 * defines them: properties on track/page/screen, traits on identify/group, context everywhere.
 */
function readObjects(raw: Record<string, unknown>, type: EventType): Read<Objects> {
  const read = (key: keyof Objects): Read<JsonObject | undefined> => {
    const value = field(raw, key);
    if (value === undefined) return ok(undefined);
    if (!isPlainObject(value)) {
      return failed('invalid_field', `${key} must be an object, not ${describeJsonType(value)}.`, [
        key,
      ]);
    }
    // inspectJson has checked every nested value is JSON.
    return ok(value as JsonObject);
  };
  const properties = read('properties');
  if (!properties.ok) return properties;
  const traits = read('traits');
  if (!traits.ok) return traits;
  const context = read('context');
  if (!context.ok) return context;
  const takesProperties = type === 'track' || type === 'page' || type === 'screen';
  const takesTraits = type === 'identify' || type === 'group';
  return ok({
    properties: takesProperties ? properties.value : undefined,
    traits: takesTraits ? traits.value : undefined,
    context: context.value,
  });
}

// --- time --------------------------------------------------------------------------------------

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)$/;
const MIN_RAW_YEAR = 1970;
const MIN_EVENT_TIME = Date.UTC(2000, 0, 1);
const DAY_MS = 86_400_000;

/**
 * Epoch milliseconds of an RFC 3339 instant with `Z` or an offset (fraction truncated to
 * milliseconds), or `undefined`. Years from 1970 parse: a device whose clock was reset is
 * corrected by `sentAt`; the corrected time must still be in 2000 or later.
 */
export function parseInstant(text: string): number | undefined {
  const match = INSTANT.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, sign, offsetHours, offsetMinutes] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const oh = Number(offsetHours ?? 0);
  const om = Number(offsetMinutes ?? 0);
  if (year < MIN_RAW_YEAR || month < 1 || month > 12 || day < 1) return undefined;
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || oh > 23 || om > 59) return undefined;
  const millis = Number((fraction ?? '').padEnd(3, '0').slice(0, 3));
  const offset = (sign === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset;
}

interface Times {
  readonly timestamp: string;
  readonly originalTimestamp?: string;
  readonly sentAt?: string;
}

function readInstant(
  value: unknown,
  key: string,
  path: readonly PathSegment[],
): Read<{ text: string; ms: number } | undefined> {
  if (value === undefined || value === null) return ok(undefined);
  const ms = typeof value === 'string' ? parseInstant(value) : undefined;
  if (typeof value !== 'string' || ms === undefined) {
    return failed(
      'invalid_timestamp',
      `${key} ${describeValue(value)} is not an ISO-8601 instant with Z or an offset, such as "2024-05-01T08:30:00.000Z", from 1970 on.`,
      path,
    );
  }
  return ok({ text: value, ms });
}

/**
 * Segment's clock-skew correction: when the client says when it sent the event (`sentAt`, the
 * event's own or the batch's), `timestamp = receivedAt − (sentAt − clientTime)`; otherwise the
 * client time as sent, or receivedAt when the client sent none.
 */
function readTime(raw: Record<string, unknown>, ctx: ValidationContext): Read<Times> {
  const timestamp = readInstant(field(raw, 'timestamp'), 'timestamp', ['timestamp']);
  if (!timestamp.ok) return timestamp;
  const original = readInstant(field(raw, 'originalTimestamp'), 'originalTimestamp', [
    'originalTimestamp',
  ]);
  if (!original.ok) return original;
  const clientKey = timestamp.value ? 'timestamp' : 'originalTimestamp';
  const client = timestamp.value ? timestamp : original;
  const ownSentAt = field(raw, 'sentAt');
  const sentAt =
    ownSentAt !== undefined
      ? readInstant(ownSentAt, 'sentAt', ['sentAt'])
      : readInstant(ctx.batchSentAt, 'The batch sentAt', []);
  if (!sentAt.ok) return sentAt;

  const receivedMs = ctx.receivedAt.getTime();
  let ms = receivedMs;
  if (client.value && sentAt.value) ms = receivedMs - (sentAt.value.ms - client.value.ms);
  else if (client.value) ms = client.value.ms;
  const path = client.value ? [clientKey] : [];
  const skew = sentAt.value && client.value ? ' after correcting the client clock with sentAt' : '';

  if (ms < MIN_EVENT_TIME) {
    return failed(
      'invalid_timestamp',
      `The event time is ${new Date(ms).toISOString()}${skew}, before 2000: the client clock is wrong.`,
      path,
    );
  }
  const latest = receivedMs + ctx.maxFutureSkewSeconds * 1000;
  if (ms > latest) {
    return failed(
      'timestamp_in_future',
      `The event time is ${new Date(ms).toISOString()}${skew}, more than ${ctx.maxFutureSkewSeconds} seconds after it was received.`,
      path,
    );
  }
  const earliest = receivedMs - ctx.retentionDays * DAY_MS;
  if (ms < earliest) {
    return failed(
      'timestamp_too_old',
      `The event time is ${new Date(ms).toISOString()}${skew}, older than the ${ctx.retentionDays}-day retention.`,
      path,
    );
  }
  const times: Draft<Times> = { timestamp: new Date(ms).toISOString() };
  if (client.value && client.value.text !== times.timestamp) {
    times.originalTimestamp = client.value.text;
  }
  if (sentAt.value) times.sentAt = new Date(sentAt.value.ms).toISOString();
  return ok(times);
}

// --- catalogue ---------------------------------------------------------------------------------

const ajv = new Ajv({ allErrors: false, allowUnionTypes: true, verbose: true, logger: false });
ajv.addKeyword({ keyword: 'personal', schemaType: 'boolean' });
// ajv-formats is CommonJS; under NodeNext its default import types as the module namespace.
const addFormats = addFormatsPlugin as unknown as typeof addFormatsPlugin.default;
addFormats(ajv, ['date', 'email']);
for (const [name, format] of Object.entries(catalogueFormats)) ajv.addFormat(name, format.pattern);

const validators = new Map<string, { name: string; validate: ValidateFunction }>(
  catalogueSchemas().map((listing) => [
    listing.key,
    { name: listing.name, validate: ajv.compile(listing.schema) },
  ]),
);

const formatWording: Readonly<Record<string, string>> = {
  date: 'a date such as "1990-07-15" (YYYY-MM-DD)',
  email: 'an email address',
  ...Object.fromEntries(
    Object.entries(catalogueFormats).map(([name, format]) => [name, format.description]),
  ),
};

function checkCatalogue(
  type: EventType,
  eventName: string | undefined,
  objects: Objects,
): EventError | undefined {
  let key: string;
  let container: 'properties' | 'traits';
  if (type === 'track' && eventName !== undefined) {
    const entry = catalogueEntry(eventName);
    if (!entry) return undefined;
    key = entry.key;
    container = 'properties';
  } else if (type === 'identify') {
    key = identifyTraitsKey;
    container = 'traits';
  } else {
    return undefined;
  }
  const validator = validators.get(key);
  const data = objects[container] ?? {};
  if (!validator || validator.validate(data)) return undefined;
  const [first] = validator.validate.errors ?? [];
  if (!first) return undefined;
  return describeCatalogueError(first, container, data, validator.name);
}

/** Consent objects must be category → boolean: a wrong one would silently grant or refuse. */
function checkConsent(
  type: EventType,
  eventName: string | undefined,
  objects: Objects,
): EventError | undefined {
  for (const source of consentSourcesOf({ type, event: eventName, ...objects })) {
    const problem = consentProblem(source);
    if (problem) {
      return {
        code: problem.pointer.startsWith('/context/') ? 'invalid_field' : 'invalid_property',
        message: problem.message,
        pointer: problem.pointer,
      };
    }
  }
  return undefined;
}

function describeCatalogueError(
  error: ErrorObject,
  container: 'properties' | 'traits',
  data: JsonObject,
  schemaName: string,
): EventError {
  const path: PathSegment[] = [container, ...pathFromPointer(error.instancePath, data)];
  const params = error.params as Record<string, unknown>;
  const schema = (error.parentSchema ?? {}) as CatalogueSchema;
  const where = ` (catalogue: ${schemaName})`;
  let message: string;
  switch (error.keyword) {
    case 'required': {
      path.push(String(params.missingProperty));
      message = `${fieldLabel(path)} is required`;
      break;
    }
    case 'type':
      message =
        schema.format === 'money'
          ? `${fieldLabel(path)} must be a number ≥ 0 or ${formatWording.money}`
          : `${fieldLabel(path)} must be ${String(params.type)
              .split(',')
              .map((name) => withArticle(name))
              .join(' or ')}`;
      break;
    case 'format':
      message = `${fieldLabel(path)} must be ${formatWording[String(params.format)] ?? String(params.format)}`;
      break;
    case 'minimum':
      message = `${fieldLabel(path)} must be ≥ ${String(params.limit)}`;
      break;
    case 'maximum':
      message = `${fieldLabel(path)} must be ≤ ${String(params.limit)}`;
      break;
    case 'minLength':
      message = `${fieldLabel(path)} must not be empty`;
      break;
    case 'maxLength':
      message = `${fieldLabel(path)} must be at most ${String(params.limit)} characters`;
      break;
    case 'maxItems':
      message = `${fieldLabel(path)} must have at most ${String(params.limit)} items`;
      break;
    default:
      message = `${fieldLabel(path)} ${error.message ?? 'is invalid'}`;
  }
  return eventError('invalid_property', `${message}${where}.`, path);
}

function withArticle(typeName: string): string {
  return /^[aeiou]/.test(typeName) ? `an ${typeName}` : `a ${typeName}`;
}

/** Path segments of an Ajv instance path, numbers where the data holds an array. */
function pathFromPointer(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const segments: PathSegment[] = [];
  let node: unknown = data;
  for (const token of pointer.slice(1).split('/')) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      segments.push(Number(key));
      node = node[Number(key)];
    } else {
      segments.push(key);
      node = isPlainObject(node) ? node[key] : undefined;
    }
  }
  return segments;
}

// --- wording -----------------------------------------------------------------------------------

/** JSON Pointer of a path; lone surrogates in keys become U+FFFD so the pointer prints. */
function toPointer(path: readonly PathSegment[]): string {
  return path
    .map(
      (segment) =>
        `/${String(segment).replace(LONE_SURROGATES, '\uFFFD').replace(/~/g, '~0').replace(/\//g, '~1')}`,
    )
    .join('');
}

/** A path as a reader writes it: `properties.products[0].price`. */
function fieldLabel(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'The event';
  let label = '';
  for (const segment of path) {
    if (typeof segment === 'number') label += `[${segment}]`;
    else {
      const key = segment.replace(LONE_SURROGATES, '\uFFFD');
      const simple = /^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(key) && key.length <= 64;
      const shown = simple ? key : JSON.stringify(key.length > 64 ? `${key.slice(0, 61)}...` : key);
      label += label === '' ? shown : simple ? `.${shown}` : `[${shown}]`;
    }
  }
  return label;
}

/** `null`, `an array`, `an object`, `a string`, … for messages. */
export function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return withArticle(typeof value);
}

/** A short rendering of a scalar for messages (never a long or malformed string). */
function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
    return JSON.stringify(shown.replace(LONE_SURROGATES, '\uFFFD'));
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return describeJsonType(value);
}
