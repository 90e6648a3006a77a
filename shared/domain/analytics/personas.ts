/**
 * Persona cards: one readable card per k-means cluster (size, centroid in original units,
 * typical demographics, favourite categories, top interest tags, RFM mix, a bilingual name and a
 * one-line description), cluster ids kept stable night to night by matching clusters to the
 * previous run's on shared members, and the drift: how members moved between clusters. Pure and
 * deterministic: the same inputs give the same cards.
 */
import type { TagValue } from '../tags/evaluate.ts';
import { type ClusterFeatureName, clusterFeatureNames, type RfmRow } from './contracts.ts';
import { type FeatureScaling, toOriginalUnits } from './features.ts';

/** What a member's profile says for personas (from its tags; all optional). */
export interface MemberFacts {
  readonly city?: string;
  readonly gender?: string;
  readonly ageBand?: string;
  /** The `favourite_category` tag: the category of most order lines in 365 days. */
  readonly favouriteCategory?: string;
  /** Ids of the interest-dimension tags the member holds. */
  readonly interests: readonly string[];
}

/** Tag ids read for {@link MemberFacts}; the default catalogue defines all of them. */
export const personaTagIds = {
  city: 'city',
  gender: 'gender',
  ageBand: 'age_band',
  favouriteCategory: 'favourite_category',
} as const;

/**
 * A member's facts from its current tags. `interestTagIds` are the catalogue's interest-dimension
 * tags that are conditions (held or not), e.g. `interest_tech`, `car_purchase_intent`.
 */
