/**
 * Segment read benchmark (issue #4): page lookups, the streaming export and the backfill, over
 * HTTP on the local runtime, each beside its floor measured in the same run. Prints figures;
 * asserts nothing.
 *
 *   npm run bench:segments -- --members 1000000            # ~15 min here
 *   npm run bench:segments -- --members 20000 --samples 200 --profiles 2000
 *
 * - **Data.** A segment of `--members` members is written straight into the memberships table
 *   of the runtime with `MembershipStore.bulkLoad` (BatchWriteItem of rows in the store's layout
 *   plus the kept counts; no ledger): a benchmark shortcut, since entering a million members
 *   through the segmenter would take hours on DynamoDB Local. DynamoDB Local keeps data in memory
 *   (`--disk` to keep it on disk as the runtime normally does).
 * - **Page lookup.** For pages of 100 and 1,000 members at random cursors (cursors built the way
 *   the API builds them, after a random member), `GET /v1/segments/{id}/members` over HTTP, and
 *   the floor: the very Queries `MembershipStore.page` issues for that page (recorded by running
 *   it once), issued again directly with the SDK (the first round in parallel, refills after), as
 *   the store issues them. Also shown: the Queries the store issued before this change (one per
 *   shard with `Limit: limit`). Samples of the three interleave, so they share the machine's load.
 * - **Export.** `GET /v1/segments/{id}/export` (NDJSON, then CSV) read whole over HTTP, beside the
 *   raw paging rate: `MembershipStore.page` called directly in a loop with the export's page size.
 * - **Backfill.** `--profiles` profiles written with `ProfileStore.apply` (the tagger's domain
 *   functions on an identify event; half in 北京), then a segment on `city = 北京` is created and
 *   `npm run cli -- segments backfill` is run against the runtime (a child process, timed whole).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.PORTRAIT_LOG_LEVEL ??= 'warn';

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { PortraitEvent } from '../events/envelope.ts';
import { EXPORT_PAGE } from '../functions/exporter/exporter.ts';
import { localAwsClientConfig } from '../infra/local/dynamodb-local.ts';
import { startLocalRuntime } from '../infra/local/runtime.ts';
import { MembershipStore, SEGMENT_SHARDS } from '../shared/adapters/membership-store.ts';
import { ProfileStore } from '../shared/adapters/profile-store.ts';
import { mapBounded } from '../shared/async/map-bounded.ts';
import { environmentConfig } from '../shared/config/environments.ts';
import { advanceProfile } from '../shared/domain/tags/advance.ts';
import { defaultRuleCatalogue } from '../shared/domain/tags/default-catalogue.ts';

const { values } = parseArgs({
  options: {
    members: { type: 'string', default: '1000000' },
    samples: { type: 'string', default: '1000' },
    profiles: { type: 'string', default: '20000' },
    disk: { type: 'boolean', default: false },
    seed: { type: 'string', default: '20261125' },
  },
});
const memberCount = Number(values.members);
const samples = Number(values.samples);
const profileCount = Number(values.profiles);

/** Mulberry32: the same cursors every run. */
function randomSource(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = randomSource(Number(values.seed));
const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
const ms = (value: number) => `${value.toFixed(2)} ms`;
const int = (value: number) => Math.round(value).toLocaleString('en-US');

const dataDir = mkdtempSync(join(tmpdir(), 'portrait-bench-segments-'));
const load0 = loadavg()[0] ?? 0;
const runtime = await startLocalRuntime({
  dataDir,
  port: 0,
  sweepEverySeconds: 0,
  inMemory: !values.disk,
});
const authorization = `Basic ${Buffer.from(`${runtime.devWriteKey}:`).toString('base64')}`;
const documents = DynamoDBDocumentClient.from(
  new DynamoDBClient(localAwsClientConfig(runtime.dynamoEndpoint)),
  { marshallOptions: { removeUndefinedValues: true } },
);
const memberships = new MembershipStore(documents, runtime.tables.memberships);

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const segmentId = 'bench_big';
const segment = (id: string, city: string) => ({
  id,
  labels: { 'zh-CN': '基准', en: 'Benchmark' },
  purpose: 'marketing',
  expression: { trait: 'city', op: '=', value: city },
});

console.log(
  `segment reads: ${int(memberCount)} members, DynamoDB Local ${values.disk ? 'on disk' : 'in memory'}, ` +
    `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${load0.toFixed(2)}`,
);

// ---- Load -------------------------------------------------------------------------------------
// Nobody has this city, so the segmenter never touches these rows.
await api('POST', '/v1/segments', segment(segmentId, 'bench-nowhere'));
const keyOf = (i: number) => `u#member-${String(i).padStart(8, '0')}`;
const since0 = Date.parse('2026-01-01T00:00:00Z');
const loadStart = performance.now();
const CHUNK = 20_000;
for (let start = 0; start < memberCount; start += CHUNK) {
  const chunk = Array.from({ length: Math.min(CHUNK, memberCount - start) }, (_, j) => ({
    memberKey: keyOf(start + j),
    since: since0 + (start + j) * 1_000,
  }));
  await memberships.bulkLoad(segmentId, chunk, 8);
  if ((start / CHUNK) % 10 === 9) {
    const done = start + chunk.length;
    const rate = done / ((performance.now() - loadStart) / 1000);
    process.stderr.write(`  loaded ${int(done)} (${int(rate)} rows/s)\n`);
  }
}
const loadSeconds = (performance.now() - loadStart) / 1000;
const counted = (
  (await api('GET', `/v1/segments/${segmentId}`)) as { membership: { count: number } }
).membership.count;
console.log(
  `loaded ${int(memberCount)} rows in ${loadSeconds.toFixed(1)} s (${int(memberCount / loadSeconds)} rows/s); kept count ${int(counted)}`,
);

// ---- Page lookups -----------------------------------------------------------------------------
/** The Queries `page()` issues for one page, recorded by running it on a recording client. */
async function pageQueries(limit: number, after: string | undefined): Promise<QueryCommandInput[]> {
  const recorded: QueryCommandInput[] = [];
  const recording = {
    send: (command: QueryCommand) => {
      recorded.push(command.input);
      return documents.send(command);
    },
  } as unknown as DynamoDBDocumentClient; // Only `send` of QueryCommand is used by page().
  await new MembershipStore(recording, runtime.tables.memberships).page(segmentId, limit, after);
  return recorded;
}

/** Issues recorded Queries as the store does: the first round in parallel, then the refills. */
async function replay(queries: readonly QueryCommandInput[]): Promise<number> {
  const started = performance.now();
  await Promise.all(
    queries.slice(0, SEGMENT_SHARDS).map((q) => documents.send(new QueryCommand(q))),
  );
  for (const q of queries.slice(SEGMENT_SHARDS)) await documents.send(new QueryCommand(q));
  return performance.now() - started;
}

/** The Queries the store issued before this change: `Limit: limit` on every shard. */
function oldQueries(limit: number, after: string | undefined): QueryCommandInput[] {
  return Array.from({ length: SEGMENT_SHARDS }, (_, shard) => ({
    TableName: runtime.tables.memberships,
    KeyConditionExpression: after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
    ExpressionAttributeValues: {
      ':pk': `sm#${segmentId}#${shard}`,
      ...(after === undefined ? {} : { ':after': after }),
    },
    Limit: limit,
  }));
}

const cursorOf = (memberKey: string) =>
  Buffer.from(JSON.stringify({ v: 1, after: memberKey }), 'utf8').toString('base64url');

async function apiPage(limit: number, after: string | undefined): Promise<number> {
  const path = `/v1/segments/${segmentId}/members?limit=${limit}${after ? `&cursor=${cursorOf(after)}` : ''}`;
  const started = performance.now();
  const response = await fetch(`${runtime.apiUrl}${path}`, { headers: { authorization } });
  const body = (await response.json()) as { members?: unknown[] };
  const elapsed = performance.now() - started;
  if (response.status !== 200 || body.members?.length !== Math.min(limit, memberCount)) {
    // Cursors are drawn so that a whole page follows each.
    throw new Error(`page ${path}: ${response.status} with ${body.members?.length} members`);
  }
  return elapsed;
}

interface PageFigures {
  readonly limit: number;
  readonly api: number[];
  readonly floor: number[];
  readonly old: number[];
  readonly queries: number[];
  readonly rowsRead: number[];
}

async function measurePages(limit: number): Promise<PageFigures> {
  const figures: PageFigures = { limit, api: [], floor: [], old: [], queries: [], rowsRead: [] };
  const warmup = Math.min(50, Math.ceil(samples / 10));
  for (let i = 0; i < warmup + samples; i += 1) {
    const index = Math.floor(random() * Math.max(1, memberCount - limit));
    const after = index === 0 ? undefined : keyOf(index - 1);
    const queries = await pageQueries(limit, after);
    // Interleaved, in a varying order, so the three share the same moments of load.
    const order = [0, 1, 2].sort(() => random() - 0.5);
    const times: number[] = [0, 0, 0];
    for (const which of order) {
      times[which] =
        which === 0
          ? await apiPage(limit, after)
          : which === 1
            ? await replay(queries)
            : await replay(oldQueries(limit, after));
    }
    if (i < warmup) continue;
    figures.api.push(times[0] ?? 0);
    figures.floor.push(times[1] ?? 0);
    figures.old.push(times[2] ?? 0);
    figures.queries.push(queries.length);
    figures.rowsRead.push(queries.reduce((sum, q) => sum + Number(q.Limit ?? 0), 0));
  }
  return figures;
}

const pageResults: PageFigures[] = [];
for (const limit of [100, 1_000]) pageResults.push(await measurePages(limit));

// ---- Export -----------------------------------------------------------------------------------
async function rawPaging(): Promise<{ members: number; seconds: number }> {
  const started = performance.now();
  let after: string | undefined;
  let members = 0;
  for (;;) {
    const page = await memberships.page(segmentId, EXPORT_PAGE, after);
    members += page.members.length;
    const last = page.members[page.members.length - 1];
    if (!page.more || !last) break;
    after = last.memberKey;
  }
  return { members, seconds: (performance.now() - started) / 1000 };
}

async function exportOverHttp(
  format: 'ndjson' | 'csv',
): Promise<{ members: number; bytes: number; seconds: number; firstByteMs: number }> {
  const started = performance.now();
  const response = await fetch(
    `${runtime.apiUrl}/v1/segments/${segmentId}/export?format=${format}`,
    {
      headers: { authorization },
    },
  );
  if (response.status !== 200 || !response.body) throw new Error(`export: ${response.status}`);
  let firstByteMs = Number.NaN;
  let bytes = 0;
  let newlines = 0;
  for await (const chunk of response.body) {
    if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - started;
    bytes += chunk.byteLength;
    for (let i = 0; i < chunk.byteLength; i += 1) if (chunk[i] === 10) newlines += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  return { members: format === 'csv' ? newlines - 1 : newlines, bytes, seconds, firstByteMs };
}

const raw1 = await rawPaging();
const ndjson = await exportOverHttp('ndjson');
const csv = await exportOverHttp('csv');
const raw2 = await rawPaging();
for (const run of [ndjson, csv, raw1, raw2]) {
  if (run.members !== memberCount) throw new Error(`exported ${run.members} of ${memberCount}`);
}
const rawRate = (raw1.members / raw1.seconds + raw2.members / raw2.seconds) / 2;

// ---- Backfill ---------------------------------------------------------------------------------
let backfill: { members: number; seconds: number; entered: number; output: string } | undefined;
if (profileCount > 0) {
  const catalogue = defaultRuleCatalogue();
  const zone = environmentConfig('local').brandTimeZone;
  const profiles = new ProfileStore(documents, runtime.tables.profiles);
  const now = Date.now();
  const seedStart = performance.now();
  await mapBounded(
    Array.from({ length: profileCount }, (_, i) => i),
    16,
    async (i) => {
      const userId = `bf-${String(i).padStart(6, '0')}`;
      const timestamp = new Date(now - 86_400_000).toISOString();
      const event = {
        type: 'identify',
        userId,
        messageId: `${userId}-identify`,
        timestamp,
        receivedAt: timestamp,
        sourceId: 'bench',
        traits: { city: i % 2 === 0 ? '北京' : '上海' },
      } as PortraitEvent;
      const advanced = advanceProfile(undefined, [event], catalogue, zone, now);
      await profiles.apply(`u#${userId}`, () => ({
        state: advanced.state,
        tags: advanced.tags,
        appliedSeq: {},
        nextChangeAt: advanced.nextChangeAt,
        history: advanced.history,
      }));
    },
  );
  // The segmenter and the historian see these writes on the profiles stream; let them finish.
  await runtime.idle();
  const seedSeconds = (performance.now() - seedStart) / 1000;
  console.log(
    `wrote ${int(profileCount)} profiles in ${seedSeconds.toFixed(1)} s (stream consumers included)`,
  );
  await api('POST', '/v1/segments', segment('bench_beijing', '北京'));
  const started = performance.now();
  const cli = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      resolve(import.meta.dirname, '..', 'infra', 'cli.ts'),
      'segments',
      'backfill',
      '--data-dir',
      dataDir,
    ],
    { encoding: 'utf8', env: { ...process.env, PORTRAIT_LOG_LEVEL: 'warn' } },
  );
  const seconds = (performance.now() - started) / 1000;
  if (cli.status !== 0) throw new Error(`segments backfill failed: ${cli.stdout} ${cli.stderr}`);
  const match = /Evaluated (\d+) member\(s\).*?(\d+) enter/.exec(cli.stdout);
  backfill = {
    members: Number(match?.[1] ?? Number.NaN),
    entered: Number(match?.[2] ?? Number.NaN),
    seconds,
    output: cli.stdout.trim(),
  };
  const count = (
    (await api('GET', '/v1/segments/bench_beijing')) as { membership: { count: number } }
  ).membership.count;
  if (count !== Math.ceil(profileCount / 2)) throw new Error(`backfill left ${count} members`);
}

