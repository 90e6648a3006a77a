/**
 * Tag fold benchmark: pure `foldEvents` throughput on one core, with the default rule catalogue,
 * over events generated from UCI Online Retail invoice lines (../shared/data/online_retail.csv.gz):
 * each line becomes one event of a typical mix (single-line orders as in the ingest benchmark,
 * product views, likes, consultations, store visits, pages), plus one identify per customer.
 * Prints figures; asserts nothing.
 *
 *   npx tsx bench/tag-fold.bench.ts [--cycles 1] [--batch 100] [--repeat 5] [--data PATH]
 *
 * tsx compiles each module on its own and reaches imports through getters; a Lambda runs an
 * esbuild bundle. For the figures a deployed tagger would see, bundle first:
 *
 *   npx esbuild bench/tag-fold.bench.ts --bundle --platform=node --format=esm \
 *     --outfile=/tmp/tag-fold.bench.mjs && node /tmp/tag-fold.bench.mjs --data ../shared/data/online_retail.csv.gz
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { JsonObject, PortraitEvent } from '../events/envelope.ts';
import { defaultRuleCatalogue } from '../shared/domain/tags/default-catalogue.ts';
import { evaluateTags } from '../shared/domain/tags/evaluate.ts';
import { foldEvents, trimProfile } from '../shared/domain/tags/fold.ts';
import { emptyProfile, type ProfileState, profileToJson } from '../shared/domain/tags/profile.ts';
import { onlineRetailPath, readOnlineRetail } from './online-retail.ts';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '1' },
    batch: { type: 'string', default: '100' },
    repeat: { type: 'string', default: '5' },
    data: { type: 'string' },
  },
});
const cycles = Number(values.cycles);
const streamBatch = Number(values.batch);
const repeat = Number(values.repeat);
const zone = 'Asia/Shanghai';
const catalogue = defaultRuleCatalogue();

const categoryRules: [RegExp, string][] = [
  [/CHRISTMAS|GIFT|EASTER/, 'gifts'],
  [/MUG|CUP|PLATE|BOWL|SPOON|KITCHEN|LUNCH|BOTTLE|TEA/, 'kitchen'],
  [/CAKE|SWEET|CHOCOLATE|JAM|BISCUIT/, 'food'],
  [/CANDLE|LIGHT|HOLDER|LANTERN|FRAME|CUSHION|CLOCK/, 'home'],
  [/CARD|PAPER|NOTEBOOK|PEN|PENCIL|WRAP|STICKER/, 'stationery'],
  [/TOY|DOLL|GAME|PLAYHOUSE|SPACEBOY|CIRCUS/, 'toys'],
  [/GARDEN|PLANT|FLOWER|HERB/, 'garden'],
  [/BAG|HANDBAG|PURSE|UMBRELLA/, 'fashion'],
  [/NECKLACE|EARRINGS|BRACELET|RING|JEWEL/, 'beauty'],
  [/TRAVEL|PASSPORT|LUGGAGE/, 'travel'],
  [/RADIO|ALARM|USB|TORCH/, 'tech'],
];
const categoryCache = new Map<string, string>();
function categoryOf(description: string): string {
  let category = categoryCache.get(description);
  if (category === undefined) {
    category = categoryRules.find(([pattern]) => pattern.test(description))?.[1] ?? 'misc';
    categoryCache.set(description, category);
  }
  return category;
}

/** A small deterministic hash, to pick an event kind per line. */
function mix(n: number): number {
  let h = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function centsOf(price: string): number {
  const [whole = '0', fraction = ''] = price.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0').slice(0, 2));
}

const started = performance.now();
const lines = readOnlineRetail(values.data ?? onlineRetailPath).filter(
  (l) => l.quantity > 0 && centsOf(l.unitPrice) > 0,
);
const newest = Math.max(...lines.slice(-1000).map((l) => Date.parse(`${l.invoiceDate}Z`)));
const shiftMs = Date.now() - 86_400_000 - newest;

const byMember = new Map<string, PortraitEvent[]>();
const arrival: { member: string; event: PortraitEvent }[] = [];
let identifies = 0;
const counts: Record<string, number> = {};

function push(member: string, event: PortraitEvent): void {
  let list = byMember.get(member);
  if (!list) {
    list = [];
    byMember.set(member, list);
  }
  list.push(event);
  arrival.push({ member, event });
  const kind = event.type === 'track' ? (event.event as string) : event.type;
  counts[kind] = (counts[kind] ?? 0) + 1;
}

for (let cycle = 0; cycle < cycles; cycle += 1) {
  for (const [i, line] of lines.entries()) {
    const n = cycle * lines.length + i;
    const member = line.customerId
      ? `${line.customerId}${cycle ? `-${cycle}` : ''}`
      : `guest-${line.invoiceNo}-${cycle}`;
    const ms = Date.parse(`${line.invoiceDate}Z`) + shiftMs - cycle * 3_600_000 + (i % 60) * 1000;
    const timestamp = new Date(ms).toISOString();
    const base = {
      messageId: `bench-${n}`,
      userId: member,
      timestamp,
      receivedAt: timestamp,
      sourceId: 'bench',
    };
    if (!byMember.has(member)) {
      identifies += 1;
      const h = mix(n + 7);
      push(member, {
        ...base,
        messageId: `bench-identify-${n}`,
        type: 'identify',
        traits: {
          gender: h % 2 === 0 ? 'female' : '男',
          birthday: `${1950 + (h % 55)}-${String(1 + (h % 12)).padStart(2, '0')}-${String(1 + (h % 28)).padStart(2, '0')}`,
          city: line.country,
        },
      });
    }
    const category = categoryOf(line.description);
    const roll = mix(n) % 100;
    let event: string;
    let properties: JsonObject;
    if (roll < 40) {
      const cents = centsOf(line.unitPrice) * line.quantity;
      const revenue = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
      event = 'Order Completed';
      properties = {
        orderId: line.invoiceNo,
        revenue: roll % 2 === 0 ? revenue : Number(revenue),
        currency: 'CNY',
        store: line.country,
        ...(roll % 3 === 0 ? { coupon: `C${roll}` } : {}),
        products: [
          { sku: line.stockCode, category, price: line.unitPrice, quantity: line.quantity },
        ],
      };
    } else if (roll < 80) {
      event = 'Product Viewed';
      properties = { sku: line.stockCode, category, price: line.unitPrice };
    } else if (roll < 88) {
      event = 'Content Liked';
      properties = { category, contentId: `c-${line.stockCode}` };
    } else if (roll < 92) {
      event = 'Consultation';
      properties = { topic: roll % 2 === 0 ? 'car' : 'skincare', channel: 'wecom' };
    } else if (roll < 94) {
      event = 'Store Visited';
      properties = { store: line.country, durationSeconds: 600 };
    } else if (roll < 96) {
      event = 'Coupon Redeemed';
      properties = { coupon: `C${roll}`, campaignId: 'spring' };
    } else {
      push(member, { ...base, type: 'page', name: 'Home', properties: { path: '/home' } });
      continue;
    }
    push(member, { ...base, type: 'track', event, properties });
  }
}
arrival.sort((a, b) =>
  a.event.timestamp < b.event.timestamp ? -1 : a.event.timestamp > b.event.timestamp ? 1 : 0,
);
const totalEvents = arrival.length;
const prepareSeconds = (performance.now() - started) / 1000;

/**
 * Garbage-collection pauses, to report fold time with and without the pauses that the untimed
 * JSON parsing between folds leaves to be paid inside them.
 */
const pauses: { start: number; end: number }[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries())
    pauses.push({ start: entry.startTime, end: entry.startTime + entry.duration });
}).observe({ entryTypes: ['gc'] });

