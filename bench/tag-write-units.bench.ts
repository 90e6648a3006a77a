/**
 * Tag write units benchmark: what the tagger's profile writes cost per event, through the whole
 * local pipeline (HTTP → collect → queue → ingest → events table stream → tagger → profiles
 * table), for events that reach the stream grouped per member, shuffled across members, or one
 * per member. Units are read from the ConsumedCapacity DynamoDB Local returns for each write,
 * and priced again from the written items' sizes with AWS's documented formula, because DynamoDB
 * Local does not bill transactions as AWS does. Prints figures; asserts nothing.
 *
 *   npm run bench:tag-writes -- --members 2000 --events-per-member 10 --senders 8
 *
 * The runtime runs in this process (as the integration tests start it) so that a middleware on
 * the SDK client the handlers share sees every write with its input and response; the tagger's
 * own log lines (one per stream batch) are read from stdout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { deflateRawSync } from 'node:zlib';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.PORTRAIT_LOG_LEVEL = 'info';

import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { streamConsumers } from '../infra/declarations/streams.ts';
import { localAwsClientConfig } from '../infra/local/dynamodb-local.ts';
import { startLocalRuntime } from '../infra/local/runtime.ts';
import { awsClients } from '../shared/adapters/aws-clients.ts';
import { defaultRuleCatalogue } from '../shared/domain/tags/default-catalogue.ts';
import { DAY_MS } from '../shared/domain/tags/zone-calendar.ts';

const { values } = parseArgs({
  options: {
    members: { type: 'string', default: '2000' },
    'events-per-member': { type: 'string', default: '10' },
    batch: { type: 'string', default: '100' },
    senders: { type: 'string', default: '8' },
    seed: { type: 'string', default: '20261125' },
  },
});
const memberCount = Number(values.members);
const eventsPerMember = Number(values['events-per-member']);
const requestSize = Number(values.batch);
const senders = Number(values.senders);
const seed = Number(values.seed);
const taggerStream = streamConsumers.find((consumer) => consumer.function === 'tagger');

/** Mulberry32: a small seeded generator, so every run sends the same events. */
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

// Item sizes as DynamoDB bills them ("Item sizes and formats" in the DynamoDB developer guide).

function numberBytes(text: string): number {
  const digits = text
    .replace(/^-/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function attributeBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((n, s) => n + numberBytes(s), 0);
  if (value.L !== undefined) return 3 + value.L.reduce((n, v) => n + 1 + attributeBytes(v), 0);
  if (value.M !== undefined) return 3 + itemBytes(value.M) + Object.keys(value.M).length;
  return 0;
}

function itemBytes(item: Record<string, AttributeValue>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name) + attributeBytes(value);
  }
  return bytes;
}

const KB = 1024;
const unitsOf = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));

/** One item written: its size, the size of the item it replaced (0 when new), index writes. */
interface WrittenItem {
  readonly key: string;
  readonly bytes: number;
  readonly previousBytes: number;
  /**
   * Writes to the due index (keys only, under 1 KB): 1 when the item enters or leaves it, 2 when
   * its `nextChangeAt` moves (delete and put), 0 when it stays the same or stays out.
   */
  readonly indexWrites: number;
  /** The same two sizes had `state` been stored deflated (a binary attribute). */
  readonly deflatedBytes: number;
  readonly previousDeflatedBytes: number;
}

/** One write request the handlers made, with what DynamoDB Local reported for it. */
interface WriteRecord {
  readonly table: string;
  readonly kind: 'put' | 'transaction';
  readonly items: readonly WrittenItem[];
  /** ConsumedCapacity as DynamoDB Local returned it. */
  readonly reportedUnits: number;
}

/**
 * AWS's price of a write to the table itself: a standard write costs one unit per KB of the
 * larger of the new and the replaced item; a transactional write two per KB of each item.
 */
