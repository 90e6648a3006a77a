import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { sqsLimits } from '../../infra/declarations/queues.ts';
import { localAwsClientConfig } from '../../infra/local/dynamodb-local.ts';
import type { RuntimeEndpoints } from '../../infra/local/runtime.ts';
import { packMessages } from '../../shared/domain/ingest/pack-messages.ts';
import { defaultCatalogueJson } from '../../shared/domain/tags/default-catalogue.ts';
import type { RuleCatalogueDefinition } from '../../shared/domain/tags/rule-catalogue.ts';
import { type ChildRuntime, exited, freePort, spawnRuntime } from '../support/child-runtime.ts';
import { basicAuth } from '../support/runtime.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'portrait-cli-'));
let port = 0;
let runtime: ChildRuntime | undefined;

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `npm run cli -- ...args --data-dir <dataDir>` as a child process. */
function cli(...args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'infra/cli.ts', ...args, '--data-dir', dataDir],
      { cwd: repoRoot, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

async function startRuntime(): Promise<void> {
  runtime = await spawnRuntime(dataDir, port);
}

async function stopRuntime(): Promise<void> {
  const child = runtime?.child;
  runtime = undefined;
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    await exited(child);
  }
}

function endpoints(): RuntimeEndpoints {
  return JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeEndpoints;
}

/** The raw key `keys create` printed: its last line. */
function keyFrom(result: CliResult): string {
  const key = result.stdout.trim().split('\n').at(-1)?.trim() ?? '';
  expect(key).toMatch(/\S{16,}/);
  return key;
}

function sourceFrom(result: CliResult): string {
  const sourceId = /for source "([^"]*)"/.exec(result.stdout)?.[1];
  expect(sourceId).toBeDefined();
  return sourceId ?? '';
}

async function track(
  key: string,
  userId: string,
  messageId: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${runtime?.apiUrl}/v1/track`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(key) },
    body: JSON.stringify({
      messageId,
      userId,
      event: 'Order Completed',
      properties: { orderId: `o-${messageId}`, revenue: 88.5, currency: 'CNY' },
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The stored event `(userId, messageId)`, waiting up to `timeoutMs` for ingest to write it. */
async function storedEvent(
  userId: string,
  messageId: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown> | undefined> {
  const { dynamoEndpoint, tables } = endpoints();
  const documents = DynamoDBDocumentClient.from(
    new DynamoDBClient(localAwsClientConfig(dynamoEndpoint)),
  );
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { Item } = await documents.send(
        new GetCommand({
          TableName: tables.events,
          Key: { pk: `u#${userId}`, sk: messageId },
          ConsistentRead: true,
        }),
      );
      if (Item || Date.now() > deadline) return Item;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    documents.destroy();
  }
}

/** Count of the events dead-letter queue as `dlq count` prints it. */
async function dlqCount(): Promise<number> {
  const result = await cli('dlq', 'count');
  expect(result.code).toBe(0);
  const count = /^(\d+) message\(s\)/m.exec(result.stdout)?.[1];
  expect(count, result.stdout).toBeDefined();
  return Number(count);
}

beforeAll(async () => {
  port = await freePort();
  await startRuntime();
});

