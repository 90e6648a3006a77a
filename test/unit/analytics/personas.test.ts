import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterFeatureNames, type RfmRow } from '../../../shared/domain/analytics/contracts.ts';
import { featureMatrix } from '../../../shared/domain/analytics/features.ts';
import {
  buildPersonas,
  InvalidPersonaInputError,
  type MemberFacts,
  memberFactsFromTags,
  personaName,
} from '../../../shared/domain/analytics/personas.ts';
import { rfmRow } from '../../support/rfm-rows.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 100);
const d = clusterFeatureNames.length;

/** Centroids as the mean z-scores of each cluster's points (what k-means ends with). */
function meanCentroids(points: Float64Array, assignments: readonly number[], k: number) {
  const sums = new Float64Array(k * d);
  const sizes = new Array<number>(k).fill(0);
  assignments.forEach((c, i) => {
    sizes[c] = (sizes[c] as number) + 1;
    for (let j = 0; j < d; j += 1)
      sums[c * d + j] = (sums[c * d + j] as number) + (points[i * d + j] as number);
  });
  for (let c = 0; c < k; c += 1) {
    for (let j = 0; j < d; j += 1)
      sums[c * d + j] = (sums[c * d + j] as number) / Math.max(1, sizes[c] as number);
  }
  return sums;
}

function clustering(rows: readonly RfmRow[], assignments: readonly number[], k: number) {
  const matrix = featureMatrix(rows);
  return {
    rows,
    assignments,
    k,
    centroids: meanCentroids(matrix.points, assignments, k),
    scaling: matrix.scaling,
  };
}