function tableUnits(write: WriteRecord): number {
  const perItem = write.items.map((item) => unitsOf(Math.max(item.bytes, item.previousBytes)));
  const sum = perItem.reduce((n, u) => n + u, 0);
  return write.kind === 'transaction' ? 2 * sum : sum;
}

/** Index writes cost what they cost outside a transaction: one unit each (a keys-only item). */
const indexUnits = (write: WriteRecord) => write.items.reduce((n, i) => n + i.indexWrites, 0);
const awsUnits = (write: WriteRecord) => tableUnits(write) + indexUnits(write);

/**
 * What the same write would cost with the changes proposed in docs/BENCHMARKS.md: the history
 * item written by a standard put outside the transaction, and/or `state` stored deflated.
 */
function whatIfUnits(write: WriteRecord, historyApart: boolean, deflated: boolean): number {
  const perItem = write.items.map((item) =>
    unitsOf(
      deflated
        ? Math.max(item.deflatedBytes, item.previousDeflatedBytes)
        : Math.max(item.bytes, item.previousBytes),
    ),
  );
  const sum = perItem.reduce((n, u) => n + u, 0);
  const table = write.kind === 'transaction' && !historyApart ? 2 * sum : sum;
  return table + indexUnits(write);
}

interface TaggerLog {
  readonly records: number;
  readonly members: number;
  readonly written: number;
  readonly writeUnits: number;
  readonly tagChanges: number;
  readonly conflicts: number;
}

const writes: WriteRecord[] = [];
const taggerLogs: TaggerLog[] = [];
let failedWrites = 0;
let otherLogLines = 0;

// The handlers log JSON lines to stdout: keep the tagger's, pass warnings and errors to stderr.
const stdoutWrite = process.stdout.write;
process.stdout.write = ((...args: unknown[]) => {
  const [chunk] = args;
  const text = typeof chunk === 'string' ? chunk : String(chunk);
  if (!text.startsWith('{"level":')) return Reflect.apply(stdoutWrite, process.stdout, args);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const entry = JSON.parse(line) as Record<string, unknown> & TaggerLog;
    if (entry.level === 'WARN' || entry.level === 'ERROR') process.stderr.write(`${line}\n`);
    if (entry.message === 'tagger') {
      taggerLogs.push({
        records: entry.records,
        members: entry.members,
        written: entry.written,
        writeUnits: entry.writeUnits,
        tagChanges: entry.tagChanges,
        conflicts: entry.conflicts,
      });
    } else {
      otherLogLines += 1;
    }
  }
  return true;
}) as typeof process.stdout.write;

const dataDir = mkdtempSync(join(tmpdir(), 'portrait-bench-tag-writes-'));
const runtime = await startLocalRuntime({ dataDir, port: 0, sweepEverySeconds: 0 });
const authorization = `Basic ${Buffer.from(`${runtime.devWriteKey}:`).toString('base64')}`;

/** Size and due-index key of every item last written, by table and key, to price a replacement. */
const lastWritten = new Map<
  string,
  { bytes: number; deflatedBytes: number; indexKey: string | undefined }
>();
const indexKeyOf = (item: Record<string, AttributeValue>) =>
  item.nextChangeAt?.N !== undefined ? `${item.dueShard?.N}/${item.nextChangeAt.N}` : undefined;
const keyOf = (table: string, item: Record<string, AttributeValue>) =>
  `${table}\u0000${item.pk?.S}\u0000${item.sk?.S}`;

