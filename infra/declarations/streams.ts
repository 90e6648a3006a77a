import type { FunctionId } from './functions.ts';
import type { TableId } from './tables.ts';

/**
 * DynamoDB stream consumers, declared once: the CDK app creates event source mappings from these,
 * the local runtime starts a poller per entry with the same settings.
 */
export interface StreamConsumerDeclaration {
  readonly table: TableId;
  readonly function: FunctionId;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  /** Retries of a failing batch before it goes to the on-failure destination. */
  readonly retryAttempts: number;
  readonly bisectBatchOnError: boolean;
  readonly reportBatchItemFailures: boolean;
}

/**
 * The tagger reads every INSERT of the events table. Batches of up to 100 records give a member
 * with several events one profile write for all of them; a failing member is reported with
 * ReportBatchItemFailures, a batch that keeps failing is bisected, and after 10 retries its
 * records go to the on-failure destination (rebuild those members with `cli tags rebuild`).
 */
export const streamConsumers: readonly StreamConsumerDeclaration[] = [
  {
    table: 'events',
    function: 'tagger',
    batchSize: 100,
    maxBatchingWindowSeconds: 1,
    retryAttempts: 10,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
  /**
   * The archiver copies every INSERT to the event lake. Its files are named from their rows, so
   * a retried batch rewrites them; a batch split differently on retry duplicates rows, which
   * compaction and the SQL drop by (member key, messageId). Large batches mean fewer files; the
   * window stays at 1 s like the others (the local runtime waits it out before it is settled),
   * and the nightly compaction turns a day's small files into a few.
   */
  {
    table: 'events',
    function: 'archiver',
    batchSize: 1000,
    maxBatchingWindowSeconds: 1,
    retryAttempts: 10,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
  /**
   * Every profile write re-evaluates the segments reading what changed; enters and exits are
   * recorded once each, so redelivered records change nothing.
   */
  {
    table: 'profiles',
    function: 'segmenter',
    batchSize: 100,
    maxBatchingWindowSeconds: 1,
    retryAttempts: 10,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
  /**
   * Every profile write that changed tags carries those changes; the historian copies them into
   * history items keyed by (instant, version), so a redelivered record rewrites the same item.
   */
  {
    table: 'profiles',
    function: 'historian',
    batchSize: 100,
    maxBatchingWindowSeconds: 1,
    retryAttempts: 10,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
  /**
   * Every new segment ledger entry becomes webhook deliveries (on AWS a filter passes ledger
   * items only). Deliveries have deterministic ids, so a replayed batch only re-sends them.
   */
  {
    table: 'memberships',
    function: 'notifier',
    batchSize: 100,
    maxBatchingWindowSeconds: 1,
    retryAttempts: 10,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
  },
];
