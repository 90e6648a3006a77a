/**
 * Consent at the edge and in one event: which objects carry it, how categories map to purposes,
 * and the clear errors for malformed consent (never a silent grant or refusal).
 */
import { describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../../events/envelope.ts';
import {
  checkConsentCategories,
  consentOfEvent,
  defaultConsentCategories,
  grantedByDefault,
  resolveConsent,
} from '../../../shared/domain/consent/consent.ts';
import { validateEvent } from '../../../shared/domain/ingest/validate-event.ts';
import { loadSegmentDefinition } from '../../../shared/domain/segments/load-segment-definition.ts';
import { segmentInputOf } from '../../../shared/domain/segments/member-input.ts';
import {
  emptyMembership,
  segmentSet,
  stepMembership,
} from '../../../shared/domain/segments/membership.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import { foldEvents } from '../../../shared/domain/tags/fold.ts';
import { emptyProfile } from '../../../shared/domain/tags/profile.ts';

const receivedAt = new Date('2026-05-01T12:00:00.000Z');
const validate = (raw: unknown) =>
  validateEvent(raw, {
    receivedAt,
    sourceId: 'source-1',
    maxFutureSkewSeconds: 24 * 3600,
    retentionDays: 400,
    newMessageId: () => 'generated',
  });
const base = { userId: 'u1', timestamp: '2026-05-01T11:00:00.000Z' };

function accepted(raw: unknown): PortraitEvent {
  const result = validate(raw);
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.error)}`);
  return result.event;
}

describe('consent sources', () => {
  it('reads context.consent.categoryPreferences on any event, case-insensitively', () => {
    const event = accepted({
      ...base,
      type: 'track',
      event: 'Segment Consent Preference Updated',
      context: { consent: { categoryPreferences: { Advertising: false, Analytics: true } } },
    });
    expect(Object.fromEntries(consentOfEvent(event, defaultConsentCategories))).toEqual({
      marketing: false,
      analytics: true,
    });
  });

  it('reads identify traits.consent and the Consent Updated event', () => {
    const identify = accepted({
      ...base,
      type: 'identify',
      traits: { consent: { service: false } },
    });
    expect(Object.fromEntries(consentOfEvent(identify, defaultConsentCategories))).toEqual({
      service: false,
    });
    const updated = accepted({
      ...base,
      type: 'track',
      event: 'Consent Updated',
      properties: { categoryPreferences: { personalization: true } },
    });
    expect(Object.fromEntries(consentOfEvent(updated, defaultConsentCategories))).toEqual({
      personalisation: true,
    });
  });

  it('refuses a purpose when one event both grants and refuses it, and ignores unmapped categories', () => {
    const event = accepted({
      ...base,
      type: 'identify',
      traits: { consent: { marketing: true, sms: false } },
      context: { consent: { categoryPreferences: { advertising: false } } },
    });
    expect(Object.fromEntries(consentOfEvent(event, defaultConsentCategories))).toEqual({
      marketing: false,
    });
  });

  it('fills what a member never said with the defaults', () => {
    const resolved = resolveConsent(
      new Map([['analytics', { granted: false, ts: 1, messageId: 'm' }]]),
      { ...grantedByDefault, marketing: false },
    );
    expect(resolved).toEqual({
      marketing: false,
      analytics: false,
      service: true,
      personalisation: true,
    });
  });

  it('checks a brand mapping', () => {
    expect(checkConsentCategories(defaultConsentCategories)).toEqual([]);
    expect(
      checkConsentCategories({ Ads: ['marketing'], x: ['mailing' as 'marketing'] }),
    ).toHaveLength(2);
  });
});

describe('consent at the edge', () => {
  const cases: [string, unknown, string, string][] = [
    [
      'a non-boolean preference in context',
      {
        ...base,
        type: 'track',
        event: 'Shared',
        context: { consent: { categoryPreferences: { marketing: 'yes' } } },
      },
      'invalid_field',
      '/context/consent/categoryPreferences/marketing',
    ],
    [
      'categoryPreferences that is not an object',
      { ...base, type: 'page', context: { consent: { categoryPreferences: [true] } } },
      'invalid_field',
      '/context/consent/categoryPreferences',
    ],
    [
      'identify consent that is not an object',
      { ...base, type: 'identify', traits: { consent: true } },
      'invalid_property',
      '/traits/consent',
    ],
    [
      'a blank category',
      { ...base, type: 'identify', traits: { consent: { ' ': true } } },
      'invalid_property',
      '/traits/consent/ ',
    ],
    [
      'Consent Updated without categoryPreferences',
      { ...base, type: 'track', event: 'Consent Updated', properties: {} },
      'invalid_property',
      '/properties/categoryPreferences',
    ],
    [
      'Consent Updated with a null preference',
      {
        ...base,
        type: 'track',
        event: 'consent_updated',
        properties: { categoryPreferences: { a: null } },
      },
      'invalid_property',
      '/properties/categoryPreferences/a',
    ],
  ];
  it.each(cases)('rejects %s with a code and a pointer', (_, raw, code, pointer) => {
    const result = validate(raw);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe(code);
    expect(result.error.pointer).toBe(pointer);
  });

  it('rejects more than 50 categories', () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`c${i}`, true]));
    const result = validate({ ...base, type: 'identify', traits: { consent: many } });
    expect(result.ok ? undefined : result.error.pointer).toBe('/traits/consent');
  });

  it('accepts context.consent without categoryPreferences (other consent fields of the Spec)', () => {
    expect(validate({ ...base, type: 'page', context: { consent: { version: 2 } } }).ok).toBe(true);
  });
});

describe('consent defaults in segments', () => {
  const catalogue = defaultRuleCatalogue();
  const segment = loadSegmentDefinition(
    {
      id: 'promo',
      labels: { 'zh-CN': '促销', en: 'Promo' },
      purpose: 'marketing',
      expression: { trait: 'city', op: '=', value: '北京' },
    },
    { catalogue },
  );
  const versions = new Map([['promo', 1]]);
  const member = (consent?: boolean) => {
    const events: PortraitEvent[] = [
      {
        messageId: 'm1',
        type: 'identify',
        userId: 'u1',
        timestamp: '2026-05-01T10:00:00.000Z',
        receivedAt: '2026-05-01T10:00:00.000Z',
        sourceId: 's',
        traits: {
          city: '北京',
          ...(consent === undefined ? {} : { consent: { marketing: consent } }),
        },
      },
    ];
    return foldEvents(emptyProfile(catalogue, 'Asia/Shanghai'), events, catalogue, 'Asia/Shanghai')
      .state;
  };
  const optIn = { ...grantedByDefault, marketing: false };

  it('serves a member who never said only where the purpose is opt-out', () => {
    const set = segmentSet([segment], versions);
    const now = Date.parse('2026-05-02T00:00:00Z');
    const step = (consent: boolean | undefined, defaults = grantedByDefault) =>
      stepMembership(
        set,
        emptyMembership,
        undefined,
        segmentInputOf(member(consent), catalogue, 'Asia/Shanghai', now, defaults),
      ).transitions;
    expect(step(undefined)).toEqual([{ segmentId: 'promo', from: 'out', to: 'in' }]);
    expect(step(undefined, optIn)).toEqual([{ segmentId: 'promo', from: 'out', to: 'withheld' }]);
    expect(step(true, optIn)).toEqual([{ segmentId: 'promo', from: 'out', to: 'in' }]);
    expect(step(false)).toEqual([{ segmentId: 'promo', from: 'out', to: 'withheld' }]);
  });

  it('changes the set tag when a purpose is switched to opt-in, and only then', () => {
    const plain = segmentSet([segment], versions).tag;
    expect(segmentSet([segment], versions, grantedByDefault).tag).toBe(plain);
    expect(segmentSet([segment], versions, optIn).tag).not.toBe(plain);
  });
});