afterAll(async () => {
  try {
    await stopRuntime();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

describe('operator CLI against the running local runtime', () => {
  it('creates a key that the runtime accepts and stamps with its source', async () => {
    const created = await cli('keys', 'create', '--name', 'POS 北京', '--scopes', 'events:write');
    expect(created.code, created.stderr).toBe(0);
    const key = keyFrom(created);
    const sourceId = sourceFrom(created);
    expect(sourceId).toBe('pos-北京');
    expect(created.stdout.split(key)).toHaveLength(2);

    const messageId = `cli-${randomUUID()}`;
    const response = await track(key, 'cli-user-1', messageId);
    expect(response).toEqual({ status: 200, body: { success: true } });
    const stored = await storedEvent('cli-user-1', messageId);
    expect(stored?.sourceId).toBe(sourceId);

    const listed = await cli('keys', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain(key);
    const line = listed.stdout.split('\n').find((row) => row.includes('POS 北京'));
    const [hashPrefix, listedSource, , scopes] = line?.split('\t') ?? [];
    expect(hashPrefix).toMatch(/^[0-9a-f]{12}$/);
    expect(listedSource).toBe(sourceId);
    expect(scopes).toBe('events:write');
  });

  it('unsuppresses an erased member: its events are refused before and accepted after', async () => {
    const writer = keyFrom(await cli('keys', 'create', '--name', 'Erase writer'));
    const created = await cli('keys', 'create', '--name', 'DPO', '--scopes', 'members:erase');
    expect(created.code, created.stderr).toBe(0);
    const eraser = keyFrom(created);
    const erased = await fetch(`${runtime?.apiUrl}/v1/members/cli-erased-1`, {
      method: 'DELETE',
      headers: { authorization: basicAuth(eraser) },
    });
    expect(erased.status).toBe(202);
    const { receipt } = (await erased.json()) as { receipt: string };
    for (let i = 0; i < 150; i += 1) {
      const read = await fetch(`${runtime?.apiUrl}/v1/erasures/${receipt}`, {
        headers: { authorization: basicAuth(eraser) },
      });
      if (((await read.json()) as { status: string }).status === 'done') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const refused = await track(writer, 'cli-erased-1', `cli-${randomUUID()}`);
    expect(refused.body.code).toBe('member_suppressed');
    const lifted = await cli('members', 'unsuppress', 'cli-erased-1');
    expect(lifted.code, lifted.stderr).toBe(0);
    expect(lifted.stdout).toContain('Lifted 1 suppression');
    expect((await track(writer, 'cli-erased-1', `cli-${randomUUID()}`)).status).toBe(200);
    const again = await cli('members', 'unsuppress', 'cli-erased-1');
    expect(again.stdout).toContain('was not suppressed');
  });

  it('creates a key without events:write that /v1/track refuses with insufficient_scope', async () => {
    const created = await cli('keys', 'create', '--name', 'Reports', '--scopes', 'segments:read');
    expect(created.code, created.stderr).toBe(0);
    const response = await track(keyFrom(created), 'cli-user-2', `cli-${randomUUID()}`);
    expect(response.status).toBe(403);
    expect(response.body.code).toBe('insufficient_scope');
  });

  it('revokes a key: listed as revoked and refused with 401', async () => {
    const created = await cli('keys', 'create', '--name', 'Old kiosk', '--source', 'kiosk-old');
    expect(created.code, created.stderr).toBe(0);
    const listed = await cli('keys', 'list');
    const hashPrefix =
      listed.stdout
        .split('\n')
        .find((row) => row.includes('kiosk-old'))
        ?.split('\t')[0] ?? '';
    const revoked = await cli('keys', 'revoke', hashPrefix);
    expect(revoked.code, revoked.stderr).toBe(0);
    const row = (await cli('keys', 'list')).stdout.split('\n').find((r) => r.includes('kiosk-old'));
    expect(row?.endsWith('revoked')).toBe(true);
    // Never used before, so no collect cache holds it: refused at once.
    const response = await track(keyFrom(created), 'cli-user-3', `cli-${randomUUID()}`);
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('invalid_write_key');
    expect((await cli('keys', 'revoke', 'abc')).code).toBe(2);
  });

  it('creates a key with its own rate limit: listed, and answered 429 past its burst', async () => {
    const created = await cli(
      'keys',
      'create',
      '--name',
      'Slow POS',
      '--rate',
      '1',
      '--burst',
      '1',
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('rate 1/s burst 1');
    const row = (await cli('keys', 'list')).stdout.split('\n').find((r) => r.includes('Slow POS'));
    expect(row?.split('\t')[4]).toBe('rate 1/s burst 1');
    const key = keyFrom(created);
    expect((await track(key, 'cli-user-4', `cli-${randomUUID()}`)).status).toBe(200);
    const refused = await track(key, 'cli-user-4', `cli-${randomUUID()}`);
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');

    expect((await cli('keys', 'create', '--name', 'Default POS')).code).toBe(0);
    const defaulted = (await cli('keys', 'list')).stdout
      .split('\n')
      .find((r) => r.includes('Default POS'));
    expect(defaulted?.split('\t')[4]).toBe('rate default');
    for (const bad of [
      ['--rate', '0'],
      ['--rate', '1.5'],
      ['--burst', '3'],
    ]) {
      const result = await cli('keys', 'create', '--name', 'Bad', ...bad);
      expect(result.code, bad.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
    }
  });

  it('refuses an unknown scope with exit code 2, naming the known scopes', async () => {
    const result = await cli('keys', 'create', '--name', 'POS', '--scopes', 'events:write,god');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('god');
    expect(result.stderr).toContain('events:write, members:read');
    expect(result.stdout).toBe('');
  });

  it('refuses an unknown command with exit code 2 and the usage', async () => {
    const result = await cli('keys', 'rotate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Unknown command "keys rotate"');
    expect(result.stderr).toContain('Usage: npm run cli');
  });

  it('says the dead-letter queue is empty when there is nothing to redrive', async () => {
    const result = await cli('dlq', 'redrive');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('empty');
  });

  it('redrives a dead letter back to the events queue, where ingest stores its events', async () => {
    const { sqsEndpoint, queueUrls } = endpoints();
    const now = new Date().toISOString();
    const events: PortraitEvent[] = ['a', 'b'].map((suffix) => ({
      messageId: `dlq-${randomUUID()}-${suffix}`,
      type: 'track',
      userId: 'cli-dlq-user',
      event: 'Order Completed',
      properties: { orderId: `o-${suffix}`, revenue: 12, currency: 'CNY' },
      timestamp: now,
      receivedAt: now,
      sourceId: 'pos-dlq',
    }));
    const [body] = packMessages(events, sqsLimits).flat();
    const sqs = new SQSClient({ ...localAwsClientConfig(sqsEndpoint), endpoint: sqsEndpoint });
    try {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrls['events-dlq'], MessageBody: body }),
      );
    } finally {
      sqs.destroy();
    }
    expect(await dlqCount()).toBe(1);

    const redriven = await cli('dlq', 'redrive');
    expect(redriven.code, redriven.stderr).toBe(0);
    expect(redriven.stdout).toContain('Redriving 1 message(s)');

    for (const event of events) {
      const stored = await storedEvent('cli-dlq-user', event.messageId);
      expect(stored?.sourceId).toBe('pos-dlq');
    }
    expect(await dlqCount()).toBe(0);
  });
});

/** The default rule catalogue plus an aggregate stored profiles never kept, and a tag on it. */
function catalogueWithNewAggregate(): string {
  const base = defaultCatalogueJson as RuleCatalogueDefinition;
  const file = join(dataDir, 'catalogue-next.json');
  writeFileSync(
    file,
    JSON.stringify({
      ...base,
      aggregates: [
        ...base.aggregates,
        { id: 'views_all', kind: 'count', events: ['Product Viewed'], window: 'all' },
      ],
      tags: [
        ...base.tags,
        {
          id: 'keen_viewer',
          labels: { 'zh-CN': '爱逛', en: 'Keen viewer' },
          dimension: 'behaviour',
          type: 'dynamic',
          condition: { aggregate: 'views_all', op: '>=', value: 3 },
        },
      ],
    }),
  );
  return file;
}

describe('tags reevaluate', () => {
  it('rebuilds a member from stored events for a catalogue that gained an aggregate', async () => {
    const key = readFileSync(join(dataDir, 'dev-write-key'), 'utf8').trim();
    const userId = `cli-tags-${randomUUID()}`;
    const now = new Date().toISOString();
    const batch = [1, 2, 3].map((n) => ({
      type: 'track',
      userId,
      event: 'Product Viewed',
      messageId: `${userId}-${n}`,
      timestamp: now,
      properties: { category: 'tech' },
    }));
    const posted = await fetch(`${runtime?.apiUrl}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basicAuth(key) },
      body: JSON.stringify({ batch }),
    });
    expect(posted.status).toBe(200);
    const deadline = Date.now() + 30_000;
    let events = 0;
    while (events < 3 && Date.now() < deadline) {
      const read = await fetch(`${runtime?.apiUrl}/v1/members/${userId}`, {
        headers: { authorization: basicAuth(key) },
      });
      if (read.status === 200)
        events = ((await read.json()) as { eventsFolded: number }).eventsFolded;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(events).toBe(3);

    const result = await cli(
      'tags',
      'reevaluate',
      '--catalogue',
      catalogueWithNewAggregate(),
      '--member',
      userId,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('1 rebuilt from stored events');
    expect(result.stderr).toContain('1/1 members');

    const { dynamoEndpoint, tables } = endpoints();
    const documents = DynamoDBDocumentClient.from(
      new DynamoDBClient(localAwsClientConfig(dynamoEndpoint)),
    );
    try {
      const { Item } = await documents.send(
        new GetCommand({
          TableName: tables.profiles,
          Key: { pk: `m#u#${userId}`, sk: 'profile' },
          ConsistentRead: true,
        }),
      );
      expect(Item?.tags).toMatchObject({ keen_viewer: true });
    } finally {
      documents.destroy();
    }
  });

  it('refuses a malformed catalogue with exit code 1, naming the rule and the field', async () => {
    const file = join(dataDir, 'catalogue-bad.json');
    const base = defaultCatalogueJson as RuleCatalogueDefinition;
    writeFileSync(
      file,
      JSON.stringify({
        ...base,
        tags: [...base.tags, { ...base.tags[0], id: 'broken', dimension: 'mood' }],
      }),
    );
    const result = await cli('tags', 'reevaluate', '--catalogue', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/rule "broken", \/tags\/\d+\/dimension/);
  });
});

describe('operator CLI with the runtime stopped', () => {
  it('refuses to start the runtime with a malformed rule catalogue, naming the rule and the field', async () => {
    await stopRuntime();
    const file = join(dataDir, 'catalogue-bad-start.json');
    const base = defaultCatalogueJson as RuleCatalogueDefinition;
    writeFileSync(
      file,
      JSON.stringify({
        ...base,
        aggregates: [...base.aggregates, { id: 'nope', kind: 'median', window: 'all' }],
      }),
    );
    const started = Date.now();
    const result = await new Promise<CliResult>((done) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'infra/local/main.ts', '--data-dir', dataDir, '--port', '0'],
        {
          cwd: repoRoot,
          timeout: 60_000,
          env: { ...process.env, PORTRAIT_TAG_CATALOGUE: file },
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          done({ code, stdout, stderr });
        },
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/rule "nope", \/aggregates\/\d+\/kind/);
    expect(result.stdout).not.toContain('ready');
    // Before DynamoDB Local was started: nothing to wait for.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('refuses dlq commands with exit code 2, telling to start the runtime', async () => {
    await stopRuntime();
    const result = await cli('dlq', 'count');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('npm start');
  });

  it('creates a key in the data folder that works once the runtime is back', async () => {
    await stopRuntime();
    const created = await cli('keys', 'create', '--name', 'Kiosk', '--source', 'kiosk-7');
    expect(created.code, created.stderr).toBe(0);
    const key = keyFrom(created);

    await startRuntime();
    const messageId = `cli-${randomUUID()}`;
    const response = await track(key, 'cli-user-3', messageId);
    expect(response).toEqual({ status: 200, body: { success: true } });
    expect((await storedEvent('cli-user-3', messageId))?.sourceId).toBe('kiosk-7');
  });
});
