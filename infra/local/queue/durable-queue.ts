/**
 * The storage engine behind the local SQS stand-in: one queue kept in one append-only log file,
 * with the SQS semantics the handlers rely on (visibility timeout, receive counts, dead-letter
 * moves, redrive). A send is acknowledged only after its record is on disk (fdatasync); sends
 * that arrive while a sync runs share the next one (group commit), so durability costs one sync
 * per batch of concurrent writers rather than one per message.
 *
 * Log format: an 8-byte magic, then records `[u32 payload length][u32 crc32 of payload][payload]`
 * (little endian); payload = `[u8 type][u32 header length][header JSON][message body bytes]`.
 * Only the tail can be torn by a crash: replay stops at the first short or corrupt record and
 * truncates the file there. Bodies stay on disk; memory holds an index entry per message.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** One message attribute, shaped as in the SQS JSON protocol (binary values in base64). */
export interface MessageAttributeValue {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: string;
}

export type MessageAttributes = Readonly<Record<string, MessageAttributeValue>>;

export interface SendOptions {
  /** Seconds before the message can be received (0–900). @default the queue's delay */
  readonly delaySeconds?: number;
  readonly messageAttributes?: MessageAttributes;
  /** Reported as the `SenderId` attribute. @default `AIDAPORTRAITLOCAL` */
  readonly senderId?: string;
}

export interface SentMessage {
  readonly messageId: string;
  readonly md5OfMessageBody: string;
  readonly md5OfMessageAttributes?: string;
}

export interface ReceiveOptions {
  /** 1–10. @default 1 */
  readonly maxMessages?: number;
  /** @default the queue's visibility timeout */
  readonly visibilityTimeoutSeconds?: number;
  /** Long polling: wait up to this long (0–20 s) for a first message. @default 0 */
  readonly waitTimeSeconds?: number;
  /** Ends a long poll early (the client went away); nothing is taken once it fires. */
  readonly signal?: AbortSignal;
}

export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly messageAttributes?: MessageAttributes;
  readonly md5OfMessageAttributes?: string;
  readonly senderId: string;
  /** Epoch milliseconds. */
  readonly sentTimestamp: number;
  readonly approximateReceiveCount: number;
  /** Epoch milliseconds. */
  readonly approximateFirstReceiveTimestamp: number;
  /** Set on a message that a redrive policy moved into this (dead-letter) queue. */
  readonly deadLetterQueueSourceArn?: string;
}

/** Message counts as `GetQueueAttributes` reports them. */
export interface QueueCounts {
  readonly visible: number;
  /** Received and not yet deleted or visible again. */
  readonly inFlight: number;
  readonly delayed: number;
}

export interface RedrivePolicy {
  readonly deadLetterQueue: DurableQueue;
  /** A message received this many times moves to the dead-letter queue on its next receive. */
  readonly maxReceiveCount: number;
}

export interface DurableQueueOptions {
  /** Folder holding `<name>.log`; created when missing. */
  readonly dir: string;
  readonly name: string;
  /** @default `arn:aws:sqs:us-east-1:000000000000:<name>` */
  readonly arn?: string;
  readonly visibilityTimeoutSeconds: number;
  readonly redrivePolicy?: RedrivePolicy;
  /** @default 1_209_600 (14 days, the SQS maximum; local data should not vanish over a holiday) */
  readonly messageRetentionSeconds?: number;
  /** @default 0 */
  readonly delaySeconds?: number;
  /** Body plus attributes. @default 1_048_576 (the SQS ceiling since 2025) */
  readonly maxMessageBytes?: number;
  /** Compaction starts once the log is at least this big and at most half of it is live. @default 128 MiB */
  readonly compactMinBytes?: number;
  /** Notices such as a torn tail dropped at open or a failed compaction. */
  readonly log?: (line: string) => void;
}

/** An error SQS reports with a stable code (the server maps `code` to the wire error). */
export class QueueError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ReceiptHandleIsInvalidError extends QueueError {
  constructor(handle: string) {
    super(
      'ReceiptHandleIsInvalid',
      `The input receipt handle "${handle}" is not a valid receipt handle.`,
    );
  }
}

export class MessageNotInflightError extends QueueError {
  constructor() {
    super('MessageNotInflight', 'The message referred to is not in flight.');
  }
}

export class InvalidParameterValueError extends QueueError {
  constructor(message: string) {
    super('InvalidParameterValue', message);
  }
}

export class InvalidMessageContentsError extends QueueError {
  constructor() {
    super(
      'InvalidMessageContents',
      'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF',
    );
  }
}

export class QueueClosedError extends QueueError {
  constructor(name: string) {
    super('QueueClosed', `Queue ${name} is closed.`);
  }
}

/** The log file of queue `name` in `dir`. */
export const queueLogPath = (dir: string, name: string): string => join(dir, `${name}.log`);

const MAGIC = Buffer.from('PQLOG01\n', 'latin1');
const RECORD_HEADER_BYTES = 8;
const PAYLOAD_PREFIX_BYTES = 5;
/** Anything longer is a corrupt length field, not a record. */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
const READ_CHUNK_BYTES = 8 * 1024 * 1024;
const DEFAULT_SENDER_ID = 'AIDAPORTRAITLOCAL';
const MAX_VISIBILITY_SECONDS = 43_200;
const MAX_DELAY_SECONDS = 900;
const MOVE_CONCURRENCY = 64;
const invalidBodyCharacter = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const attributeNamePattern = /^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$/;

