/**
 * The nightly pipeline's compute part end to end, at issue #5's size: 1,000,000 members and
 * 10,000,000 events over 365 days in the compacted lake (one Parquet file per day, as compaction
 * leaves it). Two nights run the same steps the state machine runs, in one process, in order:
 *
 *   RFM SQL (DuckDB over the lake folder, the step's file written to the lake)
 *   → cluster step (reads the RFM file, features, k by silhouette, k-means with restarts,
 *     clustering written to the lake)
 *   → personas step (reads the RFM file again, cards, drift from the night before, each
 *     member's persona id written to the lake, the RFM summary).
 *
 * Printed per step: wall time, CPU time (DuckDB's threads included) and the process's peak RSS.
 * The lake is generated first in a child process, so its memory is not counted here.
 * What is not in the figure: the write-back (measured by bench/nightly.bench.ts against DynamoDB
 * Local) and the profiles scan behind the persona facts (DynamoDB Local holds 1M profiles only at
 * ~1,000 writes/s); the facts come from an in-memory map of the same shape instead.
 *
 *   npx tsx bench/nightly-pipeline.bench.ts [--events 10000000] [--members 1000000]
 *     [--lake DIR (reuse a generated lake)] [--keep-lake] [--memory-limit 1GB]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AnalyticsRun } from '../shared/adapters/analytics-store.ts';
import { withDuckDb } from '../shared/adapters/duckdb-lake.ts';
import { FolderLakeStore } from '../shared/adapters/lake-store.ts';
import { KMEANS_RESTARTS } from '../shared/config/nightly.ts';
import type { MemberFacts } from '../shared/domain/analytics/personas.ts';
import { seededRandom } from '../shared/domain/analytics/random.ts';
import { configuredClustering, runClusterStep } from '../shared/jobs/nightly/cluster-step.ts';
import { runPersonasStep } from '../shared/jobs/nightly/personas-step.ts';
import type { RunPlan } from '../shared/jobs/nightly/run-plan.ts';
import { DEFAULT_RFM_MEMORY_LIMIT, readRfmRows, runRfmLocal } from '../shared/jobs/rfm-job.ts';
import { asOf, folderSize, writeGeneratedLake } from './lake-data.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    members: { type: 'string', default: '1000000' },
    lake: { type: 'string' },
    'keep-lake': { type: 'boolean', default: false },
    'memory-limit': { type: 'string', default: DEFAULT_RFM_MEMORY_LIMIT },
    'generate-into': { type: 'string' },
  },
});
const eventCount = Number(values.events);
const memberCount = Number(values.members);
const memoryLimit = values['memory-limit'];

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);
const peakMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const n = (value: number) => value.toLocaleString('en');

// Child mode: write the lake and exit (the parent's peak memory then excludes generation).
if (values['generate-into'] !== undefined) {
  const dir = values['generate-into'];
  const took = await withDuckDb({ temp_directory: join(dir, '..', 'spill') }, (connection) =>
    writeGeneratedLake(connection, dir, 'parquet', 0, eventCount, memberCount, {
      oneFilePerDay: true,
    }),
  );
  const size = await folderSize(dir);
  console.log(
    `  generated in ${took.toFixed(1)} s: ${n(size.files)} Parquet files, ${mib(size.bytes)} MiB`,
  );
  process.exit(0);
}

/** Persona facts of the shape the profiles scan gives, for every member the lake can name. */
function syntheticFacts(members: number): Map<string, MemberFacts> {
  const random = seededRandom(5);
  const cities = ['上海', '北京', '深圳', '杭州', '成都', '广州', '武汉', '南京'];
  const bands = ['18-24', '25-34', '35-44', '45-54', '55+'];
  const interests = ['interest_tech', 'interest_beauty', 'car_purchase_intent', 'interest_sports'];
  const facts = new Map<string, MemberFacts>();
  for (let i = 0; i < members; i += 1) {
    facts.set(`u#m${i}`, {
      city: cities[Math.floor(random() * cities.length)] as string,
      gender: random() < 0.55 ? 'female' : 'male',
      ageBand: bands[Math.floor(random() * bands.length)] as string,
      favouriteCategory: `cat-${Math.floor(random() * 40)}`,
      interests: interests.filter(() => random() < 0.2),
    });
  }
  return facts;
}