// The client every handler shares (created when the runtime loaded them): record each put and
// transaction with its (marshalled) items and the capacity DynamoDB Local reported.
awsClients().dynamo.middlewareStack.add(
  (next, context) => async (args) => {
    const command = context.commandName;
    if (command !== 'PutItemCommand' && command !== 'TransactWriteItemsCommand') return next(args);
    const input = args.input as {
      TableName?: string;
      Item?: Record<string, AttributeValue>;
      TransactItems?: { Put?: { TableName?: string; Item?: Record<string, AttributeValue> } }[];
    };
    const puts =
      command === 'PutItemCommand'
        ? [{ table: input.TableName ?? '', item: input.Item ?? {} }]
        : (input.TransactItems ?? []).flatMap((entry) =>
            entry.Put ? [{ table: entry.Put.TableName ?? '', item: entry.Put.Item ?? {} }] : [],
          );
    let result: Awaited<ReturnType<typeof next>>;
    try {
      result = await next(args);
    } catch (error) {
      failedWrites += 1;
      throw error;
    }
    const output = result.output as {
      ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[];
    };
    const consumed = output.ConsumedCapacity;
    const reportedUnits = Array.isArray(consumed)
      ? consumed.reduce((n, c) => n + (c.CapacityUnits ?? 0), 0)
      : (consumed?.CapacityUnits ?? 0);
    const items = puts.map(({ table, item }) => {
      const key = keyOf(table, item);
      const bytes = itemBytes(item);
      const state = item.state?.S;
      const deflatedBytes =
        state === undefined
          ? bytes
          : bytes - Buffer.byteLength(state) + deflateRawSync(state, { level: 6 }).length;
      const indexKey = indexKeyOf(item);
      const previous = lastWritten.get(key);
      const before = previous?.indexKey;
      const indexWrites =
        before === indexKey ? 0 : before !== undefined && indexKey !== undefined ? 2 : 1;
      lastWritten.set(key, { bytes, deflatedBytes, indexKey });
      return {
        key,
        bytes,
        previousBytes: previous?.bytes ?? 0,
        indexWrites,
        deflatedBytes,
        previousDeflatedBytes: previous?.deflatedBytes ?? 0,
      };
    });
    writes.push({
      table: puts[0]?.table ?? '',
      kind: command === 'PutItemCommand' ? 'put' : 'transaction',
      items,
      reportedUnits,
    });
    return result;
  },
  { step: 'build', name: 'benchWriteCapacity' },
);

// The events: what a member of a retail brand sends, in the shapes of the default catalogue.

const categories = ['tech', 'beauty', 'food', 'travel', 'sports', 'baby', 'home', 'fashion'];
const cities = ['上海', '北京', '杭州', '广州', '深圳', '成都', '武汉', '南京'];
const stores = ['SH-01', 'SH-02', 'BJ-01', 'HZ-01', 'GZ-01', 'SZ-01'];
/** Ten event kinds per member visit; a returning member sends a view in place of the identify. */
const visit = [
  'identify',
  'view',
  'view',
  'order',
  'view',
  'consultation',
  'like',
  'order',
  'page',
  'view',
] as const;

type Kind = (typeof visit)[number];