const RecordType = { Send: 1, Receive: 2, Delete: 3, Purge: 4 } as const;
type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Header of a Send record (short keys: there is one per message). */
interface SendHeader {
  /** message id */
  i: string;
  /** md5 of body */
  m: string;
  /** sent timestamp */
  t: number;
  /** sender id when not the default */
  u?: string;
  /** not visible before (delay) */
  v?: number;
  a?: MessageAttributes;
  am?: string;
  /** receive count and first receive timestamp carried by a moved or compacted message */
  c?: number;
  f?: number;
  /** dead-letter source queue arn */
  s?: string;
}

type MessageState = 'delayed' | 'visible' | 'inflight' | 'moving';

interface StoredMessage {
  readonly id: string;
  readonly md5: string;
  readonly sentTimestamp: number;
  readonly senderId: string;
  readonly attributes: MessageAttributes | undefined;
  readonly md5OfAttributes: string | undefined;
  readonly deadLetterSourceArn: string | undefined;
  receiveCount: number;
  firstReceiveTimestamp: number;
  state: MessageState;
  visibleAt: number;
  /** Bumped on every state change; queue and heap entries carrying an older version are stale. */
  version: number;
  bodyOffset: number;
  readonly bodyLength: number;
  recordBytes: number;
}

interface Slot {
  readonly message: StoredMessage;
  readonly version: number;
}

interface TimedSlot extends Slot {
  readonly at: number;
}

/** What a dead-letter move or redrive hands to the destination queue. */
interface MovedMessage {
  readonly id: string;
  readonly md5: string;
  readonly sentTimestamp: number;
  readonly senderId: string;
  readonly attributes: MessageAttributes | undefined;
  readonly md5OfAttributes: string | undefined;
  readonly receiveCount: number;
  readonly firstReceiveTimestamp: number;
  readonly deadLetterSourceArn: string | undefined;
}

/** A queue of messages that survives `kill -9`: see the file comment. */
export class DurableQueue {
  readonly name: string;
  readonly arn: string;
  readonly visibilityTimeoutSeconds: number;
  readonly redrivePolicy: RedrivePolicy | undefined;
  readonly messageRetentionSeconds: number;
  readonly delaySeconds: number;
  readonly maxMessageBytes: number;
  readonly logPath: string;

  private readonly messages = new Map<string, StoredMessage>();
  private readonly ready = new SlotQueue();
  private readonly timers = new SlotHeap();
  private readonly counts = { visible: 0, inflight: 0, delayed: 0 };
  /** Long polls in progress, each with the time its timer fires. */
  private readonly waiters = new Map<() => void, number>();
  private liveBytes = 0;
  private compaction: Promise<void> | undefined;
  private closed = false;

  private constructor(
    options: DurableQueueOptions,
    private readonly journal: AppendLog,
    private readonly compactMinBytes: number,
    private readonly notice: (line: string) => void,
  ) {
    this.name = options.name;
    this.arn = options.arn ?? `arn:aws:sqs:us-east-1:000000000000:${options.name}`;
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds;
    this.redrivePolicy = options.redrivePolicy;
    this.messageRetentionSeconds = options.messageRetentionSeconds ?? 1_209_600;
    this.delaySeconds = options.delaySeconds ?? 0;
    this.maxMessageBytes = options.maxMessageBytes ?? 1_048_576;
    this.logPath = queueLogPath(options.dir, options.name);
  }

  /** Opens (or creates) the queue's log and rebuilds its state by replaying it. */
  static async open(options: DurableQueueOptions): Promise<DurableQueue> {
    const notice = options.log ?? (() => {});
    await mkdir(options.dir, { recursive: true });
    const path = queueLogPath(options.dir, options.name);
    await rm(`${path}.compact`, { force: true });
    const { handle, size, created } = await openLog(path);
    if (created) await syncDirectory(options.dir);
    const log = new AppendLog(new LogFile(handle), size, options.dir);
    const queue = new DurableQueue(
      options,
      log,
      options.compactMinBytes ?? 128 * 1024 * 1024,
      notice,
    );
    try {
      await queue.replay();
    } catch (error) {
      await handle.close();
      throw error;
    }
    queue.maybeCompact();
    return queue;
  }

