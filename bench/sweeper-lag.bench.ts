/**
 * Sweeper lag benchmark: how long after a member's tags are due to change with the clock (its
 * `nextChangeAt`) the change is written, with the local runtime's sweep timer (every 5 s) and a
 * clock that moves as wall time does but starts where the bench puts it. Each cohort of N members
 * has three car consultations on one day, so `car_purchase_intent` expires for all of them at
 * the same local midnight, when the consultations leave the 30-day window. The clock is set a
 * few seconds before that instant and the timer left to run. Prints figures; asserts nothing.
 *
 *   npm run bench:sweep -- --pipeline 1000 --direct 1000,1000,1000,10000
 *
 * `--pipeline` cohorts are created through the whole pipeline (events posted over HTTP, stored,
 * folded by the tagger); `--direct` cohorts are written straight into the profiles table with
 * `ProfileStore.apply` and the same domain functions the tagger runs, which is much faster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.PORTRAIT_LOG_LEVEL = 'info';

import { type AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PortraitEvent } from '../events/envelope.ts';
import { functions } from '../infra/declarations/functions.ts';
import { sweeperSchedule } from '../infra/declarations/schedules.ts';
import { localAwsClientConfig } from '../infra/local/dynamodb-local.ts';
import { startLocalRuntime } from '../infra/local/runtime.ts';
import { awsClients } from '../shared/adapters/aws-clients.ts';
import { DUE_SHARDS, ProfileStore } from '../shared/adapters/profile-store.ts';
import { mapBounded } from '../shared/async/map-bounded.ts';
import { environmentConfig } from '../shared/config/environments.ts';
import { advanceProfile } from '../shared/domain/tags/advance.ts';
import { defaultRuleCatalogue } from '../shared/domain/tags/default-catalogue.ts';
import { DAY_MS } from '../shared/domain/tags/zone-calendar.ts';

const { values } = parseArgs({
  options: {
    pipeline: { type: 'string', default: '1000' },
    direct: { type: 'string', default: '1000,1000,1000,10000' },
    seed: { type: 'string', default: '20261125' },
  },
});
const sizes = (text: string) =>
  text
    .split(',')
    .filter((part) => part.trim() !== '')
    .map(Number);
const plan: { how: 'pipeline' | 'direct'; members: number }[] = [
  ...sizes(values.pipeline).map((members) => ({ how: 'pipeline' as const, members })),
  ...sizes(values.direct).map((members) => ({ how: 'direct' as const, members })),
];

/** Mulberry32, for the lead before each due instant (so the timer's phase varies by cohort). */
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

interface SweepLog {
  /** The instant every member was evaluated at: the runtime's clock when the sweep began. */
  readonly at: number;
  /** The runtime's clock when the sweep logged its summary, having finished. */
  readonly end: number;
  readonly due: number;
  readonly changed: number;
  readonly failed: number;
  readonly partial: boolean;
}

const sweeps: SweepLog[] = [];

/** The runtime's clock: wall time moved by `offset`, which the bench sets. */
let offset = 0;
const clock = () => Date.now() + offset;

// The handlers log JSON lines to stdout: keep the sweeper's, pass warnings and errors to stderr.
const stdoutWrite = process.stdout.write;
process.stdout.write = ((...args: unknown[]) => {
  const [chunk] = args;
  const text = typeof chunk === 'string' ? chunk : String(chunk);
  if (!text.startsWith('{"level":')) return Reflect.apply(stdoutWrite, process.stdout, args);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.level === 'WARN' || entry.level === 'ERROR') process.stderr.write(`${line}\n`);
    if (entry.message === 'sweep') {
      sweeps.push({
        at: Number(entry.at),
        end: clock(),
        due: Number(entry.due),
        changed: Number(entry.changed),
        failed: Number(entry.failed),
        partial: entry.partial === true,
      });
    }
  }
  return true;
}) as typeof process.stdout.write;

const dataDir = mkdtempSync(join(tmpdir(), 'portrait-bench-sweep-'));
const runtime = await startLocalRuntime({ dataDir, port: 0, clock });
const authorization = `Basic ${Buffer.from(`${runtime.devWriteKey}:`).toString('base64')}`;
const periodSeconds = sweeperSchedule.localEverySeconds;
const zone = environmentConfig('local').brandTimeZone;
const catalogue = defaultRuleCatalogue();

/** Clock time (ms) at which each profile item was last written by a handler. */
const writtenAt = new Map<string, number>();
awsClients().dynamo.middlewareStack.add(
  (next, context) => async (args) => {
    const result = await next(args);
    if (context.commandName === 'TransactWriteItemsCommand') {
      const input = args.input as {
        TransactItems?: { Put?: { Item?: Record<string, AttributeValue> } }[];
      };
      const now = clock();
      for (const entry of input.TransactItems ?? []) {
        const item = entry.Put?.Item;
        if (item?.sk?.S === 'profile' && item.pk?.S) writtenAt.set(item.pk.S, now);
      }
    } else if (context.commandName === 'PutItemCommand') {
      const item = (args.input as { Item?: Record<string, AttributeValue> }).Item;
      if (item?.sk?.S === 'profile' && item.pk?.S) writtenAt.set(item.pk.S, clock());
    }
    return result;
  },
  { step: 'build', name: 'benchProfileWrites' },
);

