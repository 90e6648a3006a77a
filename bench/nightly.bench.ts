/**
 * Nightly analytics benchmark, after the SQL: on synthetic RFM rows (a seeded mix of light,
 * regular, big-basket and lapsed buyers), the compute part of the nightly run — features, k
 * choice, k-means with 8 restarts, persona cards and drift, the RFM summary — with its time and
 * peak memory; then the write-back against DynamoDB Local (in memory): DynamoDB Local's raw
 * PutItem rate on the same profiles, a first night (every member written), a second night where
 * a share of members changed (only those written) and a rerun of it (nothing written).
 * The lake scan and the RFM SQL are measured by the lake's own benchmark. Prints figures;
 * asserts nothing.
 *
 *   npx tsx bench/nightly.bench.ts --members 1000000 --write-members 20000 --changed 0.1
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { profilesTable } from '../infra/declarations/tables.ts';
import { localAwsClientConfig, startDynamoDbLocal } from '../infra/local/dynamodb-local.ts';
import { createTableInput } from '../infra/local/tables.ts';
import { ProfileStore } from '../shared/adapters/profile-store.ts';
import { mapBounded } from '../shared/async/map-bounded.ts';
import type { RfmRow } from '../shared/domain/analytics/contracts.ts';
import { featureMatrix } from '../shared/domain/analytics/features.ts';
import { chooseK, kmeans } from '../shared/domain/analytics/kmeans.ts';
import {
  type MemberAnalytics,
  memberResultsOf,
} from '../shared/domain/analytics/member-results.ts';
import { buildPersonas } from '../shared/domain/analytics/personas.ts';
import { seededRandom } from '../shared/domain/analytics/random.ts';
import { summariseRfm } from '../shared/domain/analytics/rfm-summary.ts';
import { rfmSegmentNames } from '../shared/domain/segments/segment-definition.ts';
import { defaultRuleCatalogue } from '../shared/domain/tags/default-catalogue.ts';
import { emptyProfile, profileToJson } from '../shared/domain/tags/profile.ts';
import { profileStoreWriteBack, writeBackShard } from '../shared/jobs/write-back.ts';

const { values } = parseArgs({
  options: {
    members: { type: 'string', default: '1000000' },
    'write-members': { type: 'string', default: '20000' },
    changed: { type: 'string', default: '0.1' },
    shards: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '16' },
  },
});
const members = Number(values.members);
const writeMembers = Number(values['write-members']);
const changedShare = Number(values.changed);
const shards = Number(values.shards);
const concurrency = Number(values.concurrency);

function syntheticRows(n: number, seed: number): RfmRow[] {
  const random = seededRandom(seed);
  const rows: RfmRow[] = new Array(n);
  for (let i = 0; i < n; i += 1) {
    const kind = random();
    const lapsed = kind < 0.25;
    const big = kind > 0.9;
    const frequency = 1 + Math.floor(-Math.log(1 - random()) * (kind > 0.6 ? 8 : 2));
    const basket = (big ? 800 : 60) * (0.5 + random());
    const monetary = Math.round(frequency * basket * 100) / 100;
    const recency = lapsed ? 180 + Math.floor(random() * 180) : Math.floor(random() * 90);
    const r = 1 + Math.floor(random() * 5);
    const f = 1 + Math.floor(random() * 5);
    const m = 1 + Math.floor(random() * 5);
    rows[i] = {
      memberId: `m${i}`,
      lastOrderDate: '2026-11-01',
      firstOrderDate: '2026-01-01',
      recencyDays: recency,
      frequency,
      monetary: monetary.toFixed(2),
      r,
      f,
      m,
      score: `${r}${f}${m}`,
      segment: rfmSegmentNames[(r + f) % rfmSegmentNames.length] as string,
      class8: '一般挽留客户',
      valueTier: big ? 'high' : kind > 0.6 ? 'mid' : 'low',
      distinctProducts: Math.max(1, Math.floor(frequency * (1 + random() * 3))),
      averageOrderValue: monetary / frequency,
      tenureDays: recency + Math.floor(random() * 300),
    };
  }
  return rows;
}

function peakMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

async function timed<T>(label: string, work: () => T | Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  console.log(`  ${label.padEnd(34)} ${((performance.now() - started) / 1000).toFixed(2)} s`);
  return result;
}

async function compute() {
  console.log(`\nCompute part: ${members.toLocaleString('en-US')} members`);
  const rows = await timed('synthetic RFM rows', () => syntheticRows(members, 7));
  const started = performance.now();
  const matrix = await timed('features (log1p, z-scores)', () => featureMatrix(rows));
  const chosen = await timed('chooseK (silhouette, 2,000 sample)', () =>
    chooseK(matrix.points, matrix.dimensions, { kMin: 3, kMax: 6, seed: 42, sampleSize: 2000 }),
  );
  const result = await timed(`kmeans k=${chosen.k}, 8 restarts`, () =>
    kmeans(matrix.points, matrix.dimensions, { k: chosen.k, restarts: 8, seed: 42 }),
  );
  const personas = await timed('persona cards and drift', () =>
    buildPersonas({
      rows,
      assignments: result.assignments,
      centroids: result.centroids,
      k: result.k,
      scaling: matrix.scaling,
      facts: () => undefined,
    }),
  );
  await timed('RFM summary', () => summariseRfm(rows));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `  total (after the SQL)              ${seconds.toFixed(2)} s, peak RSS ${peakMiB()} MiB; k=${result.k}, SSE ${result.sse.toFixed(1)}, iterations ${result.iterations}`,
  );
  console.log(
    `  cards: ${personas.cards.map((c) => `${c.id} ${c.name.en} (${c.size})`).join('; ')}`,
  );
}

async function writeBack() {
  console.log(
    `\nWrite-back: ${writeMembers.toLocaleString('en-US')} profiles, ${shards} shards, ${concurrency} writes in flight per shard`,
  );
  const dynamoLocal = await startDynamoDbLocal({});
  const dynamo = new DynamoDBClient(localAwsClientConfig(dynamoLocal.endpoint));
  const documents = DynamoDBDocumentClient.from(dynamo);
  try {
    const table = 'bench-profiles';
    await dynamo.send(new CreateTableCommand(createTableInput(profilesTable, table)));
    await waitUntilTableExists({ client: dynamo, maxWaitTime: 60 }, { TableName: table });
    const catalogue = defaultRuleCatalogue();
    const state = profileToJson(emptyProfile(catalogue, 'Asia/Shanghai'));
    const keys = Array.from({ length: writeMembers }, (_, i) => `u#m${i}`);
    // DynamoDB Local's raw rate: one PutItem per profile, the same concurrency as the write-back.
    let started = performance.now();
    await mapBounded(keys, shards * concurrency, (key) =>
      documents.send(
        new PutCommand({
          TableName: table,
          Item: {
            pk: `m#${key}`,
            sk: 'profile',
            state: JSON.stringify(state),
            tags: {},
            appliedSeq: {},
            version: 1,
          },
        }),
      ),
    );
    const rawRate = writeMembers / ((performance.now() - started) / 1000);
    console.log(`  DynamoDB Local raw PutItem          ${Math.round(rawRate)} items/s`);
    const store = new ProfileStore(documents, table);
    const deps = { ...profileStoreWriteBack(store), concurrency };
    const rows = syntheticRows(writeMembers, 11);
    const night = (runId: string, list: readonly RfmRow[]) =>
      new Map<string, MemberAnalytics>(
        list.map((row) => [
          `u#${row.memberId}`,
          memberResultsOf(row, { runId, asOf: '2026-11-25' }, 'c1', null),
        ]),
      );
    const run = async (label: string, results: Map<string, MemberAnalytics>) => {
      started = performance.now();
      const counts = await Promise.all(
        Array.from({ length: shards }, (_, shard) =>
          writeBackShard(deps, { shard, shards, results }),
        ),
      );
      const seconds = (performance.now() - started) / 1000;
      const written = counts.reduce((s, c) => s + c.written + c.cleared, 0);
      const scanned = counts.reduce((s, c) => s + c.scanned, 0);
      console.log(
        `  ${label.padEnd(34)} ${seconds.toFixed(2)} s: ${written} written of ${scanned} (${Math.round(written / seconds)} writes/s, ${Math.round(scanned / seconds)} members compared/s)`,
      );
    };
    await run('night 1 (all new)', night('n1', rows));
    const random = seededRandom(3);
    const changed = rows.map((row) =>
      random() < changedShare
        ? { ...row, segment: row.segment === 'lost' ? 'champions' : 'lost' }
        : row,
    );
    await run(`night 2 (${Math.round(changedShare * 100)} % changed)`, night('n2', changed));
    await run('night 2 again (rerun)', night('n2', changed));
  } finally {
    dynamo.destroy();
    await dynamoLocal.stop();
  }
}

console.log(
  `Node ${process.version}, ${cpus().length} cores (load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')})`,
);
await compute();
await writeBack();