  /** Appends a message; resolves once it is on disk and receivable. */
  async send(body: string, options: SendOptions = {}): Promise<SentMessage> {
    this.assertOpen();
    const delaySeconds = options.delaySeconds ?? this.delaySeconds;
    if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds > MAX_DELAY_SECONDS) {
      throw new InvalidParameterValueError(
        `Value ${delaySeconds} for parameter DelaySeconds is invalid. Reason: must be between 0 and ${MAX_DELAY_SECONDS}.`,
      );
    }
    if (body.length === 0) {
      throw new InvalidParameterValueError('The request must contain the parameter MessageBody.');
    }
    if (invalidBodyCharacter.test(body)) throw new InvalidMessageContentsError();
    const attributes = options.messageAttributes;
    const attributeBytes = attributes ? validateAttributes(attributes) : 0;
    const bodyBytes = Buffer.from(body, 'utf8');
    if (bodyBytes.length + attributeBytes > this.maxMessageBytes) {
      throw new InvalidParameterValueError(
        `One or more parameters are invalid. Reason: Message must be shorter than ${this.maxMessageBytes} bytes.`,
      );
    }
    const now = Date.now();
    const hasAttributes = attributes !== undefined && Object.keys(attributes).length > 0;
    const message: MovedMessage = {
      id: randomUUID(),
      md5: md5Hex(bodyBytes),
      sentTimestamp: now,
      senderId: options.senderId ?? DEFAULT_SENDER_ID,
      attributes: hasAttributes ? attributes : undefined,
      md5OfAttributes: hasAttributes ? md5OfMessageAttributes(attributes) : undefined,
      receiveCount: 0,
      firstReceiveTimestamp: 0,
      deadLetterSourceArn: undefined,
    };
    await this.append(message, bodyBytes, delaySeconds > 0 ? now + delaySeconds * 1000 : 0);
    return {
      messageId: message.id,
      md5OfMessageBody: message.md5,
      ...(message.md5OfAttributes ? { md5OfMessageAttributes: message.md5OfAttributes } : {}),
    };
  }

  /**
   * Takes up to `maxMessages` visible messages and hides them for the visibility timeout,
   * waiting up to `waitTimeSeconds` for a first one. A message already received
   * `maxReceiveCount` times moves to the dead-letter queue instead of being returned.
   */
  async receive(options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    this.assertOpen();
    const maxMessages = options.maxMessages ?? 1;
    if (!Number.isInteger(maxMessages) || maxMessages < 1 || maxMessages > 10) {
      throw new InvalidParameterValueError(
        `Value ${maxMessages} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
      );
    }
    const visibility = options.visibilityTimeoutSeconds ?? this.visibilityTimeoutSeconds;
    assertVisibility(visibility);
    const waitSeconds = options.waitTimeSeconds ?? 0;
    if (!(waitSeconds >= 0 && waitSeconds <= 20)) {
      throw new InvalidParameterValueError(
        `Value ${waitSeconds} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.`,
      );
    }
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      if (this.closed || options.signal?.aborted) return [];
      const taken = this.take(maxMessages, visibility * 1000);
      if (taken.length > 0) return this.materialize(taken);
      if (Date.now() >= deadline) return [];
      await this.waitForMessages(deadline, options.signal);
    }
  }

  /**
   * Deletes the message a receipt handle refers to. Like a standard SQS queue, an older handle
   * of the same message still deletes it, and deleting a message already gone succeeds.
   * Resolves once the deletion is on disk.
   */
  async delete(receiptHandle: string): Promise<void> {
    this.assertOpen();
    const id = this.parseReceiptHandle(receiptHandle);
    const message = this.messages.get(id);
    if (!message) return;
    this.forget(message);
    await this.journal.append(encodeRecord(RecordType.Delete, { d: [id] }));
    this.maybeCompact();
  }

  /** Sets how long an in-flight message stays hidden, counted from now (0 = visible now). */
  changeVisibility(receiptHandle: string, visibilityTimeoutSeconds: number): void {
    this.assertOpen();
    assertVisibility(visibilityTimeoutSeconds);
    const id = this.parseReceiptHandle(receiptHandle);
    const message = this.messages.get(id);
    if (!message) {
      throw new InvalidParameterValueError(
        `Value ${receiptHandle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`,
      );
    }
    this.promoteDue(Date.now());
    if (message.state !== 'inflight') throw new MessageNotInflightError();
    message.version++;
    if (visibilityTimeoutSeconds === 0) {
      this.makeVisible(message);
      return;
    }
    message.visibleAt = Date.now() + visibilityTimeoutSeconds * 1000;
    this.scheduleVisibility(message);
  }

  /** Current counts (`ApproximateNumberOfMessages`, `…NotVisible`, `…Delayed`). */
  approximateCounts(): QueueCounts {
    this.promoteDue(Date.now());
    return {
      visible: this.counts.visible,
      inFlight: this.counts.inflight,
      delayed: this.counts.delayed,
    };
  }

  /** Deletes every message, in flight or not; resolves once the purge is on disk. */
  async purge(): Promise<void> {
    this.assertOpen();
    for (const message of this.messages.values()) message.version++;
    this.messages.clear();
    this.ready.clear();
    this.timers.clear();
    this.counts.visible = 0;
    this.counts.inflight = 0;
    this.counts.delayed = 0;
    this.liveBytes = 0;
    await this.journal.append(encodeRecord(RecordType.Purge, {}));
    this.maybeCompact();
  }

  /**
   * Moves every visible message to another queue (a redrive, as `StartMessageMoveTask` does).
   * `destination` is a queue, or a function choosing one from the message's dead-letter source
   * arn (a message with no destination stays). Receive counts start again from zero. Each
   * message is on disk in the destination before it leaves this queue, so a crash can
   * duplicate a message but never lose one. Resolves with the number moved.
   */
  async moveMessagesTo(
    destination:
      | DurableQueue
      | ((deadLetterSourceArn: string | undefined) => DurableQueue | undefined),
  ): Promise<number> {
    this.assertOpen();
    this.promoteDue(Date.now());
    const candidates = [...this.messages.values()].filter((message) => message.state === 'visible');
    let moved = 0;
    let next = 0;
    const worker = async () => {
      while (next < candidates.length) {
        const message = candidates[next++];
        if (message?.state !== 'visible' || this.messages.get(message.id) !== message) {
          continue;
        }
        const target =
          typeof destination === 'function'
            ? destination(message.deadLetterSourceArn)
            : destination;
        if (!target || target === this) continue;
        const done = await this.transfer(message, target, {
          ...describe(message),
          receiveCount: 0,
          firstReceiveTimestamp: 0,
          deadLetterSourceArn: undefined,
        });
        if (done) moved++;
      }
    };
    await Promise.all(Array.from({ length: MOVE_CONCURRENCY }, worker));
    return moved;
  }

  /** Rewrites the log with only the live messages (also run automatically; see `compactMinBytes`). */
  compact(): Promise<void> {
    this.assertOpen();
    if (!this.compaction) {
      this.compaction = this.rewriteLog().finally(() => {
        this.compaction = undefined;
      });
    }
    return this.compaction;
  }

  /** Sizes for tests and diagnostics: the log file and the records of messages still present. */
  storageStats(): {
    readonly logBytes: number;
    readonly liveBytes: number;
    readonly messages: number;
  } {
    return { logBytes: this.journal.size, liveBytes: this.liveBytes, messages: this.messages.size };
  }

  /** Ends long polls, writes what is pending and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    await this.compaction?.catch(() => {});
    await this.journal.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new QueueClosedError(this.name);
  }

  /** Writes a Send record; once it is durable the message joins the index (same tick). */
  private async append(
    message: MovedMessage,
    body: Buffer,
    notVisibleBefore: number,
  ): Promise<void> {
    const header = sendHeader(message, undefined, notVisibleBefore);
    const parts = encodeRecord(RecordType.Send, header, body);
    const prefixBytes = parts[0]?.length ?? 0;
    // Indexing happens inside the commit callback, not after `await`: a compaction starting in
    // between would otherwise miss a message whose record it does not copy.
    await this.journal.append(parts, (offset) => {
      const stored = toStored(header, offset + prefixBytes, body.length, prefixBytes + body.length);
      const existing = this.messages.get(stored.id);
      if (existing) this.forget(existing);
      this.index(stored, Date.now());
      this.wake();
    });
  }

  private index(message: StoredMessage, now: number): void {
    this.messages.set(message.id, message);
    this.liveBytes += message.recordBytes;
    if (message.visibleAt > now) {
      message.state = 'delayed';
      this.counts.delayed++;
      this.scheduleVisibility(message);
    } else {
      message.state = 'visible';
      this.counts.visible++;
      this.ready.push({ message, version: message.version });
    }
  }

  /** Queues the moment `message` becomes visible, dropping stale timers once they dominate. */
  private scheduleVisibility(message: StoredMessage): void {
    this.timers.push({ message, version: message.version, at: message.visibleAt });
    // A long poll sleeping past this moment must look again then.
    for (const [waiter, wakeAt] of this.waiters) {
      if (wakeAt > message.visibleAt) waiter();
    }
    // A deleted message's timer would otherwise stay (with the message) until its timeout.
    const live = this.counts.inflight + this.counts.delayed;
    if (this.timers.size > 1024 && this.timers.size > 4 * live) {
      this.timers.retain(
        (slot) =>
          slot.version === slot.message.version &&
          this.messages.get(slot.message.id) === slot.message,
      );
    }
  }

  private forget(message: StoredMessage): void {
    this.messages.delete(message.id);
    this.liveBytes -= message.recordBytes;
    this.leaveState(message);
    message.version++;
  }

  private leaveState(message: StoredMessage): void {
    if (message.state === 'visible') this.counts.visible--;
    else if (message.state === 'delayed') this.counts.delayed--;
    else this.counts.inflight--;
  }

  private setState(message: StoredMessage, state: MessageState): void {
    this.leaveState(message);
    message.state = state;
    if (state === 'visible') this.counts.visible++;
    else if (state === 'delayed') this.counts.delayed++;
    else this.counts.inflight++;
  }

  private makeVisible(message: StoredMessage): void {
    this.setState(message, 'visible');
    this.ready.push({ message, version: message.version });
    this.wake();
  }

  private promoteDue(now: number): void {
    for (;;) {
      const slot = this.timers.peek();
      if (!slot || slot.at > now) return;
      this.timers.pop();
      const { message } = slot;
      if (slot.version !== message.version || this.messages.get(message.id) !== message) continue;
      if (message.state === 'inflight' || message.state === 'delayed') {
        message.version++;
        this.setState(message, 'visible');
        this.ready.push({ message, version: message.version });
      }
    }
  }

  private take(
    maxMessages: number,
    visibilityMs: number,
  ): Array<{ message: StoredMessage; handle: string }> {
    const now = Date.now();
    this.promoteDue(now);
    const taken: Array<{ message: StoredMessage; handle: string }> = [];
    const retentionMs = this.messageRetentionSeconds * 1000;
    const expired: string[] = [];
    const stillVisible: Slot[] = [];
    while (taken.length < maxMessages) {
      const slot = this.ready.shift();
      if (!slot) break;
      const { message } = slot;
      if (slot.version !== message.version || message.state !== 'visible') continue;
      if (this.messages.get(message.id) !== message) continue;
      if (now - message.sentTimestamp >= retentionMs) {
        this.forget(message);
        expired.push(message.id);
        continue;
      }
      const redrive = this.redrivePolicy;
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        this.moveToDeadLetterQueue(message, redrive.deadLetterQueue);
        continue;
      }
      message.receiveCount++;
      if (message.firstReceiveTimestamp === 0) message.firstReceiveTimestamp = now;
      message.version++;
      if (visibilityMs === 0) {
        stillVisible.push({ message, version: message.version });
      } else {
        this.setState(message, 'inflight');
        message.visibleAt = now + visibilityMs;
        this.scheduleVisibility(message);
      }
      const nonce = randomBytes(6).toString('hex');
      const handle = Buffer.from(
        `${this.name}\n${message.id}\n${message.receiveCount}\n${nonce}`,
        'utf8',
      ).toString('base64url');
      taken.push({ message, handle });
    }
    for (const slot of stillVisible) this.ready.push(slot);
    if (expired.length > 0) this.appendQuietly(encodeRecord(RecordType.Delete, { d: expired }));
    if (taken.length > 0) {
      // Receive counts ride on the next sync; a crash can lose one, which only delays the
      // dead-letter move by a receive (at-least-once either way).
      this.appendQuietly(
        encodeRecord(RecordType.Receive, {
          r: taken.map(({ message }) => [
            message.id,
            message.receiveCount,
            message.firstReceiveTimestamp,
          ]),
        }),
      );
    }
    return taken;
  }

  private async materialize(
    taken: Array<{ message: StoredMessage; handle: string }>,
  ): Promise<ReceivedMessage[]> {
    const file = this.journal.file;
    file.pin();
    try {
      return await Promise.all(
        taken.map(async ({ message, handle }) => {
          const body = await readExactly(file.handle, message.bodyOffset, message.bodyLength);
          const received: ReceivedMessage = {
            messageId: message.id,
            receiptHandle: handle,
            body: body.toString('utf8'),
            md5OfBody: message.md5,
            senderId: message.senderId,
            sentTimestamp: message.sentTimestamp,
            approximateReceiveCount: message.receiveCount,
            approximateFirstReceiveTimestamp: message.firstReceiveTimestamp,
            ...(message.attributes
              ? {
                  messageAttributes: message.attributes,
                  md5OfMessageAttributes: message.md5OfAttributes,
                }
              : {}),
            ...(message.deadLetterSourceArn
              ? { deadLetterQueueSourceArn: message.deadLetterSourceArn }
              : {}),
          };
          return received;
        }),
      );
    } finally {
      file.unpin();
    }
  }

  private moveToDeadLetterQueue(message: StoredMessage, deadLetterQueue: DurableQueue): void {
    const moving = this.transfer(message, deadLetterQueue, {
      ...describe(message),
      deadLetterSourceArn: this.arn,
    });
    moving.catch((error: unknown) =>
      this.notice(`${this.name}: dead-letter move failed: ${String(error)}`),
    );
  }

  /**
   * Copies a message into `target` (durably) and then deletes it here. While it moves it is
   * counted in flight and cannot be received; if the copy fails it becomes visible again.
   */
  private async transfer(
    message: StoredMessage,
    target: DurableQueue,
    moved: MovedMessage,
  ): Promise<boolean> {
    message.version++;
    this.setState(message, 'moving');
    const file = this.journal.file;
    file.pin();
    try {
      const body = await readExactly(file.handle, message.bodyOffset, message.bodyLength);
      target.assertOpen();
      await target.append(moved, body, 0);
    } catch (error) {
      if (this.messages.get(message.id) === message && message.state === 'moving' && !this.closed) {
        message.version++;
        this.makeVisible(message);
      }
      this.notice(
        `${this.name}: moving message ${message.id} to ${target.name} failed: ${String(error)}`,
      );
      return false;
    } finally {
      file.unpin();
    }
    if (this.messages.get(message.id) !== message || message.state !== 'moving') return true;
    this.forget(message);
    if (this.closed) return true;
    await this.journal.append(encodeRecord(RecordType.Delete, { d: [message.id] }));
    this.maybeCompact();
    return true;
  }

  private appendQuietly(parts: Buffer[]): void {
    this.journal.append(parts).catch((error: unknown) => {
      this.notice(`${this.name}: log append failed: ${String(error)}`);
    });
  }

  private waitForMessages(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const nextDue = this.timers.peek()?.at ?? Number.POSITIVE_INFINITY;
      const wakeAt = Math.min(deadline, nextDue);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, wakeAt - Date.now()));
      this.waiters.set(done, wakeAt);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    if (this.waiters.size === 0) return;
    for (const waiter of [...this.waiters.keys()]) waiter();
  }

  private parseReceiptHandle(receiptHandle: string): string {
    const parts = Buffer.from(receiptHandle, 'base64url').toString('utf8').split('\n');
    const id = parts[1];
    if (parts.length !== 4 || parts[0] !== this.name || !id) {
      throw new ReceiptHandleIsInvalidError(receiptHandle);
    }
    return id;
  }

  private maybeCompact(): void {
    if (this.compaction || this.closed) return;
    const size = this.journal.size;
    if (size < this.compactMinBytes || this.liveBytes * 2 > size) return;
    this.compact().catch((error: unknown) => {
      this.notice(`${this.name}: compaction failed: ${String(error)}`);
    });
  }

  private async replay(): Promise<void> {
    const reader = new SequentialReader(this.journal.file.handle, this.journal.size);
    let position = MAGIC.length;
    const magic = await reader.read(0, MAGIC.length);
    if (!magic?.equals(MAGIC)) {
      throw new Error(
        `${this.logPath} is not a Portrait queue log (bad magic); refusing to touch it`,
      );
    }
    for (;;) {
      const head = await reader.read(position, RECORD_HEADER_BYTES);
      if (!head) break;
      const length = head.readUInt32LE(0);
      if (length < PAYLOAD_PREFIX_BYTES || length > MAX_PAYLOAD_BYTES) break;
      const payload = await reader.read(position + RECORD_HEADER_BYTES, length);
      if (!payload || crc32(payload) !== head.readUInt32LE(4)) break;
      const type = payload.readUInt8(0);
      const headerLength = payload.readUInt32LE(1);
      if (headerLength > length - PAYLOAD_PREFIX_BYTES) break;
      let header: unknown;
      try {
        header = JSON.parse(
          payload.toString('utf8', PAYLOAD_PREFIX_BYTES, PAYLOAD_PREFIX_BYTES + headerLength),
        );
      } catch {
        break;
      }
      const bodyOffset = position + RECORD_HEADER_BYTES + PAYLOAD_PREFIX_BYTES + headerLength;
      const bodyLength = length - PAYLOAD_PREFIX_BYTES - headerLength;
      this.applyRecord(type, header, bodyOffset, bodyLength, RECORD_HEADER_BYTES + length);
      position += RECORD_HEADER_BYTES + length;
    }
    if (position < this.journal.size) {
      this.notice(
        `${this.name}: dropped ${this.journal.size - position} byte(s) of torn tail at offset ${position}`,
      );
      await this.journal.truncate(position);
    }
    const now = Date.now();
    const replayed = [...this.messages.values()];
    this.messages.clear();
    this.liveBytes = 0;
    this.counts.visible = 0;
    this.counts.delayed = 0;
    // In-flight state is not logged: whoever held a message died with the runtime, so it is
    // visible again at once (a redelivery, which at-least-once allows).
    for (const message of replayed) this.index(message, now);
  }

  private applyRecord(
    type: number,
    header: unknown,
    bodyOffset: number,
    bodyLength: number,
    recordBytes: number,
  ): void {
    switch (type) {
      case RecordType.Send: {
        const stored = toStored(header as SendHeader, bodyOffset, bodyLength, recordBytes);
        this.messages.delete(stored.id);
        this.messages.set(stored.id, stored);
        return;
      }
      case RecordType.Receive: {
        for (const [id, count, first] of (header as { r: Array<[string, number, number]> }).r) {
          const message = this.messages.get(id);
          if (message) {
            message.receiveCount = count;
            message.firstReceiveTimestamp = first;
          }
        }
        return;
      }
      case RecordType.Delete: {
        for (const id of (header as { d: string[] }).d) this.messages.delete(id);
        return;
      }
      case RecordType.Purge:
        this.messages.clear();
        return;
      default:
        throw new Error(`${this.logPath}: unknown record type ${type}`);
    }
  }

  /**
   * Compaction without stopping writers for long: copy the messages present at a snapshot
   * into a new file while appends continue to the old one, then pause appends, copy the old
   * file's tail written since the snapshot byte for byte, sync, rename over the log and sync
   * the folder. Replaying the copied tail after the copied messages gives the same state.
   */
  private async rewriteLog(): Promise<void> {
    const journal = this.journal;
    const oldFile = journal.file;
    const snapshotEnd = journal.size;
    const snapshot = [...this.messages.values()];
    const compactPath = `${this.logPath}.compact`;
    oldFile.pin();
    const out = await open(compactPath, 'w+');
    let swapped = false;
    try {
      const writer = new BatchWriter(out);
      await writer.write([MAGIC]);
      const relocated = new Map<StoredMessage, { bodyOffset: number; recordBytes: number }>();
      for (const message of snapshot) {
        const body = await readExactly(oldFile.handle, message.bodyOffset, message.bodyLength);
        const parts = encodeRecord(RecordType.Send, sendHeader(describe(message), message), body);
        const prefixBytes = parts[0]?.length ?? 0;
        const recordStart = await writer.write(parts);
        relocated.set(message, {
          bodyOffset: recordStart + prefixBytes,
          recordBytes: prefixBytes + body.length,
        });
      }
      await journal.pause();
      try {
        const tailStart = await writer.flush();
        for (let from = snapshotEnd; from < journal.size; from += READ_CHUNK_BYTES) {
          const length = Math.min(READ_CHUNK_BYTES, journal.size - from);
          await writer.write([await readExactly(oldFile.handle, from, length)]);
        }
        const newSize = await writer.flush();
        const shift = tailStart - snapshotEnd;
        const updates: Array<[StoredMessage, number, number]> = [];
        for (const message of this.messages.values()) {
          const moved = relocated.get(message);
          if (moved) {
            updates.push([message, moved.bodyOffset, moved.recordBytes]);
          } else if (message.bodyOffset >= snapshotEnd) {
            updates.push([message, message.bodyOffset + shift, message.recordBytes]);
          } else {
            throw new Error(`compaction lost track of message ${message.id}; log left as it was`);
          }
        }
        await out.datasync();
        await rename(compactPath, this.logPath);
        await syncDirectory(journal.dir);
        let liveBytes = 0;
        for (const [message, bodyOffset, recordBytes] of updates) {
          message.bodyOffset = bodyOffset;
          message.recordBytes = recordBytes;
          liveBytes += recordBytes;
        }
        this.liveBytes = liveBytes;
        journal.replaceFile(new LogFile(out), newSize);
        swapped = true;
      } finally {
        journal.resume();
      }
    } finally {
      oldFile.unpin();
      if (!swapped) {
        await out.close();
        await rm(compactPath, { force: true });
      }
    }
  }
}

/** The Send record header of a message (`state` gives a pending delay to carry over). */
function sendHeader(
  message: MovedMessage,
  state?: { readonly state: MessageState; readonly visibleAt: number },
  notVisibleBefore = 0,
): SendHeader {
  const header: SendHeader = { i: message.id, m: message.md5, t: message.sentTimestamp };
  if (message.senderId !== DEFAULT_SENDER_ID) header.u = message.senderId;
  if (notVisibleBefore > 0) header.v = notVisibleBefore;
  else if (state?.state === 'delayed') header.v = state.visibleAt;
  if (message.attributes) header.a = message.attributes;
  if (message.md5OfAttributes) header.am = message.md5OfAttributes;
  if (message.receiveCount > 0) header.c = message.receiveCount;
  if (message.firstReceiveTimestamp > 0) header.f = message.firstReceiveTimestamp;
  if (message.deadLetterSourceArn) header.s = message.deadLetterSourceArn;
  return header;
}

/** The moved-message view of a stored message (for transfers). */
function describe(message: StoredMessage): MovedMessage {
  return {
    id: message.id,
    md5: message.md5,
    sentTimestamp: message.sentTimestamp,
    senderId: message.senderId,
    attributes: message.attributes,
    md5OfAttributes: message.md5OfAttributes,
    receiveCount: message.receiveCount,
    firstReceiveTimestamp: message.firstReceiveTimestamp,
    deadLetterSourceArn: message.deadLetterSourceArn,
  };
}

function toStored(
  header: SendHeader,
  bodyOffset: number,
  bodyLength: number,
  recordBytes: number,
): StoredMessage {
  return {
    id: header.i,
    md5: header.m,
    sentTimestamp: header.t,
    senderId: header.u ?? DEFAULT_SENDER_ID,
    attributes: header.a,
    md5OfAttributes: header.am,
    deadLetterSourceArn: header.s,
    receiveCount: header.c ?? 0,
    firstReceiveTimestamp: header.f ?? 0,
    state: 'visible',
    visibleAt: header.v ?? 0,
    version: 0,
    bodyOffset,
    bodyLength,
    recordBytes,
  };
}

function assertVisibility(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_VISIBILITY_SECONDS) {
    throw new InvalidParameterValueError(
      `Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and ${MAX_VISIBILITY_SECONDS}.`,
    );
  }
}

/** Checks attributes as SQS does and returns the bytes they add to the message size. */
function validateAttributes(attributes: MessageAttributes): number {
  const entries = Object.entries(attributes);
  if (entries.length > 10) {
    throw new InvalidParameterValueError(
      `Number of message attributes [${entries.length}] exceeds the allowed maximum [10].`,
    );
  }
  let bytes = 0;
  for (const [name, value] of entries) {
    if (!attributeNamePattern.test(name) || /^(aws|amazon)\./i.test(name)) {
      throw new InvalidParameterValueError(`Message attribute name '${name}' is invalid.`);
    }
    const dataType = value.DataType;
    const base = typeof dataType === 'string' ? dataType.split('.')[0] : undefined;
    if (base !== 'String' && base !== 'Number' && base !== 'Binary') {
      throw new InvalidParameterValueError(
        `The type of message (user) attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
      );
    }
    const binary = base === 'Binary';
    const raw = binary ? value.BinaryValue : value.StringValue;
    if (typeof raw !== 'string' || raw.length === 0) {
      throw new InvalidParameterValueError(
        `Message (user) attribute '${name}' must contain a non-empty value of message attribute type '${dataType}'.`,
      );
    }
    if (!binary && invalidBodyCharacter.test(raw)) throw new InvalidMessageContentsError();
    const valueBytes = binary ? Buffer.from(raw, 'base64').length : Buffer.byteLength(raw, 'utf8');
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(dataType, 'utf8') + valueBytes;
  }
  return bytes;
}

