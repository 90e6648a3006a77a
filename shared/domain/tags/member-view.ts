import type { JsonValue } from '../../../events/envelope.ts';
import { type AggregateValue, evaluateTags, type TagReason, type TagValue } from './evaluate.ts';
import { aggregatesNeedingBackfill, type ProfileState } from './profile.ts';
import type { Labels, RuleCatalogue, TagDimension, TagType } from './rule-catalogue.ts';

/** One current tag of a member, with the rule that made it hold and the values it read. */
export interface MemberTagView {
  readonly id: string;
  readonly value: TagValue;
  readonly labels: Labels;
  /** Labels of the value, for a value tag whose value has them. */
  readonly valueLabels?: Labels;
  readonly dimension: TagDimension;
  readonly type: TagType;
  readonly reason: {
    readonly rule: string;
    /** The rule as written in the catalogue: its condition, or the case that matched. */
    readonly definition: JsonValue;
    readonly values: Readonly<Record<string, JsonValue>>;
  };
}

/** What `GET /v1/members/{id}` answers. */
export interface MemberView {
  readonly memberKey: string;
  /** The instant the tags and aggregates were evaluated at (ISO). */
  readonly evaluatedAt: string;
  readonly traits: Readonly<Record<string, JsonValue>>;
  readonly aggregates: Readonly<Record<string, AggregateValue>>;
  readonly tags: readonly MemberTagView[];
  /** When a tag can next change with no new event (ISO), or null. */
  readonly nextChangeAt: string | null;
  readonly eventsFolded: number;
  /** Values skipped because they did not fit a rule's type. */
  readonly problems: number;
  /** Aggregates added to the catalogue after this member had events, not yet rebuilt. */
  readonly needsBackfill: readonly string[];
}

/**
 * A member as the read API shows it, evaluated at `now`: the answer is exact at the instant of the
 * request even when the sweeper has not yet stored a change that time made.
 */
export function memberView(
  memberKey: string,
  state: ProfileState,
  catalogue: RuleCatalogue,
  zone: string,
  now: number,
): MemberView {
  const evaluation = evaluateTags(state, catalogue, now, zone);
  const traits: Record<string, JsonValue> = {};
  for (const [key, entry] of [...state.traits].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (entry.value !== null) traits[key] = entry.value;
  }
  const tags: MemberTagView[] = [];
  for (const compiled of catalogue.tags) {
    const value = evaluation.tags[compiled.id];
    if (value === undefined) continue;
    const definition = compiled.definition;
    const reason = evaluation.reasons[compiled.id] as TagReason;
    const valueLabels = typeof value === 'string' ? definition.valueLabels?.[value] : undefined;
    tags.push({
      id: compiled.id,
      value,
      labels: definition.labels,
      ...(valueLabels ? { valueLabels } : {}),
      dimension: definition.dimension,
      type: definition.type,
      reason: {
        rule: reason.rule,
        definition: ruleDefinition(definition, reason.rule),
        values: reason.values,
      },
    });
  }
  return {
    memberKey,
    evaluatedAt: new Date(now).toISOString(),
    traits,
    aggregates: evaluation.aggregates,
    tags,
    nextChangeAt:
      evaluation.nextChangeAt === undefined
        ? null
        : new Date(evaluation.nextChangeAt).toISOString(),
    eventsFolded: state.events,
    problems: state.problems,
    needsBackfill: aggregatesNeedingBackfill(state, catalogue),
  };
}

function ruleDefinition(
  definition: RuleCatalogue['tags'][number]['definition'],
  rule: string,
): JsonValue {
  if (rule === 'condition') return toJson(definition.condition);
  const match = /^case (\d+)$/.exec(rule);
  if (match) return toJson(definition.value?.cases[Number(match[1])]);
  if (rule === 'else') return { else: definition.value?.else ?? null };
  return null;
}

function toJson(value: unknown): JsonValue {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as JsonValue);
}
