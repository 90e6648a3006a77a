import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { catalogueSchemas } from '../../../events/catalogue.ts';
import type { JsonValue } from '../../../events/envelope.ts';
import {
  isPersonalKey,
  isPersonalPath,
  memberViewWithoutPersonal,
  PERSONAL_MASK,
  segmentReasonsWithoutPersonal,
  withoutPersonal,
} from '../../../shared/domain/privacy/personal-fields.ts';
import type { MemberView } from '../../../shared/domain/tags/member-view.ts';

describe('personal fields', () => {
  it('knows every field the catalogue marks personal, in any spelling', () => {
    const pointers = catalogueSchemas().flatMap((listing) => listing.personalFields);
    expect(pointers.length).toBeGreaterThanOrEqual(6);
    for (const pointer of pointers) expect(isPersonalPath(pointer), pointer).toBe(true);
    for (const key of ['first_name', 'Mobile', 'E-Mail', 'postal_code']) {
      expect(isPersonalKey(key), key).toBe(true);
    }
    for (const key of ['city', 'gender', 'birthday', 'orderId', 'tier']) {
      expect(isPersonalKey(key), key).toBe(false);
    }
    expect(isPersonalPath('address.city')).toBe(true);
    expect(isPersonalPath('prefs.colour')).toBe(false);
  });

  it('leaves no personal key at any depth and keeps everything else', () => {
    const personalKey = fc.constantFrom('email', 'phone', 'name', 'firstName', 'address');
    const plainKey = fc.constantFrom('city', 'tier', 'note', 'sku', 'prefs');
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    const tree: fc.Arbitrary<JsonValue> = fc.letrec<{ node: JsonValue }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(fc.oneof(personalKey, plainKey), tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    const keysOf = (value: JsonValue): string[] =>
      Array.isArray(value)
        ? value.flatMap(keysOf)
        : value !== null && typeof value === 'object'
          ? Object.entries(value).flatMap(([key, item]) => [key, ...keysOf(item)])
          : [];
    fc.assert(
      fc.property(tree, (value) => {
        const cleaned = withoutPersonal(value);
        expect(keysOf(cleaned).filter(isPersonalKey)).toEqual([]);
        // Removing personal keys from a tree without any changes nothing.
        if (keysOf(value).every((key) => !isPersonalKey(key))) expect(cleaned).toEqual(value);
      }),
    );
  });

  it('omits personal traits and masks the personal values reasons read', () => {
    const view = {
      memberKey: 'u#1',
      evaluatedAt: '2026-11-26T00:00:00.000Z',
      traits: { email: 'a@b.cn', city: '上海', contact: { phone: '+8613800000000', wechat: 'x' } },
      aggregates: {},
      tags: [
        {
          id: 'has_email',
          value: true,
          labels: { en: 'Has e-mail' },
          dimension: 'demographic',
          type: 'static',
          reason: {
            rule: 'r',
            definition: null,
            values: { 'trait:email': 'a@b.cn', 'trait:city': '上海' },
          },
        },
      ],
      nextChangeAt: null,
      eventsFolded: 1,
      problems: 0,
      needsBackfill: [],
    } as unknown as MemberView;
    const masked = memberViewWithoutPersonal(view);
    expect(masked.traits).toEqual({ city: '上海', contact: { wechat: 'x' } });
    expect(masked.tags[0]?.reason.values).toEqual({
      'trait:email': PERSONAL_MASK,
      'trait:city': '上海',
    });
    const why = segmentReasonsWithoutPersonal([
      {
        pointer: '/expression',
        operand: 'trait:address.city',
        op: 'exists',
        actual: 'x',
        holds: true,
      },
      {
        pointer: '/expression',
        operand: 'trait:phone',
        op: 'not_exists',
        actual: null,
        holds: true,
      },
      {
        pointer: '/expression',
        operand: 'trait:city',
        op: '=',
        value: '上海',
        actual: '上海',
        holds: true,
      },
    ]);
    expect(why.map((reason) => reason.actual)).toEqual([PERSONAL_MASK, null, '上海']);
  });
});
