/**
 * Logs carry no personal data, raw keys or secrets (docs/PRIVACY.md, "Logs"): everything written
 * to stdout, stderr and the runtime's log while events with personal fields go collect → ingest →
 * tagger through the local runtime (valid, invalid and malformed ones, and requests with a wrong
 * key), and while the member is read, is searched for every personal value sent, the write keys
 * and their Authorization headers. Values are random per run so a leak cannot pass by chance.
 *
 * The member read routes show personal traits only to a key with `members:read:pii`: the same
 * member read with the dev key (`members:read` only) has them omitted from `traits` and masked
 * in segment reasons (docs/API.md, "Personal fields").
 *
 * Personal fields are stored protected: a scan of every table and every lake file finds none of
 * the values in clear, and the `members:read:pii` read still answers them (decrypted).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { runtimeEnvNames } from '../../shared/config/runtime.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import { PERSONAL_MASK } from '../../shared/domain/privacy/personal-fields.ts';
import { basicAuth, startTestRuntime, type TestRuntime } from '../support/runtime.ts';

const captured: string[] = [];
const originalStdout = process.stdout.write.bind(process.stdout);
const originalStderr = process.stderr.write.bind(process.stderr);
const previousLevel = process.env[runtimeEnvNames.logLevel];

function capture(original: typeof process.stdout.write): typeof process.stdout.write {
  return ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    // biome-ignore lint/suspicious/noExplicitAny: forwards write's overloads unchanged
    return (original as any)(chunk, ...rest);
  }) as typeof process.stdout.write;
}

const token = () => randomBytes(6).toString('hex');
const run = token();
const digits = String(Date.now() % 1e8).padStart(8, '0');
const personal = {
  email: `m.${run}@example.org`,
  phone: `+86139${digits}`,
  name: `Liu ${run}`,
  firstName: `Fen${run}`,
  lastName: `Zhao${run}`,
  address: { street: `${run} Nanjing Road`, city: 'Shanghai' },
};
const invalidEmail = `not-an-email-${token()}`;
const longName = `Wang${token()}`.padEnd(400, 'x');
const malformedName = `Broken${token()}`;
const customEmail = `c.${token()}@example.net`;
const customPhone = `13${digits}7`.slice(0, 11);
const notePhone = `+4420${digits}`;
const wrongKey = `pk_test_${randomBytes(24).toString('base64url')}`;
const userId = `pii-${run}`;

let t: TestRuntime;
let piiKey: string;

beforeAll(async () => {
  process.env[runtimeEnvNames.logLevel] = 'debug';
  process.stdout.write = capture(originalStdout);
  process.stderr.write = capture(originalStderr);
  t = await startTestRuntime({
    sweepEverySeconds: 0,
    backfillEverySeconds: 0,
    log: (line) => captured.push(line),
  });
  piiKey = generateWriteKey('test');
  await new WriteKeyStore(t.documents, t.runtime.tables['write-keys']).create(piiKey, {
    sourceId: 'test-pii',
    name: 'pii reader',
    scopes: ['members:read', 'members:read:pii'],
  });
  const segment = await t.post('/v1/segments', {
    id: `contactable_${run}`,
    labels: { 'zh-CN': '可联系', en: 'Contactable' },
    purpose: 'marketing',
    expression: {
      all: [
        { trait: 'email', op: 'exists' },
        { trait: 'city', op: '=', value: 'Shanghai' },
      ],
    },
  });
  expect(segment.status, JSON.stringify(segment.body)).toBe(201);
}, 120_000);

afterAll(async () => {
  await t?.close();
  process.stdout.write = originalStdout;
  process.stderr.write = originalStderr;
  if (previousLevel === undefined) delete process.env[runtimeEnvNames.logLevel];
  else process.env[runtimeEnvNames.logLevel] = previousLevel;
});

describe('logs during ingest and reads', () => {
  it('hold no personal value, raw key or Authorization header', async () => {
    const at = new Date().toISOString();
    const identify = await t.post('/v1/identify', {
      userId,
      messageId: `${run}-identify`,
      timestamp: at,
      traits: { ...personal, city: 'Shanghai' },
    });
    expect(identify.status, JSON.stringify(identify.body)).toBe(200);

    const batch = await t.post('/v1/batch', {
      batch: [
        {
          type: 'track',
          userId,
          event: 'Order Completed',
          messageId: `${run}-order`,
          timestamp: at,
          properties: { orderId: `o-${run}`, revenue: 12, currency: 'CNY', email: customEmail },
        },
        {
          type: 'track',
          userId,
          event: 'pii_probe',
          messageId: `${run}-custom`,
          timestamp: at,
          properties: { contact: { phone: customPhone, note: `call ${notePhone}` } },
        },
        // Invalid: the catalogue rejects these, and rejections must not echo the values.
        {
          type: 'identify',
          userId,
          messageId: `${run}-bad-email`,
          timestamp: at,
          traits: { email: invalidEmail },
        },
        {
          type: 'identify',
          userId,
          messageId: `${run}-long-name`,
          timestamp: at,
          traits: { name: longName },
        },
      ],
    });
    expect(batch.status, JSON.stringify(batch.body)).toBe(207);

    const malformed = await t.post(
      '/v1/identify',
      `{"userId":"${userId}","traits":{"name":"${malformedName}"`,
    );
    expect(malformed.status).toBe(400);
    const refused = await t.post(
      '/v1/identify',
      { userId, traits: personal },
      { authorization: basicAuth(wrongKey) },
    );
    expect(refused.status).toBe(401);
    const bearer = await t.get(`/v1/members/${userId}`, { authorization: `Bearer ${wrongKey}` });
    expect(bearer.status).toBe(401);

    await t.runtime.idle();

    const member = await t.get(`/v1/members/${encodeURIComponent(userId)}`);
    expect(member.status, JSON.stringify(member.body)).toBe(200);
    expect((await t.get(`/v1/members/${userId}/tags/history`)).status).toBe(200);
    expect((await t.get(`/v1/members/${userId}/segments`)).status).toBe(200);
    expect((await t.get(`/v1/members/unknown-${run}`)).status).toBe(404);

    const text = captured.join('\n');
    // The capture works: the handlers' own lines are in it.
    for (const message of ['"message":"collect"', '"message":"ingest"', '"message":"tagger"']) {
      expect(text).toContain(message);
    }
    expect(text).toContain('"message":"member read');
    const forbidden = [
      personal.email,
      personal.phone,
      personal.phone.slice(1),
      personal.name,
      personal.firstName,
      personal.lastName,
      personal.address.street,
      invalidEmail,
      longName.slice(0, 16),
      malformedName,
      customEmail,
      customPhone,
      notePhone,
      t.runtime.devWriteKey,
      piiKey,
      t.authorization.slice('Basic '.length),
      wrongKey,
      basicAuth(wrongKey).slice('Basic '.length),
    ];
    for (const value of forbidden) expect(text, value).not.toContain(value);
  }, 120_000);
});

interface MemberBody {
  readonly traits: Record<string, unknown>;
}
interface SegmentsBody {
  readonly segments: { id: string; why: { operand: string; actual: unknown }[] }[];
}

describe('personal fields on the member read routes', () => {
  it('returns personal traits and the values segments read only to members:read:pii', async () => {
    const full = await t.get(`/v1/members/${userId}`, { authorization: basicAuth(piiKey) });
    expect(full.status).toBe(200);
    expect((full.body as MemberBody).traits).toMatchObject({ ...personal, city: 'Shanghai' });

    const plain = await t.get(`/v1/members/${userId}`);
    expect(plain.status).toBe(200);
    const traits = (plain.body as MemberBody).traits;
    expect(traits.city).toBe('Shanghai');
    for (const field of Object.keys(personal)) expect(traits).not.toHaveProperty(field);
    const plainText = JSON.stringify(plain.body);
    for (const value of [personal.email, personal.phone, personal.name, personal.address.street]) {
      expect(plainText).not.toContain(value);
    }

    const segmentId = `contactable_${run}`;
    const fullSegments = await t.get(`/v1/members/${userId}/segments`, {
      authorization: basicAuth(piiKey),
    });
    const fullWhy = (fullSegments.body as SegmentsBody).segments.find((s) => s.id === segmentId);
    expect(fullWhy?.why).toContainEqual(
      expect.objectContaining({ operand: 'trait:email', actual: personal.email }),
    );
    const plainSegments = await t.get(`/v1/members/${userId}/segments`);
    const plainWhy = (plainSegments.body as SegmentsBody).segments.find((s) => s.id === segmentId);
    expect(plainWhy?.why).toContainEqual(
      expect.objectContaining({ operand: 'trait:email', actual: PERSONAL_MASK }),
    );
    expect(plainWhy?.why).toContainEqual(
      expect.objectContaining({ operand: 'trait:city', actual: 'Shanghai' }),
    );
    expect(JSON.stringify(plainSegments.body)).not.toContain(personal.email);
  }, 60_000);
});

/** Every item of every table of the runtime, as text (compressed attributes inflated). */
async function tablesText(): Promise<string> {
  const parts: string[] = [];
  for (const tableName of Object.values(t.runtime.tables)) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await t.documents.send(
        new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }),
      );
      for (const item of page.Items ?? []) {
        parts.push(
          JSON.stringify(item, (_, value) => {
            if (value instanceof Uint8Array) {
              try {
                return inflateRawSync(value).toString('utf8');
              } catch {
                return Buffer.from(value).toString('utf8');
              }
            }
            return value instanceof Set ? [...value] : value;
          }),
        );
      }
      start = page.LastEvaluatedKey;
    } while (start);
  }
  return parts.join('\n');
}

/** Every lake file, gunzipped. */
function lakeText(): string {
  const root = process.env[runtimeEnvNames.lakeDir] ?? '';
  const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) =>
    entry.isFile(),
  );
  return files
    .map((entry) => {
      const raw = readFileSync(join(entry.parentPath, entry.name));
      return entry.name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    })
    .join('\n');
}

describe('personal fields at rest', () => {
  it('are in no table and no lake file in clear, and pii reads decrypt them', async () => {
    const tables = await tablesText();
    const lake = lakeText();
    // The scans see the member and its events.
    expect(tables).toContain(userId);
    expect(lake).toContain(userId);
    expect(tables).toContain('enc:v1:');
    for (const value of [
      personal.email,
      personal.phone,
      personal.name,
      personal.firstName,
      personal.lastName,
      personal.address.street,
      customEmail,
      customPhone,
    ]) {
      expect(tables, value).not.toContain(value);
      expect(lake, value).not.toContain(value);
    }
    const full = await t.get(`/v1/members/${userId}`, { authorization: basicAuth(piiKey) });
    expect((full.body as MemberBody).traits).toMatchObject(personal);
  }, 60_000);
});