export function memberFactsFromTags(
  tags: Readonly<Record<string, TagValue>>,
  interestTagIds: readonly string[],
): MemberFacts {
  const text = (id: string): string | undefined => {
    const value = tags[id];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const city = text(personaTagIds.city);
  const gender = text(personaTagIds.gender);
  const ageBand = text(personaTagIds.ageBand);
  const favouriteCategory = text(personaTagIds.favouriteCategory);
  return {
    ...(city ? { city } : {}),
    ...(gender ? { gender } : {}),
    ...(ageBand ? { ageBand } : {}),
    ...(favouriteCategory ? { favouriteCategory } : {}),
    interests: interestTagIds.filter((id) => tags[id] !== undefined),
  };
}

export interface BilingualText {
  readonly 'zh-CN': string;
  readonly en: string;
}

/** A value and the share (0–1) of the cluster's members with it. */
export interface ValueShare {
  readonly value: string;
  readonly members: number;
  readonly share: number;
}

export interface PersonaCard {
  /** `c1`, `c2`, …: stable across nights for a cluster that keeps most of its members. */
  readonly id: string;
  readonly size: number;
  /** Of all clustered members, 0–1. */
  readonly share: number;
  /** The centroid back in the features' units (days, orders, money, products). */
  readonly centroid: Readonly<Record<ClusterFeatureName, number>>;
  /** The centroid in z-scores (of the log-transformed skewed features): what the name reads. */
  readonly zScores: Readonly<Record<ClusterFeatureName, number>>;
  readonly demographics: {
    readonly city: ValueShare | null;
    readonly gender: ValueShare | null;
    readonly ageBand: ValueShare | null;
  };
  /** Up to 3, most members first. */
  readonly favouriteCategories: readonly ValueShare[];
  /** Up to 3 interest tag ids, most members first. */
  readonly interestTags: readonly ValueShare[];
  /** Named RFM segments' shares within the cluster, largest first. */
  readonly rfmMix: readonly ValueShare[];
  readonly name: BilingualText;
  readonly description: BilingualText;
  /** The previous run's cluster this one continues, `null` for a new cluster. */
  readonly previousId: string | null;
}

/** Members moving from one cluster to another; `new` / `gone` for members entering or leaving. */
export interface Transition {
  readonly from: string;
  readonly to: string;
  readonly members: number;
}

export interface PersonaDrift {
  readonly previousRunId: string | null;
  /** Sorted by `from`, then `to`; every non-zero cell of the transition matrix. */
  readonly transitions: readonly Transition[];
  /** Members in both runs in the same cluster / in another cluster. */
  readonly stayed: number;
  readonly moved: number;
  /** Members only in this run / only in the previous one. */
  readonly entered: number;
  readonly left: number;
  /** Previous clusters no cluster of this run continues. */
  readonly retired: readonly string[];
}

export interface PersonaInput {
  /** The clustered members, in the order of `assignments`. */
  readonly rows: readonly RfmRow[];
  /** k-means cluster index (0 … k-1) of every row. */
  readonly assignments: ArrayLike<number>;
  /** `k × dimensions` in z-scores, in `clusterFeatureNames` order. */
  readonly centroids: ArrayLike<number>;
  readonly k: number;
  readonly scaling: FeatureScaling;
  /** The member's facts, `undefined` when its profile is unknown. */
  readonly facts: (memberId: string) => MemberFacts | undefined;
  /** The previous run: its id and each member's cluster id. */
  readonly previous?: {
    readonly runId: string;
    readonly clusterOf: ReadonlyMap<string, string>;
  };
}

export interface PersonaResult {
  readonly cards: readonly PersonaCard[];
  /** The stable id (`c1`…) of each k-means index. */
  readonly idOfIndex: readonly string[];
  readonly drift: PersonaDrift;
}

/** Inputs that do not describe one clustering (wrong lengths, an index out of range). */
export class InvalidPersonaInputError extends Error {
  readonly code = 'invalid_persona_input';
  override readonly name = 'InvalidPersonaInputError';
}

const clusterIdPattern = /^c(\d+)$/;

/** Builds the cards, the stable ids and the drift from one clustering. */
export function buildPersonas(input: PersonaInput): PersonaResult {
  const { rows, assignments, k } = input;
  const d = clusterFeatureNames.length;
  if (assignments.length !== rows.length) {
    throw new InvalidPersonaInputError(`${rows.length} rows but ${assignments.length} assignments`);
  }
  if (input.centroids.length !== k * d) {
    throw new InvalidPersonaInputError(
      `centroids hold ${input.centroids.length} values, not ${k}×${d}`,
    );
  }
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < rows.length; i += 1) {
    const c = assignments[i] as number;
    if (!Number.isInteger(c) || c < 0 || c >= k) {
      throw new InvalidPersonaInputError(`assignment ${c} of row ${i} is outside 0…${k - 1}`);
    }
    sizes[c] = (sizes[c] as number) + 1;
  }
  const before = previousOfRows(input);
  const idOfIndex = stableIds(input, sizes, before);
  const total = rows.length;
  const tallies = Array.from({ length: k }, () => ({
    city: new Map<string, number>(),
    gender: new Map<string, number>(),
    ageBand: new Map<string, number>(),
    category: new Map<string, number>(),
    interest: new Map<string, number>(),
    rfm: new Map<string, number>(),
  }));
  for (let i = 0; i < rows.length; i += 1) {
    const row = rows[i] as RfmRow;
    const tally = tallies[assignments[i] as number] as (typeof tallies)[number];
    bump(tally.rfm, row.segment);
    const facts = input.facts(row.memberId);
    if (!facts) continue;
    if (facts.city) bump(tally.city, facts.city);
    if (facts.gender) bump(tally.gender, facts.gender);
    if (facts.ageBand) bump(tally.ageBand, facts.ageBand);
    if (facts.favouriteCategory) bump(tally.category, facts.favouriteCategory);
    for (const interest of facts.interests) bump(tally.interest, interest);
  }
  const names = new Map<string, number>();
  const cards: PersonaCard[] = [];
  // In id order, so of two clusters named alike the later id is the one told apart.
  const byId = Array.from({ length: k }, (_, c) => c).sort(
    (a, b) => clusterNumber(idOfIndex[a] as string) - clusterNumber(idOfIndex[b] as string),
  );
  for (const c of byId) {
    const size = sizes[c] as number;
    const tally = tallies[c] as (typeof tallies)[number];
    const z = Array.from({ length: d }, (_, j) => input.centroids[c * d + j] as number);
    const zScores = Object.fromEntries(
      clusterFeatureNames.map((name, j) => [name, round(z[j] as number, 3)]),
    ) as Record<ClusterFeatureName, number>;
    const original = toOriginalUnits(z, input.scaling);
    const centroid = Object.fromEntries(
      clusterFeatureNames.map((name) => [name, round(original[name], 2)]),
    ) as Record<ClusterFeatureName, number>;
    const demographics = {
      city: top(tally.city, size, 1)[0] ?? null,
      gender: top(tally.gender, size, 1)[0] ?? null,
      ageBand: top(tally.ageBand, size, 1)[0] ?? null,
    };
    let name = personaName(zScores);
    const seen = names.get(name.en) ?? 0;
    names.set(name.en, seen + 1);
    const id = idOfIndex[c] as string;
    // Two clusters the rules name alike are told apart by their (stable) ids.
    if (seen > 0) name = { 'zh-CN': `${name['zh-CN']}（${id}）`, en: `${name.en} (${id})` };
    cards.push({
      id,
      size,
      share: total > 0 ? round(size / total, 4) : 0,
      centroid,
      zScores,
      demographics,
      favouriteCategories: top(tally.category, size, 3),
      interestTags: top(tally.interest, size, 3),
      rfmMix: top(tally.rfm, size, Number.POSITIVE_INFINITY),
      name,
      description: describe(size, total, centroid, demographics),
      previousId: null,
    });
  }
  // The previous run's ids, already collected once per member by previousOfRows.
  const previousIds: ReadonlySet<string> = new Set(before.ids);
  const withPrevious = cards.map((card) => ({
    ...card,
    previousId: previousIds.has(card.id) ? card.id : null,
  }));
  withPrevious.sort((a, b) => clusterNumber(a.id) - clusterNumber(b.id));
  return {
    cards: withPrevious,
    idOfIndex,
    drift: drift(input, idOfIndex, previousIds, before),
  };
}