const documents = DynamoDBDocumentClient.from(
  new DynamoDBClient(localAwsClientConfig(runtime.dynamoEndpoint)),
  { marshallOptions: { removeUndefinedValues: true } },
);
const store = new ProfileStore(documents, runtime.tables.profiles);

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  for (;;) {
    const response = await fetch(`${runtime.apiUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status === 200) return JSON.parse(text);
    if (response.status < 500) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Three car consultations a member had at `ms`: enough for `car_purchase_intent`. */
function consultations(userId: string, ms: number): PortraitEvent[] {
  const timestamp = new Date(ms).toISOString();
  return [1, 2, 3].map((n) => ({
    type: 'track',
    event: 'Consultation',
    userId,
    messageId: `${userId}-consult-${n}`,
    timestamp,
    receivedAt: timestamp,
    sourceId: 'bench',
    properties: { topic: 'car', channel: 'wecom' },
  }));
}

/** Posts the cohort's events over HTTP and waits for the tagger; returns each member's due instant. */
async function seedThroughPipeline(ids: readonly string[], ms: number): Promise<number[]> {
  const events = ids.flatMap((id) =>
    consultations(id, ms).map(({ receivedAt: _r, sourceId: _s, ...event }) => event),
  );
  const requests: (typeof events)[] = [];
  for (let i = 0; i < events.length; i += 99) requests.push(events.slice(i, i + 99));
  await mapBounded(requests, 8, (batch) => api('POST', '/v1/batch', { batch }));
  await runtime.idle();
  return mapBounded(ids, 16, async (id) => {
    const member = (await api('GET', `/v1/members/${id}`)) as { nextChangeAt: string | null };
    return member.nextChangeAt === null ? Number.NaN : Date.parse(member.nextChangeAt);
  });
}

/** Writes the cohort's profiles as the tagger would; returns each member's due instant. */
async function seedDirectly(ids: readonly string[], ms: number): Promise<number[]> {
  const now = clock();
  return mapBounded(ids, 16, async (id) => {
    const advanced = advanceProfile(undefined, consultations(id, ms), catalogue, zone, now);
    await store.apply(`u#${id}`, () => ({
      state: advanced.state,
      tags: advanced.tags,
      appliedSeq: {},
      nextChangeAt: advanced.nextChangeAt,
      history: advanced.history,
    }));
    return advanced.nextChangeAt ?? Number.NaN;
  });
}

