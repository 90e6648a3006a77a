/**
 * K-means benchmark (issue #5): Portrait's k-means against the npm package `ml-kmeans` and
 * scikit-learn's `KMeans`, on the same points with the same k and the same number of k-means++
 * restarts, in one run. Prints figures; asserts nothing.
 *
 *   npm run bench:kmeans                                   # 1,000,000 × 6, k = 6, 3 restarts
 *   npm run bench:kmeans -- --points 100000 --restarts 5
 *
 * - **Data.** `rfmLikePoints` (bench/kmeans-data.ts): six standardised RFM-style features of
 *   members from six overlapping groups, skewed ones log-transformed first. Deterministic.
 * - **Portrait.** `kmeans(points, 6, { k, restarts, seed })`: above 100,000 points the restarts
 *   run on a sample and the best is iterated on all points; the time of `sampledCandidates` (the
 *   restarts on the sample and one pass over all points per candidate) is shown as their share.
 *   Also with `sampleAbove: n` (every restart on all points, the strategy before sampling).
 * - **ml-kmeans.** `kmeans(rows, k, { initialization: 'kmeans++', seed })` once per restart with
 *   seeds 1…restarts (it has no restarts of its own); the best SSE wins. Twice: with its defaults
 *   (stop when no centroid moves by more than 1e-6 in squared distance, at most 100 iterations),
 *   and to convergence like Portrait (tolerance 0, at most 300). Its input is an array of arrays,
 *   built before the clock starts.
 * - **scikit-learn.** `KMeans(n_clusters=k, init='k-means++', n_init=restarts)` through
 *   /usr/bin/python3 (Debian's python3-sklearn) on the same points written as float64, timed
 *   around `fit` only; with its default `tol=1e-4` (it stops before the partition is stable) and
 *   with `tol=0` (until no label changes, as Portrait and ml-kmeans do), Lloyd and Elkan, on its
 *   default threads (both cores) and on one thread (`OMP_NUM_THREADS=1`, like for like with
 *   single-threaded JavaScript).
 * - **SSE** of every run is the within-cluster sum of squares of its final partition.
 * - **Time**: wall and CPU seconds (user + system of the process). The machine is shared, so the
 *   ratio is taken on CPU time, which other processes disturb less.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kmeans as mlKMeans } from 'ml-kmeans';
import { chooseK, kmeans, sampledCandidates } from '../shared/domain/analytics/kmeans.ts';
import { rfmLikePoints } from './kmeans-data.ts';

const { values: args } = parseArgs({
  options: {
    points: { type: 'string', default: '1000000' },
    k: { type: 'string', default: '6' },
    restarts: { type: 'string', default: '3' },
    seed: { type: 'string', default: '42' },
    repeats: { type: 'string', default: '3' },
    'skip-ml': { type: 'boolean', default: false },
    'skip-sklearn': { type: 'boolean', default: false },
  },
});
const n = Number(args.points);
const k = Number(args.k);
const restarts = Number(args.restarts);
const repeats = Number(args.repeats);
const d = 6;
const python = '/usr/bin/python3';

interface Row {
  readonly name: string;
  readonly seconds: number;
  /** CPU seconds of the process (user + system); steadier than wall time on a shared machine. */
  readonly cpuSeconds: number;
  readonly sse: number;
  readonly note: string;
}

