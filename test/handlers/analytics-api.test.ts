/**
 * The analytics read API against DynamoDB Local: keys and scopes checked, the latest succeeded
 * run by default or a chosen one, the RFM grid and segment table and the persona cards as the
 * nightly steps stored them, and stable error codes for no run, an unknown run and a bad id.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAnalyticsHandler } from '../../functions/analytics/analytics.ts';
import type { Scope } from '../../infra/declarations/routes.ts';
import {
  analyticsTable as analyticsDeclaration,
  writeKeysTable as writeKeysDeclaration,
} from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { AnalyticsStore } from '../../shared/adapters/analytics-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { summariseRfm } from '../../shared/domain/analytics/rfm-summary.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { rfmRow } from '../support/rfm-rows.ts';

let clients: TestClients;
beforeAll(() => {
  clients = testClients();
});
afterAll(() => clients.destroy());

const context = { awsRequestId: 'aws-req-1' } as Context;

async function setUp() {
  const prefix = uniquePrefix('analytics-api');
  const names = { keys: `${prefix}-keys`, analytics: `${prefix}-analytics` };
  for (const [declaration, name] of [
    [writeKeysDeclaration, names.keys],
    [analyticsDeclaration, names.analytics],
  ] as const) {
    await clients.dynamo.send(new CreateTableCommand(createTableInput(declaration, name)));
    await waitUntilTableExists(
      { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
      { TableName: name },
    );
  }
  const keys = new WriteKeyStore(clients.documents, names.keys);
  const store = new AnalyticsStore(clients.documents, names.analytics);
  const keyWith = async (scopes: Scope[]) => {
    const raw = generateWriteKey('dev');
    await keys.create(raw, { sourceId: 'bi', name: 'BI', scopes });
    return raw;
  };
  const handler = makeAnalyticsHandler({
    lookupKey: (raw) => keys.lookup(raw),
    latestSucceeded: () => store.latestSucceeded(),
    run: (runId) => store.run(runId),
    recentRuns: (limit) => store.recentRuns(limit),
    rfm: (runId) => store.rfm(runId),
    personas: (runId) => store.personas(runId),
    logger: silentLogger,
  });
  const call = async (path: string, key: string, query?: Record<string, string>) => {
    const answer = await handler(
      {
        version: '2.0',
        routeKey: `GET ${path}`,
        rawPath: path,
        rawQueryString: '',
        headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
        ...(query ? { queryStringParameters: query } : {}),
        requestContext: { requestId: 'req-1' },
        isBase64Encoded: false,
      } as unknown as APIGatewayProxyEventV2,
      context,
    );
    const result = typeof answer === 'string' ? { statusCode: 200, body: answer } : answer;
    return {
      status: result.statusCode,
      body: JSON.parse(String(result.body)) as Record<string, unknown>,
    };
  };
  return {
    store,
    call,
    reader: await keyWith(['segments:read']),
    writer: await keyWith(['events:write']),
  };
}

describe('GET /v1/analytics/rfm and /v1/analytics/personas', () => {
  it('answers 404 analytics_run_not_found before the first run, and refuses a key without segments:read', async () => {
    const { call, reader, writer } = await setUp();
    const none = await call('/v1/analytics/rfm', reader);
    expect(none.status).toBe(404);
    expect(none.body.code).toBe('analytics_run_not_found');
    const refused = await call('/v1/analytics/personas', writer);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('insufficient_scope');
  });

  it('serves the latest succeeded run by default and any stored run by id', async () => {
    const { store, call, reader } = await setUp();
    const older = [
      rfmRow('a', { r: 5, f: 5, segment: 'champions', monetary: '10.10' }),
      rfmRow('b', { r: 1, f: 2, segment: 'lost', monetary: '3' }),
    ];
    const newer = [...older, rfmRow('c', { r: 5, f: 5, segment: 'champions', monetary: '0.01' })];
    const run = (runId: string, asOf: string, status: 'succeeded' | 'failed' | 'running') => ({
      runId,
      asOf,
      windowDays: 365,
      status,
      startedAt: `${asOf}T18:30:00.000Z`,
    });
    await store.saveRun(run('20261124T183000Z-a', '2026-11-24', 'succeeded'));
    await store.saveRfm('20261124T183000Z-a', summariseRfm(older));
    await store.saveRun(run('20261125T183000Z-b', '2026-11-25', 'succeeded'));
    await store.saveRfm('20261125T183000Z-b', summariseRfm(newer));
    await store.savePersonas({
      runId: '20261125T183000Z-b',
      cards: [],
      drift: {
        previousRunId: '20261124T183000Z-a',
        transitions: [],
        stayed: 0,
        moved: 0,
        entered: 0,
        left: 0,
        retired: [],
      },
    });
    // A later run that failed does not replace the latest succeeded one.
    await store.saveRun(run('20261126T183000Z-c', '2026-11-26', 'failed'));

    const latest = await call('/v1/analytics/rfm', reader);
    expect(latest.status).toBe(200);
    expect((latest.body.run as { runId: string }).runId).toBe('20261125T183000Z-b');
    expect(latest.body.members).toBe(3);
    expect((latest.body.grid as number[][])[4]?.[4]).toBe(2);
    expect((latest.body.grid as number[][])[0]?.[1]).toBe(1);
    const champions = (
      latest.body.segments as { segment: string; members: number; meanMonetary: string }[]
    ).find((line) => line.segment === 'champions');
    expect(champions).toMatchObject({ members: 2, meanMonetary: '5.055' });
    expect((latest.body.recentRuns as unknown[]).length).toBe(3);

    const chosen = await call('/v1/analytics/rfm', reader, { runId: '20261124T183000Z-a' });
    expect(chosen.body.members).toBe(2);
    const personas = await call('/v1/analytics/personas', reader);
    expect(personas.status).toBe(200);
    expect((personas.body.drift as { previousRunId: string }).previousRunId).toBe(
      '20261124T183000Z-a',
    );

    const unknown = await call('/v1/analytics/personas', reader, { runId: 'nope' });
    expect(unknown.status).toBe(404);
    const bad = await call('/v1/analytics/rfm', reader, { runId: '../etc' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_query_parameter');
  });
});