/** MD5 of message attributes as SQS computes it (names sorted, each field length-prefixed). */
export function md5OfMessageAttributes(attributes: MessageAttributes): string {
  const hash = createHash('md5');
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(bytes.length, 0);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name];
    if (!value) continue;
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.DataType.startsWith('Binary')) {
      hash.update(Buffer.from([2]));
      lengthPrefixed(Buffer.from(value.BinaryValue ?? '', 'base64'));
    } else {
      hash.update(Buffer.from([1]));
      lengthPrefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

function md5Hex(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex');
}

function encodeRecord(type: RecordType, header: object, body?: Buffer): Buffer[] {
  const headerJson = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.allocUnsafe(RECORD_HEADER_BYTES + PAYLOAD_PREFIX_BYTES + headerJson.length);
  prefix.writeUInt32LE(PAYLOAD_PREFIX_BYTES + headerJson.length + (body?.length ?? 0), 0);
  prefix.writeUInt8(type, RECORD_HEADER_BYTES);
  prefix.writeUInt32LE(headerJson.length, RECORD_HEADER_BYTES + 1);
  headerJson.copy(prefix, RECORD_HEADER_BYTES + PAYLOAD_PREFIX_BYTES);
  let checksum = crc32(prefix.subarray(RECORD_HEADER_BYTES));
  if (body) checksum = crc32(body, checksum);
  prefix.writeUInt32LE(checksum, 4);
  return body ? [prefix, body] : [prefix];
}

async function openLog(
  path: string,
): Promise<{ handle: FileHandle; size: number; created: boolean }> {
  try {
    const handle = await open(path, 'r+');
    const { size } = await handle.stat();
    if (size >= MAGIC.length) return { handle, size, created: false };
    // A crash while creating the file left it shorter than the magic: start it again.
    await handle.truncate(0);
    await handle.write(MAGIC, 0, MAGIC.length, 0);
    await handle.datasync();
    return { handle, size: MAGIC.length, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const handle = await open(path, 'wx+');
  await handle.write(MAGIC, 0, MAGIC.length, 0);
  await handle.datasync();
  return { handle, size: MAGIC.length, created: true };
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readExactly(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new Error(`unexpected end of queue log at ${position + filled}`);
    filled += bytesRead;
  }
  return buffer;
}

async function writeAll(handle: FileHandle, parts: Buffer[], position: number): Promise<void> {
  let pending = parts;
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const part of pending) {
      if (skip >= part.length) {
        skip -= part.length;
      } else {
        rest.push(skip > 0 ? part.subarray(skip) : part);
        skip = 0;
      }
    }
    if (bytesWritten === 0 && rest.length > 0) throw new Error('queue log write made no progress');
    pending = rest;
  }
}

/** A log file handle that is closed only after the last reader using it is done. */
class LogFile {
  private pins = 0;
  private retired = false;

  constructor(readonly handle: FileHandle) {}

  pin(): void {
    this.pins++;
  }

  unpin(): void {
    this.pins--;
    if (this.retired && this.pins === 0) void this.handle.close().catch(() => {});
  }

  retire(): void {
    this.retired = true;
    if (this.pins === 0) void this.handle.close().catch(() => {});
  }
}

interface PendingRecord {
  readonly parts: Buffer[];
  readonly bytes: number;
  readonly onCommit: ((offset: number) => void) | undefined;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Appends records with group commit: records that arrive while a write+sync runs are written
 * together by the next one. Positions are explicit, so a failed write is simply overwritten.
 */
class AppendLog {
  private pending: PendingRecord[] = [];
  private flushing: Promise<void> | undefined;
  private paused = false;

  constructor(
    public file: LogFile,
    public size: number,
    readonly dir: string,
  ) {}

  /** Resolves once the record is durable; `onCommit` runs first, with the record's offset. */
  append(parts: Buffer[], onCommit?: (offset: number) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      let bytes = 0;
      for (const part of parts) bytes += part.length;
      this.pending.push({ parts, bytes, onCommit, resolve, reject });
      this.schedule();
    });
  }

  async pause(): Promise<void> {
    this.paused = true;
    while (this.flushing !== undefined) await this.flushing;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  replaceFile(file: LogFile, size: number): void {
    const old = this.file;
    this.file = file;
    this.size = size;
    old.retire();
  }

  async truncate(size: number): Promise<void> {
    await this.file.handle.truncate(size);
    await this.file.handle.datasync();
    this.size = size;
  }

  async close(): Promise<void> {
    this.paused = false;
    this.schedule();
    while (this.flushing !== undefined) await this.flushing;
    this.file.retire();
  }

  private schedule(): void {
    if (this.flushing || this.paused || this.pending.length === 0) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      this.schedule();
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0 && !this.paused) {
      const batch = this.pending;
      this.pending = [];
      const parts: Buffer[] = [];
      const offsets: number[] = [];
      let end = this.size;
      for (const record of batch) {
        offsets.push(end);
        end += record.bytes;
        for (const part of record.parts) parts.push(part);
      }
      try {
        await writeAll(this.file.handle, parts, this.size);
        await this.file.handle.datasync();
      } catch (error) {
        for (const record of batch) record.reject(error);
        // Leave no half-written records behind the last committed one.
        await this.file.handle.truncate(this.size).catch(() => {});
        continue;
      }
      this.size = end;
      batch.forEach((record, index) => {
        try {
          record.onCommit?.(offsets[index] ?? 0);
          record.resolve();
        } catch (error) {
          record.reject(error);
        }
      });
    }
  }
}