function eventOf(
  userId: string,
  member: number,
  round: number,
  slot: number,
  kind: Kind,
  ms: number,
  random: () => number,
): Record<string, unknown> {
  const base = {
    userId,
    messageId: `${userId}-r${round}-e${slot}`,
    timestamp: new Date(ms).toISOString(),
    context: { library: { name: 'portrait-bench', version: '1' }, locale: 'zh-CN' },
  };
  const category = categories[(member + Math.floor(random() * 3)) % categories.length] as string;
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)] as T;
  switch (kind) {
    case 'identify': {
      const year = 1960 + Math.floor(random() * 45);
      const month = String(1 + Math.floor(random() * 12)).padStart(2, '0');
      const day = String(1 + Math.floor(random() * 28)).padStart(2, '0');
      return {
        ...base,
        type: 'identify',
        traits: {
          gender: random() < 0.55 ? 'female' : 'male',
          birthday: `${year}-${month}-${day}`,
          city: pick(cities),
          memberLevel: pick(['silver', 'gold', 'platinum']),
        },
      };
    }
    case 'view':
      return {
        ...base,
        type: 'track',
        event: 'Product Viewed',
        properties: {
          sku: `SKU-${category}-${Math.floor(random() * 500)}`,
          category,
          price: Math.round(random() * 200_00) / 100,
        },
      };
    case 'order': {
      const lines = 1 + Math.floor(random() * 3);
      const products = Array.from({ length: lines }, () => ({
        sku: `SKU-${category}-${Math.floor(random() * 500)}`,
        category: random() < 0.7 ? category : pick(categories),
        price: Math.round(random() * 800_00) / 100,
        quantity: 1 + Math.floor(random() * 3),
      }));
      const cents = products.reduce((n, p) => n + Math.round(p.price * 100) * p.quantity, 0);
      const revenue = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
      return {
        ...base,
        type: 'track',
        event: 'Order Completed',
        properties: {
          orderId: `${userId}-o${round}-${slot}`,
          revenue: slot % 2 === 0 ? revenue : Number(revenue),
          currency: 'CNY',
          store: pick(stores),
          ...(random() < 0.3 ? { coupon: 'SPRING-10' } : {}),
          products,
        },
      };
    }
    case 'consultation':
      return {
        ...base,
        type: 'track',
        event: 'Consultation',
        properties: { topic: random() < 0.5 ? 'car' : 'skincare', channel: 'wecom' },
      };
    case 'like':
      return {
        ...base,
        type: 'track',
        event: 'Content Liked',
        properties: { category, contentId: `c-${Math.floor(random() * 1000)}` },
      };
    case 'page':
      return { ...base, type: 'page', name: 'Home', properties: { path: '/home' } };
  }
}

/**
 * Each member's events of one round, grouped per member: the first round spread over the last
 * 120 days (a member with some history), later rounds over the last 7 days. Timestamps ascend.
 */
function memberEvents(
  prefix: string,
  members: number,
  round: number,
  perMember: number,
): Record<string, unknown>[] {
  const random = randomSource(seed + round * 7919 + prefix.length);
  const now = Date.now();
  const spanDays = round === 0 ? 120 : 7;
  const events: Record<string, unknown>[] = [];
  for (let member = 0; member < members; member += 1) {
    const userId = `${prefix}-${String(member).padStart(6, '0')}`;
    const times = Array.from({ length: perMember }, () => now - random() * spanDays * DAY_MS).sort(
      (a, b) => a - b,
    );
    for (let slot = 0; slot < perMember; slot += 1) {
      const kind = round === 0 || slot > 0 ? (visit[slot % visit.length] as Kind) : 'view';
      events.push(eventOf(userId, member, round, slot, kind, times[slot] as number, random));
    }
  }
  return events;
}

/** One event each for `members` new members, the kinds in the same proportions as a visit. */
function singleEvents(prefix: string, members: number): Record<string, unknown>[] {
  const random = randomSource(seed + 104_729);
  const now = Date.now();
  return Array.from({ length: members }, (_, member) =>
    eventOf(
      `${prefix}-${String(member).padStart(6, '0')}`,
      member,
      0,
      0,
      visit[member % visit.length] as Kind,
      now - random() * 120 * DAY_MS,
      random,
    ),
  );
}

