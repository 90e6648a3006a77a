import { rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetQueueAttributesCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ErasureStore } from '../shared/adapters/erasure-store.ts';
import { EventStore } from '../shared/adapters/event-store.ts';
import { FolderLakeStore } from '../shared/adapters/lake-store.ts';
import { MembershipStore } from '../shared/adapters/membership-store.ts';
import { ProfileStore } from '../shared/adapters/profile-store.ts';
import { SegmentStore } from '../shared/adapters/segment-store.ts';
import { type WriteKeyRecord, WriteKeyStore } from '../shared/adapters/write-key-store.ts';
import { consentCategories } from '../shared/config/consent.ts';
import { environmentConfig } from '../shared/config/environments.ts';
import { NIGHTLY_RUN_RETENTION_DAYS } from '../shared/config/nightly.ts';
import { runtimeEnvNames } from '../shared/config/runtime.ts';
import { configuredRuleCatalogue } from '../shared/config/tag-catalogue.ts';
import { checkRateLimit, type RateLimit } from '../shared/domain/keys/rate-limit.ts';
import { generateWriteKey } from '../shared/domain/keys/write-key.ts';
import { candidateKeysOf } from '../shared/domain/privacy/erasure.ts';
import { backfillSegments } from '../shared/jobs/backfill-segments.ts';
import { expireLakePartitions } from '../shared/jobs/expire-lake.ts';
import { redriveWebhooks } from '../shared/jobs/redrive-webhooks.ts';
import { reevaluateProfiles } from '../shared/jobs/reevaluate-profiles.ts';
import { activeSegmentSet } from '../shared/jobs/segment-set.ts';
import { createLogger } from '../shared/logging/logger.ts';
import type { Scope } from './declarations/routes.ts';
import { localAwsClientConfig, startDynamoDbLocal } from './local/dynamodb-local.ts';
import { LOCAL_TABLE_PREFIX, runningRuntime } from './local/runtime.ts';
import { ensureTables } from './local/tables.ts';

const usage = `Usage: npm run cli -- <command> [options]

Commands
  keys create --name NAME [--source ID] [--scopes events:write,...]   create a key (shown once)
              [--rate N [--burst M]]                                  its own limit: N requests/s, bursts of M
                                                                      (default 2N); else its scope's default
  keys list                                                           list keys (hashes only) and their limits
  keys revoke HASH_PREFIX                                             revoke a key (prefix from keys list)
  dlq count [--queue events]                                          messages in the dead-letter queue
  dlq redrive [--queue events]                                        move dead letters back to the queue
  tags reevaluate [--rebuild needed|all] [--member ID]                re-evaluate every member's tags under the
                                                                      current rule catalogue; rebuild from stored
                                                                      events the members missing a new aggregate
                                                                      (needed, the default) or all of them
  segments backfill                                                   evaluate every member against the current
                                                                      segment definitions (after a create, edit or
                                                                      delete), with a progress bar
  webhooks count                                                      deliveries in the webhook dead-letter queue
  webhooks redrive [--segment ID] [--max N]                           move dead-lettered webhook deliveries back to
                                                                      the webhook queue (all, or one segment's)
  members unsuppress ID                                               accept events of an erased member again
                                                                      (ID as userId and as anonymousId)
  lake expire [--retention-days N]                                    delete the local lake's events/dt= partitions (and nightly runs after 30 days)
                                                                      older than the environment's eventRetentionDays
                                                                      (on AWS the bucket's lifecycle rule does it)

Target (default: the local runtime's data folder)
  --data-dir DIR          local data folder (default .portrait)
  --aws                   use AWS with the default credential chain, and:
  --keys-table NAME       write keys table (stack output WriteKeysTableName)
  --queue-url URL         events queue URL (stack output EventsQueueUrl)
  --dlq-url URL           events dead-letter queue URL (stack output EventsDeadLetterQueueUrl)
  --profiles-table NAME   profiles table (stack output ProfilesTableName)
  --events-table NAME     events table (stack output EventsTableName)
  --segments-table NAME   segments table (stack output SegmentsTableName)
  --memberships-table NAME  memberships table (stack output MembershipsTableName)
  --webhook-queue-url URL   webhook queue URL (stack output WebhookQueueUrl)
  --webhook-dlq-url URL     webhook dead-letter queue URL (stack output WebhookDeadLetterQueueUrl)
  --erasures-table NAME   erasures table (stack output ErasuresTableName)
  --env NAME              environment whose brand time zone applies (default local)
  --catalogue FILE        rule catalogue (default PORTRAIT_TAG_CATALOGUE, else tags/catalogue.json)
`;

