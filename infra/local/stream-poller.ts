/**
 * Emulates Lambda's DynamoDB event source mapping against DynamoDB Local's Streams API: records of
 * a shard are delivered in order, in Lambda-shaped batches, with retries, bisection, partial batch
 * responses and an on-failure destination, and a checkpoint per shard so a restart resumes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  ResourceNotFoundException,
  type Shard,
  type ShardIteratorType,
  type AttributeValue as StreamsAttributeValue,
  type _Record as StreamsRecord,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  AttributeValue as LambdaAttributeValue,
} from 'aws-lambda';

/** Where a consumer got to in each shard: the sequence number of the last record it finished. */
export interface CheckpointStore {
  get(shardId: string): Promise<string | undefined>;
  set(shardId: string, sequenceNumber: string): Promise<void>;
}

/** Records a batch could not deliver after its retries, as Lambda's on-failure destination gets them. */
export interface StreamBatchFailure {
  readonly records: DynamoDBRecord[];
  readonly reason: string;
  /** Invocations tried for these records. */
  readonly attempts: number;
}

/** A Lambda DynamoDB stream handler: resolves to a partial batch response, or to nothing. */
export type StreamBatchHandler = (
  event: DynamoDBStreamEvent,
) => Promise<DynamoDBBatchResponse | undefined> | Promise<void>;

export interface StreamPollerOptions {
  readonly streamsClient: DynamoDBStreamsClient;
  /** Resolves the table's current stream ARN (`DescribeTable`). */
  readonly dynamoClient: DynamoDBClient;
  readonly tableName: string;
  readonly handler: StreamBatchHandler;
  /** Most records per invocation (Lambda: 1–10,000). */
  readonly batchSize: number;
  /** How long to gather records for a fuller batch before invoking. 0 invokes at once. */
  readonly maxBatchingWindowSeconds: number;
  /**
   * Retries of a failing batch before its records go to `onFailure`. A negative value (Lambda's
   * `-1`) retries until success, as Lambda does until the records expire.
   */
  readonly retryAttempts: number;
  /** Split a failing batch in two before retrying, which isolates a poison record. */
  readonly bisectBatchOnError: boolean;
  /** Honour `{ batchItemFailures }` responses; otherwise a returned value means success. */
  readonly reportBatchItemFailures: boolean;
  /** On-failure destination. Retried until it succeeds (or the poller stops): records are never dropped silently. */
  readonly onFailure: (failure: StreamBatchFailure) => Promise<void>;
  /** Where to start in a shard that has no checkpoint. */
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** @default an in-memory store (a restart starts again from `startingPosition`) */
  readonly checkpoint?: CheckpointStore;
  /** Pause between polls when a shard has nothing new. @default 250 (Lambda polls 4 times a second) */
  readonly pollIntervalMs?: number;
  /** First retry delay of a failing batch, doubled per retry up to 5 s. @default 100 */
  readonly retryBaseDelayMs?: number;
  /** `awsRegion` of delivered records. @default the region in the stream record ('ddblocal' locally) */
  readonly awsRegion?: string;
  readonly log?: (line: string) => void;
}

/** `drained()` was pending when the poller stopped. */
export class StreamPollerStoppedError extends Error {
  readonly code = 'STREAM_POLLER_STOPPED';
  override readonly name = 'StreamPollerStoppedError';
}

/** A checkpoint file exists but cannot be read as one. */
export class CheckpointFileError extends Error {
  readonly code = 'CHECKPOINT_FILE_INVALID';
  override readonly name = 'CheckpointFileError';
}

const GET_RECORDS_MAX = 1000;
const MAX_RETRY_DELAY_MS = 5_000;
const ERROR_BACKOFF_MS = 1_000;

/** Keeps checkpoints in memory only. */
export class InMemoryCheckpointStore implements CheckpointStore {
  private readonly entries = new Map<string, string>();

  async get(shardId: string): Promise<string | undefined> {
    return this.entries.get(shardId);
  }

  async set(shardId: string, sequenceNumber: string): Promise<void> {
    this.entries.set(shardId, sequenceNumber);
  }
}