/** Buffers appends for compaction into large sequential writes. */
class BatchWriter {
  private parts: Buffer[] = [];
  private buffered = 0;
  private written = 0;

  constructor(private readonly handle: FileHandle) {}

  /** Queues parts and returns the file offset where they start. */
  async write(parts: Buffer[]): Promise<number> {
    const start = this.written + this.buffered;
    for (const part of parts) {
      this.parts.push(part);
      this.buffered += part.length;
    }
    if (this.buffered >= READ_CHUNK_BYTES) await this.flush();
    return start;
  }

  /** Writes what is buffered and returns the file size. */
  async flush(): Promise<number> {
    if (this.parts.length > 0) {
      await writeAll(this.handle, this.parts, this.written);
      this.written += this.buffered;
      this.parts = [];
      this.buffered = 0;
    }
    return this.written;
  }
}

/** Reads a file front to back through a large window (replay). */
class SequentialReader {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {}

  /** The bytes at [position, position + length), or undefined past the end of the file. */
  async read(position: number, length: number): Promise<Buffer | undefined> {
    if (position + length > this.size) return undefined;
    const windowEnd = this.windowStart + this.window.length;
    if (position < this.windowStart || position + length > windowEnd) {
      const wanted = Math.min(Math.max(length, READ_CHUNK_BYTES), this.size - position);
      this.window = await readExactly(this.handle, position, wanted);
      this.windowStart = position;
    }
    const from = position - this.windowStart;
    return this.window.subarray(from, from + length);
  }
}

