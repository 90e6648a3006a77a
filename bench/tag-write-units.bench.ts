/**
 * Tag write units benchmark: what the tag engine's writes cost per event, through the whole local
 * pipeline (HTTP → collect → queue → ingest → events table stream → tagger → profiles table →
 * profiles table stream → historian → history items), for events that reach the stream grouped
 * per member, shuffled across members, or one per member. Three kinds of write are counted: the
 * tagger's profile writes (one conditional PutItem per member per stream batch, carrying the
 * batch's tag changes in `changes`), the historian's history writes (one PutItem per profile
 * write that carried changes) and identity merges (a TransactWriteItems of link + profile).
 * Units are read from the ConsumedCapacity DynamoDB Local returns for each write, and priced again
 * from the written items' sizes with AWS's documented formula, because DynamoDB Local does not
 * bill transactions as AWS does. The same writes are also priced as the engine wrote them before
 * (profile + history item in one transaction, `state` as JSON text), for comparison. Prints
 * figures; asserts nothing.
 *
 *   npm run bench:tag-writes -- --members 2000 --events-per-member 10 --senders 8
 *
 * The runtime runs in this process (as the integration tests start it) so that a middleware on
 * the SDK client the handlers share sees every write with its input and response; the tagger's
 * and the historian's own log lines (one per stream batch) are read from stdout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inflateRawSync } from 'node:zlib';

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
const historianStream = streamConsumers.find((consumer) => consumer.function === 'historian');

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
  /** `profile`, `history` (`h#<at>#<version>`) or `link` (an identity merged into a member). */
  readonly kind: 'profile' | 'history' | 'link' | 'other';
  readonly bytes: number;
  readonly previousBytes: number;
  /**
   * Writes to the due index (keys only, under 1 KB): 1 when the item enters or leaves it, 2 when
   * its `nextChangeAt` moves (delete and put), 0 when it stays the same or stays out.
   */
  readonly indexWrites: number;
  /** Number of tag-history entries the profile item carries in `changes` (0 when none). */
  readonly changeEntries: number;
  /**
   * The item as the engine wrote it before: `state` as JSON text and no `changes` attribute; and
   * the history item it wrote beside it in the same transaction (0 when tags did not change).
   */
  readonly jsonBytes: number;
  readonly previousJsonBytes: number;
  readonly historyBytes: number;
}

/** Who made a write: the tagger (profile puts), the historian (history puts), a merge, ingest. */
type Writer = 'tagger' | 'historian' | 'merge' | 'events' | 'other';

