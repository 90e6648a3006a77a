/**
 * The segment export through the local runtime over HTTP: the gateway streams the exporter's
 * answer (chunked, status and headers from its prelude); NDJSON and CSV hold exactly the members
 * the members API pages through; errors are JSON; a client that leaves mid-export harms nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MembershipStore } from '../../shared/adapters/membership-store.ts';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import { startTestRuntime, type TestRuntime } from '../support/runtime.ts';
import { parseCsv } from '../support/streamed-response.ts';

let t: TestRuntime;

const awkward = ['u#a,b', 'u#say "hi"', 'u#two\nlines', 'u#😀', 'u#北京', 'a#anon,"x"'];
const members = [
  ...awkward,
  ...Array.from({ length: 5_000 }, (_, i) => `u#member-${String(i).padStart(5, '0')}`),
].map((memberKey, i) => ({ memberKey, since: Date.UTC(2026, 10, 20) + i }));
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const sorted = [...members].sort((a, b) => byBytes(a.memberKey, b.memberKey));

const segment = (id: string) => ({
  id,
  labels: { 'zh-CN': '导出测试', en: 'Export test' },
  purpose: 'marketing',
  expression: { trait: 'city', op: '=', value: '北京' },
});

async function keyWith(...scopes: string[]): Promise<string> {
  const key = generateWriteKey('test');
  await new WriteKeyStore(t.documents, t.runtime.tables['write-keys']).create(key, {
    sourceId: 'test-export',
    name: 'scoped',
    scopes: scopes as never,
  });
  return `Bearer ${key}`;
}

const exportUrl = (id: string, query = '') =>
  `${t.runtime.apiUrl}/v1/segments/${id}/export${query}`;

beforeAll(async () => {
  t = await startTestRuntime({ sweepEverySeconds: 0 });
  for (const id of ['exported', 'empty_export']) {
    const created = await t.post('/v1/segments', segment(id));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }
  // A benchmark-style load: rows and counts straight into the runtime's memberships table.
  await new MembershipStore(t.documents, t.runtime.tables.memberships).bulkLoad(
    'exported',
    members,
  );
}, 180_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /v1/segments/{id}/export over HTTP', () => {
  it('streams NDJSON equal to the members the members API pages through', async () => {
    const response = await fetch(exportUrl('exported'), {
      headers: { authorization: t.authorization },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    expect(response.headers.get('content-disposition')).toBe(
      'attachment; filename="exported.ndjson"',
    );
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const lines = (await response.text())
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { userId?: string; anonymousId?: string; since: string });
    expect(
      lines.map((line) => (line.userId ? `u#${line.userId}` : `a#${line.anonymousId}`)),
    ).toEqual(sorted.map((m) => m.memberKey));
    expect(lines.map((line) => line.since)).toEqual(
      sorted.map((m) => new Date(m.since).toISOString()),
    );

    const paged: unknown[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.get(
        `/v1/segments/exported/members?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      const body = page.body as { members: unknown[]; next?: string; count: number };
      expect(body.count).toBe(members.length);
      paged.push(...body.members);
      cursor = body.next;
    } while (cursor);
    expect(lines).toEqual(paged);
  });

  it('streams CSV with quoted awkward ids, by ?format=csv or Accept: text/csv', async () => {
    for (const [query, accept] of [
      ['?format=csv', undefined],
      ['', 'text/csv'],
    ] as const) {
      const response = await fetch(exportUrl('exported', query), {
        headers: { authorization: t.authorization, ...(accept ? { accept } : {}) },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      const records = parseCsv(await response.text());
      expect(records[0]).toEqual(['member_type', 'member_id', 'since']);
      expect(records.slice(1)).toEqual(
        sorted.map((m) => [
          m.memberKey.startsWith('a#') ? 'anonymous' : 'user',
          m.memberKey.slice(2),
          new Date(m.since).toISOString(),
        ]),
      );
    }
    const empty = await fetch(exportUrl('empty_export', '?format=csv'), {
      headers: { authorization: t.authorization },
    });
    expect(await empty.text()).toBe('member_type,member_id,since\r\n');
  });

  it('answers JSON errors: 404 unknown segment, 400 bad format, 401 no key, 403 wrong scope', async () => {
    const membersOnly = await keyWith('members:read');
    const readOnly = await keyWith('segments:read');
    const cases = [
      ['nope', '', t.authorization, 404, 'segment_not_found'],
      ['exported', '?format=xlsx', t.authorization, 400, 'invalid_query_parameter'],
      ['exported', '', undefined, 401, 'missing_write_key'],
      ['exported', '', membersOnly, 403, 'insufficient_scope'],
    ] as const;
    for (const [id, query, authorization, status, code] of cases) {
      const response = await fetch(exportUrl(id, query), {
        headers: authorization ? { authorization } : {},
      });
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toMatchObject({ code });
    }
    const allowed = await fetch(exportUrl('empty_export'), {
      headers: { authorization: readOnly },
    });
    expect(allowed.status).toBe(200);
    await allowed.text();
  });

  it('survives a client that leaves mid-export, and serves the next one whole', async () => {
    const controller = new AbortController();
    const response = await fetch(exportUrl('exported'), {
      headers: { authorization: t.authorization },
      signal: controller.signal,
    });
    const reader = response.body?.getReader();
    await reader?.read();
    controller.abort();
    await reader?.cancel().catch(() => undefined);
    const again = await fetch(exportUrl('exported'), {
      headers: { authorization: t.authorization },
    });
    const text = await again.text();
    expect(text.split('\n').filter((line) => line !== '')).toHaveLength(members.length);
  });
});