describe('persona cards', () => {
  const rows = [
    rfmRow('u#a', { recencyDays: 400, segment: 'lost' }),
    rfmRow('u#b', { recencyDays: 380, segment: 'lost' }),
    rfmRow('u#c', { recencyDays: 390, segment: 'hibernating' }),
    rfmRow('u#d', { recencyDays: 2, segment: 'champions' }),
    rfmRow('u#e', { recencyDays: 3, segment: 'champions' }),
  ];
  const facts: Record<string, MemberFacts> = {
    'u#a': {
      city: '上海',
      gender: 'female',
      ageBand: '25-34',
      favouriteCategory: '美妆',
      interests: ['interest_beauty'],
    },
    'u#b': { city: '上海', gender: 'male', favouriteCategory: '美妆', interests: [] },
    'u#c': { city: '北京', interests: ['interest_beauty', 'interest_tech'] },
    'u#d': { city: '深圳', interests: ['interest_tech'] },
  };

  it('describes each cluster by its members: size, share, demographics, categories, interests, RFM mix', () => {
    const result = buildPersonas({
      ...clustering(rows, [1, 1, 1, 0, 0], 2),
      facts: (id) => facts[id],
    });
    expect(result.idOfIndex).toEqual(['c2', 'c1']);
    const [big, small] = result.cards;
    expect(big?.id).toBe('c1');
    expect(big?.size).toBe(3);
    expect(big?.share).toBe(0.6);
    expect(big?.demographics.city).toEqual({ value: '上海', members: 2, share: 0.6667 });
    expect(big?.demographics.gender).toEqual({ value: 'female', members: 1, share: 0.3333 });
    expect(big?.favouriteCategories).toEqual([{ value: '美妆', members: 2, share: 0.6667 }]);
    expect(big?.interestTags.map((t) => [t.value, t.members])).toEqual([
      ['interest_beauty', 2],
      ['interest_tech', 1],
    ]);
    expect(big?.rfmMix.map((s) => [s.value, s.members])).toEqual([
      ['lost', 2],
      ['hibernating', 1],
    ]);
    expect(big?.centroid.recencyDays).toBeCloseTo(390, 6);
    expect(big?.name.en).toBe('Dormant customers');
    expect(big?.name['zh-CN']).toBe('沉睡客户');
    expect(big?.description.en).toContain('3 members (60.0%)');
    expect(small?.demographics.ageBand).toBeNull();
    expect(small?.centroid.recencyDays).toBeCloseTo(2.5, 6);
    expect(result.drift.previousRunId).toBeNull();
    expect(result.drift.transitions).toEqual([
      { from: 'new', to: 'c1', members: 3 },
      { from: 'new', to: 'c2', members: 2 },
    ]);
  });

  it('names centroids by their z-scores, first rule first', () => {
    const z = Object.fromEntries(clusterFeatureNames.map((n) => [n, 0])) as Record<
      (typeof clusterFeatureNames)[number],
      number
    >;
    expect(personaName(z).en).toBe('Steady middle');
    expect(personaName({ ...z, recencyDays: 1, monetary: 1 }).en).toBe('Lapsed big spenders');
    expect(personaName({ ...z, recencyDays: -0.5, frequency: 1, monetary: 1 }).en).toBe(
      'Loyal high spenders',
    );
    expect(personaName({ ...z, tenureDays: -1 }).en).toBe('Newcomers');
    expect(personaName({ ...z, monetary: -1 })['zh-CN']).toBe('轻度消费客户');
  });

  it('tells apart two clusters named alike by the later id', () => {
    const same = [rfmRow('u#1'), rfmRow('u#2'), rfmRow('u#3')];
    const result = buildPersonas({
      rows: same,
      assignments: [0, 0, 1],
      centroids: new Float64Array(2 * d),
      k: 2,
      scaling: featureMatrix(same).scaling,
      facts: () => undefined,
    });
    expect(result.cards.map((card) => [card.id, card.name.en])).toEqual([
      ['c1', 'Steady middle'],
      ['c2', 'Steady middle (c2)'],
    ]);
  });

  it('reads facts from tags: demographics, favourite category and held interest tags', () => {
    expect(
      memberFactsFromTags(
        {
          city: '杭州',
          gender: 'female',
          age_band: '25-34',
          favourite_category: '咖啡',
          interest_food: true,
        },
        ['interest_food', 'interest_tech'],
      ),
    ).toEqual({
      city: '杭州',
      gender: 'female',
      ageBand: '25-34',
      favouriteCategory: '咖啡',
      interests: ['interest_food'],
    });
  });

  it('refuses assignments outside the clusters with a stable code', () => {
    expect(() =>
      buildPersonas({
        ...clustering(rows, [0, 0, 0, 0, 0], 1),
        assignments: [0, 0, 0, 0, 3],
        facts: () => undefined,
      }),
    ).toThrow(InvalidPersonaInputError);
  });

  it('keeps cluster ids across nights whatever k-means numbers them, and counts every move', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 6, maxLength: 40 }),
        fc.constantFrom([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        (groups, permutation, moves) => {
          const members = groups.map((g, i) =>
            rfmRow(`u#${i}`, { recencyDays: 10 + 100 * g + (i % 3) }),
          );
          const first = buildPersonas({
            ...clustering(members, groups, 3),
            facts: () => undefined,
          });
          const clusterOf = new Map(
            members.map((row, i) => [row.memberId, first.idOfIndex[groups[i] as number] as string]),
          );
          // The next night: the same grouping under other k-means numbers → the same ids.
          const renumbered = groups.map((g) => permutation[g] as number);
          const second = buildPersonas({
            ...clustering(members, renumbered, 3),
            facts: () => undefined,
            previous: { runId: 'night-1', clusterOf },
          });
          members.forEach((row, i) => {
            expect(second.idOfIndex[renumbered[i] as number]).toBe(clusterOf.get(row.memberId));
          });
          expect(second.drift.stayed).toBe(members.length);
          // Some members move to the next group, the last one leaves: the matrix counts them.
          const moved = groups.map((g, i) => (moves[i] ? (g + 1) % 3 : g));
          const staying = members.slice(0, -1);
          const third = buildPersonas({
            ...clustering(staying, moved.slice(0, -1), 3),
            facts: () => undefined,
            previous: { runId: 'night-2', clusterOf },
          });
          const expected = new Map<string, number>();
          staying.forEach((row, i) => {
            const key = `${clusterOf.get(row.memberId)}>${third.idOfIndex[moved[i] as number]}`;
            expected.set(key, (expected.get(key) ?? 0) + 1);
          });
          const last = members[members.length - 1] as RfmRow;
          const goneKey = `${clusterOf.get(last.memberId)}>gone`;
          expected.set(goneKey, (expected.get(goneKey) ?? 0) + 1);
          const got = new Map(third.drift.transitions.map((t) => [`${t.from}>${t.to}`, t.members]));
          expect(got).toEqual(expected);
          expect(third.drift.left).toBe(1);
          expect(third.drift.stayed + third.drift.moved).toBe(staying.length);
          expect(third.cards.reduce((sum, card) => sum + card.size, 0)).toBe(staying.length);
        },
      ),
      { numRuns: runs },
    );
  });
});