interface Measured<T> {
  readonly result: T;
  readonly seconds: number;
  readonly cpuSeconds: number;
}

async function measured<T>(work: () => Promise<T>): Promise<Measured<T>> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const used = process.cpuUsage(cpu);
  return {
    result,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

function line(label: string, m: Measured<unknown>, detail = ''): void {
  console.log(
    `  ${label.padEnd(14)} ${m.seconds.toFixed(2).padStart(6)} s wall  ${m.cpuSeconds.toFixed(2).padStart(6)} s CPU  peak RSS ${String(peakMiB()).padStart(5)} MiB  ${detail}`,
  );
}

const root = await mkdtemp(join(tmpdir(), 'bench-nightly-pipeline-'));
const lakeDir = values.lake ?? join(root, 'lake');
console.log(
  `nightly pipeline, compute part: ${n(eventCount)} events, ${n(memberCount)} members, 365 days; ` +
    `DuckDB memory limit ${memoryLimit}; node ${process.version}, ${cpus().length} cores, load ${loadavg()[0]?.toFixed(2)}`,
);
try {
  if (values.lake === undefined) {
    const child = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        fileURLToPath(import.meta.url),
        '--generate-into',
        join(lakeDir),
        '--events',
        String(eventCount),
        '--members',
        String(memberCount),
      ],
      { stdio: 'inherit' },
    );
    if (child.status !== 0) throw new Error(`generating the lake failed (${child.status})`);
  } else {
    const size = await folderSize(join(lakeDir, 'events-parquet'));
    console.log(`  lake ${lakeDir}: ${n(size.files)} Parquet files, ${mib(size.bytes)} MiB`);
  }
  const lake = new FolderLakeStore(lakeDir);
  const facts = syntheticFacts(memberCount);
  const readRows = (keys: readonly string[]) => readRfmRows(lake, keys);
  let previous: AnalyticsRun | undefined;

  for (const [night, date] of [
    [1, '2026-11-24'],
    [2, asOf],
  ] as const) {
    const run: RunPlan = {
      runId: `bench-night-${night}`,
      asOf: date,
      day: date,
      windowDays: 365,
      zone: 'Asia/Shanghai',
      startedAt: new Date().toISOString(),
    };
    console.log(
      `\nnight ${night}, as of ${date}${previous ? ` (drift from ${previous.runId})` : ''}:`,
    );
    const total = await measured(async () => {
      const rfm = await measured(() => runRfmLocal({ lake, memoryLimit }, run));
      line('RFM SQL', rfm, `${n(rfm.result.members)} members`);
      const cluster = await measured(() =>
        runClusterStep(
          {
            lake,
            readRows,
            ...configuredClustering,
          },
          { run, rfm: rfm.result },
        ),
      );
      line(
        'cluster step',
        cluster,
        `k=${cluster.result.k}, ${KMEANS_RESTARTS} restarts, SSE ${cluster.result.sse.toFixed(0)}`,
      );
      const before = previous;
      const personas = await measured(() =>
        runPersonasStep(
          {
            lake,
            readRows,
            facts: async () => facts,
            latestSucceeded: async () => before,
            saveRfm: async () => undefined,
            savePersonas: async () => undefined,
          },
          { run, cluster: cluster.result },
        ),
      );
      line('personas step', personas, `${personas.result.clusters} cards`);
      previous = {
        runId: run.runId,
        asOf: run.asOf,
        windowDays: run.windowDays,
        status: 'succeeded',
        startedAt: run.startedAt,
      };
    });
    line('compute total', total);
  }
} finally {
  if (values.lake !== undefined) {
    // A lake given to reuse is kept; only this run's outputs in it go.
    await rm(join(lakeDir, 'analytics'), { recursive: true, force: true });
  }
  if (values['keep-lake'] && values.lake === undefined) console.log(`\nlake kept at ${lakeDir}`);
  else await rm(root, { recursive: true, force: true });
}
