/**
 * The segment export against DynamoDB Local: NDJSON and CSV hold exactly the segment's members in
 * order, awkward ids survive CSV quoting, errors before the first byte are the API's JSON errors,
 * pages are read as the reader takes them, and a failure mid-stream cuts the response.
 */
import { PassThrough } from 'node:stream';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExportDeps, makeExportHandler } from '../../functions/exporter/exporter.ts';
import type { Scope } from '../../infra/declarations/routes.ts';
import { membershipsTable, segmentsTable } from '../../infra/declarations/tables.ts';
import { createTableInput } from '../../infra/local/tables.ts';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { SegmentStore } from '../../shared/adapters/segment-store.ts';
import type { WriteKeyRecord } from '../../shared/adapters/write-key-store.ts';
import type { SegmentDefinition } from '../../shared/domain/segments/segment-definition.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { collectingStream, parseCsv } from '../support/streamed-response.ts';

let clients: TestClients;
let memberships: MembershipStore;
let segments: SegmentStore;

const keys: Record<string, readonly Scope[]> = {
  reader: ['segments:read'],
  members: ['members:read'],
};
const lookupKey = async (raw: string): Promise<WriteKeyRecord | undefined> => {
  const scopes = keys[raw];
  return scopes
    ? { keyHash: raw, sourceId: 'test', name: raw, scopes, createdAt: '', revoked: false }
    : undefined;
};

function definition(id: string): SegmentDefinition {
  return {
    id,
    labels: { 'zh-CN': '导出', en: 'Export' },
    purpose: 'marketing',
    expression: { tag: 'high_frequency' },
  } as SegmentDefinition;
}

function deps(overrides: Partial<ExportDeps> = {}): ExportDeps {
  return {
    lookupKey,
    head: (id) => segments.head(id),
    membersPage: (id, limit, after) => memberships.page(id, limit, after),
    logger: silentLogger,
    pageSize: 97,
    ...overrides,
  };
}

