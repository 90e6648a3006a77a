/**
 * Incremental membership equals evaluating every segment from scratch, over random segment sets
 * (segments reading segments), random profile changes — consent to each purpose included — and
 * random definition edits between them: served where the definition holds with consent to the
 * segment's purpose, withheld where it holds without; the enters and exits replayed from empty
 * give the memberships, and every transition starts where the member stood; with the set
 * unchanged and the previous profile known, nothing outside the affected segments is evaluated.
 *
 * Runs: PORTRAIT_PROPERTY_RUNS / 10 sequences per property (default 300, of up to 25 steps).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CompiledSegment,
  changedFields,
  evaluateSegments,
  loadSegmentDefinition,
  type SegmentInput,
} from '../../../shared/domain/segments/index.ts';
import {
  emptyMembership,
  type MembershipState,
  type SegmentSet,
  segmentSet,
  statusIn,
  stepMembership,
} from '../../../shared/domain/segments/membership.ts';
import {
  type SegmentPurpose,
  segmentPurposes,
} from '../../../shared/domain/segments/segment-definition.ts';
import { membershipFieldsOf } from '../../../shared/domain/segments/segment-dependencies.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import {
  booleanTags,
  computedTags,
  constantsOf,
  constantTags,
  definitionArb,
  memberArbFor,
  numericAggregates,
  otherSegments,
  valueAggregates,
} from './arbitraries.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 3_000);
const timeout = 30_000 + runs * 20;
const catalogue = defaultRuleCatalogue();

/** Segment ids of the random sets: `s_i` may read `s_0 … s_(i−1)` and the saved `otherSegments`. */
const pool = ['s0', 's1', 's2', 's3', 's4'] as const;
const readable = pool.map((_, i) => [...otherSegments, ...pool.slice(0, i)]);

/** Every field `memberArbFor` may set, named as `changedFields` names them. */
const memberFields = [
  ...[
    ...booleanTags,
    ...Object.keys(constantTags),
    ...computedTags,
    'interest_travel',
    'big_ticket_buyer',
  ].map((tag) => `tag:${tag}`),
  ...['city', 'age', 'vip', 'address', 'interests', 'note'].map((key) => `trait:${key}`),
  ...[...numericAggregates, 'orders_all', ...valueAggregates].map((id) => `aggregate:${id}`),
  'rfm',
  'valueTier',
  'cluster',
  ...otherSegments.map((id) => `segment:${id}`),
  ...segmentPurposes.map((purpose) => `consent:${purpose}`),
];

/** Consent to each purpose, mostly granted; sometimes a purpose is left out (read as granted). */
const consentArb = fc.record(
  Object.fromEntries(
    segmentPurposes.map((purpose) => [
      purpose,
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 2, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(undefined) },
      ),
    ]),
  ) as Record<SegmentPurpose, fc.Arbitrary<boolean | undefined>>,
  { requiredKeys: [] },
);

function copyKey<T>(into: Record<string, T>, from: Readonly<Record<string, T>>, key: string): void {
  if (Object.hasOwn(from, key)) into[key] = from[key] as T;
  else delete into[key];
}

/** `base` with `fields` taken from `other` (present or absent as there). */
function withFields(
  base: SegmentInput,
  other: SegmentInput,
  fields: readonly string[],
): SegmentInput {
  const tags = { ...base.tags };
  const traits = { ...base.traits };
  const aggregates = { ...base.aggregates };
  const segments = new Set(base.segments);
  const consent: Partial<Record<SegmentPurpose, boolean>> = { ...base.consent };
  let { rfm, valueTier, cluster } = base;
  for (const field of fields) {
    const [kind, key = ''] = field.split(':');
    if (kind === 'tag') copyKey(tags, other.tags, key);
    else if (kind === 'trait') copyKey(traits, other.traits, key);
    else if (kind === 'aggregate') copyKey(aggregates, other.aggregates, key);
    else if (kind === 'segment') {
      if (other.segments?.has(key)) segments.add(key);
      else segments.delete(key);
    } else if (kind === 'consent') {
      const purpose = key as SegmentPurpose;
      const value = other.consent?.[purpose];
      if (value === undefined) delete consent[purpose];
      else consent[purpose] = value;
    } else if (kind === 'rfm') rfm = other.rfm;
    else if (kind === 'valueTier') valueTier = other.valueTier;
    else cluster = other.cluster;
  }
  return { tags, traits, aggregates, rfm, valueTier, cluster, segments, consent };
}

