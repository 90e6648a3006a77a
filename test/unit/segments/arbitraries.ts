/**
 * Random segment definitions over the default catalogue and random members that read the same
 * fields, with values chosen to make comparisons often true, often false, and sometimes
 * unreadable (decimal strings, non-numeric text, null, arrays, objects).
 */
import fc from 'fast-check';
import type { JsonValue } from '../../../events/envelope.ts';
import {
  rfmClass8Names,
  rfmSegmentNames,
  type SegmentInput,
  type SegmentScalar,
  valueTiers,
} from '../../../shared/domain/segments/index.ts';

export const booleanTags = ['high_frequency', 'interest_food', 'car_purchase_intent'] as const;
export const constantTags: Readonly<Record<string, readonly string[]>> = {
  consumption_level: ['high', 'mid', 'low'],
  gender: ['female', 'male'],
  user_type: ['core', 'loyal', 'target', 'potential'],
};
export const computedTags = ['city', 'favourite_category'] as const;
export const numericAggregates = ['orders_365d', 'revenue_365d', 'avg_order_value_365d'] as const;
export const valueAggregates = ['first_order_id', 'last_order_store'] as const;
export const traitPaths = ['city', 'age', 'vip', 'address.city', 'interests'] as const;
export const clusters = ['c0', 'c1', 'c2'] as const;
export const otherSegments = ['vip', 'lapsed', 'new_members'] as const;

const texts = ['北京', '北京市', 'food', 'foo', 'high', '', '20'] as const;
const numbers = [0, 20, 20.5, -1, 0.3, 1e21, 5e-7] as const;

const text = fc.constantFrom(...texts);
/** Constants of `contains`: often inside the texts above. */
const fragment = fc.constantFrom('北京', 'foo', 'o', '2');
const nonEmptyText = fc.constantFrom(...texts.filter((t) => t !== ''));
const constantNumber = fc.oneof(fc.constantFrom(...numbers), fc.integer({ min: 0, max: 2 }));
const scalar = fc.oneof(text, constantNumber, fc.boolean());

/** The same number written as a decimal string, several ways, or as text that is no decimal. */
function asText(n: number): fc.Arbitrary<string> {
  const forms = new Set([String(n), n.toFixed(2), n >= 0 ? `0${n}` : String(n)]);
  if (n === 1e21) forms.add('1000000000000000000000');
  if (n === 5e-7) forms.add('0.0000005');
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...forms) },
    { weight: 1, arbitrary: fc.constantFrom(`+${n}`, `${n}.`, ` ${n}`, `${n}e0`, `.${n}`) },
  );
}

/** Values a member may hold where numbers are expected: numbers, decimal strings and misfits. */
const numberish: fc.Arbitrary<number | string> = fc.oneof(
  { weight: 3, arbitrary: constantNumber },
  { weight: 3, arbitrary: constantNumber.chain(asText) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('1e3', 'abc', '', ' 1', '+1', '1.', 0.1 + 0.2, -0, 20.000001),
  },
);
const anyValue: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: numberish },
  { weight: 3, arbitrary: text },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(nonEmptyText, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.record({ city: text }) },
);

type Leaf = Record<string, unknown>;

function sorted<T>(arb: fc.Arbitrary<readonly T[]>): fc.Arbitrary<T[]> {
  return arb.map((list) => [...list]);
}

function comparison(values: fc.Arbitrary<unknown>, numeric: fc.Arbitrary<number>) {
  return fc.oneof(
    fc.record({ op: fc.constantFrom('=', '!='), value: values }),
    fc.record({
      op: fc.constantFrom('in', 'not_in'),
      value: sorted(fc.array(values, { minLength: 1, maxLength: 4 })),
    }),
    fc.record({ op: fc.constantFrom('<', '<=', '>', '>='), value: numeric }),
    fc
      .tuple(numeric, numeric)
      .map(([a, b]) => ({ op: 'between', value: a <= b ? [a, b] : [b, a] })),
    fc.record({ op: fc.constantFrom('exists', 'not_exists') }),
  );
}

const textComparison = (values: fc.Arbitrary<string>) =>
  fc.oneof(
    fc.record({ op: fc.constantFrom('=', '!='), value: values }),
    fc.record({
      op: fc.constantFrom('in', 'not_in'),
      value: fc.array(values, { minLength: 1, maxLength: 4 }),
    }),
    fc.record({ op: fc.constantFrom('exists', 'not_exists') }),
  );