// A plain restatement of docs/ANALYTICS.md's stable ids and drift, with string-keyed maps.
function referenceIdsAndDrift(
  rows: readonly RfmRow[],
  assignments: readonly number[],
  k: number,
  clusterOf: ReadonlyMap<string, string>,
) {
  const num = (id: string) => Number(id.slice(1));
  const sizes = new Array<number>(k).fill(0);
  for (const c of assignments) sizes[c] = (sizes[c] as number) + 1;
  const bySize = [...sizes.keys()].sort(
    (a, b) => (sizes[b] as number) - (sizes[a] as number) || a - b,
  );
  const ids = new Array<string>(k).fill('');
  const overlap = new Map<string, number>();
  rows.forEach((row, i) => {
    const before = clusterOf.get(row.memberId);
    if (before === undefined) return;
    const key = `${before}|${assignments[i]}`;
    overlap.set(key, (overlap.get(key) ?? 0) + 1);
  });
  const pairs = [...overlap].map(([key, members]) => {
    const [before, index] = key.split('|') as [string, string];
    return { before, index: Number(index), members };
  });
  pairs.sort((a, b) => b.members - a.members || num(a.before) - num(b.before) || a.index - b.index);
  const used = new Set<string>();
  for (const pair of pairs) {
    if (used.has(pair.before) || ids[pair.index] !== '') continue;
    ids[pair.index] = pair.before;
    used.add(pair.before);
  }
  let next = Math.max(1, ...[...clusterOf.values()].map((id) => num(id) + 1));
  for (const c of bySize) if (ids[c] === '') ids[c] = `c${next++}`;
  const cells = new Map<string, number>();
  const bump = (from: string, to: string) =>
    cells.set(`${from}|${to}`, (cells.get(`${from}|${to}`) ?? 0) + 1);
  let stayed = 0;
  let moved = 0;
  let entered = 0;
  rows.forEach((row, i) => {
    const to = ids[assignments[i] as number] as string;
    const from = clusterOf.get(row.memberId);
    if (from === undefined) {
      entered += 1;
      bump('new', to);
    } else {
      if (from === to) stayed += 1;
      else moved += 1;
      bump(from, to);
    }
  });
  const current = new Set(rows.map((row) => row.memberId));
  let left = 0;
  for (const [memberId, from] of clusterOf) {
    if (current.has(memberId)) continue;
    left += 1;
    bump(from, 'gone');
  }
  const order = (id: string) =>
    id === 'new' ? -1 : id === 'gone' ? Number.MAX_SAFE_INTEGER : num(id);
  const transitions = [...cells]
    .map(([key, members]) => {
      const [from, to] = key.split('|') as [string, string];
      return { from, to, members };
    })
    .sort((a, b) => order(a.from) - order(b.from) || order(a.to) - order(b.to));
  return { ids, stayed, moved, entered, left, transitions };
}

describe('stable ids and drift', () => {
  it('equal a plain recomputation for any previous night (members kept, moved, new and gone)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 60 }),
        fc.array(fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }), {
          maxLength: 80,
        }),
        (k, picks, previousOf) => {
          const rows = picks.map((_, i) => rfmRow(`m${i}`, { recencyDays: i }));
          const assignments = picks.map((p) => p % k);
          // Previous members m0… (some beyond this night's rows: gone), with ids c1…c9.
          const clusterOf = new Map<string, string>();
          previousOf.forEach((n, i) => {
            if (n !== undefined) clusterOf.set(`m${i}`, `c${n}`);
          });
          const result = buildPersonas({
            ...clustering(rows, assignments, k),
            facts: () => undefined,
            previous: { runId: 'before', clusterOf },
          });
          const expected = referenceIdsAndDrift(rows, assignments, k, clusterOf);
          expect(result.idOfIndex).toEqual(expected.ids);
          expect(result.drift).toMatchObject({
            previousRunId: 'before',
            stayed: expected.stayed,
            moved: expected.moved,
            entered: expected.entered,
            left: expected.left,
            transitions: expected.transitions,
          });
        },
      ),
      { numRuns: runs },
    );
  });
});
