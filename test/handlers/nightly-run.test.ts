/**
 * The nightly run's bookkeeping task against DynamoDB Local: Plan dates a run in the brand zone
 * and records it running; Record records success or failure; malformed inputs are refused with
 * `invalid_nightly_input` before anything is written.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeNightlyRunHandler, type PlannedRun } from '../../functions/nightly-run/nightly-run.ts';
import { analyticsTable } from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';

let clients: TestClients;
beforeAll(() => {
  clients = testClients();
});
afterAll(() => clients.destroy());

async function setUp() {
  const name = `${uniquePrefix('nightly-run')}-analytics`;
  await clients.dynamo.send(new CreateTableCommand(createTableInput(analyticsTable, name)));
  await waitUntilTableExists({ client: clients.dynamo, maxWaitTime: 60 }, { TableName: name });
  const store = new AnalyticsStore(clients.documents, name);
  const handler = makeNightlyRunHandler({
    saveRun: (run) => store.saveRun(run),
    now: () => Date.parse('2026-11-25T19:00:00Z'),
    zone: 'Asia/Shanghai',
    windowDays: 365,
    rfmQuery: (plan) => `-- rfm as of ${plan.asOf}`,
    logger: silentLogger,
  });
  return { store, handler };
}

describe('nightly-run task', () => {
  it('plans a run: as of the brand-zone day before the start, compacting the last complete UTC day', async () => {
    const { store, handler } = await setUp();
    // 02:30 on 26 Nov in Shanghai is 18:30 on 25 Nov in UTC.
    const plan = (await handler({
      action: 'plan',
      startTime: '2026-11-25T18:30:00.000Z',
      executionName: 'abcdef123456',
      input: {},
    })) as PlannedRun;
    expect(plan).toMatchObject({
      runId: '20261125T183000Z-abcdef12',
      asOf: '2026-11-25',
      day: '2026-11-24',
      windowDays: 365,
      rfmQuery: '-- rfm as of 2026-11-25',
    });
    expect((await store.run(plan.runId))?.status).toBe('running');
    const overridden = (await handler({
      action: 'plan',
      startTime: '2026-11-25T18:30:00.000Z',
      executionName: 'x',
      input: { asOf: '2026-06-30', windowDays: 90 },
    })) as PlannedRun;
    expect(overridden).toMatchObject({ asOf: '2026-06-30', windowDays: 90 });
  });

  it('refuses malformed inputs with invalid_nightly_input and writes nothing', async () => {
    const { store, handler } = await setUp();
    const bad = [
      { action: 'launch' },
      { action: 'plan', startTime: 'yesterday', executionName: 'x' },
      {
        action: 'plan',
        startTime: '2026-11-25T18:30:00Z',
        executionName: 'x',
        input: { asOf: '2026-02-30' },
      },
      {
        action: 'plan',
        startTime: '2026-11-25T18:30:00Z',
        executionName: 'x',
        input: { windowDays: 0 },
      },
      { action: 'record', status: 'succeeded', run: { runId: 'r' } },
      { action: 'record', status: 'done' },
      'not an object',
    ];
    for (const input of bad) {
      await expect(handler(input), JSON.stringify(input)).rejects.toMatchObject({
        code: 'invalid_nightly_input',
      });
    }
    expect(await store.recentRuns(10)).toEqual([]);
  });

  it('records a failure caught before Plan finished, planned from the execution', async () => {
    const { store, handler } = await setUp();
    await handler({
      action: 'record',
      status: 'failed',
      state: { error: { Error: 'States.Timeout', Cause: 'took too long' } },
      startTime: '2026-11-25T18:30:00.000Z',
      executionName: 'night-x',
    });
    const [run] = await store.recentRuns(1);
    expect(run).toMatchObject({
      runId: '20261125T183000Z-night-x',
      status: 'failed',
      error: { name: 'States.Timeout', cause: 'took too long' },
    });
    expect(await store.latestSucceeded()).toBeUndefined();
  });
});