const tagLeaf: fc.Arbitrary<Leaf> = fc.oneof(
  fc
    .constantFrom(...booleanTags, ...Object.keys(constantTags), ...computedTags)
    .map((tag) => ({ tag })),
  fc
    .tuple(
      fc.constantFrom(...booleanTags),
      fc.oneof(
        fc.record({ op: fc.constantFrom('exists', 'not_exists') }),
        fc.record({ op: fc.constantFrom('=', '!='), value: fc.constant(true) }),
      ),
    )
    .map(([tag, test]) => ({ tag, ...test })),
  fc.constantFrom(...Object.keys(constantTags)).chain((tag) =>
    textComparison(fc.constantFrom(...(constantTags[tag] ?? []))).map((test) => ({
      tag,
      ...test,
    })),
  ),
  fc
    .tuple(
      fc.constantFrom(...computedTags),
      fc.oneof(textComparison(text), fc.record({ op: fc.constant('contains'), value: fragment })),
    )
    .map(([tag, test]) => ({ tag, ...test })),
);

/** Constants that fit each trait path, and the values members mostly hold there. */
const traitValues: Readonly<Record<(typeof traitPaths)[number], fc.Arbitrary<SegmentScalar>>> = {
  city: text,
  age: constantNumber,
  vip: fc.boolean(),
  'address.city': text,
  interests: nonEmptyText,
};

const traitLeaf: fc.Arbitrary<Leaf> = fc.constantFrom(...traitPaths).chain((trait) =>
  fc
    .oneof(
      {
        weight: 4,
        arbitrary: comparison(
          fc.oneof({ weight: 3, arbitrary: traitValues[trait] }, scalar),
          constantNumber,
        ),
      },
      fc.record({ op: fc.constant('contains'), value: fragment }),
    )
    .map((test) => ({ trait, ...test })),
);

const aggregateLeaf: fc.Arbitrary<Leaf> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...numericAggregates), comparison(constantNumber, constantNumber))
    .map(([aggregate, test]) => ({ aggregate, ...test })),
  fc
    .tuple(
      fc.constantFrom(...valueAggregates),
      fc.oneof(
        { weight: 4, arbitrary: comparison(scalar, constantNumber) },
        fc.record({ op: fc.constant('contains'), value: fragment }),
      ),
    )
    .map(([aggregate, test]) => ({ aggregate, ...test })),
);

const score = fc.integer({ min: 1, max: 5 });
const rfmLeaf: fc.Arbitrary<Leaf> = fc.oneof(
  fc
    .tuple(fc.constantFrom('r', 'f', 'm'), comparison(score, score))
    .map(([rfm, test]) => ({ rfm, ...test })),
  textComparison(fc.constantFrom('555', '111', '345')).map((test) => ({ rfm: 'score', ...test })),
  textComparison(fc.constantFrom(...rfmSegmentNames.slice(0, 3))).map((test) => ({
    rfm: 'segment',
    ...test,
  })),
  textComparison(fc.constantFrom(...rfmClass8Names.slice(0, 3))).map((test) => ({
    rfm: 'class8',
    ...test,
  })),
);

function shorthand(key: string, values: readonly string[]): fc.Arbitrary<Leaf> {
  const one = fc.constantFrom(...values);
  return fc.oneof(
    fc.record({ [key]: one }),
    fc.record({ [key]: one, op: fc.constantFrom('=', '!=') }),
    fc.record({ [key]: fc.array(one, { minLength: 1, maxLength: 3 }) }),
    fc.record({
      [key]: fc.array(one, { minLength: 1, maxLength: 3 }),
      op: fc.constantFrom('in', 'not_in'),
    }),
  );
}

/** A leaf over the default catalogue; `segments` are the ids a segment leaf may read. */
export function leafArb(segments: readonly string[] = otherSegments): fc.Arbitrary<Leaf> {
  const arbitraries: fc.Arbitrary<Leaf>[] = [
    tagLeaf,
    traitLeaf,
    aggregateLeaf,
    rfmLeaf,
    shorthand('valueTier', valueTiers),
    shorthand('userType', constantTags.user_type ?? []),
    shorthand('cluster', clusters),
  ];
  if (segments.length > 0) {
    arbitraries.push(fc.constantFrom(...segments).map((segment) => ({ segment })));
  }
  return fc.oneof(...arbitraries);
}

/** A random expression of depth at most `maxDepth` (the root at depth 1). */
export function expressionArb(
  segments: readonly string[] = otherSegments,
  maxDepth = 5,
): fc.Arbitrary<unknown> {
  const leaf = leafArb(segments);
  const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true, maxDepth: maxDepth - 1 },
      { weight: 3, arbitrary: leaf },
      {
        weight: 1,
        arbitrary: fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((all) => ({ all })),
      },
      {
        weight: 1,
        arbitrary: fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((any) => ({ any })),
      },
      { weight: 1, arbitrary: tie('tree').map((not) => ({ not })) },
    ),
  }));
  return tree;
}

export const labels = { 'zh-CN': '测试分群', en: 'Test segment' };

/** A whole definition around a random expression. */
export function definitionArb(
  id = 'random_segment',
  segments: readonly string[] = otherSegments,
): fc.Arbitrary<Record<string, unknown>> {
  return expressionArb(segments).map((expression) => ({
    id,
    labels,
    purpose: 'marketing',
    expression,
  }));
}