const knownScopes: readonly Scope[] = [
  'events:write',
  'members:read',
  'members:read:pii',
  'segments:read',
  'segments:write',
  'members:erase',
];

class CliError extends Error {}

interface Target {
  documents: DynamoDBDocumentClient;
  keysTable: string;
  profilesTable?: string;
  eventsTable?: string;
  segmentsTable?: string;
  membershipsTable?: string;
  erasuresTable?: string;
  sqs?: SQSClient;
  queueUrl?: string;
  dlqUrl?: string;
  webhookQueueUrl?: string;
  webhookDlqUrl?: string;
  close(): Promise<void>;
}

async function localTarget(dataDir: string, needQueue: boolean): Promise<Target> {
  const running = runningRuntime(dataDir);
  if (running) {
    const config = localAwsClientConfig(running.dynamoEndpoint);
    const dynamo = new DynamoDBClient(config);
    return {
      documents: DynamoDBDocumentClient.from(dynamo),
      keysTable: running.tables['write-keys'] ?? `${LOCAL_TABLE_PREFIX}-write-keys`,
      profilesTable: running.tables.profiles ?? `${LOCAL_TABLE_PREFIX}-profiles`,
      eventsTable: running.tables.events ?? `${LOCAL_TABLE_PREFIX}-events`,
      segmentsTable: running.tables.segments ?? `${LOCAL_TABLE_PREFIX}-segments`,
      membershipsTable: running.tables.memberships ?? `${LOCAL_TABLE_PREFIX}-memberships`,
      erasuresTable: running.tables.erasures ?? `${LOCAL_TABLE_PREFIX}-erasures`,
      sqs: new SQSClient({ ...config, endpoint: running.sqsEndpoint }),
      queueUrl: running.queueUrls.events,
      dlqUrl: running.queueUrls['events-dlq'],
      webhookQueueUrl: running.queueUrls.webhooks,
      webhookDlqUrl: running.queueUrls['webhooks-dlq'],
      close: async () => {},
    };
  }
  if (needQueue) {
    throw new CliError(
      `The local runtime is not running on ${dataDir}; start it with "npm start" first.`,
    );
  }
  // Keys live in DynamoDB Local's files: open them directly when the runtime is stopped.
  const dynamoLocal = await startDynamoDbLocal({ dbPath: join(dataDir, 'dynamodb') });
  const dynamo = new DynamoDBClient(localAwsClientConfig(dynamoLocal.endpoint));
  const tables = await ensureTables(dynamo, LOCAL_TABLE_PREFIX);
  return {
    documents: DynamoDBDocumentClient.from(dynamo),
    keysTable: tables['write-keys'],
    profilesTable: tables.profiles,
    eventsTable: tables.events,
    segmentsTable: tables.segments,
    membershipsTable: tables.memberships,
    erasuresTable: tables.erasures,
    close: () => dynamoLocal.stop(),
  };
}

function awsTarget(values: Record<string, string | boolean | undefined>): Target {
  const dynamo = new DynamoDBClient({});
  const keysTable = values['keys-table'];
  const profilesTable = values['profiles-table'];
  if (
    typeof keysTable !== 'string' &&
    typeof profilesTable !== 'string' &&
    typeof values['webhook-dlq-url'] !== 'string' &&
    typeof values['erasures-table'] !== 'string'
  ) {
    throw new CliError(
      '--aws needs --keys-table NAME (keys) or --profiles-table NAME (tags, segments)',
    );
  }
  return {
    documents: DynamoDBDocumentClient.from(dynamo, {
      marshallOptions: { removeUndefinedValues: true },
    }),
    keysTable: typeof keysTable === 'string' ? keysTable : '',
    profilesTable: typeof profilesTable === 'string' ? profilesTable : undefined,
    eventsTable: typeof values['events-table'] === 'string' ? values['events-table'] : undefined,
    segmentsTable:
      typeof values['segments-table'] === 'string' ? values['segments-table'] : undefined,
    membershipsTable:
      typeof values['memberships-table'] === 'string' ? values['memberships-table'] : undefined,
    erasuresTable:
      typeof values['erasures-table'] === 'string' ? values['erasures-table'] : undefined,
    sqs: new SQSClient({}),
    queueUrl: typeof values['queue-url'] === 'string' ? values['queue-url'] : undefined,
    dlqUrl: typeof values['dlq-url'] === 'string' ? values['dlq-url'] : undefined,
    webhookQueueUrl:
      typeof values['webhook-queue-url'] === 'string' ? values['webhook-queue-url'] : undefined,
    webhookDlqUrl:
      typeof values['webhook-dlq-url'] === 'string' ? values['webhook-dlq-url'] : undefined,
    close: async () => {},
  };
}

