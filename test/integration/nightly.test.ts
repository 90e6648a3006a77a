/**
 * The nightly pipeline end to end, locally: events archived to a lake folder by the archiver,
 * the state machine definition run by aws-local-stepfunctions with the local task overrides
 * (compaction, DuckDB RFM, clustering, personas, write-back shards, run records), against
 * DynamoDB Local tables. The results must agree with the RFM rows the SQL wrote, the API store
 * must hold the run, and a second night over the same data must write nothing and keep every id.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeArchiverHandler } from '../../functions/archiver/archiver.ts';
import {
  analyticsTable as analyticsDeclaration,
  profilesTable as profilesDeclaration,
} from '../../infra/declarations/tables.ts';
import { runLocalNightly } from '../../infra/local/nightly.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { FolderLakeStore } from '../../shared/adapters/lake-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { emptyProfile } from '../../shared/domain/tags/profile.ts';
import { readRfmRows } from '../../shared/jobs/rfm-job.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { insertRecord, stream } from '../support/tagger-stream.ts';

const catalogue = defaultRuleCatalogue();
const zone = 'Asia/Shanghai';
// 02:30 in Shanghai on 2026-11-26: the run is as of 2026-11-25.
const NOW = Date.parse('2026-11-25T18:30:00Z');
const DAY = 86_400_000;

let clients: TestClients;
let scratch: string;

beforeAll(async () => {
  clients = testClients();
  scratch = await mkdtemp(join(tmpdir(), 'nightly-'));
});
afterAll(async () => {
  clients.destroy();
  await rm(scratch, { recursive: true, force: true });
});

async function createTable(declaration: Parameters<typeof createTableInput>[0], name: string) {
  await clients.dynamo.send(new CreateTableCommand(createTableInput(declaration, name)));
  await waitUntilTableExists(
    { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
    { TableName: name },
  );
}

/** 40 members: orders spread over a year, a few big spenders, a few lapsed, some window-less. */
function orders(): PortraitEvent[] {
  const events: PortraitEvent[] = [];
  for (let m = 0; m < 40; m += 1) {
    const count = 1 + ((m * 7) % 9);
    const lastDaysAgo = 1 + ((m * 13) % 300);
    for (let o = 0; o < count; o += 1) {
      const at = new Date(NOW - (lastDaysAgo + o * 11) * DAY).toISOString();
      events.push({
        type: 'track',
        event: 'Order Completed',
        userId: `m${m}`,
        messageId: `m${m}-o${o}`,
        timestamp: at,
        receivedAt: at,
        sourceId: 'test',
        properties: {
          orderId: `m${m}-o${o}`,
          revenue: String(m % 5 === 0 ? 2000 + m * 10 : 30 + m),
          currency: 'CNY',
          products: [
            {
              sku: `sku-${(m + o) % 6}`,
              category: m % 2 === 0 ? '美妆' : '数码',
              price: 10,
              quantity: 1,
            },
          ],
        },
      } as PortraitEvent);
    }
  }
  return events;
}