/**
 * Stable ids. With no previous run: `c1` for the largest cluster, `c2` the next… (ties by k-means
 * index). With one: pairs (previous cluster, new cluster) are matched greedily by shared members,
 * most first, so a cluster that keeps most of its members keeps its id; an unmatched cluster
 * gets the next number never used by the previous run.
 */
/**
 * The previous run's clusters as small numbers, looked up once per row for both the stable ids
 * and the drift (at 1M members, string keys per row cost seconds): the distinct previous ids, the
 * previous cluster of each row (-1: not in the previous run), and each previous cluster's size.
 */
interface PreviousOfRows {
  readonly ids: readonly string[];
  readonly ofRow: Int32Array;
  readonly sizes: readonly number[];
}

function previousOfRows(input: PersonaInput): PreviousOfRows {
  const ids: string[] = [];
  const numberOf = new Map<string, number>();
  const sizes: number[] = [];
  const ofRow = new Int32Array(input.rows.length).fill(-1);
  const clusterOf = input.previous?.clusterOf;
  if (!clusterOf) return { ids, ofRow, sizes };
  for (const id of clusterOf.values()) {
    let n = numberOf.get(id);
    if (n === undefined) {
      n = ids.length;
      numberOf.set(id, n);
      ids.push(id);
      sizes.push(0);
    }
    sizes[n] = (sizes[n] as number) + 1;
  }
  for (let i = 0; i < input.rows.length; i += 1) {
    const id = clusterOf.get((input.rows[i] as RfmRow).memberId);
    if (id !== undefined) ofRow[i] = numberOf.get(id) as number;
  }
  return { ids, ofRow, sizes };
}

