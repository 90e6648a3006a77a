/**
 * A local SQS endpoint over durable queues: speaks the AWS JSON 1.0 protocol the v3 SDK uses
 * (`POST /`, `X-Amz-Target: AmazonSQS.<Action>`), with errors shaped as SQS sends them
 * (`__type` plus the `x-amzn-query-error` header the SDK reads in query-compatible mode).
 * Queues are declared at start; every acknowledged send is on disk.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DurableQueue,
  type MessageAttributes,
  type MessageAttributeValue,
  QueueError,
  type ReceivedMessage,
} from './durable-queue.ts';

/** One queue to serve; created on first start, reopened from its log afterwards. */
export interface LocalQueueDeclaration {
  readonly name: string;
  readonly visibilityTimeoutSeconds: number;
  /** With `deadLetterQueueName`: receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount?: number;
  /** A queue declared in the same server. */
  readonly deadLetterQueueName?: string;
  /** @default 1_209_600 (14 days) */
  readonly messageRetentionSeconds?: number;
  /** @default 0 */
  readonly delaySeconds?: number;
}

export interface LocalSqsOptions {
  /** Folder for the queue logs. */
  readonly dir: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Region in queue ARNs. @default 'us-east-1' */
  readonly region?: string;
  readonly queues: readonly LocalQueueDeclaration[];
  /** Largest message (body plus attributes). @default 1_048_576, the SQS ceiling */
  readonly maxMessageBytes?: number;
  /** Largest sum of messages in one SendMessageBatch. @default 1_048_576, the SQS ceiling */
  readonly maxBatchBytes?: number;
  /** See `DurableQueueOptions.compactMinBytes`. */
  readonly compactMinBytes?: number;
  readonly log?: (line: string) => void;
}

export interface LocalSqs {
  /** `http://host:port`, for `new SQSClient({ endpoint })`. */
  readonly endpoint: string;
  /** `http://host:port/000000000000/<name>`. */
  queueUrl(name: string): string;
  /** Ends long polls, lets running requests finish, closes the queues. */
  stop(): Promise<void>;
  readonly queues: Map<string, DurableQueue>;
}

/** The account id in local queue URLs and ARNs. */
export const LOCAL_ACCOUNT_ID = '000000000000';

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const MAX_BATCH_ENTRIES = 10;
const batchEntryIdPattern = /^[A-Za-z0-9_-]{1,80}$/;
const systemAttributeNames = [
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'DeadLetterQueueSourceArn',
] as const;
const queueAttributeNames = new Set([
  'All',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'VisibilityTimeout',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
  'RedrivePolicy',
  'SqsManagedSseEnabled',
]);