function optional<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(arb, { nil: undefined, freq: 3 });
}

function record<T>(
  keys: readonly string[],
  value: fc.Arbitrary<T>,
): fc.Arbitrary<Record<string, T>> {
  return fc
    .tuple(...keys.map((key) => optional(value).map((v) => [key, v] as const)))
    .map((entries) =>
      Object.fromEntries(
        entries.filter((entry): entry is readonly [string, T] => entry[1] !== undefined),
      ),
    );
}

/** Scalars a raw expression compares with (values, list items, shorthand values). */
export function constantsOf(expression: unknown): unknown[] {
  if (Array.isArray(expression)) return expression.flatMap(constantsOf);
  if (typeof expression !== 'object' || expression === null) return [expression];
  const node = expression as Record<string, unknown>;
  return ['all', 'any', 'not', 'value', 'valueTier', 'userType', 'cluster'].flatMap((key) =>
    key in node ? constantsOf(node[key]) : [],
  );
}

/**
 * A random member over the fields the random definitions read (and a few they never read);
 * numbers and strings of `constants` (see {@link constantsOf}) are favoured, so comparisons
 * with them are often exactly equal.
 */
export function memberArbFor(constants: readonly unknown[] = []): fc.Arbitrary<SegmentInput> {
  const favouredNumbers = constants.filter((c): c is number => typeof c === 'number');
  const favouredTexts = constants.filter((c): c is string => typeof c === 'string');
  const number: fc.Arbitrary<number | string> =
    favouredNumbers.length === 0
      ? numberish
      : fc.oneof(
          { weight: 2, arbitrary: numberish },
          {
            weight: 3,
            arbitrary: fc
              .constantFrom(...favouredNumbers)
              .chain((n) => fc.oneof(fc.constant(n), asText(n))),
          },
        );
  const word =
    favouredTexts.length === 0 ? text : fc.oneof(text, fc.constantFrom(...favouredTexts));
  return fc
    .record({
      booleans: record(booleanTags, fc.constant(true as const)),
      constants: fc.tuple(
        ...Object.entries(constantTags).map(([tag, values]) =>
          optional(fc.oneof(fc.constantFrom(...values), word)).map((v) => [tag, v] as const),
        ),
      ),
      computed: record(computedTags, word),
      extraTags: record(['interest_travel', 'big_ticket_buyer'], fc.constant(true as const)),
      traits: fc.record(
        {
          city: fc.oneof({ weight: 4, arbitrary: word }, anyValue),
          age: fc.oneof({ weight: 4, arbitrary: number }, anyValue),
          vip: fc.oneof({ weight: 4, arbitrary: fc.boolean() }, anyValue),
          address: fc.oneof({ weight: 4, arbitrary: fc.record({ city: word }) }, anyValue),
          interests: fc.oneof(
            { weight: 4, arbitrary: fc.array(nonEmptyText, { maxLength: 3 }) },
            anyValue,
          ),
          note: anyValue,
        },
        { requiredKeys: [] },
      ),
      numericAggregates: record(
        [...numericAggregates, 'orders_all'],
        fc.oneof({ weight: 6, arbitrary: number }, fc.constant(null)),
      ),
      valueAggregates: record(
        valueAggregates,
        fc.oneof(word, number, fc.boolean(), fc.constant(null)),
      ),
      rfm: optional(
        fc.record(
          {
            r: fc.oneof(score, fc.constant(null)),
            f: score,
            m: fc.oneof(score, fc.constant(3.5)),
            score: fc.constantFrom('555', '111', '345', '999'),
            segment: fc.constantFrom(...rfmSegmentNames.slice(0, 4)),
            class8: fc.constantFrom(...rfmClass8Names.slice(0, 4)),
          },
          { requiredKeys: [] },
        ),
      ),
      valueTier: optional(fc.oneof(fc.constantFrom(...valueTiers), fc.constantFrom('other', null))),
      cluster: optional(fc.oneof(fc.constantFrom(...clusters), fc.constant(null))),
      segments: optional(fc.subarray([...otherSegments]).map((ids) => new Set(ids))),
    })
    .map((m) => {
      const tags: Record<string, true | string> = { ...m.booleans, ...m.computed, ...m.extraTags };
      for (const [tag, value] of m.constants) if (value !== undefined) tags[tag] = value;
      const member: { -readonly [K in keyof SegmentInput]: SegmentInput[K] } = {
        tags,
        traits: m.traits,
        aggregates: { ...m.numericAggregates, ...m.valueAggregates },
      };
      if (m.rfm !== undefined) member.rfm = m.rfm;
      if (m.valueTier !== undefined) member.valueTier = m.valueTier;
      if (m.cluster !== undefined) member.cluster = m.cluster;
      if (m.segments !== undefined) member.segments = m.segments;
      return member;
    });
}

/** A random member, no constants favoured. */
export const memberArb: fc.Arbitrary<SegmentInput> = memberArbFor();