describe('nightly pipeline, locally', () => {
  it('runs the declared state machine end to end and a second night writes nothing', async () => {
    const prefix = uniquePrefix('nightly');
    const tables = { profiles: `${prefix}-profiles`, analytics: `${prefix}-analytics` };
    await createTable(profilesDeclaration, tables.profiles);
    await createTable(analyticsDeclaration, tables.analytics);
    const lakeDir = join(scratch, 'lake');
    const lake = new FolderLakeStore(lakeDir);
    const events = orders();
    const archiver = makeArchiverHandler({ lake, logger: silentLogger });
    const records = stream(events).map(insertRecord);
    for (let i = 0; i < records.length; i += 100) {
      expect((await archiver({ Records: records.slice(i, i + 100) })).batchItemFailures).toEqual(
        [],
      );
    }
    const profiles = new ProfileStore(clients.documents, tables.profiles);
    for (let m = 0; m < 40; m += 1) {
      await profiles.apply(`u#m${m}`, () => ({
        state: emptyProfile(catalogue, zone),
        tags: {
          city: m % 3 === 0 ? '上海' : '杭州',
          gender: m % 2 === 0 ? 'female' : 'male',
          ...(m % 4 === 0 ? { interest_tech: true as const } : {}),
        },
        appliedSeq: {},
        nextChangeAt: undefined,
      }));
    }
    // A member that held results from an earlier run but has no order in the window now.
    await profiles.apply('u#gone', () => ({
      state: emptyProfile(catalogue, zone),
      tags: {},
      appliedSeq: {},
      nextChangeAt: undefined,
    }));
    const gone = await profiles.get('u#gone');
    await profiles.writeAnalytics('u#gone', gone?.version ?? 0, {
      runId: 'old',
      asOf: '2025-01-01',
      lastOrderDate: '2024-12-01',
      frequency: 1,
      monetary: '5',
      r: 1,
      f: 1,
      m: 1,
      score: '111',
      segment: 'lost',
      class8: '一般挽留客户',
      valueTier: 'low',
      cluster: 'c9',
      persona: null,
    });

    const lines: string[] = [];
    const deps = {
      documents: clients.documents,
      tables,
      lakeDir,
      catalogue,
      zone,
      now: () => NOW,
      progress: (line: string) => lines.push(line),
      shards: 3,
    };
    const first = await runLocalNightly(deps, { executionName: 'night-1' });
    expect(first.status, JSON.stringify(first.output)).toBe('succeeded');
    expect(lines.some((line) => line.startsWith('✓ Rfm'))).toBe(true);
    expect(lines.filter((line) => line.startsWith('✓ WriteBackShard'))).toHaveLength(3);

    const store = new AnalyticsStore(clients.documents, tables.analytics);
    const run = await store.latestSucceeded();
    expect(run?.runId).toBe(first.runId);
    expect(run?.asOf).toBe('2026-11-25');
    const rowKeys = (await lake.list(`analytics/runs/${first.runId}/rfm/`)).filter((k) =>
      k.endsWith('.gz'),
    );
    const rows = await readRfmRows(lake, rowKeys);
    // Members with an order in the 365-day window: every one of the 40 (the last is ≤ 300 days ago).
    expect(rows).toHaveLength(40);
    expect(run?.members).toBe(40);
    expect(run?.k).toBeGreaterThanOrEqual(3);
    expect(run?.writeBack).toEqual({ scanned: 41, written: 40, cleared: 1, unchanged: 0 });

    // Every member's stored results are its RFM row's, with a cluster that has a card.
    const personas = await store.personas(first.runId as string);
    const cardIds = new Set(personas?.cards.map((card) => card.id));
    expect(personas?.cards.reduce((sum, card) => sum + card.size, 0)).toBe(40);
    for (const row of rows) {
      const stored = (await profiles.get(`u#${row.memberId}`))?.analytics;
      expect(stored?.score).toBe(row.score);
      expect(stored?.segment).toBe(row.segment);
      expect(stored?.valueTier).toBe(row.valueTier);
      expect(stored?.lastOrderDate).toBe(row.lastOrderDate);
      expect(cardIds.has(stored?.cluster as string)).toBe(true);
    }
    expect((await profiles.get('u#gone'))?.analytics).toBeUndefined();
    const summary = await store.rfm(first.runId as string);
    expect(summary?.members).toBe(40);
    expect(summary?.grid.flat().reduce((a, b) => a + b, 0)).toBe(40);

    // The next night, nothing new: nothing written, every cluster keeps its id, no one moves.
    const versions = new Map<string, number>();
    for (const row of rows)
      versions.set(row.memberId, (await profiles.get(`u#${row.memberId}`))?.version ?? 0);
    const second = await runLocalNightly(
      { ...deps, now: () => NOW + 1000 },
      { executionName: 'night-2', asOf: '2026-11-25' },
    );
    expect(second.status, JSON.stringify(second.output)).toBe('succeeded');
    const rerun = await store.latestSucceeded();
    expect(rerun?.runId).toBe(second.runId);
    expect(rerun?.writeBack?.written).toBe(0);
    expect(rerun?.writeBack?.cleared).toBe(0);
    for (const row of rows) {
      expect((await profiles.get(`u#${row.memberId}`))?.version).toBe(versions.get(row.memberId));
    }
    const drift = (await store.personas(second.runId as string))?.drift;
    expect(drift?.previousRunId).toBe(first.runId);
    expect(drift?.stayed).toBe(40);
    expect(drift?.moved).toBe(0);
  }, 120_000);

  it('records a failed run with its error when a step refuses its input', async () => {
    const prefix = uniquePrefix('nightly-fail');
    const tables = { profiles: `${prefix}-profiles`, analytics: `${prefix}-analytics` };
    await createTable(profilesDeclaration, tables.profiles);
    await createTable(analyticsDeclaration, tables.analytics);
    const result = await runLocalNightly(
      {
        documents: clients.documents,
        tables,
        lakeDir: join(scratch, 'lake-fail'),
        catalogue,
        zone,
        now: () => NOW,
      },
      { executionName: 'bad-night', asOf: '2026-02-30' },
    );
    expect(result.status).toBe('failed');
    const store = new AnalyticsStore(clients.documents, tables.analytics);
    const [recorded] = await store.recentRuns(5);
    expect(recorded?.status).toBe('failed');
    expect(recorded?.error?.name).toBe('InvalidNightlyInputError');
    expect(await store.latestSucceeded()).toBeUndefined();
  }, 60_000);
});