/**
 * Keeps checkpoints in a JSON file (`{ "shards": { shardId: sequenceNumber } }`), rewritten
 * atomically (temporary file, then rename) so a crash never leaves a torn file behind.
 */
export class FileCheckpointStore implements CheckpointStore {
  private entries: Map<string, string> | undefined;
  private loading: Promise<Map<string, string>> | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  async get(shardId: string): Promise<string | undefined> {
    return (await this.load()).get(shardId);
  }

  async set(shardId: string, sequenceNumber: string): Promise<void> {
    const entries = await this.load();
    entries.set(shardId, sequenceNumber);
    const snapshot = JSON.stringify({ shards: Object.fromEntries(entries) }, null, 2);
    // Writes are chained so an older snapshot can never be renamed over a newer one.
    const write = this.writes.then(() => this.writeAtomically(snapshot));
    this.writes = write.catch(() => undefined);
    await write;
  }

  private load(): Promise<Map<string, string>> {
    if (this.entries) return Promise.resolve(this.entries);
    this.loading ??= this.read().then((entries) => {
      this.entries = entries;
      return entries;
    });
    return this.loading;
  }

  private async read(): Promise<Map<string, string>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new CheckpointFileError(
        `Checkpoint file ${this.path} is not valid JSON (${String(error)}); fix or delete it ` +
          '(deleting it replays the stream from its starting position).',
      );
    }
    const shards = (parsed as { shards?: unknown } | null)?.shards;
    if (typeof shards !== 'object' || shards === null) {
      throw new CheckpointFileError(`Checkpoint file ${this.path} has no "shards" object.`);
    }
    const entries = new Map<string, string>();
    for (const [shardId, sequenceNumber] of Object.entries(shards)) {
      if (typeof sequenceNumber === 'string') entries.set(shardId, sequenceNumber);
    }
    return entries;
  }

  private async writeAtomically(text: string): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, text, 'utf8');
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}

/** Converts a Streams API record to the shape Lambda passes to a handler. */
export function toLambdaRecord(
  record: StreamsRecord,
  eventSourceARN: string,
  awsRegion?: string,
): DynamoDBRecord {
  const stream = record.dynamodb ?? {};
  const created = stream.ApproximateCreationDateTime;
  const lambdaRecord: DynamoDBRecord = {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: awsRegion ?? record.awsRegion,
    dynamodb: omitUndefined({
      // Lambda passes epoch seconds; the SDK parses the same number into a Date.
      ApproximateCreationDateTime: created === undefined ? undefined : created.getTime() / 1000,
      Keys: stream.Keys && toLambdaItem(stream.Keys),
      NewImage: stream.NewImage && toLambdaItem(stream.NewImage),
      OldImage: stream.OldImage && toLambdaItem(stream.OldImage),
      SequenceNumber: stream.SequenceNumber,
      SizeBytes: stream.SizeBytes,
      StreamViewType: stream.StreamViewType,
    }),
    eventSourceARN,
  };
  if (record.userIdentity) {
    // TTL deletes carry { type: 'Service', principalId: 'dynamodb.amazonaws.com' }.
    lambdaRecord.userIdentity = {
      type: record.userIdentity.Type,
      principalId: record.userIdentity.PrincipalId,
    };
  }
  return lambdaRecord;
}

function toLambdaItem(
  item: Record<string, StreamsAttributeValue>,
): Record<string, LambdaAttributeValue> {
  const result: Record<string, LambdaAttributeValue> = {};
  for (const [name, value] of Object.entries(item)) result[name] = toLambdaValue(value);
  return result;
}

/** Lambda's JSON carries binary as base64 strings where the SDK has Uint8Arrays. */
function toLambdaValue(value: StreamsAttributeValue): LambdaAttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.SS !== undefined) return { SS: [...value.SS] };
  if (value.NS !== undefined) return { NS: [...value.NS] };
  if (value.BS !== undefined) {
    return { BS: value.BS.map((bytes) => Buffer.from(bytes).toString('base64')) };
  }
  if (value.L !== undefined) return { L: value.L.map(toLambdaValue) };
  if (value.M !== undefined) return { M: toLambdaItem(value.M) };
  throw new Error(`Unsupported attribute value in stream record: ${JSON.stringify(value)}`);
}

function omitUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Sequence numbers are decimal strings of varying length; compare them as numbers. */
export function compareSequenceNumbers(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

interface ShardState {
  readonly shardId: string;
  readonly parentShardId: string | undefined;
  /** Where to start when this shard has no checkpoint (LATEST only for shards open at start). */
  readonly initialPosition: 'TRIM_HORIZON' | 'LATEST';
  iterator: string | undefined;
  /** No iterator left: the shard is closed and every record has been read. */
  ended: boolean;
  /** Ended and every read record has been delivered or sent to onFailure. */
  finished: boolean;
  /** Records read but not delivered yet. */
  buffer: DynamoDBRecord[];
  /** When the oldest buffered record was read, for the batching window. */
  bufferSince: number;
  /** Last sequence number read into the buffer (or delivered). */
  lastRead: string | undefined;
}

interface ShardRound {
  /** Read nothing and has nothing buffered. */
  readonly idle: boolean;
  /** Holding a partial batch until the batching window closes, at this time. */
  readonly waitUntil?: number;
}

interface DrainWaiter {
  readonly registeredInRound: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type InvokeOutcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'error'; readonly reason: string }
  | { readonly kind: 'partial'; readonly failedIndex: number; readonly reason: string };

/**
 * Polls one table's stream and invokes a handler as Lambda's event source mapping would.
 * Shards are polled concurrently; a shard's records are delivered in order, one batch at a time,
 * and a child shard starts only once its parent is finished.
 */
export class StreamPoller {
  private readonly options: StreamPollerOptions;
  private readonly checkpoint: CheckpointStore;
  private readonly shards = new Map<string, ShardState>();
  private readonly drainWaiters: DrainWaiter[] = [];
  private streamArn: string | undefined;
  private firstDiscovery = true;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private stopSignal = new AbortController();
  private drainSignal = new AbortController();
  private rounds = 0;
  private lastProblem: string | undefined;

  constructor(options: StreamPollerOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    this.options = options;
    this.checkpoint = options.checkpoint ?? new InMemoryCheckpointStore();
  }

  /** Starts polling in the background; a second call does nothing. */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.stopSignal = new AbortController();
    this.loop = this.run();
  }

  /** Stops polling; resolves once the in-flight batch (if any) has finished. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    const loop = this.loop;
    this.loop = undefined;
    await loop;
    // Forget read-but-unacknowledged records: a restart reads again from the checkpoints.
    this.shards.clear();
    this.streamArn = undefined;
    this.firstDiscovery = true;
    for (const waiter of this.drainWaiters.splice(0)) {
      waiter.reject(new StreamPollerStoppedError('The stream poller stopped before it drained.'));
    }
  }

  /**
   * Resolves once every record in the stream when this was called has been delivered (or sent to
   * `onFailure`): after a full poll, begun after the call, found nothing new and nothing pending.
   */
  drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.drainWaiters.push({ registeredInRound: this.rounds, resolve, reject });
      this.drainSignal.abort();
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.rounds += 1;
      const round = this.rounds;
      let delayMs = this.options.pollIntervalMs ?? 250;
      try {
        const shards = await this.discoverShards();
        // allSettled, not all: a shard must never be polled by two rounds at once.
        const settled = await Promise.allSettled(shards.map((shard) => this.pollShard(shard)));
        const results: ShardRound[] = [];
        for (const outcome of settled) {
          if (outcome.status === 'rejected') throw outcome.reason;
          results.push(outcome.value);
        }
        const idle = results.every((result) => result.idle);
        if (idle) {
          this.settleDrainWaiters(round);
          // A drained() that arrived during this round needs one more round, at once.
          if (this.drainWaiters.length > 0) delayMs = 0;
        } else if (results.some((result) => !result.idle && result.waitUntil === undefined)) {
          delayMs = 0;
        } else {
          const nextWindowEnd = Math.min(...results.map((r) => r.waitUntil ?? Infinity));
          delayMs = Math.max(0, Math.min(delayMs, nextWindowEnd - Date.now()));
        }
        this.lastProblem = undefined;
      } catch (error) {
        this.report(`stream poller for ${this.options.tableName}: ${describeError(error)}`);
        delayMs = ERROR_BACKOFF_MS;
      }
      if (delayMs > 0 && !this.stopping) await this.sleep(delayMs, { wakeOnDrain: true });
    }
  }

  private settleDrainWaiters(round: number): void {
    for (let i = this.drainWaiters.length - 1; i >= 0; i--) {
      const waiter = this.drainWaiters[i];
      if (waiter && waiter.registeredInRound < round) {
        this.drainWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** Shards ready to poll: known, not finished, and whose parent (if still listed) is finished. */
  private async discoverShards(): Promise<ShardState[]> {
    const { Table: table } = await this.options.dynamoClient.send(
      new DescribeTableCommand({ TableName: this.options.tableName }),
    );
    const streamArn = table?.LatestStreamArn;
    if (!streamArn) throw new Error(`table ${this.options.tableName} has no stream`);
    if (streamArn !== this.streamArn) {
      // A re-enabled stream is a new stream with new shards.
      this.streamArn = streamArn;
      this.shards.clear();
      this.firstDiscovery = true;
    }

    const listed: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription: description } = await this.options.streamsClient.send(
        new DescribeStreamCommand({
          StreamArn: streamArn,
          ExclusiveStartShardId: exclusiveStartShardId,
        }),
      );
      listed.push(...(description?.Shards ?? []));
      exclusiveStartShardId = description?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);

    const latestAtStart = this.firstDiscovery && this.options.startingPosition === 'LATEST';
    for (const shard of listed) {
      if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const state: ShardState = {
        shardId: shard.ShardId,
        parentShardId: shard.ParentShardId,
        // LATEST applies to the stream's tip when the mapping starts; shards born later are new
        // data and are read from their beginning, as Lambda does.
        initialPosition: latestAtStart ? 'LATEST' : 'TRIM_HORIZON',
        iterator: undefined,
        ended: false,
        finished: false,
        buffer: [],
        bufferSince: 0,
        lastRead: undefined,
      };
      if (latestAtStart && closed && (await this.checkpoint.get(shard.ShardId)) === undefined) {
        state.ended = true;
        state.finished = true;
      }
      this.shards.set(shard.ShardId, state);
    }
    this.firstDiscovery = false;

    const listedIds = new Set(listed.map((shard) => shard.ShardId));
    for (const shardId of this.shards.keys()) {
      // Trimmed shards (older than the stream's retention) disappear from the listing.
      if (!listedIds.has(shardId)) this.shards.delete(shardId);
    }
    return [...this.shards.values()].filter((shard) => {
      if (shard.finished) return false;
      const parent = shard.parentShardId ? this.shards.get(shard.parentShardId) : undefined;
      return parent === undefined || parent.finished;
    });
  }

  /** Reads and delivers a shard's available records, batch by batch, in order. */
  private async pollShard(shard: ShardState): Promise<ShardRound> {
    let readAny = false;
    for (;;) {
      if (this.stopping) return { idle: false };
      const read = await this.fill(shard);
      readAny ||= read > 0;
      if (shard.buffer.length === 0) {
        if (shard.ended) {
          shard.finished = true;
          // A finished parent lets its children start: poll again at once.
          return { idle: false };
        }
        return { idle: !readAny };
      }
      const windowMs = this.options.maxBatchingWindowSeconds * 1000;
      const windowEnd = shard.bufferSince + windowMs;
      if (
        shard.buffer.length < this.options.batchSize &&
        !shard.ended &&
        windowMs > 0 &&
        Date.now() < windowEnd
      ) {
        return { idle: false, waitUntil: windowEnd };
      }
      const batch = shard.buffer.splice(0, this.options.batchSize);
      shard.bufferSince = Date.now();
      // Stopped mid-retry: what was not acknowledged is read again after a restart.
      if (!(await this.deliver(shard, batch))) return { idle: false };
    }
  }

  /** Reads records into the shard's buffer until a batch is full or nothing new arrives. */
  private async fill(shard: ShardState): Promise<number> {
    let read = 0;
    while (!shard.ended && shard.buffer.length < this.options.batchSize && !this.stopping) {
      shard.iterator ??= await this.acquireIterator(shard);
      if (shard.iterator === undefined) {
        shard.ended = true;
        break;
      }
      let response: GetRecordsCommandOutput;
      try {
        response = await this.getRecords(shard.iterator);
      } catch (error) {
        if (error instanceof ExpiredIteratorException) {
          // Iterators expire (15 minutes on AWS); continue right after the last record read.
          shard.iterator = undefined;
          continue;
        }
        if (error instanceof TrimmedDataAccessException) {
          this.report(
            `stream poller for ${this.options.tableName}: records of shard ${shard.shardId} ` +
              'expired before they were read; continuing from the oldest record still available',
          );
          shard.iterator = await this.iteratorOfType(shard, 'TRIM_HORIZON');
          shard.lastRead = undefined;
          continue;
        }
        throw error;
      }
      const records = response.Records ?? [];
      if (records.length > 0 && shard.buffer.length === 0) shard.bufferSince = Date.now();
      for (const record of records) {
        const lambdaRecord = toLambdaRecord(record, this.streamArn ?? '', this.options.awsRegion);
        shard.buffer.push(lambdaRecord);
        shard.lastRead = lambdaRecord.dynamodb?.SequenceNumber ?? shard.lastRead;
      }
      read += records.length;
      shard.iterator = response.NextShardIterator;
      if (shard.iterator === undefined) shard.ended = true;
      if (records.length === 0) break;
    }
    return read;
  }

  private getRecords(iterator: string): Promise<GetRecordsCommandOutput> {
    return this.options.streamsClient.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: GET_RECORDS_MAX }),
    );
  }

  /** Right after the last record read, else after the checkpoint, else the starting position. */
  private async acquireIterator(shard: ShardState): Promise<string | undefined> {
    const after = shard.lastRead ?? (await this.checkpoint.get(shard.shardId));
    if (after !== undefined) {
      return this.iteratorOfType(shard, 'AFTER_SEQUENCE_NUMBER', after);
    }
    return this.iteratorOfType(shard, shard.initialPosition);
  }

  private async iteratorOfType(
    shard: ShardState,
    type: ShardIteratorType,
    sequenceNumber?: string,
  ): Promise<string | undefined> {
    try {
      const { ShardIterator: iterator } = await this.options.streamsClient.send(
        new GetShardIteratorCommand({
          StreamArn: this.streamArn ?? '',
          ShardId: shard.shardId,
          ShardIteratorType: type,
          SequenceNumber: sequenceNumber,
        }),
      );
      return iterator;
    } catch (error) {
      // The shard is gone (trimmed): nothing more can be read from it.
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  /**
   * Delivers one batch: retries, bisects and follows partial batch responses until every record
   * is acknowledged or handed to `onFailure`. Returns false if the poller stopped first.
   */
  private async deliver(shard: ShardState, batch: DynamoDBRecord[]): Promise<boolean> {
    const pending: { records: DynamoDBRecord[]; attempts: number }[] = [
      { records: batch, attempts: 0 },
    ];
    const retryAttempts = this.options.retryAttempts;
    while (pending.length > 0) {
      const current = pending[0];
      if (!current || this.stopping) return false;
      const outcome = await this.invoke(current.records);
      current.attempts += 1;
      if (outcome.kind === 'success') {
        await this.acknowledge(shard, current.records);
        pending.shift();
        continue;
      }
      this.report(
        `stream poller for ${this.options.tableName}: batch of ${current.records.length} ` +
          `failed (attempt ${current.attempts}): ${outcome.reason}`,
      );
      if (outcome.kind === 'partial' && outcome.failedIndex > 0) {
        // Records before the lowest failure succeeded: checkpoint them, retry from the failure.
        await this.acknowledge(shard, current.records.slice(0, outcome.failedIndex));
        current.records = current.records.slice(outcome.failedIndex);
        current.attempts = 0;
        continue;
      }
      if (this.options.bisectBatchOnError && current.records.length > 1) {
        const middle = Math.ceil(current.records.length / 2);
        pending.splice(
          0,
          1,
          { records: current.records.slice(0, middle), attempts: 0 },
          { records: current.records.slice(middle), attempts: 0 },
        );
        continue;
      }
      if (retryAttempts >= 0 && current.attempts > retryAttempts) {
        const failure = {
          records: current.records,
          reason: outcome.reason,
          attempts: current.attempts,
        };
        if (!(await this.sendToOnFailure(failure))) return false;
        await this.acknowledge(shard, current.records);
        pending.shift();
        continue;
      }
      const base = this.options.retryBaseDelayMs ?? 100;
      await this.sleep(Math.min(base * 2 ** (current.attempts - 1), MAX_RETRY_DELAY_MS));
    }
    return true;
  }

  private async invoke(records: DynamoDBRecord[]): Promise<InvokeOutcome> {
    let response: DynamoDBBatchResponse | undefined;
    try {
      response = (await this.options.handler({ Records: records })) ?? undefined;
    } catch (error) {
      return { kind: 'error', reason: describeError(error) };
    }
    if (!this.options.reportBatchItemFailures) return { kind: 'success' };
    const failures = response?.batchItemFailures;
    if (failures === undefined || failures === null || failures.length === 0) {
      return { kind: 'success' };
    }
    // As Lambda: a missing, empty or unknown itemIdentifier fails the whole batch.
    let lowest: number | undefined;
    for (const failure of failures) {
      const identifier: unknown = failure?.itemIdentifier;
      const index =
        typeof identifier === 'string' && identifier !== ''
          ? records.findIndex((record) => record.dynamodb?.SequenceNumber === identifier)
          : -1;
      if (index < 0) {
        return {
          kind: 'error',
          reason: `invalid batchItemFailures entry ${JSON.stringify(failure)}`,
        };
      }
      lowest = lowest === undefined ? index : Math.min(lowest, index);
    }
    const failedIndex = lowest ?? 0;
    const sequenceNumber = records[failedIndex]?.dynamodb?.SequenceNumber;
    return {
      kind: 'partial',
      failedIndex,
      reason: `handler reported a failure at sequence number ${sequenceNumber}`,
    };
  }

  private async acknowledge(shard: ShardState, records: DynamoDBRecord[]): Promise<void> {
    const last = records.at(-1)?.dynamodb?.SequenceNumber;
    if (last !== undefined) await this.checkpoint.set(shard.shardId, last);
  }

  private async sendToOnFailure(failure: StreamBatchFailure): Promise<boolean> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.options.onFailure(failure);
        return true;
      } catch (error) {
        this.report(
          `stream poller for ${this.options.tableName}: onFailure failed (attempt ${attempt}), ` +
            `retrying: ${describeError(error)}`,
        );
        await this.sleep(Math.min(ERROR_BACKOFF_MS * attempt, MAX_RETRY_DELAY_MS));
      }
    }
    return false;
  }

  /** Logs a problem once until it changes, so a missing table does not flood the log. */
  private report(line: string): void {
    if (line === this.lastProblem) return;
    this.lastProblem = line;
    this.options.log?.(line);
  }

  /** Sleeps, cut short by `stop()` and, for poll pauses, by a new `drained()` call. */
  private async sleep(ms: number, options: { wakeOnDrain?: boolean } = {}): Promise<void> {
    if (this.drainSignal.signal.aborted) this.drainSignal = new AbortController();
    const signal = options.wakeOnDrain
      ? AbortSignal.any([this.stopSignal.signal, this.drainSignal.signal])
      : this.stopSignal.signal;
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