/** An SQS error as it goes on the wire. */
class SqsFault extends Error {
  constructor(
    /** The shape name in `__type` (`com.amazonaws.sqs#<shape>`). */
    readonly shape: string,
    /** The query-protocol code in `x-amzn-query-error`. */
    readonly queryCode: string,
    readonly status: number,
    message: string,
    readonly fault: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

const faults = {
  queueDoesNotExist: () =>
    new SqsFault(
      'QueueDoesNotExist',
      'AWS.SimpleQueueService.NonExistentQueue',
      400,
      'The specified queue does not exist.',
    ),
  invalidParameter: (message: string) =>
    new SqsFault('InvalidParameterValueException', 'InvalidParameterValue', 400, message),
  missingParameter: (name: string) =>
    new SqsFault(
      'MissingParameter',
      'MissingParameter',
      400,
      `The request must contain the parameter ${name}.`,
    ),
  invalidAddress: (url: string) =>
    new SqsFault(
      'InvalidAddress',
      'InvalidAddress',
      404,
      `The address ${url} is not valid for this endpoint.`,
    ),
  emptyBatch: () =>
    new SqsFault(
      'EmptyBatchRequest',
      'AWS.SimpleQueueService.EmptyBatchRequest',
      400,
      'There should be at least one SendMessageBatchRequestEntry in the request.',
    ),
  tooManyEntries: (count: number) =>
    new SqsFault(
      'TooManyEntriesInBatchRequest',
      'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      400,
      `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${count}.`,
    ),
  idsNotDistinct: (id: string) =>
    new SqsFault(
      'BatchEntryIdsNotDistinct',
      'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
      400,
      `Id ${id} repeated.`,
    ),
  invalidEntryId: (id: string) =>
    new SqsFault(
      'InvalidBatchEntryId',
      'AWS.SimpleQueueService.InvalidBatchEntryId',
      400,
      `A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long. Got ${JSON.stringify(id)}.`,
    ),
  batchTooLong: (bytes: number, limit: number) =>
    new SqsFault(
      'BatchRequestTooLong',
      'AWS.SimpleQueueService.BatchRequestTooLong',
      400,
      `Batch requests cannot be longer than ${limit} bytes. You have sent ${bytes} bytes.`,
    ),
  invalidAttributeName: (name: string) =>
    new SqsFault('InvalidAttributeName', 'InvalidAttributeName', 400, `Unknown Attribute ${name}.`),
  resourceNotFound: (arn: string) =>
    new SqsFault(
      'ResourceNotFoundException',
      'ResourceNotFoundException',
      404,
      `Queue ${arn} does not exist.`,
    ),
  unsupported: (action: string) =>
    new SqsFault(
      'UnsupportedOperation',
      'AWS.SimpleQueueService.UnsupportedOperation',
      400,
      `The local SQS does not support ${action}.`,
    ),
  serialization: (message: string) =>
    new SqsFault('SerializationException', 'SerializationException', 400, message),
  unavailable: () =>
    new SqsFault(
      'ServiceUnavailable',
      'ServiceUnavailable',
      503,
      'The local SQS is stopping.',
      'Receiver',
    ),
  internal: () =>
    new SqsFault(
      'InternalError',
      'InternalError',
      500,
      'We encountered an internal error. Please try again.',
      'Receiver',
    ),
};

/** The wire form of a queue error (`QueueError.code` → SQS shape, query code, status). */
function faultFromQueueError(error: QueueError): SqsFault {
  switch (error.code) {
    case 'ReceiptHandleIsInvalid':
      return new SqsFault('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 404, error.message);
    case 'MessageNotInflight':
      return new SqsFault(
        'MessageNotInflight',
        'AWS.SimpleQueueService.MessageNotInflight',
        400,
        error.message,
      );
    case 'InvalidMessageContents':
      return new SqsFault('InvalidMessageContents', 'InvalidMessageContents', 400, error.message);
    case 'QueueClosed':
      return faults.unavailable();
    default:
      return faults.invalidParameter(error.message);
  }
}

type JsonObject = Record<string, unknown>;

interface MoveTask {
  readonly taskHandle: string;
  readonly sourceArn: string;
  readonly destinationArn: string | undefined;
  readonly startedTimestamp: number;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  moved: number;
  toMove: number;
  failureReason?: string;
}

/** Starts the server; queues named as dead-letter queues must be declared too. */
export async function startLocalSqs(options: LocalSqsOptions): Promise<LocalSqs> {
  const region = options.region ?? 'us-east-1';
  const host = options.host ?? '127.0.0.1';
  const maxBatchBytes = options.maxBatchBytes ?? 1_048_576;
  const notice = options.log ?? (() => {});
  const arnOf = (name: string) => `arn:aws:sqs:${region}:${LOCAL_ACCOUNT_ID}:${name}`;
  const declarations = new Map(options.queues.map((queue) => [queue.name, queue]));
  const queues = await openQueues(options, declarations, arnOf);
  const byArn = new Map([...queues.values()].map((queue) => [queue.arn, queue]));
  const deadLetterQueueNames = new Set(
    options.queues.flatMap((queue) =>
      queue.deadLetterQueueName ? [queue.deadLetterQueueName] : [],
    ),
  );
  const startedSeconds = String(Math.floor(Date.now() / 1000));
  const moveTasks: MoveTask[] = [];
  const stopping = new AbortController();
  let urlBase = '';

  const queueFromUrl = (input: JsonObject): DurableQueue => {
    const url = requiredString(input, 'QueueUrl');
    let path: string;
    try {
      path = new URL(url).pathname;
    } catch {
      throw faults.invalidAddress(url);
    }
    const name = path.split('/').filter(Boolean).at(-1) ?? '';
    const queue = queues.get(name);
    if (!queue) throw faults.queueDoesNotExist();
    return queue;
  };

  const actions: Record<
    string,
    (input: JsonObject, signal: AbortSignal) => Promise<JsonObject> | JsonObject
  > = {
    SendMessage: async (input) => {
      const queue = queueFromUrl(input);
      const sent = await queue.send(requiredString(input, 'MessageBody'), {
        delaySeconds: optionalInteger(input, 'DelaySeconds'),
        messageAttributes: messageAttributesOf(input.MessageAttributes),
      });
      return {
        MessageId: sent.messageId,
        MD5OfMessageBody: sent.md5OfMessageBody,
        ...(sent.md5OfMessageAttributes
          ? { MD5OfMessageAttributes: sent.md5OfMessageAttributes }
          : {}),
      };
    },

    SendMessageBatch: async (input) => {
      const queue = queueFromUrl(input);
      const entries = batchEntries(input);
      let bytes = 0;
      for (const entry of entries) {
        const body = entry.MessageBody;
        if (typeof body === 'string') bytes += Buffer.byteLength(body, 'utf8');
        bytes += attributeBytes(entry.MessageAttributes);
      }
      if (bytes > maxBatchBytes) throw faults.batchTooLong(bytes, maxBatchBytes);
      const results = await Promise.all(
        entries.map(async (entry) => {
          const id = entry.Id as string;
          try {
            const body = entry.MessageBody;
            if (typeof body !== 'string') throw faults.missingParameter('MessageBody');
            const sent = await queue.send(body, {
              delaySeconds: optionalInteger(entry, 'DelaySeconds'),
              messageAttributes: messageAttributesOf(entry.MessageAttributes),
            });
            return {
              ok: true as const,
              entry: {
                Id: id,
                MessageId: sent.messageId,
                MD5OfMessageBody: sent.md5OfMessageBody,
                ...(sent.md5OfMessageAttributes
                  ? { MD5OfMessageAttributes: sent.md5OfMessageAttributes }
                  : {}),
              },
            };
          } catch (error) {
            return { ok: false as const, entry: failedEntry(id, error) };
          }
        }),
      );
      return batchResult(results);
    },

    ReceiveMessage: async (input, signal) => {
      const queue = queueFromUrl(input);
      const messages = await queue.receive({
        maxMessages: optionalInteger(input, 'MaxNumberOfMessages'),
        visibilityTimeoutSeconds: optionalInteger(input, 'VisibilityTimeout'),
        waitTimeSeconds: optionalInteger(input, 'WaitTimeSeconds'),
        signal: AbortSignal.any([signal, stopping.signal]),
      });
      if (messages.length === 0) return {};
      const systemNames = new Set([
        ...stringList(input.AttributeNames),
        ...stringList(input.MessageSystemAttributeNames),
      ]);
      const attributeFilter = stringList(input.MessageAttributeNames);
      return {
        Messages: messages.map((message) => wireMessage(message, systemNames, attributeFilter)),
      };
    },

    DeleteMessage: async (input) => {
      await queueFromUrl(input).delete(requiredString(input, 'ReceiptHandle'));
      return {};
    },

    DeleteMessageBatch: async (input) => {
      const queue = queueFromUrl(input);
      const results = await Promise.all(
        batchEntries(input).map(async (entry) => {
          const id = entry.Id as string;
          try {
            await queue.delete(requiredString(entry, 'ReceiptHandle'));
            return { ok: true as const, entry: { Id: id } };
          } catch (error) {
            return { ok: false as const, entry: failedEntry(id, error) };
          }
        }),
      );
      return batchResult(results);
    },

    ChangeMessageVisibility: (input) => {
      const queue = queueFromUrl(input);
      queue.changeVisibility(
        requiredString(input, 'ReceiptHandle'),
        requiredInteger(input, 'VisibilityTimeout'),
      );
      return {};
    },

    ChangeMessageVisibilityBatch: (input) => {
      const queue = queueFromUrl(input);
      return batchResult(
        batchEntries(input).map((entry) => {
          const id = entry.Id as string;
          try {
            queue.changeVisibility(
              requiredString(entry, 'ReceiptHandle'),
              requiredInteger(entry, 'VisibilityTimeout'),
            );
            return { ok: true as const, entry: { Id: id } };
          } catch (error) {
            return { ok: false as const, entry: failedEntry(id, error) };
          }
        }),
      );
    },

    GetQueueUrl: (input) => {
      const name = requiredString(input, 'QueueName');
      if (!queues.has(name)) throw faults.queueDoesNotExist();
      return { QueueUrl: `${urlBase}/${LOCAL_ACCOUNT_ID}/${name}` };
    },

    ListQueues: (input) => {
      const prefix = typeof input.QueueNamePrefix === 'string' ? input.QueueNamePrefix : '';
      const max = optionalInteger(input, 'MaxResults') ?? 1000;
      const urls = [...queues.keys()]
        .filter((name) => name.startsWith(prefix))
        .sort()
        .slice(0, max)
        .map((name) => `${urlBase}/${LOCAL_ACCOUNT_ID}/${name}`);
      return urls.length > 0 ? { QueueUrls: urls } : {};
    },

    GetQueueAttributes: (input) => {
      const queue = queueFromUrl(input);
      const requested = stringList(input.AttributeNames);
      for (const name of requested) {
        if (!queueAttributeNames.has(name)) throw faults.invalidAttributeName(name);
      }
      if (requested.length === 0) return {};
      const all = requested.includes('All');
      const counts = queue.approximateCounts();
      const redrive = queue.redrivePolicy;
      const values: Record<string, string | undefined> = {
        QueueArn: queue.arn,
        ApproximateNumberOfMessages: String(counts.visible),
        ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
        ApproximateNumberOfMessagesDelayed: String(counts.delayed),
        CreatedTimestamp: startedSeconds,
        LastModifiedTimestamp: startedSeconds,
        VisibilityTimeout: String(queue.visibilityTimeoutSeconds),
        MaximumMessageSize: String(queue.maxMessageBytes),
        MessageRetentionPeriod: String(queue.messageRetentionSeconds),
        DelaySeconds: String(queue.delaySeconds),
        ReceiveMessageWaitTimeSeconds: '0',
        SqsManagedSseEnabled: 'false',
        RedrivePolicy: redrive
          ? JSON.stringify({
              deadLetterTargetArn: redrive.deadLetterQueue.arn,
              maxReceiveCount: redrive.maxReceiveCount,
            })
          : undefined,
      };
      const attributes: Record<string, string> = {};
      for (const [name, value] of Object.entries(values)) {
        if (value !== undefined && (all || requested.includes(name))) attributes[name] = value;
      }
      return { Attributes: attributes };
    },

    PurgeQueue: async (input) => {
      await queueFromUrl(input).purge();
      return {};
    },

    StartMessageMoveTask: (input) => {
      const sourceArn = requiredString(input, 'SourceArn');
      const source = byArn.get(sourceArn);
      if (!source) throw faults.resourceNotFound(sourceArn);
      if (!deadLetterQueueNames.has(source.name)) {
        throw faults.invalidParameter('Source queue must be configured as a Dead Letter Queue.');
      }
      const destinationArn =
        typeof input.DestinationArn === 'string' ? input.DestinationArn : undefined;
      const destination = destinationArn ? byArn.get(destinationArn) : undefined;
      if (destinationArn && !destination) throw faults.resourceNotFound(destinationArn);
      if (moveTasks.some((task) => task.sourceArn === sourceArn && task.status === 'RUNNING')) {
        throw faults.invalidParameter(
          'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
        );
      }
      const counts = source.approximateCounts();
      const task: MoveTask = {
        taskHandle: Buffer.from(
          JSON.stringify({ taskId: randomUUID(), sourceArn }),
          'utf8',
        ).toString('base64'),
        sourceArn,
        destinationArn,
        startedTimestamp: Date.now(),
        status: 'RUNNING',
        moved: 0,
        toMove: counts.visible,
      };
      moveTasks.unshift(task);
      source
        .moveMessagesTo(destination ?? ((arn) => (arn ? byArn.get(arn) : undefined)))
        .then((moved) => {
          task.moved = moved;
          task.status = 'COMPLETED';
        })
        .catch((error: unknown) => {
          task.status = 'FAILED';
          task.failureReason = String(error);
          notice(`message move task from ${source.name} failed: ${String(error)}`);
        });
      return { TaskHandle: task.taskHandle };
    },

    ListMessageMoveTasks: (input) => {
      const sourceArn = requiredString(input, 'SourceArn');
      if (!byArn.has(sourceArn)) throw faults.resourceNotFound(sourceArn);
      const max = optionalInteger(input, 'MaxResults') ?? 1;
      return {
        Results: moveTasks
          .filter((task) => task.sourceArn === sourceArn)
          .slice(0, max)
          .map((task, index) => ({
            ...(index === 0 && task.status === 'RUNNING' ? { TaskHandle: task.taskHandle } : {}),
            Status: task.status,
            SourceArn: task.sourceArn,
            ...(task.destinationArn ? { DestinationArn: task.destinationArn } : {}),
            ApproximateNumberOfMessagesMoved: task.moved,
            ApproximateNumberOfMessagesToMove: task.toMove,
            StartedTimestamp: task.startedTimestamp,
            ...(task.failureReason ? { FailureReason: task.failureReason } : {}),
          })),
      };
    },
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const aborted = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) aborted.abort();
    });
    try {
      if (stopping.signal.aborted) throw faults.unavailable();
      const target = request.headers['x-amz-target'];
      const action =
        typeof target === 'string' && target.startsWith('AmazonSQS.') ? target.slice(10) : '';
      const body = await readBody(request);
      const run = actions[action];
      if (request.method !== 'POST' || !run) throw faults.unsupported(action || 'this request');
      let input: unknown;
      try {
        input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        throw faults.serialization('The request body is not valid JSON.');
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw faults.serialization('The request body must be a JSON object.');
      }
      const output = await run(input as JsonObject, aborted.signal);
      send(response, 200, requestId, output);
    } catch (error) {
      const fault = toFault(error);
      if (fault.status >= 500 && !(error instanceof SqsFault)) {
        notice(
          `request ${requestId} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
      }
      send(
        response,
        fault.status,
        requestId,
        { __type: `com.amazonaws.sqs#${fault.shape}`, message: fault.message },
        {
          'x-amzn-query-error': `${fault.queryCode};${fault.fault}`,
        },
      );
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      notice(`local SQS could not answer a request: ${String(error)}`);
      response.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await Promise.all([...queues.values()].map((queue) => queue.close()));
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const urlHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  urlBase = `http://${urlHost}:${port}`;

  let stopped: Promise<void> | undefined;
  return {
    endpoint: urlBase,
    queueUrl: (name) => `${urlBase}/${LOCAL_ACCOUNT_ID}/${name}`,
    queues,
    stop: () => {
      stopped ??= (async () => {
        stopping.abort();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), 5_000);
        await closed;
        clearTimeout(force);
        await Promise.all([...queues.values()].map((queue) => queue.close()));
      })();
      return stopped;
    },
  };
}

/** Opens every declared queue, each dead-letter queue before the queues that use it. */
async function openQueues(
  options: LocalSqsOptions,
  declarations: Map<string, LocalQueueDeclaration>,
  arnOf: (name: string) => string,
): Promise<Map<string, DurableQueue>> {
  const opened = new Map<string, DurableQueue>();
  const opening = new Set<string>();
  const openOne = async (name: string): Promise<DurableQueue> => {
    const existing = opened.get(name);
    if (existing) return existing;
    const declaration = declarations.get(name);
    if (!declaration) throw new Error(`dead-letter queue ${name} is not declared`);
    if (opening.has(name)) throw new Error(`queue ${name} is its own dead-letter queue (cycle)`);
    opening.add(name);
    let redrivePolicy: { deadLetterQueue: DurableQueue; maxReceiveCount: number } | undefined;
    if (declaration.deadLetterQueueName) {
      const maxReceiveCount = declaration.maxReceiveCount;
      if (!maxReceiveCount || maxReceiveCount < 1) {
        throw new Error(`queue ${name} has a dead-letter queue but no maxReceiveCount ≥ 1`);
      }
      redrivePolicy = {
        deadLetterQueue: await openOne(declaration.deadLetterQueueName),
        maxReceiveCount,
      };
    }
    const queue = await DurableQueue.open({
      dir: options.dir,
      name,
      arn: arnOf(name),
      visibilityTimeoutSeconds: declaration.visibilityTimeoutSeconds,
      redrivePolicy,
      messageRetentionSeconds: declaration.messageRetentionSeconds,
      delaySeconds: declaration.delaySeconds,
      maxMessageBytes: options.maxMessageBytes,
      compactMinBytes: options.compactMinBytes,
      log: options.log,
    });
    opened.set(name, queue);
    return queue;
  };
  try {
    for (const name of declarations.keys()) await openOne(name);
  } catch (error) {
    await Promise.all([...opened.values()].map((queue) => queue.close()));
    throw error;
  }
  return opened;
}

function toFault(error: unknown): SqsFault {
  if (error instanceof SqsFault) return error;
  if (error instanceof QueueError) return faultFromQueueError(error);
  return faults.internal();
}

function failedEntry(id: string, error: unknown): JsonObject {
  const fault = toFault(error);
  return {
    Id: id,
    SenderFault: fault.fault === 'Sender',
    Code: fault.queryCode,
    Message: fault.message,
  };
}

function batchResult(results: Array<{ ok: boolean; entry: JsonObject }>): JsonObject {
  return {
    Successful: results.filter((result) => result.ok).map((result) => result.entry),
    Failed: results.filter((result) => !result.ok).map((result) => result.entry),
  };
}

/** The `Entries` of a batch request, checked as SQS checks them before touching any entry. */
function batchEntries(input: JsonObject): JsonObject[] {
  const entries = input.Entries;
  if (!Array.isArray(entries) || entries.length === 0) throw faults.emptyBatch();
  if (entries.length > MAX_BATCH_ENTRIES) throw faults.tooManyEntries(entries.length);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (typeof entry !== 'object' || entry === null)
      throw faults.serialization('Batch entries must be objects.');
    const id = (entry as JsonObject).Id;
    if (typeof id !== 'string' || !batchEntryIdPattern.test(id))
      throw faults.invalidEntryId(String(id));
    if (seen.has(id)) throw faults.idsNotDistinct(id);
    seen.add(id);
  }
  return entries as JsonObject[];
}