// ---- Report -----------------------------------------------------------------------------------
const load1 = loadavg()[0] ?? 0;
console.log(
  `\nPage lookups (${samples} random cursors per size, after ${Math.min(50, Math.ceil(samples / 10))} warm-up):`,
);
console.log(
  '| page | API p50 | API p99 | floor p50 | floor p99 | API p99 / floor p99 | before: 8 × Limit p50 / p99 | rows asked / page | Queries / page (max) |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const figures of pageResults) {
  const sort = (values: number[]) => [...values].sort((a, b) => a - b);
  const api = sort(figures.api);
  const floor = sort(figures.floor);
  const old = sort(figures.old);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  console.log(
    `| ${figures.limit} | ${ms(quantile(api, 0.5))} | **${ms(quantile(api, 0.99))}** | ${ms(quantile(floor, 0.5))} | ${ms(quantile(floor, 0.99))} | **${(quantile(api, 0.99) / quantile(floor, 0.99)).toFixed(2)}** | ${ms(quantile(old, 0.5))} / ${ms(quantile(old, 0.99))} | ${int(mean(figures.rowsRead))} (was ${int(figures.limit * SEGMENT_SHARDS)}) | ${mean(figures.queries).toFixed(2)} (${Math.max(...figures.queries)}) |`,
  );
}
console.log('\nExport of the whole segment:');
console.log('| run | members | bytes | seconds | members/s | first byte | vs raw paging |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [name, run] of [
  ['raw paging (page(), 1,000 a page), before the exports', raw1],
  ['raw paging, after the exports', raw2],
] as const) {
  console.log(
    `| ${name} | ${int(run.members)} | — | ${run.seconds.toFixed(1)} | ${int(run.members / run.seconds)} | — | — |`,
  );
}
for (const [name, run] of [
  ['export NDJSON over HTTP', ndjson],
  ['export CSV over HTTP', csv],
] as const) {
  const rate = run.members / run.seconds;
  console.log(
    `| ${name} | ${int(run.members)} | ${int(run.bytes)} | ${run.seconds.toFixed(1)} | **${int(rate)}** | ${ms(run.firstByteMs)} | **${((rate / rawRate) * 100).toFixed(0)} %** |`,
  );
}
if (backfill) {
  console.log('\nBackfill (`npm run cli -- segments backfill`, child process, timed whole):');
  console.log(
    `| ${int(backfill.members)} members | ${int(backfill.entered)} entered | ${backfill.seconds.toFixed(1)} s | **${int(backfill.members / backfill.seconds)} members/s** |`,
  );
  console.log(`  CLI said: ${backfill.output.split('\n').pop()}`);
}
console.log(`\nload average ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at end`);

documents.destroy();
await runtime.stop();
rmSync(dataDir, { recursive: true, force: true });