interface CohortResult {
  readonly how: 'pipeline' | 'direct';
  readonly members: number;
  readonly seedSeconds: number;
  readonly dueInstants: number;
  readonly leadMs: number;
  /** The cohort's (earliest) due instant. */
  readonly dueAt: number;
  /** Sweeps that found members of this cohort (at ≥ due). */
  readonly sweeps: readonly SweepLog[];
  /** Per member: clock time its change was written − its due instant. */
  readonly lagsMs: readonly number[];
  /** Per member read back: history entry `at` − due instant, and whether the clock caused it. */
  readonly historyLagsMs: readonly number[];
  readonly byClock: number;
  readonly missing: number;
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;

async function cohort(
  index: number,
  how: 'pipeline' | 'direct',
  members: number,
): Promise<CohortResult> {
  const ids = Array.from(
    { length: members },
    (_, i) => `sl-${index}-${how}-${String(i).padStart(6, '0')}`,
  );
  // Cohort k consulted 25 − k days before the clock's first reading (k < 25): each expires a day
  // after the one before, so always ahead of the clock however far earlier cohorts moved it.
  const consultedAt = start - (25 - index) * DAY_MS;
  const seeding = performance.now();
  const dues =
    how === 'pipeline'
      ? await seedThroughPipeline(ids, consultedAt)
      : await seedDirectly(ids, consultedAt);
  const seedSeconds = (performance.now() - seeding) / 1000;
  const firstDue = Math.min(...dues);
  if (!Number.isFinite(firstDue) || firstDue <= clock()) {
    throw new Error(`cohort ${index}: due instant ${firstDue} is not ahead of the clock`);
  }

  const leadMs = Math.round(2000 + random() * 6000);
  const fromSweep = sweeps.length;
  offset += firstDue - leadMs - clock();
  const keys = ids.map((id) => `m#u#${id}`);
  const deadline = Date.now() + leadMs + 60_000 + members * 20;
  const done = () =>
    keys.every((key) => (writtenAt.get(key) ?? 0) >= firstDue) &&
    sweeps.slice(fromSweep).some((sweep) => sweep.at >= firstDue && sweep.changed > 0);
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

  const lagsMs: number[] = [];
  let missing = 0;
  for (const [i, key] of keys.entries()) {
    const at = writtenAt.get(key) ?? 0;
    if (at >= firstDue) lagsMs.push(at - (dues[i] as number));
    else missing += 1;
  }
  // The history as the member API shows it: all of a small cohort, a sample of a large one.
  const step = Math.max(1, Math.floor(members / 1000));
  const sample = ids.flatMap((_, i) => (i % step === 0 ? [i] : []));
  let byClock = 0;
  const historyLagsMs = await mapBounded(sample, 16, async (i) => {
    const body = (await api('GET', `/v1/members/${ids[i]}/tags/history?limit=1`)) as {
      changes: { at: string; cause: { kind: string }; changes: { tag: string }[] }[];
    };
    const latest = body.changes[0];
    if (latest?.cause.kind === 'clock') byClock += 1;
    return Date.parse(latest?.at ?? '') - (dues[i] as number);
  });
  return {
    how,
    members,
    seedSeconds,
    dueInstants: new Set(dues).size,
    leadMs,
    dueAt: firstDue,
    sweeps: sweeps.slice(fromSweep).filter((sweep) => sweep.at >= firstDue && sweep.due > 0),
    lagsMs: lagsMs.sort((a, b) => a - b),
    historyLagsMs: historyLagsMs.sort((a, b) => a - b),
    byClock,
    missing,
  };
}

const start = clock();
const load = loadavg()[0] ?? 0;
const results: CohortResult[] = [];
try {
  for (const [index, { how, members }] of plan.entries()) {
    const result = await cohort(index, how, members);
    results.push(result);
    process.stderr.write(
      `  cohort ${index}: ${members} members (${how}), max lag ${((result.lagsMs.at(-1) ?? Number.NaN) / 1000).toFixed(1)} s\n`,
    );
  }
} finally {
  documents.destroy();
  await runtime.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);
const pad = (text: string, width: number) => text.padStart(width);
const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Sweeper lag benchmark — ${new Date().toISOString()}`);
console.log(
  `  machine   ${cpu}, ${cpus().length} vCPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; load average ${load.toFixed(2)} at start`,
);
console.log(
  `  sweeper   timer every ${periodSeconds} s locally (${sweeperSchedule.awsEveryMinutes} min on AWS); ${DUE_SHARDS} due-index shards, 4 at a time, 16 members at a time per page; timeout ${functions.sweeper.timeoutSeconds} s`,
);
console.log(
  `  members   3 car consultations on one day each; car_purchase_intent expires at the local midnight (${zone}) 30 days later`,
);
console.log('');
console.log(
  `${'cohort'.padEnd(17)}${pad('seeded', 8)}${pad('lead', 7)}${pad('sweeps', 8)}${pad('at − due', 10)}${pad('duration', 10)}${pad('members/s', 11)}${pad('lag p50', 9)}${pad('p99', 7)}${pad('max', 7)}${pad('period + duration', 19)}${pad('history at − due', 18)}`,
);
for (const r of results) {
  const first = r.sweeps[0];
  const last = r.sweeps.at(-1);
  // From the first sweep's instant to the end of the last: every member of the cohort written.
  const duration = first && last ? last.end - first.at : Number.NaN;
  const historyLags = [...new Set(r.historyLagsMs.map((ms) => seconds(ms)))];
  console.log(
    `${`${r.members.toLocaleString('en')} ${r.how}`.padEnd(17)}${pad(`${r.seedSeconds.toFixed(0)} s`, 8)}${pad(`${seconds(r.leadMs)} s`, 7)}${pad(String(r.sweeps.length), 8)}${pad(first ? `${seconds(first.at - r.dueAt)} s` : '—', 10)}${pad(`${seconds(duration)} s`, 10)}${pad((r.members / (duration / 1000)).toFixed(0), 11)}${pad(`${seconds(quantile(r.lagsMs, 0.5))} s`, 9)}${pad(seconds(quantile(r.lagsMs, 0.99)), 7)}${pad(seconds(r.lagsMs.at(-1) ?? Number.NaN), 7)}${pad(`${seconds(periodSeconds * 1000 + duration)} s`, 19)}${pad(historyLags.length === 1 ? `${historyLags[0]} s` : `${historyLags[0]} – ${historyLags.at(-1)} s`, 18)}`,
  );
}
console.log('');
for (const [index, r] of results.entries()) {
  console.log(
    `  cohort ${index}: ${r.members.toLocaleString('en')} members, ${r.dueInstants} due instant(s); ${r.lagsMs.length.toLocaleString('en')} changes written, ${r.missing} missing; history read back for ${r.historyLagsMs.length.toLocaleString('en')}, ${r.byClock.toLocaleString('en')} caused by the clock; sweeps: ${r.sweeps
      .map(
        (sweep) =>
          `at due + ${seconds(sweep.at - r.dueAt)} s, ${seconds(sweep.end - sweep.at)} s, ${sweep.due} due, ${sweep.changed} changed${sweep.failed ? `, ${sweep.failed} failed` : ''}${sweep.partial ? ', partial' : ''}`,
      )
      .join('; ')}`,
  );
}
console.log('');
console.log(
  `  lag       the runtime's clock when a member's profile was written − its nextChangeAt; every member of one sweep is evaluated at its \`at\`, which its history entry shows`,
);
console.log(
  `  bound     worst case ≈ period + sweep duration: ${periodSeconds} s locally, ${sweeperSchedule.awsEveryMinutes * 60} s on AWS, plus the time the sweep takes to reach the member`,
);