/** One write request the handlers made, with what DynamoDB Local reported for it. */
interface WriteRecord {
  readonly table: string;
  readonly writer: Writer;
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
 * The AWS price of the same write as the engine made it before: a profile write that changed tags
 * was a transaction of the profile (JSON `state`, no `changes`) and its history item, 2 units per
 * KB of each; one that changed none a standard put; a merge a transaction of link, profile and
 * history item. History puts did not exist (their item was in the transaction): 0.
 */
function beforeUnits(write: WriteRecord): number {
  if (write.writer === 'historian') return 0;
  const items = write.items.map((item) =>
    unitsOf(Math.max(item.jsonBytes, item.previousJsonBytes)),
  );
  const history = write.items.filter((i) => i.historyBytes > 0).map((i) => unitsOf(i.historyBytes));
  const table = items.reduce((n, u) => n + u, 0) + history.reduce((n, u) => n + u, 0);
  const transaction = write.kind === 'transaction' || history.length > 0;
  return (transaction ? 2 * table : table) + indexUnits(write);
}

interface TaggerLog {
  readonly records: number;
  readonly members: number;
  readonly written: number;
  readonly writeUnits: number;
  readonly tagChanges: number;
  readonly conflicts: number;
  readonly merged: number;
}

interface HistorianLog {
  readonly records: number;
  readonly written: number;
  readonly writeUnits: number;
  readonly failed: number;
}

const writes: WriteRecord[] = [];
const taggerLogs: TaggerLog[] = [];
const historianLogs: HistorianLog[] = [];
let failedWrites = 0;
let otherLogLines = 0;

// The handlers log JSON lines to stdout: keep the tagger's and the historian's, pass warnings and
// errors to stderr.
const stdoutWrite = process.stdout.write;
process.stdout.write = ((...args: unknown[]) => {
  const [chunk] = args;
  const text = typeof chunk === 'string' ? chunk : String(chunk);
  if (!text.startsWith('{"level":')) return Reflect.apply(stdoutWrite, process.stdout, args);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const entry = JSON.parse(line) as Record<string, unknown> & TaggerLog & HistorianLog;
    if (entry.level === 'WARN' || entry.level === 'ERROR') process.stderr.write(`${line}\n`);
    if (entry.message === 'tagger') {
      taggerLogs.push({
        records: entry.records,
        members: entry.members,
        written: entry.written,
        writeUnits: entry.writeUnits,
        tagChanges: entry.tagChanges,
        conflicts: entry.conflicts,
        merged: entry.merged ?? 0,
      });
    } else if (entry.message === 'historian') {
      historianLogs.push({
        records: entry.records,
        written: entry.written,
        writeUnits: entry.writeUnits,
        failed: entry.failed,
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
  { bytes: number; jsonBytes: number; indexKey: string | undefined }
>();
const indexKeyOf = (item: Record<string, AttributeValue>) =>
  item.nextChangeAt?.N !== undefined ? `${item.dueShard?.N}/${item.nextChangeAt.N}` : undefined;
const keyOf = (table: string, item: Record<string, AttributeValue>) =>
  `${table}\u0000${item.pk?.S}\u0000${item.sk?.S}`;
const kindOf = (item: Record<string, AttributeValue>): WrittenItem['kind'] =>
  item.sk?.S?.startsWith('h#')
    ? 'history'
    : item.mergedInto !== undefined
      ? 'link'
      : item.sk?.S === 'profile'
        ? 'profile'
        : 'other';

/** The JSON text of a stored `state`: inflated when binary, as is when a string. */
function stateJson(value: AttributeValue | undefined): string {
  if (value?.B !== undefined) return inflateRawSync(value.B).toString('utf8');
  return value?.S ?? '';
}

/** The item's size had it been written as before: JSON `state`, no `changes`. */
function jsonItemBytes(item: Record<string, AttributeValue>): number {
  if (item.state === undefined) return itemBytes(item);
  const { changes: _changes, ...rest } = item;
  return itemBytes({ ...rest, state: { S: stateJson(item.state) } });
}

/** Size of the history item the old transaction wrote beside a profile carrying `changes`. */
function historyItemBytes(item: Record<string, AttributeValue>): number {
  const changes = item.changes;
  if (changes === undefined) return 0;
  // pk as the profile's; sk = h#<at, 15 digits>#<version, 12 digits>; entries = the changes.
  return itemBytes({
    pk: item.pk ?? { S: '' },
    sk: { S: `h#${'0'.repeat(15)}#${'0'.repeat(12)}` },
    entries: changes,
  });
}

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
    const items = puts.map(({ table, item }): WrittenItem => {
      const key = keyOf(table, item);
      const bytes = itemBytes(item);
      const jsonBytes = jsonItemBytes(item);
      const indexKey = indexKeyOf(item);
      const previous = lastWritten.get(key);
      const before = previous?.indexKey;
      const indexWrites =
        before === indexKey ? 0 : before !== undefined && indexKey !== undefined ? 2 : 1;
      lastWritten.set(key, { bytes, jsonBytes, indexKey });
      return {
        key,
        kind: kindOf(item),
        bytes,
        previousBytes: previous?.bytes ?? 0,
        indexWrites,
        changeEntries: item.changes?.L?.length ?? 0,
        jsonBytes,
        previousJsonBytes: previous?.jsonBytes ?? 0,
        historyBytes: historyItemBytes(item),
      };
    });
    const table = puts[0]?.table ?? '';
    const writer: Writer =
      table === runtime.tables.events
        ? 'events'
        : table !== runtime.tables.profiles
          ? 'other'
          : command === 'TransactWriteItemsCommand'
            ? 'merge'
            : items[0]?.kind === 'history'
              ? 'historian'
              : items[0]?.kind === 'profile'
                ? 'tagger'
                : 'other';
    writes.push({
      table,
      writer,
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
  /** Bytes of the stored (deflated, binary) `state` attribute. */
  readonly stateAverage: number;
  readonly stateMax: number;
  /** Bytes of the same state as JSON text, the way it was stored before. */
  readonly jsonAverage: number;
  readonly itemAverage: number;
  readonly itemMax: number;
  /** Profiles that still carry `changes` (their last write changed tags), and its size. */
  readonly withChanges: number;
  readonly changesAverage: number;
  readonly historyItems: number;
  readonly historyAverage: number;
}

const scanClient = new DynamoDBClient(localAwsClientConfig(runtime.dynamoEndpoint));

/** Sizes of the profile and history items of members whose user id starts with `prefix`. */
async function storedSizes(prefix: string): Promise<StoredSizes> {
  const states: number[] = [];
  const json: number[] = [];
  const items: number[] = [];
  const changes: number[] = [];
  const history: number[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await scanClient.send(
      new ScanCommand({ TableName: runtime.tables.profiles, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) {
      if (!item.pk?.S?.startsWith(`m#u#${prefix}-`)) continue;
      const kind = kindOf(item);
      if (kind === 'profile') {
        states.push(item.state?.B?.length ?? Buffer.byteLength(item.state?.S ?? ''));
        json.push(Buffer.byteLength(stateJson(item.state)));
        items.push(itemBytes(item));
        if (item.changes !== undefined) changes.push(attributeBytes(item.changes));
      } else if (kind === 'history') {
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
    jsonAverage: average(json),
    itemAverage: average(items),
    itemMax: Math.max(0, ...items),
    withChanges: changes.length,
    changesAverage: average(changes),
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
  readonly historianBatches: readonly HistorianLog[];
  /** The tagger's profile puts. */
  readonly taggerWrites: readonly WriteRecord[];
  /** The historian's history puts. */
  readonly historyWrites: readonly WriteRecord[];
  /** Identity merges: transactions of link + profile. */
  readonly mergeWrites: readonly WriteRecord[];
  readonly eventWrites: readonly WriteRecord[];
  readonly otherWrites: readonly WriteRecord[];
  readonly sizes: StoredSizes;
}

/**
 * Waits until the queue, the tagger and the historian have nothing left: `idle()` waits for every
 * stream poller, but the historian's can drain before the tagger's last writes reach its stream,
 * so wait again until a whole wait saw no new write.
 */
async function settled(): Promise<void> {
  for (let seen = -1; seen !== writes.length; ) {
    seen = writes.length;
    await runtime.idle();
  }
}

async function scenario(
  id: string,
  title: string,
  prefix: string,
  events: readonly Record<string, unknown>[],
): Promise<ScenarioResult> {
  const fromWrite = writes.length;
  const fromLog = taggerLogs.length;
  const fromHistorianLog = historianLogs.length;
  const started = performance.now();
  const accepted = await send(events);
  if (accepted !== events.length) throw new Error(`${id}: ${accepted} of ${events.length} taken`);
  await settled();
  const seconds = (performance.now() - started) / 1000;
  const mine = writes.slice(fromWrite);
  const by = (writer: Writer) => mine.filter((w) => w.writer === writer);
  const result: ScenarioResult = {
    id,
    title,
    events: events.length,
    seconds,
    batches: taggerLogs.slice(fromLog),
    historianBatches: historianLogs.slice(fromHistorianLog),
    taggerWrites: by('tagger'),
    historyWrites: by('historian'),
    mergeWrites: by('merge'),
    eventWrites: by('events'),
    otherWrites: by('other'),
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
const count = (n: number) => n.toLocaleString('en');
const share = (part: number, whole: number) =>
  `${((100 * part) / Math.max(1, whole)).toFixed(0)} %`;
const reportedOf = (ws: readonly WriteRecord[]) => sum(ws.map((w) => w.reportedUnits));
const awsOf = (ws: readonly WriteRecord[]) => sum(ws.map(awsUnits));
const engineWrites = (r: ScenarioResult) => [
  ...r.taggerWrites,
  ...r.historyWrites,
  ...r.mergeWrites,
];

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const catalogue = defaultRuleCatalogue();
console.log(`Tag write units benchmark — ${new Date().toISOString()}`);
console.log(
  `  machine     ${cpu}, ${cpus().length} vCPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; load average ${load.toFixed(2)} at start`,
);
console.log(
  `  pipeline    local runtime in this process: ${requestSize} events per /v1/batch request, ${senders} senders; tagger stream batches of ≤ ${taggerStream?.batchSize} records, window ${taggerStream?.maxBatchingWindowSeconds} s; historian ≤ ${historianStream?.batchSize}, ${historianStream?.maxBatchingWindowSeconds} s`,
);
console.log(
  `  catalogue   default: ${catalogue.aggregates.length} aggregates, ${catalogue.tags.length} tags; a visit = ${visit.join(', ')}`,
);
const bytes = (n: number) => `${Math.round(n).toLocaleString('en')} B`;
const perEvent = (units: number, events: number) => fixed(units / Math.max(1, events));

console.log('');
console.log(
  'Writes and units (local = ConsumedCapacity DynamoDB Local returned; AWS = priced by AWS rules)',
);
console.log(
  `${'scenario'.padEnd(9)}${pad('events', 8)}${pad('batches', 9)}${pad('rec/batch', 11)}${pad('ev/write', 10)}${pad('tagger puts', 13)}${pad('w/ changes', 12)}${pad('local', 8)}${pad('AWS', 8)}${pad('history puts', 14)}${pad('local', 8)}${pad('AWS', 8)}${pad('merges', 8)}${pad('local', 8)}${pad('AWS', 8)}`,
);
for (const r of results) {
  const records = r.batches.map((b) => b.records);
  const withChanges = r.taggerWrites.filter((w) => w.items.some((i) => i.changeEntries > 0));
  console.log(
    `${r.id.padEnd(9)}${pad(count(r.events), 8)}${pad(String(r.batches.length), 9)}${pad(fixed(sum(records) / Math.max(1, records.length), 1), 11)}${pad(fixed(r.events / Math.max(1, r.taggerWrites.length)), 10)}${pad(count(r.taggerWrites.length), 13)}${pad(share(withChanges.length, r.taggerWrites.length), 12)}${pad(count(reportedOf(r.taggerWrites)), 8)}${pad(count(awsOf(r.taggerWrites)), 8)}${pad(count(r.historyWrites.length), 14)}${pad(count(reportedOf(r.historyWrites)), 8)}${pad(count(awsOf(r.historyWrites)), 8)}${pad(count(r.mergeWrites.length), 8)}${pad(count(reportedOf(r.mergeWrites)), 8)}${pad(count(awsOf(r.mergeWrites)), 8)}`,
  );
}
console.log(
  '  AWS price: a standard write 1 unit per KB of the larger of old and new item, a transactional write 2 per KB of each item, each due-index write 1 (2 when nextChangeAt moves).',
);

console.log('');
console.log('Write units per event');
console.log(
  `${'scenario'.padEnd(9)}${pad('tagger local', 14)}${pad('AWS', 7)}${pad('historian local', 17)}${pad('AWS', 7)}${pad('TOTAL local', 13)}${pad('TOTAL AWS', 11)}${pad('before (tx + JSON state), AWS', 31)}${pad('events table', 14)}`,
);
for (const r of results) {
  const engine = engineWrites(r);
  console.log(
    `${r.id.padEnd(9)}${pad(perEvent(reportedOf([...r.taggerWrites, ...r.mergeWrites]), r.events), 14)}${pad(perEvent(awsOf([...r.taggerWrites, ...r.mergeWrites]), r.events), 7)}${pad(perEvent(reportedOf(r.historyWrites), r.events), 17)}${pad(perEvent(awsOf(r.historyWrites), r.events), 7)}${pad(perEvent(reportedOf(engine), r.events), 13)}${pad(perEvent(awsOf(engine), r.events), 11)}${pad(perEvent(sum(engine.map(beforeUnits)), r.events), 31)}${pad(perEvent(reportedOf(r.eventWrites), r.events), 14)}`,
  );
}
console.log(
  '  TOTAL = (tagger profile puts + merges + historian history puts) / events. before: the same writes priced as the engine made them until now (profile + history item in one transaction when tags changed, state as JSON text). events table: ingest, as reported (the baseline of one write per event).',
);

console.log('');
console.log(
  'Item sizes (scanned after each scenario; profile writes billed on the larger of old and new item)',
);
console.log(
  `${'scenario'.padEnd(9)}${pad('profiles', 10)}${pad('state (binary) avg', 20)}${pad('max', 8)}${pad('as JSON avg', 13)}${pad('changes avg', 13)}${pad('item avg', 10)}${pad('max', 8)}${pad('writes > 1 KB', 15)}${pad('(before)', 10)}${pad('history items', 15)}${pad('avg', 8)}`,
);
for (const r of results) {
  const profiles = r.taggerWrites.flatMap((w) => w.items.filter((i) => i.kind === 'profile'));
  const billed = profiles.map((i) => Math.max(i.bytes, i.previousBytes));
  const billedBefore = profiles.map((i) => Math.max(i.jsonBytes, i.previousJsonBytes));
  const z = r.sizes;
  console.log(
    `${r.id.padEnd(9)}${pad(count(z.profiles), 10)}${pad(bytes(z.stateAverage), 20)}${pad(bytes(z.stateMax), 8)}${pad(bytes(z.jsonAverage), 13)}${pad(bytes(z.changesAverage), 13)}${pad(bytes(z.itemAverage), 10)}${pad(bytes(z.itemMax), 8)}${pad(share(billed.filter((b) => b > KB).length, billed.length), 15)}${pad(share(billedBefore.filter((b) => b > KB).length, billedBefore.length), 10)}${pad(count(z.historyItems), 15)}${pad(bytes(z.historyAverage), 8)}`,
  );
}

console.log('');
for (const r of results) {
  const records = r.batches.map((b) => b.records);
  const members = r.batches.map((b) => b.members);
  const historianRecords = r.historianBatches.map((b) => b.records);
  const withChanges = r.taggerWrites.filter((w) => w.items.some((i) => i.changeEntries > 0));
  const engine = engineWrites(r);
  const aws = awsOf(engine);
  const taggerTable = sum(r.taggerWrites.map(tableUnits));
  const taggerIndex = sum(r.taggerWrites.map(indexUnits));
  const historyUnits = awsOf(r.historyWrites);
  const mergeUnits = awsOf(r.mergeWrites);
  const puts = [...r.taggerWrites, ...r.historyWrites];
  const agree = puts.filter((w) => w.reportedUnits === awsUnits(w)).length;
  const profiles = r.taggerWrites.flatMap((w) => w.items.filter((i) => i.kind === 'profile'));
  const billed = profiles.map((i) => Math.max(i.bytes, i.previousBytes));
  const history = r.historyWrites.flatMap((w) => w.items);
  console.log(`${r.id}) ${r.title} — ${r.seconds.toFixed(0)} s end to end`);
  console.log(
    `   tagger batches   ${r.batches.length}: ${fixed(sum(records) / Math.max(1, records.length), 1)} records on average (min ${Math.min(...records)}, median ${median(records)}, max ${Math.max(...records)}), ${fixed(sum(members) / Math.max(1, members.length), 1)} members each, so ${fixed(r.events / Math.max(1, sum(members)))} events per member per batch`,
  );
  console.log(
    `   tagger writes    ${count(r.taggerWrites.length)} PutItem, ${count(withChanges.length)} carrying tag changes (${count(sum(r.batches.map((b) => b.tagChanges)))} tag changes); ${sum(r.batches.map((b) => b.conflicts))} conflicts; ${count(r.mergeWrites.length)} merges (TransactWriteItems; ${sum(r.batches.map((b) => b.merged))} logged)`,
  );
  console.log(
    `   historian        ${r.historianBatches.length} batches of ${fixed(sum(historianRecords) / Math.max(1, historianRecords.length), 1)} stream records on average; ${count(r.historyWrites.length)} history PutItem (${count(sum(r.historianBatches.map((b) => b.written)))} logged, ${sum(r.historianBatches.map((b) => b.failed))} failed) for ${count(withChanges.length + r.mergeWrites.length)} profile writes with changes`,
  );
  console.log(
    `   units, local     ${count(reportedOf(engine))} in the write responses: tagger ${count(reportedOf(r.taggerWrites))} (${count(sum(r.batches.map((b) => b.writeUnits)))} in its log lines), historian ${count(reportedOf(r.historyWrites))} (${count(sum(r.historianBatches.map((b) => b.writeUnits)))} logged), merges ${count(reportedOf(r.mergeWrites))}`,
  );
  console.log(
    `   units, AWS       ${count(aws)}: tagger table ${count(taggerTable)} (${share(taggerTable, aws)}) + due index ${count(taggerIndex)} (${share(taggerIndex, aws)}), history ${count(historyUnits)} (${share(historyUnits, aws)}), merges ${count(mergeUnits)}; DynamoDB Local reported the same for ${share(agree, puts.length)} of the puts`,
  );
  console.log(
    `   items written    profile ${fixed(sum(billed) / Math.max(1, billed.length) / KB)} KB billed on average (the larger of old and new), ${fixed(Math.max(0, ...billed) / KB)} KB max, ${share(billed.filter((b) => b > KB).length, billed.length)} over 1 KB; history ${fixed(sum(history.map((i) => i.bytes)) / Math.max(1, history.length) / KB)} KB on average, ${share(history.filter((i) => i.bytes > KB).length, history.length)} over 1 KB`,
  );
  console.log(
    `   stored at end    ${count(r.sizes.profiles)} profiles: state ${bytes(r.sizes.stateAverage)} average (binary), ${bytes(r.sizes.stateMax)} max, ${bytes(r.sizes.jsonAverage)} as JSON; ${count(r.sizes.withChanges)} still carry changes (${bytes(r.sizes.changesAverage)} average); whole item ${bytes(r.sizes.itemAverage)} average, ${bytes(r.sizes.itemMax)} max; ${count(r.sizes.historyItems)} history items of ${bytes(r.sizes.historyAverage)} on average`,
  );
  console.log(
    `   per event (AWS)  ${perEvent(aws, r.events)} now; ${perEvent(sum(engine.map(beforeUnits)), r.events)} for the same writes as a transaction with JSON state`,
  );
}
console.log('');
console.log(
  '  target      ≤ 1.2 write units per event when members have several events per batch (issue 3); baseline one write per event (the events table: 1 unit per event)',
);
const others = results.flatMap((r) => r.otherWrites).length;
console.log(
  `  failed writes ${failedWrites} (conditional checks), other writes ${others}, other log lines ${count(otherLogLines)}`,
);
