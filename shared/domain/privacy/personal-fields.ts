/**
 * Which member data is personal, and the member read API's view of it for keys without
 * `members:read:pii` (docs/API.md, "Personal fields"). A trait is personal when its name (or any
 * segment of its path) is a personal field of the event catalogue (`personal: true`: email,
 * phone, name, firstName, lastName, address) or one of their usual synonyms, in any spelling
 * (`first_name`, `Mobile`, …), at any depth (`contact.phone`).
 */

import { catalogueSchemas } from '../../../events/catalogue.ts';
import type { JsonValue } from '../../../events/envelope.ts';
import type { SegmentReason } from '../segments/evaluate-segment.ts';
import type { MemberView } from '../tags/member-view.ts';

/** What a personal value read by a tag or segment reason shows to a key without the scope. */
export const PERSONAL_MASK = '[personal]';

const synonyms = [
  'email',
  'mail',
  'emailaddress',
  'phone',
  'mobile',
  'phonenumber',
  'tel',
  'telephone',
  'name',
  'fullname',
  'firstname',
  'lastname',
  'givenname',
  'familyname',
  'address',
  'street',
  'postalcode',
  'zip',
];

/** A key lower-cased with `-`, `_` and spaces removed: `first_name` and `firstName` meet. */
export function normalisePersonalKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

/** The last segment of every catalogue `personalFields` pointer (`/address` → `address`). */
export function cataloguePersonalKeys(): string[] {
  const keys = new Set<string>();
  for (const listing of catalogueSchemas()) {
    for (const pointer of listing.personalFields) {
      const last = pointer
        .split('/')
        .filter((segment) => segment !== '' && segment !== '-')
        .at(-1);
      if (last) keys.add(last.replace(/~1/g, '/').replace(/~0/g, '~'));
    }
  }
  return [...keys];
}

const personalKeys = new Set([...synonyms, ...cataloguePersonalKeys()].map(normalisePersonalKey));

/** Whether a field of this name holds personal data wherever it appears. */
export function isPersonalKey(key: string): boolean {
  return personalKeys.has(normalisePersonalKey(key));
}

/** Whether a trait path (`address.city`, `/contact/phone`) passes through a personal field. */
export function isPersonalPath(path: string): boolean {
  return path.split(/[./]/).some((segment) => segment !== '' && isPersonalKey(segment));
}

/** `value` with every personal field removed, at any depth. */
export function withoutPersonal(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(withoutPersonal);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, JsonValue> = {};
  for (const [key, item] of Object.entries(value)) {
    if (!isPersonalKey(key) && item !== undefined) out[key] = withoutPersonal(item);
  }
  return out;
}

/** A reason's value read under `operand`: masked when it is a personal trait, else cleaned. */
function reasonValue(operand: string, value: JsonValue): JsonValue {
  if (operand.startsWith('trait:') && isPersonalPath(operand.slice('trait:'.length))) {
    return value === null ? null : PERSONAL_MASK;
  }
  return withoutPersonal(value);
}

/**
 * The member view for a key without `members:read:pii`: personal traits are **omitted** from
 * `traits`, and a value a tag reason read from a personal trait is **masked** (`[personal]`), so
 * the reason still shows which rule decided.
 */
export function memberViewWithoutPersonal(view: MemberView): MemberView {
  const traits: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(view.traits)) {
    if (!isPersonalKey(key)) traits[key] = withoutPersonal(value);
  }
  return {
    ...view,
    traits,
    tags: view.tags.map((tag) => ({
      ...tag,
      reason: {
        ...tag.reason,
        values: Object.fromEntries(
          Object.entries(tag.reason.values).map(([operand, value]) => [
            operand,
            reasonValue(operand, value),
          ]),
        ),
      },
    })),
  };
}

/** Segment reasons for a key without `members:read:pii`: personal values read are masked. */
export function segmentReasonsWithoutPersonal(
  why: readonly SegmentReason[],
): readonly SegmentReason[] {
  return why.map((reason) => ({ ...reason, actual: reasonValue(reason.operand, reason.actual) }));
}
