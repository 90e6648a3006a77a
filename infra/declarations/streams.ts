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

/** None yet: the tagger and archiver (later issues) attach here. */
export const streamConsumers: readonly StreamConsumerDeclaration[] = [];