/** Runs `work`, returning its result with wall and CPU seconds. */
function timed<T>(work: () => T): { value: T; seconds: number; cpuSeconds: number } {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const value = work();
  const used = process.cpuUsage(cpu);
  return {
    value,
    seconds: (performance.now() - wall) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

function partitionSse(points: Float64Array, assignments: ArrayLike<number>): number {
  const sums = new Float64Array(k * d);
  const sizes = new Float64Array(k);
  for (let i = 0; i < n; i += 1) {
    const c = assignments[i] as number;
    sizes[c] = (sizes[c] as number) + 1;
    for (let j = 0; j < d; j += 1)
      sums[c * d + j] = (sums[c * d + j] as number) + (points[i * d + j] as number);
  }
  let sse = 0;
  for (let i = 0; i < n; i += 1) {
    const c = assignments[i] as number;
    for (let j = 0; j < d; j += 1) {
      const diff =
        (points[i * d + j] as number) - (sums[c * d + j] as number) / (sizes[c] as number);
      sse += diff * diff;
    }
  }
  return sse;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

console.log(
  `k-means benchmark: ${n.toLocaleString('en')} points × ${d}, k = ${k}, ${restarts} k-means++ restarts each`,
);
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);

const generated = timed(() => rfmLikePoints(n, Number(args.seed)));
const { points } = generated.value;
console.log(`data generated in ${generated.seconds.toFixed(1)} s`);

const rows: Row[] = [];

// Portrait: `repeats` runs (the same seed each time, so the same result), median time.
const ours: { seconds: number; cpuSeconds: number }[] = [];
const restartShare: { seconds: number; cpuSeconds: number }[] = [];
const everywhere: { seconds: number; cpuSeconds: number }[] = [];
let result = kmeans(points, d, { k, restarts, seed: 1 });
let everywhereResult = result;
for (let r = 0; r < repeats; r += 1) {
  const run = timed(() => kmeans(points, d, { k, restarts, seed: 1 }));
  result = run.value;
  ours.push(run);
  restartShare.push(timed(() => sampledCandidates(points, d, { k, restarts, seed: 1 })));
  const full = timed(() => kmeans(points, d, { k, restarts, seed: 1, sampleAbove: n }));
  everywhereResult = full.value;
  everywhere.push(full);
}
const oursCpu = median(ours.map((run) => run.cpuSeconds));
const oursSse = partitionSse(points, result.assignments);
const candidates = sampledCandidates(points, d, { k, restarts, seed: 1 });
rows.push({
  name: 'Portrait kmeans (restarts on a sample, Hamerly on all)',
  seconds: median(ours.map((run) => run.seconds)),
  cpuSeconds: oursCpu,
  sse: oursSse,
  note: `median of ${repeats} (CPU ${ours.map((run) => run.cpuSeconds.toFixed(2)).join(', ')} s); ${result.iterations} iterations on all points from SSE ${result.seedingSse.toFixed(0)} (candidates ${candidates.map((c) => c.sse.toFixed(0)).join(', ')}); restarts on the sample + candidate passes: CPU ${median(restartShare.map((run) => run.cpuSeconds)).toFixed(2)} s`,
});
rows.push({
  name: 'Portrait kmeans, every restart on all points (sampleAbove: n)',
  seconds: median(everywhere.map((run) => run.seconds)),
  cpuSeconds: median(everywhere.map((run) => run.cpuSeconds)),
  sse: partitionSse(points, everywhereResult.assignments),
  note: `median of ${repeats} (CPU ${everywhere.map((run) => run.cpuSeconds.toFixed(2)).join(', ')} s); best run ${everywhereResult.iterations} iterations`,
});

const choice = timed(() => chooseK(points, d, { seed: 1 }));

if (!args['skip-ml']) {
  const table: number[][] = [];
  for (let i = 0; i < n; i += 1) table.push(Array.from(points.subarray(i * d, i * d + d)));
  for (const [label, options] of [
    ['defaults: tolerance 1e-6, at most 100 iterations', {}],
    ['to convergence: tolerance 0, at most 300 iterations', { tolerance: 0, maxIterations: 300 }],
  ] as const) {
    let best = Number.POSITIVE_INFINITY;
    let bestIterations = 0;
    const run = timed(() => {
      for (let r = 1; r <= restarts; r += 1) {
        const one = mlKMeans(table, k, { initialization: 'kmeans++', seed: r, ...options });
        const sse = partitionSse(points, one.clusters);
        if (sse < best) {
          best = sse;
          bestIterations = one.iterations;
        }
      }
    });
    rows.push({
      name: `ml-kmeans 7.0.1, ${label}`,
      seconds: run.seconds,
      cpuSeconds: run.cpuSeconds,
      sse: best,
      note: `${restarts} runs (seeds 1…${restarts}), best run ${bestIterations} iterations`,
    });
  }
}

if (!args['skip-sklearn']) {
  const folder = mkdtempSync(join(tmpdir(), 'portrait-kmeans-'));
  try {
    const file = join(folder, 'points.f64');
    writeFileSync(file, new Uint8Array(points.buffer, points.byteOffset, points.byteLength));
    const script = resolve(import.meta.dirname, 'kmeans_sklearn.py');
    for (const [algorithm, tol, threads] of [
      ['lloyd', '1e-4', 'all'],
      ['lloyd', '1e-4', '1'],
      ['lloyd', '0', 'all'],
      ['lloyd', '0', '1'],
      ['elkan', '0', '1'],
    ] as const) {
      const env = { ...process.env };
      if (threads === '1') env.OMP_NUM_THREADS = '1';
      const run = spawnSync(
        python,
        [script, file, String(d), String(k), String(restarts), algorithm, tol],
        { encoding: 'utf8', env },
      );
      if (run.status !== 0) {
        console.error(`scikit-learn failed: ${run.stderr}`);
        continue;
      }
      const figures = JSON.parse(run.stdout.trim()) as {
        seconds: number;
        cpuSeconds: number;
        sse: number;
        iterations: number;
      };
      rows.push({
        name: `scikit-learn ${algorithm}, tol=${tol}, ${threads === '1' ? '1 thread' : `${cpus().length} threads`}`,
        seconds: figures.seconds,
        cpuSeconds: figures.cpuSeconds,
        sse: figures.sse,
        note: `n_init=${restarts}, best init ${figures.iterations} iterations`,
      });
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

console.log('');
console.log(
  '| implementation | wall (s) | CPU (s) | Portrait faster by (CPU) | SSE | SSE vs Portrait | notes |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
for (const row of rows) {
  console.log(
    `| ${row.name} | ${row.seconds.toFixed(2)} | ${row.cpuSeconds.toFixed(2)} | ${(row.cpuSeconds / oursCpu).toFixed(2)}× | ${row.sse.toFixed(1)} | ${(((row.sse - oursSse) / oursSse) * 100).toFixed(5)} % | ${row.note} |`,
  );
}
console.log('');
console.log(
  `chooseK (k in 3–6, mean silhouette on a 2,000-point sample) on all ${n.toLocaleString('en')} points: ${choice.seconds.toFixed(2)} s wall, ${choice.cpuSeconds.toFixed(2)} s CPU → k = ${choice.value.k} (${Object.entries(
    choice.value.silhouettes,
  )
    .map(([kk, score]) => `${kk}: ${score.toFixed(3)}`)
    .join(', ')})`,
);