function stableIds(
  input: PersonaInput,
  sizes: readonly number[],
  before: PreviousOfRows,
): string[] {
  const k = input.k;
  const ids = new Array<string>(k).fill('');
  const bySize = Array.from({ length: k }, (_, c) => c).sort(
    (a, b) => (sizes[b] as number) - (sizes[a] as number) || a - b,
  );
  if (before.ids.length === 0) {
    bySize.forEach((c, rank) => {
      ids[c] = `c${rank + 1}`;
    });
    return ids;
  }
  // overlap[b * k + c]: members in previous cluster b and new cluster c.
  const overlap = new Float64Array(before.ids.length * k);
  for (let i = 0; i < input.rows.length; i += 1) {
    const b = before.ofRow[i] as number;
    if (b < 0) continue;
    const j = b * k + (input.assignments[i] as number);
    overlap[j] = (overlap[j] as number) + 1;
  }
  const pairs: { before: string; index: number; members: number }[] = [];
  before.ids.forEach((id, b) => {
    for (let c = 0; c < k; c += 1) {
      const members = overlap[b * k + c] as number;
      if (members > 0) pairs.push({ before: id, index: c, members });
    }
  });
  pairs.sort(
    (a, b) =>
      b.members - a.members ||
      clusterNumber(a.before) - clusterNumber(b.before) ||
      a.index - b.index,
  );
  const usedBefore = new Set<string>();
  for (const pair of pairs) {
    if (usedBefore.has(pair.before) || ids[pair.index] !== '') continue;
    ids[pair.index] = pair.before;
    usedBefore.add(pair.before);
  }
  let next = 1;
  for (const id of before.ids) next = Math.max(next, clusterNumber(id) + 1);
  for (const c of bySize) {
    if (ids[c] === '') {
      ids[c] = `c${next}`;
      next += 1;
    }
  }
  return ids;
}

function drift(
  input: PersonaInput,
  idOfIndex: readonly string[],
  previousIds: ReadonlySet<string>,
  before: PreviousOfRows,
): PersonaDrift {
  const previous = input.previous;
  const k = input.k;
  const from = before.ids.length;
  // cells[f * k + c]: members from previous cluster f (f = from: new) to new cluster c.
  const cells = new Float64Array((from + 1) * k);
  const stayedIn = new Float64Array(from);
  let stayed = 0;
  let moved = 0;
  let entered = 0;
  for (let i = 0; i < input.rows.length; i += 1) {
    const c = input.assignments[i] as number;
    const f = before.ofRow[i] as number;
    if (f < 0) {
      entered += 1;
      cells[from * k + c] = (cells[from * k + c] as number) + 1;
    } else {
      if (before.ids[f] === idOfIndex[c]) stayed += 1;
      else moved += 1;
      cells[f * k + c] = (cells[f * k + c] as number) + 1;
      stayedIn[f] = (stayedIn[f] as number) + 1;
    }
  }
  const transitions: { from: string; to: string; members: number }[] = [];
  let left = 0;
  for (let f = 0; f <= from; f += 1) {
    const name = f === from ? 'new' : (before.ids[f] as string);
    for (let c = 0; c < k; c += 1) {
      const members = cells[f * k + c] as number;
      if (members > 0) transitions.push({ from: name, to: idOfIndex[c] as string, members });
    }
    if (f < from) {
      // Previous members not in this run's output (each member is one row of it).
      const gone = (before.sizes[f] as number) - (stayedIn[f] as number);
      if (gone > 0) transitions.push({ from: name, to: 'gone', members: gone });
      left += gone;
    }
  }
  transitions.sort((a, b) => compareIds(a.from, b.from) || compareIds(a.to, b.to));
  const continued = new Set(idOfIndex);
  return {
    previousRunId: previous?.runId ?? null,
    transitions,
    stayed,
    moved,
    entered,
    left,
    retired: [...previousIds].filter((id) => !continued.has(id)).sort(compareIds),
  };
}

