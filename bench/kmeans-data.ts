/**
 * Benchmark points shaped like the nightly clustering's input: six standardised RFM-style
 * features (recency, frequency, monetary, average order value, tenure, distinct products) of
 * members drawn from six customer groups of unequal size. Several features are skewed (log-normal
 * counts and amounts, exponential recency) before `log1p` and standardisation, as the feature
 * step does, so the groups overlap and have unequal spreads. Deterministic for a seed.
 */
import { seededRandom } from '../shared/domain/analytics/random.ts';

interface Group {
  readonly share: number;
  /** Mean recency in days (exponential). */
  readonly recency: number;
  /** Log-normal frequency: median orders, spread in log space. */
  readonly orders: number;
  readonly ordersSpread: number;
  /** Log-normal average order value: median, spread in log space. */
  readonly orderValue: number;
  readonly orderValueSpread: number;
  /** Tenure in days: mean and standard deviation (normal, clipped at recency). */
  readonly tenure: number;
  readonly tenureSpread: number;
}

const groups: readonly Group[] = [
  // loyal big spenders, new bargain hunters, lapsed one-timers, regulars, occasional premium, churning
  {
    share: 0.08,
    recency: 12,
    orders: 24,
    ordersSpread: 0.4,
    orderValue: 180,
    orderValueSpread: 0.35,
    tenure: 900,
    tenureSpread: 150,
  },
  {
    share: 0.22,
    recency: 20,
    orders: 2,
    ordersSpread: 0.5,
    orderValue: 35,
    orderValueSpread: 0.4,
    tenure: 60,
    tenureSpread: 30,
  },
  {
    share: 0.3,
    recency: 260,
    orders: 1,
    ordersSpread: 0.3,
    orderValue: 60,
    orderValueSpread: 0.6,
    tenure: 400,
    tenureSpread: 120,
  },
  {
    share: 0.2,
    recency: 30,
    orders: 8,
    ordersSpread: 0.45,
    orderValue: 70,
    orderValueSpread: 0.35,
    tenure: 500,
    tenureSpread: 200,
  },
  {
    share: 0.08,
    recency: 90,
    orders: 3,
    ordersSpread: 0.4,
    orderValue: 420,
    orderValueSpread: 0.3,
    tenure: 600,
    tenureSpread: 200,
  },
  {
    share: 0.12,
    recency: 160,
    orders: 5,
    ordersSpread: 0.5,
    orderValue: 55,
    orderValueSpread: 0.4,
    tenure: 700,
    tenureSpread: 180,
  },
];

/** `n × 6` standardised points (row-major), and the generating group of each point. */
export function rfmLikePoints(
  n: number,
  seed: number,
): { points: Float64Array; groups: Int32Array } {
  const random = seededRandom(seed);
  const normal = () => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const d = 6;
  const points = new Float64Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i += 1) {
    let pick = random();
    let g = 0;
    while (g < groups.length - 1 && pick >= (groups[g] as Group).share) {
      pick -= (groups[g] as Group).share;
      g += 1;
    }
    const group = groups[g] as Group;
    labels[i] = g;
    const recency = -group.recency * Math.log(1 - random());
    const frequency = Math.max(
      1,
      Math.round(group.orders * Math.exp(group.ordersSpread * normal())),
    );
    const orderValue = group.orderValue * Math.exp(group.orderValueSpread * normal());
    const monetary = frequency * orderValue;
    const tenure = Math.max(recency, group.tenure + group.tenureSpread * normal());
    const products = Math.max(1, Math.round(frequency * (1 + 2 * random())));
    const row = i * d;
    points[row] = Math.log1p(recency);
    points[row + 1] = Math.log1p(frequency);
    points[row + 2] = Math.log1p(monetary);
    points[row + 3] = Math.log1p(orderValue);
    points[row + 4] = tenure;
    points[row + 5] = Math.log1p(products);
  }
  for (let j = 0; j < d; j += 1) {
    let sum = 0;
    for (let i = 0; i < n; i += 1) sum += points[i * d + j] as number;
    const mean = sum / n;
    let squares = 0;
    for (let i = 0; i < n; i += 1) squares += ((points[i * d + j] as number) - mean) ** 2;
    const deviation = Math.sqrt(squares / n) || 1;
    for (let i = 0; i < n; i += 1)
      points[i * d + j] = ((points[i * d + j] as number) - mean) / deviation;
  }
  return { points, groups: labels };
}