/**
 * A source id from a display name: letters and digits of any script, lower-cased, joined by
 * single hyphens ("POS 北京" → "pos-北京"), so names in Chinese do not all collapse to "-".
 */
function sourceIdFromName(name: string): string {
  const sourceId = name
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  if (!sourceId) throw new CliError(`Cannot derive a source id from "${name}"; pass --source ID`);
  return sourceId;
}

/** `--rate N [--burst M]` as a limit (burst defaults to 2N), or undefined without `--rate`. */
function rateLimitOption(
  rate: string | undefined,
  burst: string | undefined,
): RateLimit | undefined {
  if (rate === undefined) {
    if (burst !== undefined) throw new CliError('--burst needs --rate');
    return undefined;
  }
  const perSecond = Number(rate);
  const limit = { perSecond, burst: burst === undefined ? perSecond * 2 : Number(burst) };
  try {
    return checkRateLimit(limit);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
}

function describeLimit(limit: RateLimit | undefined): string {
  return limit ? `rate ${limit.perSecond}/s burst ${limit.burst}` : 'rate default';
}

function arnOfLocalQueue(url: string): string {
  const [, account, name] = new URL(url).pathname.split('/');
  return `arn:aws:sqs:us-east-1:${account}:${name}`;
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const result = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return result.Attributes?.QueueArn ?? arnOfLocalQueue(url);
}

async function reevaluateCommand(
  target: Target,
  values: Record<string, string | boolean | undefined>,
): Promise<void> {
  if (!target.profilesTable || !target.eventsTable) {
    throw new CliError('tags reevaluate needs --profiles-table and --events-table with --aws');
  }
  const mode = values.rebuild;
  if (mode !== 'needed' && mode !== 'all') {
    throw new CliError(`--rebuild is "needed" or "all", not "${String(mode)}"`);
  }
  // Throws UnknownEnvironmentError (naming the known ones) for a wrong name.
  const config = environmentConfig(String(values.env ?? 'local'));
  const catalogueFile =
    typeof values.catalogue === 'string'
      ? values.catalogue
      : process.env[runtimeEnvNames.tagCatalogueFile] || undefined;
  const catalogue = configuredRuleCatalogue(catalogueFile);
  const profiles = new ProfileStore(target.documents, target.profilesTable);
  const events = new EventStore(target.documents, target.eventsTable, config.eventRetentionDays);
  const member = typeof values.member === 'string' ? values.member : undefined;
  let memberKeys: string[] | undefined;
  if (member !== undefined) {
    const found = (
      await Promise.all([`u#${member}`, `a#${member}`].map((key) => profiles.resolve(key)))
    ).find((resolved) => resolved.profile);
    if (!found) throw new CliError(`No member has the id "${member}".`);
    memberKeys = [found.memberKey];
  }
  const total = memberKeys?.length ?? (await profiles.countMembers());
  const bar = progressBar(total, 'members');
  const summary = await reevaluateProfiles(
    {
      scanMembers: memberKeys
        ? async (segment) => ({ memberKeys: segment === 0 ? memberKeys : [], next: undefined })
        : (segment, segments, start) => profiles.scanMembers(segment, segments, start),
      getProfile: (key) => profiles.get(key),
      applyProfile: (key, update) => profiles.apply(key, update),
      eventsOf: (key) => events.eventsOf(key),
      catalogue,
      zone: config.brandTimeZone,
      consentCategories,
      now: Date.now,
      onProgress: (progress) =>
        bar.update(progress.done, `${progress.rebuilt} rebuilt, ${progress.changed} changed`),
    },
    mode,
  );
  bar.finish();
  console.log(
    `Re-evaluated ${summary.done} member(s): ${summary.changed} with changed tags, ${summary.rebuilt} rebuilt from stored events, ${summary.failed} failed.`,
  );
  if (summary.unreadable > 0) {
    console.log(`${summary.unreadable} stored event(s) could not be read and were skipped.`);
  }
  for (const failure of summary.failures.slice(0, 20)) {
    console.log(`  failed ${failure.memberKey}: ${failure.error}`);
  }
  if (summary.failed > 0) process.exitCode = 1;
}

async function backfillCommand(
  target: Target,
  values: Record<string, string | boolean | undefined>,
): Promise<void> {
  if (!target.profilesTable || !target.segmentsTable || !target.membershipsTable) {
    throw new CliError(
      'segments backfill needs --profiles-table, --segments-table and --memberships-table with --aws',
    );
  }
  const config = environmentConfig(String(values.env ?? 'local'));
  const catalogueFile =
    typeof values.catalogue === 'string'
      ? values.catalogue
      : process.env[runtimeEnvNames.tagCatalogueFile] || undefined;
  const catalogue = configuredRuleCatalogue(catalogueFile);
  const profiles = new ProfileStore(target.documents, target.profilesTable);
  const segments = new SegmentStore(target.documents, target.segmentsTable);
  const memberships = new MembershipStore(target.documents, target.membershipsTable);
  const logger = createLogger({ service: 'cli', level: 'warn' });
  const bar = progressBar(await profiles.countMembers(), 'members');
  const summary = await backfillSegments({
    scanMembers: (segment, total, start) => profiles.scanMembers(segment, total, start),
    resolveProfile: (key) => profiles.resolve(key),
    segmentSet: async () =>
      activeSegmentSet(await segments.heads(), catalogue, logger, config.consentDefaults),
    member: (key) => memberships.member(key),
    transition: (move) => memberships.transition(move),
    saveMember: (previous, next) => memberships.saveMember(previous, next),
    catalogue,
    zone: config.brandTimeZone,
    consentDefaults: config.consentDefaults,
    now: Date.now,
    onProgress: (p) => bar.update(p.done, `${p.entered} entered, ${p.exited} left`),
  });
  bar.finish();
  console.log(
    `Evaluated ${summary.done} member(s) against the current segments: ${summary.entered} enter(s), ${summary.exited} exit(s), ${summary.failed} failed.`,
  );
  for (const failure of summary.failures.slice(0, 20)) {
    console.log(`  failed ${failure.memberKey}: ${failure.error}`);
  }
  if (summary.failed > 0) process.exitCode = 1;
}

async function webhooksCommand(
  target: Target,
  command: 'count' | 'redrive',
  values: Record<string, string | boolean | undefined>,
): Promise<void> {
  if (!target.sqs || !target.webhookDlqUrl || !target.webhookQueueUrl) {
    throw new CliError(
      'webhooks commands need --webhook-queue-url and --webhook-dlq-url with --aws',
    );
  }
  if (command === 'count') {
    const attributes = await target.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: target.webhookDlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    const count = Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0);
    console.log(`${count} delivery(ies) in the webhook dead-letter queue`);
    return;
  }
  let max: number | undefined;
  if (typeof values.max === 'string') {
    max = Number(values.max);
    if (!Number.isInteger(max) || max < 1) {
      throw new CliError(`--max is a positive whole number, not "${values.max}"`);
    }
  }
  const segment = typeof values.segment === 'string' ? values.segment : undefined;
  const summary = await redriveWebhooks({
    sqs: target.sqs,
    deadLetterQueueUrl: target.webhookDlqUrl,
    queueUrl: target.webhookQueueUrl,
    segment,
    max,
  });
  console.log(
    `Redrove ${summary.moved} webhook delivery(ies) to the webhook queue` +
      `${segment === undefined ? '' : ` (segment "${segment}")`}; ` +
      `${summary.skipped} of other segments and ${summary.unreadable} unreadable left in the dead-letter queue.`,
  );
}