function requiredString(input: JsonObject, name: string): string {
  const value = input[name];
  if (value === undefined || value === null || value === '') throw faults.missingParameter(name);
  if (typeof value !== 'string')
    throw faults.invalidParameter(`Value for parameter ${name} must be a string.`);
  return value;
}

function optionalInteger(input: JsonObject, name: string): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw faults.invalidParameter(
      `Value ${String(value)} for parameter ${name} is invalid. Reason: must be an integer.`,
    );
  }
  return value;
}

function requiredInteger(input: JsonObject, name: string): number {
  const value = optionalInteger(input, name);
  if (value === undefined) throw faults.missingParameter(name);
  return value;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : [];
}

/** Message attributes from the wire, keeping only the fields SQS stores. */
function messageAttributesOf(value: unknown): MessageAttributes | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw faults.invalidParameter('MessageAttributes must be a map.');
  }
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, raw] of Object.entries(value as JsonObject)) {
    if (typeof raw !== 'object' || raw === null) {
      throw faults.invalidParameter(`Message attribute '${name}' must be a structure.`);
    }
    const { DataType, StringValue, BinaryValue } = raw as JsonObject;
    attributes[name] = {
      DataType: typeof DataType === 'string' ? DataType : '',
      ...(typeof StringValue === 'string' ? { StringValue } : {}),
      ...(typeof BinaryValue === 'string' ? { BinaryValue } : {}),
    };
  }
  return attributes;
}

