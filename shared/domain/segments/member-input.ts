/**
 * What segments read of a member: its tags, traits and aggregates at an instant (RFM, value tier
 * and cluster join when the nightly analytics write them back), and the part of it that a set of
 * segments reads, which the materialiser keeps to know, next time, which fields changed.
 */
import type { JsonValue } from '../../../events/envelope.ts';
import { type MemberAnalytics, rfmScoresOf } from '../analytics/member-results.ts';
import { type ConsentDefaults, grantedByDefault, resolveConsent } from '../consent/consent.ts';
import { type AggregateValue, evaluateTags, type TagValue } from '../tags/evaluate.ts';
import type { ProfileState } from '../tags/profile.ts';
import type { RuleCatalogue } from '../tags/rule-catalogue.ts';
import { consentsTo, evaluateSegment, type SegmentInput } from './evaluate-segment.ts';
import type { SegmentSet } from './membership.ts';
import { segmentPurposes } from './segment-definition.ts';
import { membershipFieldsOf } from './segment-dependencies.ts';

/**
 * A member's profile as segments see it at instant `now`, with its consent to every purpose
 * (what it said, else `consentDefaults`) and the nightly analytics results written back to it
 * (RFM scores and segment, value tier, cluster) when it has them.
 */
export function segmentInputOf(
  state: ProfileState,
  catalogue: RuleCatalogue,
  zone: string,
  now: number,
  consentDefaults: ConsentDefaults = grantedByDefault,
  analytics?: MemberAnalytics,
): SegmentInput {
  const evaluation = evaluateTags(state, catalogue, now, zone);
  const traits: Record<string, JsonValue> = {};
  for (const [key, entry] of state.traits) if (entry.value !== null) traits[key] = entry.value;
  return {
    tags: evaluation.tags,
    traits,
    aggregates: evaluation.aggregates,
    consent: resolveConsent(state.consent, consentDefaults),
    ...(analytics
      ? {
          rfm: rfmScoresOf(analytics),
          valueTier: analytics.valueTier,
          cluster: analytics.cluster,
        }
      : {}),
  };
}

/** Every field (`tag:ID`, `trait:KEY`, …) some segment of the set reads. */
export function fieldsRead(set: SegmentSet): Set<string> {
  const fields = new Set<string>();
  for (const segment of set.ordered) {
    for (const field of membershipFieldsOf(segment)) fields.add(field);
  }
  return fields;
}

/**
 * The part of `input` that `fields` name, as plain JSON: comparing two projections with
 * `changedFields` finds exactly the read fields that changed.
 */
export function projectInput(input: SegmentInput, fields: ReadonlySet<string>): SegmentInput {
  const tags: Record<string, TagValue> = {};
  const traits: Record<string, JsonValue> = {};
  const aggregates: Record<string, AggregateValue> = {};
  const pick = <T>(prefix: string, from: Readonly<Record<string, T>>, into: Record<string, T>) => {
    for (const [key, value] of Object.entries(from)) {
      if (fields.has(`${prefix}${key}`)) into[key] = value;
    }
  };
  pick('tag:', input.tags, tags);
  pick('trait:', input.traits, traits);
  pick('aggregate:', input.aggregates, aggregates);
  const consent = Object.fromEntries(
    segmentPurposes
      .filter((purpose) => fields.has(`consent:${purpose}`))
      .map((purpose) => [purpose, input.consent?.[purpose] ?? true]),
  );
  return {
    tags,
    traits,
    aggregates,
    ...(fields.has('rfm') && input.rfm ? { rfm: input.rfm } : {}),
    ...(fields.has('valueTier') && input.valueTier ? { valueTier: input.valueTier } : {}),
    ...(fields.has('cluster') && input.cluster ? { cluster: input.cluster } : {}),
    ...(Object.keys(consent).length > 0 ? { consent } : {}),
  };
}

/**
 * The segments a member is held in (its materialised memberships), each with why: the leaves
 * that decided, with the values they read from `input`, and whether it still qualifies now
 * (false while its exit is on the way: the definition no longer holds, or the member no longer
 * consents to the purpose). `segment` leaves read the other segments' definitions: held or
 * `withheld`.
 */
export function memberSegmentsView(
  set: SegmentSet,
  held: ReadonlySet<string>,
  input: SegmentInput,
  withheld: ReadonlySet<string> = new Set(),
) {
  return set.ordered
    .filter((segment) => held.has(segment.id))
    .map((segment) => {
      const evaluation = evaluateSegment(
        segment,
        input,
        (other) => held.has(other) || withheld.has(other),
      );
      return {
        id: segment.id,
        labels: segment.definition.labels,
        purpose: segment.definition.purpose,
        why: evaluation.why,
        holdsNow: evaluation.in && consentsTo(input, segment.definition.purpose),
      };
    });
}