/** FIFO of slots with amortised O(1) shift. */
class SlotQueue {
  private items: Slot[] = [];
  private head = 0;

  push(slot: Slot): void {
    this.items.push(slot);
  }

  shift(): Slot | undefined {
    if (this.head >= this.items.length) return undefined;
    const slot = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return slot;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/** Min-heap of slots by due time (visibility or delay ends). */
class SlotHeap {
  private items: TimedSlot[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): TimedSlot | undefined {
    return this.items[0];
  }

  /** Keeps only the slots `keep` accepts, then restores heap order. */
  retain(keep: (slot: TimedSlot) => boolean): void {
    const kept = this.items.filter(keep);
    this.items = [];
    for (const slot of kept) this.push(slot);
  }

  push(slot: TimedSlot): void {
    const items = this.items;
    items.push(slot);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentSlot = items[parent] as TimedSlot;
      if (parentSlot.at <= slot.at) break;
      items[index] = parentSlot;
      index = parent;
    }
    items[index] = slot;
  }

  pop(): TimedSlot | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const leftSlot = items[left] as TimedSlot;
      const rightSlot = items[right];
      const child = rightSlot && rightSlot.at < leftSlot.at ? right : left;
      const childSlot = items[child] as TimedSlot;
      if (childSlot.at >= last.at) break;
      items[index] = childSlot;
      index = child;
    }
    items[index] = last;
    return top;
  }

  clear(): void {
    this.items = [];
  }
}