type Edit =
  | { readonly kind: 'put'; readonly at: number; readonly definition: Record<string, unknown> }
  | { readonly kind: 'delete'; readonly at: number }
  /** The same definitions and versions, listed in reverse: the tag must not change. */
  | { readonly kind: 'rebuild' };

function contextAt(at: number) {
  const segments = new Map(readable[at]?.map((id) => [id, new Set<string>()]));
  return { catalogue, segments };
}

/**
 * A random definition of `pool[at]`; two in three also read an earlier segment of the pool, some
 * of them only that segment, so that chains of segments reading segments are common.
 */
function definitionAt(at: number): fc.Arbitrary<Record<string, unknown>> {
  const id = pool[at] as string;
  const plain = definitionArb(id, readable[at]);
  const earlier = pool.slice(0, at);
  if (earlier.length === 0) return plain;
  return fc.oneof(
    plain,
    fc
      .tuple(plain, fc.constantFrom(...earlier), fc.constantFrom('all', 'any', 'is', 'not'))
      .map(([definition, segment, how]) => ({
        ...definition,
        expression:
          how === 'is'
            ? { segment }
            : how === 'not'
              ? { not: { segment } }
              : { [how]: [{ segment }, definition.expression] },
      })),
  );
}

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .nat(pool.length - 1)
      .chain((at) =>
        definitionAt(at).map((definition) => ({ kind: 'put' as const, at, definition })),
      ),
  },
  { weight: 2, arbitrary: fc.nat(pool.length - 1).map((at) => ({ kind: 'delete' as const, at })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'rebuild' as const }) },
);

interface Step {
  /** Definition edits before the member changes; mostly none. */
  readonly edits: readonly Edit[];
  /** Fields that change: up to four of any. */
  readonly fields: readonly string[];
  /** More fields that change, picked among those the set reads (index modulo their number). */
  readonly focus: readonly number[];
  /** Where the changed fields' new values come from. */
  readonly other: SegmentInput;
  /** The previous profile is unknown (e.g. a replayed or migrated state). */
  readonly forget: boolean;
}

/** A step; changed fields take their values from `members`. */
const stepArb = (members: fc.Arbitrary<SegmentInput>): fc.Arbitrary<Step> =>
  fc.record({
    edits: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(editArb, { minLength: 1, maxLength: 2 }) },
    ),
    fields: fc.subarray(memberFields, { maxLength: 4 }),
    focus: fc.array(fc.nat(), { maxLength: 3 }),
    other: members,
    forget: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
  });

/** Initial definitions (each id present 3 times in 4), a first member and the steps. */
const scenarioArb = fc
  .tuple(...pool.map((_, at) => fc.option(definitionAt(at), { nil: undefined, freq: 4 })))
  .chain((initial) => {
    const members = fc
      .tuple(memberArbFor(initial.flatMap((d) => (d ? constantsOf(d.expression) : []))), consentArb)
      .map(([member, consent]): SegmentInput => ({ ...member, consent }));
    return fc.record({
      initial: fc.constant(initial),
      first: members,
      steps: fc.array(stepArb(members), { minLength: 1, maxLength: 24, size: 'medium' }),
    });
  });
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

interface Outcome {
  readonly set: SegmentSet;
  /** Whether the definitions or their versions changed since the previous step. */
  readonly setChanged: boolean;
  readonly before: SegmentInput | undefined;
  readonly after: SegmentInput;
  readonly state: MembershipState;
  readonly result: ReturnType<typeof stepMembership>;
}