/** Cluster ids in number order; `new` before and `gone` after every cluster. */
function compareIds(a: string, b: string): number {
  return clusterNumber(a) - clusterNumber(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function clusterNumber(id: string): number {
  if (id === 'new') return -1;
  const match = clusterIdPattern.exec(id);
  return match ? Number(match[1]) : Number.MAX_SAFE_INTEGER;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** The `limit` most frequent values, ties in code-unit order of the value. */
function top(map: ReadonlyMap<string, number>, size: number, limit: number): ValueShare[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, limit)
    .map(([value, members]) => ({
      value,
      members,
      share: size > 0 ? round(members / size, 4) : 0,
    }));
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * The name rules, first match wins, on the centroid's z-scores (0 = the membership's average,
 * ±1 = one standard deviation; recency is days since the last order, so high is bad).
 */
const nameRules: readonly {
  readonly when: (z: Readonly<Record<ClusterFeatureName, number>>) => boolean;
  readonly name: BilingualText;
}[] = [
  {
    when: (z) => z.recencyDays >= 0.8 && z.monetary >= 0.5,
    name: { 'zh-CN': '流失高价值客户', en: 'Lapsed big spenders' },
  },
  {
    when: (z) => z.recencyDays >= 0.8,
    name: { 'zh-CN': '沉睡客户', en: 'Dormant customers' },
  },
  {
    when: (z) => z.recencyDays <= 0 && z.frequency >= 0.8 && z.monetary >= 0.8,
    name: { 'zh-CN': '高价值忠诚会员', en: 'Loyal high spenders' },
  },
  {
    when: (z) => z.averageOrderValue >= 0.8 && z.frequency < 0.5,
    name: { 'zh-CN': '高客单低频客户', en: 'Big-basket occasionals' },
  },
  {
    when: (z) => z.tenureDays <= -0.8,
    name: { 'zh-CN': '新晋会员', en: 'Newcomers' },
  },
  {
    when: (z) => z.frequency >= 0.5,
    name: { 'zh-CN': '活跃常客', en: 'Regulars' },
  },
  {
    when: (z) => z.distinctProducts >= 0.8,
    name: { 'zh-CN': '多品尝鲜客户', en: 'Explorers' },
  },
  {
    when: (z) => z.monetary <= -0.5,
    name: { 'zh-CN': '轻度消费客户', en: 'Light buyers' },
  },
];

const defaultName: BilingualText = { 'zh-CN': '稳定普通客户', en: 'Steady middle' };

/** The generated name of a centroid (see {@link nameRules}). */
export function personaName(zScores: Readonly<Record<ClusterFeatureName, number>>): BilingualText {
  return nameRules.find((rule) => rule.when(zScores))?.name ?? defaultName;
}

function describe(
  size: number,
  total: number,
  centroid: Readonly<Record<ClusterFeatureName, number>>,
  demographics: PersonaCard['demographics'],
): BilingualText {
  const percent = total > 0 ? ((100 * size) / total).toFixed(1) : '0.0';
  const days = Math.round(centroid.recencyDays);
  const orders = centroid.frequency.toFixed(1);
  const spend = Math.round(centroid.monetary).toLocaleString('en-US');
  const basket = Math.round(centroid.averageOrderValue).toLocaleString('en-US');
  const who = [demographics.city?.value, demographics.gender?.value, demographics.ageBand?.value]
    .filter((part): part is string => part !== undefined)
    .join(', ');
  return {
    en: `${size.toLocaleString('en-US')} members (${percent}%): last order about ${days} days ago, ${orders} orders, ${spend} spent, ${basket} a basket${who ? `; typically ${who}` : ''}.`,
    'zh-CN': `${size}位会员（${percent}%）：约${days}天前最近下单，${orders}单，消费${spend}，客单价${basket}${who ? `；典型画像：${who.replaceAll(', ', '，')}` : ''}。`,
  };
}