/** Timed windows of one measurement, to subtract the GC pauses inside them. */
class Stopwatch {
  private readonly windows: number[] = [];
  time<T>(work: () => T): T {
    const start = performance.now();
    const result = work();
    this.windows.push(start, performance.now());
    return result;
  }
  /** Seconds timed, and seconds of them spent in GC pauses. */
  async seconds(): Promise<{ total: number; gc: number }> {
    await new Promise((resolve) => setTimeout(resolve, 50));
    let total = 0;
    let gc = 0;
    for (let i = 0; i < this.windows.length; i += 2) {
      const start = this.windows[i] as number;
      const end = this.windows[i + 1] as number;
      total += end - start;
      for (const pause of pauses)
        gc += Math.max(0, Math.min(end, pause.end) - Math.max(start, pause.start));
    }
    return { total: total / 1000, gc: gc / 1000 };
  }
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * One fold per member over their whole history. `warm` first re-parses the member's events from
 * JSON (not timed), as a handler holds events it has just parsed from a stream batch; cold folds
 * the 500k events built at the start, mostly out of the CPU caches.
 */
async function foldWholeHistories(
  warm: boolean,
): Promise<{ seconds: Seconds; states: Map<string, ProfileState> }> {
  const states = new Map<string, ProfileState>();
  const watch = new Stopwatch();
  for (const [member, held] of byMember) {
    const events: PortraitEvent[] = warm ? JSON.parse(JSON.stringify(held)) : held;
    const state = watch.time(
      () => foldEvents(emptyProfile(catalogue, zone), events, catalogue, zone).state,
    );
    states.set(member, state);
  }
  return { seconds: await watch.seconds(), states };
}

/**
 * As the tagger will: stream batches of N records in arrival order, each freshly parsed from JSON
 * (not timed), grouped by member, one fold per member per batch (the fold copies what it changes
 * of the member's previous state).
 */
async function foldStreamBatches(): Promise<{ seconds: Seconds; folds: number }> {
  const states = new Map<string, ProfileState>();
  const groups = new Map<string, PortraitEvent[]>();
  const watch = new Stopwatch();
  let folds = 0;
  for (let start = 0; start < arrival.length; start += streamBatch) {
    groups.clear();
    const batch: typeof arrival = JSON.parse(
      JSON.stringify(arrival.slice(start, start + streamBatch)),
    );
    watch.time(() => {
      for (const { member, event } of batch) {
        let group = groups.get(member);
        if (!group) {
          group = [];
          groups.set(member, group);
        }
        group.push(event);
      }
      for (const [member, events] of groups) {
        const state = states.get(member) ?? emptyProfile(catalogue, zone);
        states.set(member, foldEvents(state, events, catalogue, zone).state);
        folds += 1;
      }
    });
  }
  return { seconds: await watch.seconds(), folds };
}

type Seconds = { total: number; gc: number };
const load = loadavg()[0] ?? 0;
const warmWhole: Seconds[] = [];
const coldWhole: Seconds[] = [];
let states = new Map<string, ProfileState>();
for (let r = 0; r < repeat + 1; r += 1) {
  const warm = await foldWholeHistories(true);
  const cold = await foldWholeHistories(false);
  if (r > 0) {
    warmWhole.push(warm.seconds);
    coldWhole.push(cold.seconds);
  }
  states = cold.states;
}
const batched: Seconds[] = [];
let batchFolds = 0;
for (let r = 0; r < Math.max(2, Math.ceil(repeat / 2)) + 1; r += 1) {
  const run = await foldStreamBatches();
  if (r > 0) batched.push(run.seconds);
  batchFolds = run.folds;
}
const now = Date.now();
const evaluations: number[] = [];
let tagged = 0;
for (let r = 0; r < 3; r += 1) {
  const t0 = performance.now();
  tagged = 0;
  for (const state of states.values()) {
    const evaluation = evaluateTags(state, catalogue, now, zone);
    tagged += Object.keys(evaluation.tags).length;
  }
  evaluations.push((performance.now() - t0) / 1000);
}
let jsonBytes = 0;
let maxJsonBytes = 0;
for (const state of states.values()) {
  const bytes = Buffer.byteLength(
    JSON.stringify(profileToJson(trimProfile(state, catalogue, now, zone))),
  );
  jsonBytes += bytes;
  maxJsonBytes = Math.max(maxJsonBytes, bytes);
}

const rate = (events: number, seconds: number) =>
  `${(events / seconds / 1e6).toFixed(2)} M events/s`;
/** Median rate, and the median rate with GC pauses inside the timed folds taken out. */
const rates = (runs: Seconds[]) =>
  `${rate(totalEvents, median(runs.map((r) => r.total)))} (${rate(totalEvents, median(runs.map((r) => r.total - r.gc)))} without GC pauses; median of ${runs.length})`;
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const runner = import.meta.url.endsWith('.ts') ? 'TypeScript source through tsx' : 'esbuild bundle';
console.log(`Tag fold benchmark — ${new Date().toISOString()} — ${runner}`);
console.log(
  `  machine       ${cpu}, ${cpus().length} vCPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; one thread; load average ${load.toFixed(2)} at start`,
);
console.log(
  `  catalogue     default: ${catalogue.aggregates.length} aggregates, ${catalogue.tags.length} tags; zone ${zone}`,
);
console.log(
  `  data          ${lines.length.toLocaleString('en')} Online Retail lines × ${cycles} → ${totalEvents.toLocaleString('en')} events for ${byMember.size.toLocaleString('en')} members (${identifies.toLocaleString('en')} identify) in ${prepareSeconds.toFixed(1)} s`,
);
console.log(
  `  mix           ${Object.entries(counts)
    .map(([k, v]) => `${k} ${((100 * v) / totalEvents).toFixed(1)}%`)
    .join(', ')}`,
);
console.log(
  `  fold, warm    ${rates(warmWhole)} — one fold per member over its whole history, events freshly parsed from JSON`,
);
console.log(
  `  fold, cold    ${rates(coldWhole)} — the same over the ${totalEvents.toLocaleString('en')} events built at the start (out of cache)`,
);
console.log(
  `  fold, batches ${rates(batched)} — ${streamBatch}-record stream batches in arrival order, ${batchFolds.toLocaleString('en')} folds (${(totalEvents / batchFolds).toFixed(2)} events per member per batch)`,
);
console.log(
  `  evaluate      ${(states.size / median(evaluations) / 1000).toFixed(1)} k profiles/s (evaluateTags with reasons and nextChangeAt; ${(tagged / states.size).toFixed(1)} tags per member)`,
);
console.log(
  `  stored state  ${(jsonBytes / states.size / 1024).toFixed(1)} KiB per profile on average, ${(maxJsonBytes / 1024).toFixed(1)} KiB largest (trimmed, JSON)`,
);
console.log('  target        ≥ 2 M events/s per core (issue 3)');