function shuffled<T>(items: readonly T[]): T[] {
  const random = randomSource(seed + 1);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** Posts the events in `/v1/batch` requests of `requestSize`, in order, from `senders` senders. */
async function send(events: readonly Record<string, unknown>[]): Promise<number> {
  let next = 0;
  let accepted = 0;
  const requests = Math.ceil(events.length / requestSize);
  const sender = async () => {
    while (next < requests) {
      const r = next++;
      const batch = events.slice(r * requestSize, (r + 1) * requestSize);
      for (;;) {
        const response = await fetch(`${runtime.apiUrl}/v1/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
        });
        const text = await response.text();
        if (response.status === 200) {
          // 200 means every event was accepted; a partial success is another status.
          accepted += batch.length;
          break;
        }
        if (response.status < 500) throw new Error(`request ${r}: ${response.status} ${text}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
  return accepted;
}

interface StoredSizes {
  readonly profiles: number;
  readonly stateAverage: number;
  readonly stateMax: number;
  readonly deflatedAverage: number;
  readonly itemAverage: number;
  readonly itemMax: number;
  readonly historyItems: number;
  readonly historyAverage: number;
}

const scanClient = new DynamoDBClient(localAwsClientConfig(runtime.dynamoEndpoint));

/** Sizes of the profile and history items of members whose user id starts with `prefix`. */
async function storedSizes(prefix: string): Promise<StoredSizes> {
  const states: number[] = [];
  const deflated: number[] = [];
  const items: number[] = [];
  const history: number[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await scanClient.send(
      new ScanCommand({ TableName: runtime.tables.profiles, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) {
      if (!item.pk?.S?.startsWith(`m#u#${prefix}-`)) continue;
      if (item.sk?.S === 'profile') {
        states.push(Buffer.byteLength(item.state?.S ?? ''));
        deflated.push(deflateRawSync(item.state?.S ?? '', { level: 6 }).length);
        items.push(itemBytes(item));
      } else {
        history.push(itemBytes(item));
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  const average = (xs: number[]) => xs.reduce((n, x) => n + x, 0) / Math.max(1, xs.length);
  return {
    profiles: states.length,
    stateAverage: average(states),
    stateMax: Math.max(0, ...states),
    deflatedAverage: average(deflated),
    itemAverage: average(items),
    itemMax: Math.max(0, ...items),
    historyItems: history.length,
    historyAverage: average(history),
  };
}

interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly events: number;
  readonly seconds: number;
  readonly batches: readonly TaggerLog[];
  readonly profileWrites: readonly WriteRecord[];
  readonly eventWrites: readonly WriteRecord[];
  readonly sizes: StoredSizes;
}

async function scenario(
  id: string,
  title: string,
  prefix: string,
  events: readonly Record<string, unknown>[],
): Promise<ScenarioResult> {
  const fromWrite = writes.length;
  const fromLog = taggerLogs.length;
  const started = performance.now();
  const accepted = await send(events);
  if (accepted !== events.length) throw new Error(`${id}: ${accepted} of ${events.length} taken`);
  await runtime.idle();
  const seconds = (performance.now() - started) / 1000;
  const mine = writes.slice(fromWrite);
  const result: ScenarioResult = {
    id,
    title,
    events: events.length,
    seconds,
    batches: taggerLogs.slice(fromLog),
    profileWrites: mine.filter((w) => w.table === runtime.tables.profiles),
    eventWrites: mine.filter((w) => w.table === runtime.tables.events),
    sizes: await storedSizes(prefix),
  };
  process.stderr.write(`  ${id}: ${events.length} events through in ${seconds.toFixed(0)} s\n`);
  return result;
}

const load = loadavg()[0] ?? 0;
const totalEvents = memberCount * eventsPerMember;
const results: ScenarioResult[] = [];
try {
  const grouped = memberEvents('tw-a', memberCount, 0, eventsPerMember);
  results.push(
    await scenario(
      'a',
      `${memberCount.toLocaleString('en')} new members × ${eventsPerMember}, grouped per member`,
      'tw-a',
      grouped,
    ),
  );
  results.push(
    await scenario(
      "a'",
      `the same members again, ${eventsPerMember} more each, grouped`,
      'tw-a',
      memberEvents('tw-a', memberCount, 1, eventsPerMember),
    ),
  );
  results.push(
    await scenario(
      'b',
      `${memberCount.toLocaleString('en')} new members × ${eventsPerMember}, shuffled`,
      'tw-b',
      shuffled(memberEvents('tw-b', memberCount, 0, eventsPerMember)),
    ),
  );
  results.push(
    await scenario(
      'c',
      `${totalEvents.toLocaleString('en')} new members × 1 event`,
      'tw-c',
      singleEvents('tw-c', totalEvents),
    ),
  );
} finally {
  scanClient.destroy();
  await runtime.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

const sum = (xs: readonly number[]) => xs.reduce((n, x) => n + x, 0);
const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const pad = (text: string, width: number) => text.padStart(width);
const fixed = (x: number, digits = 2) => x.toFixed(digits);

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const catalogue = defaultRuleCatalogue();
console.log(`Tag write units benchmark — ${new Date().toISOString()}`);
console.log(
  `  machine     ${cpu}, ${cpus().length} vCPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; load average ${load.toFixed(2)} at start`,
);
console.log(
  `  pipeline    local runtime in this process: ${requestSize} events per /v1/batch request, ${senders} senders; stream batches of ≤ ${taggerStream?.batchSize} records, window ${taggerStream?.maxBatchingWindowSeconds} s`,
);
console.log(
  `  catalogue   default: ${catalogue.aggregates.length} aggregates, ${catalogue.tags.length} tags; a visit = ${visit.join(', ')}`,
);
const bytes = (n: number) => `${Math.round(n).toLocaleString('en')} B`;
const perEvent = (units: number, events: number) => fixed(units / Math.max(1, events));
console.log('');
console.log(
  `${'scenario'.padEnd(9)}${pad('events', 8)}${pad('batches', 9)}${pad('rec/batch', 11)}${pad('ev/write', 10)}${pad('writes', 8)}${pad('tx', 6)}${pad('WU local', 10)}${pad('/event', 8)}${pad('WU AWS', 9)}${pad('/event', 8)}${pad('events table /event', 21)}`,
);
for (const r of results) {
  const records = r.batches.map((b) => b.records);
  const reported = sum(r.profileWrites.map((w) => w.reportedUnits));
  const aws = sum(r.profileWrites.map(awsUnits));
  const transactions = r.profileWrites.filter((w) => w.kind === 'transaction').length;
  console.log(
    `${r.id.padEnd(9)}${pad(r.events.toLocaleString('en'), 8)}${pad(String(r.batches.length), 9)}${pad(fixed(sum(records) / Math.max(1, records.length), 1), 11)}${pad(fixed(r.events / Math.max(1, r.profileWrites.length)), 10)}${pad(r.profileWrites.length.toLocaleString('en'), 8)}${pad(`${((100 * transactions) / Math.max(1, r.profileWrites.length)).toFixed(0)}%`, 6)}${pad(reported.toLocaleString('en'), 10)}${pad(perEvent(reported, r.events), 8)}${pad(aws.toLocaleString('en'), 9)}${pad(perEvent(aws, r.events), 8)}${pad(perEvent(sum(r.eventWrites.map((w) => w.reportedUnits)), r.events), 21)}`,
  );
}
console.log(
  '  WU local: profile-table ConsumedCapacity as DynamoDB Local returned it. WU AWS: the same writes priced by AWS rules: a standard write 1 unit per KB of the larger of old and new item, a transactional write 2 per KB of each item, each due-index write 1 (2 when nextChangeAt moves).',
);
console.log('');
for (const r of results) {
  const records = r.batches.map((b) => b.records);
  const members = r.batches.map((b) => b.members);
  const puts = r.profileWrites.filter((w) => w.kind === 'put');
  const transactions = r.profileWrites.filter((w) => w.kind === 'transaction');
  const logged = sum(r.batches.map((b) => b.writeUnits));
  const reported = sum(r.profileWrites.map((w) => w.reportedUnits));
  const isProfile = (i: WrittenItem) => i.key.endsWith('\u0000profile');
  const profileItems = r.profileWrites.flatMap((w) => w.items.filter(isProfile));
  const historyItems = transactions.flatMap((w) => w.items.filter((i) => !isProfile(i)));
  const billed = profileItems.map((i) => Math.max(i.bytes, i.previousBytes));
  const agree = puts.filter((w) => w.reportedUnits === awsUnits(w)).length;
  const whatIf = (historyApart: boolean, deflated: boolean) =>
    perEvent(sum(r.profileWrites.map((w) => whatIfUnits(w, historyApart, deflated))), r.events);
  console.log(`${r.id}) ${r.title} — ${r.seconds.toFixed(0)} s end to end`);
  console.log(
    `   stream batches   ${r.batches.length}: ${fixed(sum(records) / Math.max(1, records.length), 1)} records on average (min ${Math.min(...records)}, median ${median(records)}, max ${Math.max(...records)}), ${fixed(sum(members) / Math.max(1, members.length), 1)} members each, so ${fixed(r.events / Math.max(1, sum(members)))} events per member per batch`,
  );
  console.log(
    `   profile writes   ${r.profileWrites.length.toLocaleString('en')} = ${puts.length.toLocaleString('en')} PutItem + ${transactions.length.toLocaleString('en')} TransactWriteItems (profile + history item, when tags changed); ${sum(r.batches.map((b) => b.tagChanges)).toLocaleString('en')} tag changes; ${sum(r.batches.map((b) => b.conflicts))} conflicts`,
  );
  console.log(
    `   units, local     ${reported.toLocaleString('en')} in the write responses (${logged.toLocaleString('en')} in the tagger's log lines): puts ${sum(puts.map((w) => w.reportedUnits)).toLocaleString('en')}, transactions ${sum(transactions.map((w) => w.reportedUnits)).toLocaleString('en')}`,
  );
  console.log(
    `   units, AWS       puts ${sum(puts.map(awsUnits)).toLocaleString('en')} (table ${sum(puts.map(tableUnits)).toLocaleString('en')} + due index ${sum(puts.map(indexUnits)).toLocaleString('en')}; DynamoDB Local reported the same for ${((100 * agree) / Math.max(1, puts.length)).toFixed(0)} % of puts); transactions ${sum(transactions.map(awsUnits)).toLocaleString('en')} (table 2 × (${sum(transactions.flatMap((w) => w.items.filter(isProfile).map((i) => unitsOf(Math.max(i.bytes, i.previousBytes))))).toLocaleString('en')} profile + ${sum(historyItems.map((i) => unitsOf(i.bytes))).toLocaleString('en')} history) + due index ${sum(transactions.map(indexUnits)).toLocaleString('en')})`,
  );
  console.log(
    `   items written    profile ${fixed(sum(billed) / Math.max(1, billed.length) / KB)} KB billed on average (the larger of old and new), ${fixed(Math.max(0, ...billed) / KB)} KB max, ${((100 * billed.filter((b) => b > KB).length) / Math.max(1, billed.length)).toFixed(0)} % over 1 KB; history ${fixed(sum(historyItems.map((i) => i.bytes)) / Math.max(1, historyItems.length) / KB)} KB on average`,
  );
  console.log(
    `   stored at end    ${r.sizes.profiles.toLocaleString('en')} profiles: state attribute ${bytes(r.sizes.stateAverage)} average, ${bytes(r.sizes.stateMax)} max (deflated ${bytes(r.sizes.deflatedAverage)} average); whole item ${bytes(r.sizes.itemAverage)} average, ${bytes(r.sizes.itemMax)} max; ${r.sizes.historyItems.toLocaleString('en')} history items of ${bytes(r.sizes.historyAverage)} on average`,
  );
  console.log(
    `   what if (AWS)    ${perEvent(sum(r.profileWrites.map(awsUnits)), r.events)} units/event as is; history item by a standard put outside the transaction ${whatIf(true, false)}; state deflated ${whatIf(false, true)}; both ${whatIf(true, true)}`,
  );
}
console.log('');
console.log(
  '  target      ≤ 1.2 write units per event when members have several events per batch (issue 3); baseline one write per event (the events table: 1 unit per event)',
);
console.log(
  `  failed writes ${failedWrites} (conditional checks), other log lines ${otherLogLines.toLocaleString('en')}`,
);