function attributeBytes(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let bytes = 0;
  for (const [name, raw] of Object.entries(value as JsonObject)) {
    bytes += Buffer.byteLength(name, 'utf8');
    if (typeof raw !== 'object' || raw === null) continue;
    const { DataType, StringValue, BinaryValue } = raw as JsonObject;
    if (typeof DataType === 'string') bytes += Buffer.byteLength(DataType, 'utf8');
    if (typeof StringValue === 'string') bytes += Buffer.byteLength(StringValue, 'utf8');
    if (typeof BinaryValue === 'string') bytes += Buffer.from(BinaryValue, 'base64').length;
  }
  return bytes;
}

function wireMessage(
  message: ReceivedMessage,
  systemNames: ReadonlySet<string>,
  attributeFilter: readonly string[],
): JsonObject {
  const all = systemNames.has('All');
  const system: Record<(typeof systemAttributeNames)[number], string | undefined> = {
    SenderId: message.senderId,
    SentTimestamp: String(message.sentTimestamp),
    ApproximateReceiveCount: String(message.approximateReceiveCount),
    ApproximateFirstReceiveTimestamp: String(message.approximateFirstReceiveTimestamp),
    DeadLetterQueueSourceArn: message.deadLetterQueueSourceArn,
  };
  const attributes: Record<string, string> = {};
  for (const name of systemAttributeNames) {
    const value = system[name];
    if (value !== undefined && (all || systemNames.has(name))) attributes[name] = value;
  }
  const selected = selectMessageAttributes(message.messageAttributes, attributeFilter);
  return {
    MessageId: message.messageId,
    ReceiptHandle: message.receiptHandle,
    MD5OfBody: message.md5OfBody,
    Body: message.body,
    ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}),
    ...(selected
      ? { MessageAttributes: selected, MD5OfMessageAttributes: message.md5OfMessageAttributes }
      : {}),
  };
}

/** Message attributes a receive asked for: `All`, `.*`, `prefix.*` or exact names. */
function selectMessageAttributes(
  attributes: MessageAttributes | undefined,
  filter: readonly string[],
): MessageAttributes | undefined {
  if (!attributes || filter.length === 0) return undefined;
  const selected: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(attributes)) {
    const wanted = filter.some(
      (pattern) =>
        pattern === 'All' ||
        pattern === '.*' ||
        pattern === name ||
        (pattern.endsWith('.*') && name.startsWith(pattern.slice(0, -1))),
    );
    if (wanted) selected[name] = value;
  }
  return Object.keys(selected).length > 0 ? selected : undefined;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_REQUEST_BYTES) {
      throw new SqsFault(
        'RequestTooLarge',
        'RequestTooLarge',
        413,
        `Requests are limited to ${MAX_REQUEST_BYTES} bytes.`,
      );
    }
    chunks.push(buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

function send(
  response: ServerResponse,
  status: number,
  requestId: string,
  body: JsonObject,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent || response.destroyed) return;
  const json = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(json, 'utf8'),
    'x-amzn-requestid': requestId,
    ...headers,
  });
  response.end(json);
}