/** Runs the scenario through `stepMembership`, checking the tags on the way. */
function run({ initial, first, steps }: Scenario): Outcome[] {
  const compiled = new Map<string, CompiledSegment>();
  const versions = new Map<string, number>();
  const put = (at: number, definition: Record<string, unknown>): void => {
    const segment = loadSegmentDefinition(definition, contextAt(at));
    compiled.set(segment.id, segment);
    // As the store does: versions continue after a delete.
    versions.set(segment.id, (versions.get(segment.id) ?? 0) + 1);
  };
  const active = () => new Map([...compiled.keys()].map((id) => [id, versions.get(id)]));
  for (const [at, definition] of initial.entries()) if (definition) put(at, definition);
  let set = segmentSet(compiled.values(), versions);
  let state = emptyMembership;
  let member: SegmentInput | undefined;
  const outcomes: Outcome[] = [];
  const firstStep: Step = { edits: [], fields: [], focus: [], other: first, forget: true };
  for (const step of [firstStep, ...steps]) {
    const was = active();
    for (const edit of step.edits) {
      const previous = set;
      const beforeEdit = active();
      if (edit.kind === 'put') put(edit.at, edit.definition);
      else if (edit.kind === 'delete') compiled.delete(pool[edit.at] as string);
      set = segmentSet(
        edit.kind === 'rebuild' ? [...compiled.values()].reverse() : compiled.values(),
        versions,
      );
      expect(set.tag === previous.tag).toBe(sameMap(beforeEdit, active()));
    }
    const read = [
      ...new Set(set.ordered.flatMap((segment) => [...membershipFieldsOf(segment)])),
    ].filter((field) => memberFields.includes(field));
    const fields = [...step.fields, ...step.focus.flatMap((n) => read[n % read.length] ?? [])];
    const after = member === undefined ? step.other : withFields(member, step.other, fields);
    const before = step.forget ? undefined : member;
    const result = stepMembership(set, state, before, after);
    outcomes.push({ set, setChanged: !sameMap(was, active()), before, after, state, result });
    state = result.next;
    member = after;
  }
  return outcomes;
}

function sameMap<K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>): boolean {
  return a.size === b.size && [...a].every(([key, value]) => b.has(key) && b.get(key) === value);
}

/**
 * The ids served and withheld, evaluating every segment from scratch: a definition holds (a
 * `segment` leaf reads whether the other's definition holds), then consent to the purpose
 * (absent: granted) decides between served and withheld.
 */
function fromScratch(set: SegmentSet, member: SegmentInput) {
  const served = new Set<string>();
  const withheld = new Set<string>();
  for (const [id, result] of evaluateSegments(set.ordered, member)) {
    if (!result.in) continue;
    const purpose = set.byId.get(id)?.definition.purpose as SegmentPurpose;
    if (member.consent?.[purpose] === false) withheld.add(id);
    else served.add(id);
  }
  return { served, withheld };
}

function sortedUnique(list: readonly string[]): boolean {
  return list.every((id, i) => i === 0 || (list[i - 1] as string) < id);
}

describe('stepMembership (property)', () => {
  it(
    'equals recomputation from scratch after every step, and the enters and exits replay to it',
    () => {
      fc.assert(
        fc.property(scenarioArb, (scenario) => {
          const ledger = new Set<string>();
          const held = new Set<string>();
          for (const { set, after, state, result } of run(scenario)) {
            for (const field of changedFields({ tags: {}, traits: {}, aggregates: {} }, after)) {
              expect(memberFields).toContain(field);
            }
            const { served: expected, withheld } = fromScratch(set, after);
            expect(new Set(result.next.segments)).toEqual(expected);
            expect(new Set(result.next.withheld)).toEqual(withheld);
            for (const move of result.transitions) {
              expect(statusIn(state, move.segmentId), `${move.segmentId} moves from`).toBe(
                move.from,
              );
              expect(move.to).not.toBe(move.from);
              if (move.from === 'withheld') held.delete(move.segmentId);
              if (move.to === 'withheld') held.add(move.segmentId);
            }
            expect(held).toEqual(withheld);
            expect(result.next.setTag).toBe(set.tag);
            expect(sortedUnique(result.enter), 'enter sorted').toBe(true);
            expect(sortedUnique(result.exit), 'exit sorted').toBe(true);
            for (const id of result.enter) {
              expect(state.segments.has(id), `enters ${id} twice`).toBe(false);
              ledger.add(id);
            }
            for (const id of result.exit) {
              expect(state.segments.has(id), `exits ${id} while out`).toBe(true);
              ledger.delete(id);
            }
            expect(ledger).toEqual(expected);
          }
        }),
        { numRuns: Math.ceil(runs / 10) },
      );
    },
    timeout,
  );

  it(
    'evaluates only affectedSegments(changedFields(before, after)) when the set is unchanged',
    () => {
      fc.assert(
        fc.property(scenarioArb, (scenario) => {
          for (const { set, setChanged, before, after, result } of run(scenario)) {
            expect(new Set(result.evaluated).size).toBe(result.evaluated.length);
            if (before === undefined || setChanged) continue;
            const affected = set.index.affectedSegments(changedFields(before, after));
            for (const id of result.evaluated) expect(affected.has(id), id).toBe(true);
          }
        }),
        { numRuns: Math.ceil(runs / 10) },
      );
    },
    timeout,
  );
});
