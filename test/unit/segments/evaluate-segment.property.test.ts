/**
 * Evaluation equals the reference (which reads the raw JSON), answer and reasons, for random
 * definitions over every operand and op and random members; the dependency index is sound.
 *
 * Runs: PORTRAIT_PROPERTY_RUNS (default 3,000 per property: a few seconds for this file).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  changedFields,
  dependenciesOf,
  evaluateSegment,
  evaluateSegments,
  loadSegmentDefinition,
  loadSegmentDefinitions,
  SegmentDependencyIndex,
  type SegmentInput,
  segmentGraph,
  segmentMatches,
} from '../../../shared/domain/segments/index.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import {
  constantsOf,
  definitionArb,
  labels,
  memberArb,
  memberArbFor,
  otherSegments,
} from './arbitraries.ts';
import { referenceEvaluate } from './reference.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 3_000);
const timeout = 30_000 + runs * 20;
const catalogue = defaultRuleCatalogue();
const context = {
  catalogue,
  segments: new Map(otherSegments.map((id) => [id, new Set<string>()])),
};

/** `base` with every field outside `keep` taken from `other` (present or absent as there). */
function mixFields(
  base: SegmentInput,
  other: SegmentInput,
  keep: ReadonlySet<string>,
): SegmentInput {
  const pick = <T>(
    prefix: string,
    a: Readonly<Record<string, T>>,
    b: Readonly<Record<string, T>>,
  ): Record<string, T> => {
    const out: Record<string, T> = {};
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const source = keep.has(`${prefix}${key}`) ? a : b;
      if (Object.hasOwn(source, key)) out[key] = source[key] as T;
    }
    return out;
  };
  const segments = new Set<string>();
  for (const id of otherSegments) {
    const source = keep.has(`segment:${id}`) ? base : other;
    if (source.segments?.has(id)) segments.add(id);
  }
  return {
    tags: pick('tag:', base.tags, other.tags),
    traits: pick('trait:', base.traits, other.traits),
    aggregates: pick('aggregate:', base.aggregates, other.aggregates),
    rfm: keep.has('rfm') ? base.rfm : other.rfm,
    valueTier: keep.has('valueTier') ? base.valueTier : other.valueTier,
    cluster: keep.has('cluster') ? base.cluster : other.cluster,
    segments,
  };
}

describe('evaluateSegment (property)', () => {
  it(
    'equals the reference interpreter on the raw JSON, answer and reasons',
    () => {
      fc.assert(
        fc.property(
          definitionArb().chain((definition) =>
            fc.tuple(fc.constant(definition), memberArbFor(constantsOf(definition.expression))),
          ),
          fc.option(fc.func(fc.boolean()), { nil: undefined }),
          ([definition, member], resolver) => {
            const compiled = loadSegmentDefinition(definition, context);
            const segmentsOf = resolver && ((id: string) => resolver(id));
            const expected = referenceEvaluate(definition.expression, member, segmentsOf);
            const actual = evaluateSegment(compiled, member, segmentsOf);
            expect(actual).toEqual(expected);
            expect(segmentMatches(compiled, member, segmentsOf)).toBe(expected.in);
          },
        ),
        { numRuns: runs },
      );
    },
    timeout,
  );

  it(
    'never changes its answer when only fields outside dependenciesOf change',
    () => {
      fc.assert(
        fc.property(
          definitionArb().chain((definition) => {
            const member = memberArbFor(constantsOf(definition.expression));
            return fc.tuple(fc.constant(definition), member, member);
          }),
          ([definition, a, b]) => {
            const compiled = loadSegmentDefinition(definition, context);
            const dependencies = dependenciesOf(compiled);
            const mixed = mixFields(a, b, dependencies);
            for (const field of changedFields(a, mixed)) {
              expect(dependencies.has(field), field).toBe(false);
            }
            expect(evaluateSegment(compiled, mixed)).toEqual(evaluateSegment(compiled, a));
          },
        ),
        { numRuns: runs },
      );
    },
    timeout,
  );

  it(
    'affectedSegments(changedFields(a, b)) holds every segment whose answer differs',
    () => {
      const ids = ['s0', 's1', 's2', 's3'];
      // s_i may read the other segments and s_0 … s_(i−1): the set is acyclic.
      const setArb = fc.tuple(
        ...ids.map((id, i) => definitionArb(id, [...otherSegments, ...ids.slice(0, i)])),
      );
      fc.assert(
        fc.property(setArb, memberArb, memberArb, (definitions, a, b) => {
          const compiled = loadSegmentDefinitions(definitions, context);
          const index = new SegmentDependencyIndex(compiled);
          const affected = index.affectedSegments(changedFields(a, b));
          // Memberships given by the member.
          for (const segment of compiled) {
            if (evaluateSegment(segment, a).in !== evaluateSegment(segment, b).in) {
              expect(affected.has(segment.id), segment.id).toBe(true);
            }
          }
          // Memberships of the set computed in order, as a materialiser does.
          const before = evaluateSegments(compiled, a);
          const after = evaluateSegments(compiled, b);
          for (const segment of compiled) {
            if (before.get(segment.id)?.in !== after.get(segment.id)?.in) {
              expect(affected.has(segment.id), segment.id).toBe(true);
            }
          }
          // The answer iterates in evaluation order.
          const order = [...affected];
          for (const segment of compiled) {
            for (const read of segment.segmentsRead) {
              if (affected.has(segment.id) && affected.has(read)) {
                expect(order.indexOf(read)).toBeLessThan(order.indexOf(segment.id));
              }
            }
          }
        }),
        { numRuns: Math.ceil(runs / 3) },
      );
    },
    timeout,
  );

  it(
    'loads a random set in an order where every segment follows those it reads',
    () => {
      fc.assert(
        fc.property(
          fc.shuffledSubarray(['a', 'b', 'c', 'd', 'e'], { minLength: 5, maxLength: 5 }),
          fc.array(fc.tuple(fc.nat(4), fc.nat(4)), { maxLength: 8 }),
          (ids, edges) => {
            // Edges only from a later id to an earlier one in `ids`: acyclic.
            const reads = new Map(ids.map((id) => [id, new Set<string>()]));
            for (const [x, y] of edges) {
              if (x > y) reads.get(ids[x] as string)?.add(ids[y] as string);
            }
            const definitions = [...ids].sort().map((id) => {
              const read = [...(reads.get(id) ?? [])];
              return {
                id,
                labels,
                purpose: 'analytics',
                expression:
                  read.length === 0
                    ? { tag: 'high_frequency' }
                    : { any: read.map((segment) => ({ segment })) },
              };
            });
            const compiled = loadSegmentDefinitions(definitions, { catalogue });
            const position = new Map(compiled.map((s, i) => [s.id, i]));
            for (const segment of compiled) {
              for (const read of segment.segmentsRead) {
                expect(position.get(read)).toBeLessThan(position.get(segment.id) as number);
              }
            }
            expect(segmentGraph(compiled)).toEqual(reads);
          },
        ),
        { numRuns: Math.ceil(runs / 10) },
      );
    },
    timeout,
  );
});