/**
 * A progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise (CI logs).
 */
function progressBar(total: number, unit: string) {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let lastDecile = -1;
  let lastDraw = 0;
  const line = (done: number, note: string) => {
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const filled = Math.round(share * width);
    const elapsed = (Date.now() - started) / 1000;
    const eta =
      done > 0 && share < 1 ? ` ETA ${Math.ceil((elapsed / done) * (total - done))} s` : '';
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${unit} ${note}${eta}`;
  };
  return {
    update(done: number, note: string) {
      const decile = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (tty) {
        if (Date.now() - lastDraw < 100 && done < total) return;
        lastDraw = Date.now();
        process.stderr.write(`\r${line(done, note)}`);
      } else if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${line(done, note)}\n`);
      }
    },
    finish() {
      if (tty) process.stderr.write('\n');
    },
  };
}

/** `lake expire`: the local lake's retention (docs/PRIVACY.md, "Retention"). */
async function lakeExpireCommand(values: {
  aws: boolean;
  'data-dir': string;
  env: string;
  'retention-days'?: string | undefined;
}): Promise<void> {
  if (values.aws) {
    throw new CliError(
      "lake expire is for the local lake; on AWS the bucket's lifecycle rule expires events/",
    );
  }
  const raw = values['retention-days'];
  const retentionDays =
    raw === undefined ? environmentConfig(values.env).eventRetentionDays : Number(raw);
  if (!Number.isInteger(retentionDays) || retentionDays < 1) {
    throw new CliError(`--retention-days must be a positive integer, got "${raw}"`);
  }
  const root = join(resolve(values['data-dir']), 'lake');
  const result = await expireLakePartitions({
    lake: new FolderLakeStore(root),
    retentionDays,
    now: Date.now(),
  });
  for (const day of result.daysDeleted) {
    // Only empty folders go: a file written there meanwhile keeps its folder.
    await rmdir(join(root, 'events', `dt=${day}`)).catch(() => {});
  }
  for (const runId of result.runsDeleted) {
    const folder = join(root, 'analytics', 'runs', runId);
    await rmdir(join(folder, 'rfm')).catch(() => {});
    await rmdir(folder).catch(() => {});
  }
  console.log(
    `Deleted ${result.filesDeleted} file(s) in ${result.daysDeleted.length} partition(s) ` +
      `before ${result.keptFrom} (retention ${retentionDays} days)` +
      (result.runsDeleted.length > 0
        ? `, and the files of ${result.runsDeleted.length} nightly run(s) older than ${NIGHTLY_RUN_RETENTION_DAYS} days.`
        : '.'),
  );
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string', default: process.env.PORTRAIT_DATA_DIR ?? '.portrait' },
      aws: { type: 'boolean', default: false },
      'keys-table': { type: 'string' },
      'queue-url': { type: 'string' },
      'dlq-url': { type: 'string' },
      name: { type: 'string' },
      source: { type: 'string' },
      scopes: { type: 'string', default: 'events:write' },
      queue: { type: 'string', default: 'events' },
      'profiles-table': { type: 'string' },
      'events-table': { type: 'string' },
      'segments-table': { type: 'string' },
      'memberships-table': { type: 'string' },
      'erasures-table': { type: 'string' },
      env: { type: 'string', default: 'local' },
      catalogue: { type: 'string' },
      rebuild: { type: 'string', default: 'needed' },
      member: { type: 'string' },
      segment: { type: 'string' },
      max: { type: 'string' },
      'webhook-queue-url': { type: 'string' },
      'webhook-dlq-url': { type: 'string' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      'retention-days': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [group, command, argument] = positionals;
  if (values.help || !group) {
    console.log(usage);
    return;
  }
  if (group === 'lake' && command === 'expire') {
    await lakeExpireCommand(values);
    return;
  }
  const needQueue = group === 'dlq' || group === 'webhooks';
  const target = values.aws
    ? awsTarget(values)
    : await localTarget(resolve(values['data-dir']), needQueue);
  try {
    if (group === 'keys' && command === 'create') {
      if (!values.name) throw new CliError('keys create needs --name NAME');
      const scopes = values.scopes.split(',').map((scope) => scope.trim()) as Scope[];
      const unknown = scopes.filter((scope) => !knownScopes.includes(scope));
      if (unknown.length > 0) {
        throw new CliError(
          `Unknown scope(s): ${unknown.join(', ')}. Known: ${knownScopes.join(', ')}`,
        );
      }
      const sourceId = values.source ?? sourceIdFromName(values.name);
      const rateLimit = rateLimitOption(values.rate, values.burst);
      const rawKey = generateWriteKey(values.aws ? 'live' : 'dev');
      await new WriteKeyStore(target.documents, target.keysTable).create(rawKey, {
        sourceId,
        name: values.name,
        scopes,
        ...(rateLimit ? { rateLimit } : {}),
      });
      console.log(
        `Created key for source "${sourceId}" with scopes ${scopes.join(', ')}, ${describeLimit(rateLimit)}.`,
      );
      console.log('Store it now; it is not shown again (only its hash is kept):');
      console.log(rawKey);
      return;
    }
    if (group === 'keys' && command === 'list') {
      const records = await new WriteKeyStore(target.documents, target.keysTable).list();
      for (const record of records) {
        console.log(
          [
            record.keyHash.slice(0, 12),
            record.sourceId,
            record.name,
            record.scopes.join(','),
            describeLimit(record.rateLimit),
            record.createdAt,
            record.revoked ? 'revoked' : 'active',
          ].join('\t'),
        );
      }
      return;
    }
    if (group === 'keys' && command === 'revoke') {
      if (!argument || argument.length < 8) {
        throw new CliError(
          'keys revoke needs the key hash prefix shown by "keys list" (at least 8 characters)',
        );
      }
      const store = new WriteKeyStore(target.documents, target.keysTable);
      const matches = (await store.list()).filter((record) => record.keyHash.startsWith(argument));
      if (matches.length !== 1) {
        throw new CliError(
          `${matches.length} keys match "${argument}"; give a longer prefix from "keys list".`,
        );
      }
      const [record] = matches as [WriteKeyRecord];
      await store.revoke(record.keyHash);
      console.log(
        `Revoked key ${record.keyHash.slice(0, 12)} of source "${record.sourceId}"; collect stops accepting it within 60 s.`,
      );
      return;
    }
    if (group === 'members' && command === 'unsuppress') {
      if (!argument) throw new CliError('members unsuppress needs the member id');
      if (!target.erasuresTable) {
        throw new CliError('members unsuppress needs --erasures-table NAME with --aws');
      }
      const lifted = await new ErasureStore(target.documents, target.erasuresTable).unsuppress(
        candidateKeysOf(argument),
      );
      console.log(
        lifted > 0
          ? `Lifted ${lifted} suppression(s): events naming this id are accepted again.`
          : 'This id was not suppressed; nothing changed.',
      );
      return;
    }
    if (group === 'dlq' && (command === 'count' || command === 'redrive')) {
      if (!target.sqs || !target.dlqUrl)
        throw new CliError('dlq commands need --dlq-url (and --queue-url) with --aws');
      if (values.queue !== 'events')
        throw new CliError(`Unknown queue "${values.queue}". Known: events`);
      const attributes = await target.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: target.dlqUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      const count = Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0);
      if (command === 'count') {
        console.log(`${count} message(s) in the ${values.queue} dead-letter queue`);
        return;
      }
      if (count === 0) {
        console.log('The dead-letter queue is empty; nothing to redrive.');
        return;
      }
      const sourceArn = await queueArn(target.sqs, target.dlqUrl);
      const destinationArn = target.queueUrl
        ? await queueArn(target.sqs, target.queueUrl)
        : undefined;
      const task = await target.sqs.send(
        new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }),
      );
      console.log(
        `Redriving ${count} message(s) back to the ${values.queue} queue (task ${task.TaskHandle ?? 'started'}).`,
      );
      return;
    }
    if (group === 'webhooks' && (command === 'count' || command === 'redrive')) {
      await webhooksCommand(target, command, values);
      return;
    }
    if (group === 'segments' && command === 'backfill') {
      await backfillCommand(target, values);
      return;
    }
    if (group === 'tags' && command === 'reevaluate') {
      await reevaluateCommand(target, values);
      return;
    }
    throw new CliError(`Unknown command "${positionals.join(' ')}".\n\n${usage}`);
  } finally {
    await target.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CliError) {
    console.error(`portrait: ${error.message}`);
    process.exit(2);
  }
  console.error(`portrait: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