function request(
  id: string,
  options: { key?: string; query?: Record<string, string>; accept?: string } = {},
): APIGatewayProxyEventV2 {
  const key = options.key ?? 'reader';
  return {
    version: '2.0',
    routeKey: 'GET /v1/segments/{id}/export',
    rawPath: `/v1/segments/${id}/export`,
    rawQueryString: '',
    headers: {
      ...(key === ''
        ? {}
        : { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` }),
      ...(options.accept ? { accept: options.accept } : {}),
    },
    ...(options.query ? { queryStringParameters: options.query } : {}),
    requestContext: { requestId: 'r1', http: { method: 'GET' } },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

const context = { awsRequestId: 'local' } as Context;

async function exportOf(event: APIGatewayProxyEventV2, d: ExportDeps = deps()) {
  const out = collectingStream();
  await makeExportHandler(d)(event, out.stream, context);
  return out.result();
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const awkward = [
  'u#a,b',
  'u#say "hi"',
  'u#two\nlines',
  'u#crlf\r\nend',
  'u#😀emoji',
  'u#北京',
  'a#anon,"x"',
  'u#=1+1',
  'u# spaced ',
];
const members = [
  ...awkward,
  ...Array.from({ length: 1_200 }, (_, i) => `u#m${String(i).padStart(5, '0')}`),
  ...Array.from({ length: 30 }, (_, i) => `a#visitor-${i}`),
].map((memberKey, i) => ({ memberKey, since: Date.UTC(2026, 10, 1) + i * 1_000 }));
const sorted = [...members].sort((a, b) => byBytes(a.memberKey, b.memberKey));

beforeAll(async () => {
  clients = testClients();
  const prefix = uniquePrefix('exporter');
  for (const [declaration, name] of [
    [membershipsTable, `${prefix}-memberships`],
    [segmentsTable, `${prefix}-segments`],
  ] as const) {
    await clients.dynamo.send(new CreateTableCommand(createTableInput(declaration, name)));
    await waitUntilTableExists(
      { client: clients.dynamo, maxWaitTime: 60, minDelay: 1, maxDelay: 2 },
      { TableName: name },
    );
  }
  memberships = new MembershipStore(clients.documents, `${prefix}-memberships`);
  segments = new SegmentStore(clients.documents, `${prefix}-segments`);
  const now = new Date('2026-11-25T00:00:00Z');
  await segments.save(undefined, definition('big'), 'active', 'test', now);
  await segments.save(undefined, definition('empty'), 'active', 'test', now);
  const gone = await segments.save(undefined, definition('gone'), 'active', 'test', now);
  await segments.save(gone, definition('gone'), 'deleted', 'test', now);
  await memberships.bulkLoad('big', members);
});
afterAll(() => clients.destroy());

describe('GET /v1/segments/{id}/export', () => {
  it('streams every member as NDJSON in member order, by default', async () => {
    const { metadata, body } = await exportOf(request('big'));
    expect(metadata.statusCode).toBe(200);
    expect(metadata.headers).toMatchObject({
      'content-type': 'application/x-ndjson',
      'content-disposition': 'attachment; filename="big.ndjson"',
    });
    expect(body.endsWith('\n')).toBe(true);
    const lines = body
      .slice(0, -1)
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    expect(lines).toEqual(
      sorted.map(({ memberKey, since }) => ({
        [memberKey.startsWith('a#') ? 'anonymousId' : 'userId']: memberKey.slice(2),
        since: new Date(since).toISOString(),
      })),
    );
    expect(Object.keys(lines[0] ?? {})).toEqual([
      lines[0]?.userId === undefined ? 'anonymousId' : 'userId',
      'since',
    ]);
  });

  it('streams CSV with a header row and RFC 4180 quoting for ?format=csv and Accept: text/csv', async () => {
    for (const event of [
      request('big', { query: { format: 'csv' } }),
      request('big', { accept: 'text/csv' }),
    ]) {
      const { metadata, body } = await exportOf(event);
      expect(metadata.statusCode).toBe(200);
      expect(metadata.headers?.['content-type']).toBe('text/csv; charset=utf-8');
      expect(metadata.headers?.['content-disposition']).toBe('attachment; filename="big.csv"');
      const records = parseCsv(body);
      expect(records[0]).toEqual(['member_type', 'member_id', 'since']);
      expect(records.slice(1)).toEqual(
        sorted.map(({ memberKey, since }) => [
          memberKey.startsWith('a#') ? 'anonymous' : 'user',
          memberKey.slice(2),
          new Date(since).toISOString(),
        ]),
      );
    }
    const { body } = await exportOf(request('big', { query: { format: 'csv' } }));
    expect(body).toContain('user,"a,b",');
    expect(body).toContain('user,"say ""hi""",');
    expect(body).toContain('user,"two\nlines",');
    expect(body).toContain('anonymous,"anon,""x""",');
    expect(body).toContain('user,😀emoji,');
  });

  it('exports an empty segment as an empty NDJSON body or a lone CSV header', async () => {
    expect((await exportOf(request('empty'))).body).toBe('');
    expect((await exportOf(request('empty', { query: { format: 'csv' } }))).body).toBe(
      'member_type,member_id,since\r\n',
    );
  });

  it('answers JSON errors before the first byte: 404, 400, 401, 403', async () => {
    const cases = [
      [request('nope'), 404, 'segment_not_found'],
      [request('gone'), 404, 'segment_not_found'],
      [request('big', { query: { format: 'xml' } }), 400, 'invalid_query_parameter'],
      [request('big', { key: '' }), 401, 'missing_write_key'],
      [request('big', { key: 'unknown' }), 401, 'invalid_write_key'],
      [request('big', { key: 'members' }), 403, 'insufficient_scope'],
    ] as const;
    for (const [event, status, code] of cases) {
      const { metadata, body } = await exportOf(event);
      expect(metadata.statusCode).toBe(status);
      expect(metadata.headers?.['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(body)).toMatchObject({ code });
    }
  });

  it('reads the next page while writing one, and no further than the reader takes', async () => {
    const asked: (string | undefined)[] = [];
    const d = deps({
      membersPage: (id, limit, after) => {
        asked.push(after);
        return memberships.page(id, limit, after);
      },
      pageSize: 10,
    });
    // A reader that takes nothing yet: with 1-byte buffers the first page cannot be handed on.
    const stream = new PassThrough({ highWaterMark: 1 });
    const done = makeExportHandler(d)(request('big'), stream, context);
    for (let waited = 0; asked.length < 2 && waited < 10_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    // 1,239 members in pages of 10 is 124 pages; the export holds at the page it is writing and
    // the one it prefetched.
    expect(asked).toHaveLength(2);
    stream.on('data', () => {});
    await done;
    expect(asked.length).toBe(Math.ceil(members.length / 10));
  });

  it('cuts the response when a page fails after the first byte', async () => {
    let calls = 0;
    const d = deps({
      membersPage: async (id, limit, after) => {
        calls += 1;
        if (calls === 3) throw new Error('DynamoDB went away');
        return memberships.page(id, limit, after);
      },
    });
    const out = collectingStream();
    const errors: unknown[] = [];
    out.stream.on('error', (error) => errors.push(error));
    await expect(makeExportHandler(d)(request('big'), out.stream, context)).rejects.toThrow(
      'DynamoDB went away',
    );
    expect(out.stream.destroyed).toBe(true);
  });
});
