import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { BackfillJob } from '../domain/segments/backfill-state.ts';
import type { SegmentDefinition } from '../domain/segments/segment-definition.ts';
import { queryAll } from './dynamo-query.ts';

/** A segment's current state: its latest definition and version, or that it was deleted. */
export interface SegmentHead {
  readonly id: string;
  readonly version: number;
  readonly status: 'active' | 'deleted';
  readonly definition: SegmentDefinition;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The source of the key that made the latest change. */
  readonly updatedBy: string;
}

/** One saved version of a definition. */
export interface SegmentVersion {
  readonly id: string;
  readonly version: number;
  readonly status: 'active' | 'deleted';
  readonly definition: SegmentDefinition;
  readonly at: string;
  readonly by: string;
}

/** The head changed since it was read (another writer saved a version meanwhile). */
export class SegmentVersionConflictError extends Error {
  readonly code = 'segment_version_conflict';
  override readonly name = 'SegmentVersionConflictError';
}

const HEADS_PK = 'segments';
/** The automatic backfill's job (`shared/jobs/backfill-job.ts`). */
const JOB_KEY = { pk: 'jobs', sk: 'backfill' } as const;
const versionsPk = (id: string) => `seg#${id}`;
const versionSk = (version: number) => `v#${String(version).padStart(8, '0')}`;

/**
 * The segments table, the only code that knows its layout: every segment's head under one
 * partition (`pk` = `segments`, `sk` = id), so listing is one Query; every version under the
 * segment (`pk` = `seg#<id>`, `sk` = `v#<version>`). A save writes the head and the new version
 * in one transaction, conditioned on the head's version, so versions never fork.
 */
export class SegmentStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async head(id: string): Promise<SegmentHead | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: HEADS_PK, sk: id },
        ConsistentRead: true,
      }),
    );
    return Item ? headFromItem(Item) : undefined;
  }

  /** Every head, active and deleted, in id order. */
  async heads(): Promise<SegmentHead[]> {
    const items = await queryAll(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': HEADS_PK },
      ConsistentRead: true,
    });
    return items.map(headFromItem);
  }

  /** The automatic backfill's current job, if one was ever started. */
  async backfillJob(): Promise<BackfillJob | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: JOB_KEY, ConsistentRead: true }),
    );
    return typeof Item?.job === 'string' ? (JSON.parse(Item.job) as BackfillJob) : undefined;
  }

  /** Saves the backfill job if the stored one is still at `expectedRev` (0: none); else false. */
  async saveBackfillJob(job: BackfillJob, expectedRev: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...JOB_KEY, job: JSON.stringify(job), rev: job.rev },
          ConditionExpression: expectedRev === 0 ? 'attribute_not_exists(pk)' : '#rev = :expected',
          ...(expectedRev === 0
            ? {}
            : {
                ExpressionAttributeNames: { '#rev': 'rev' },
                ExpressionAttributeValues: { ':expected': expectedRev },
              }),
        }),
      );
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async version(id: string, version: number): Promise<SegmentVersion | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: versionsPk(id), sk: versionSk(version) },
      }),
    );
    return Item ? versionFromItem(Item) : undefined;
  }

  /**
   * Saves a new version of a segment (`status` `deleted` for a deletion) on condition that the
   * head is still at `expectedVersion` (0: no head yet). Throws `SegmentVersionConflictError`
   * otherwise.
   */
  async save(
    previous: SegmentHead | undefined,
    definition: SegmentDefinition,
    status: 'active' | 'deleted',
    by: string,
    now: Date,
  ): Promise<SegmentHead> {
    const at = now.toISOString();
    const head: SegmentHead = {
      id: definition.id,
      version: (previous?.version ?? 0) + 1,
      status,
      definition,
      createdAt: previous?.createdAt ?? at,
      updatedAt: at,
      updatedBy: by,
    };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: HEADS_PK, sk: head.id, ...headAttributes(head) },
                ...(previous
                  ? {
                      ConditionExpression: '#version = :expected',
                      ExpressionAttributeNames: { '#version': 'version' },
                      ExpressionAttributeValues: { ':expected': previous.version },
                    }
                  : {
                      ConditionExpression: 'attribute_not_exists(pk)',
                    }),
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk: versionsPk(head.id),
                  sk: versionSk(head.version),
                  id: head.id,
                  version: head.version,
                  status,
                  definition: JSON.stringify(definition),
                  at,
                  by,
                },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
      ) {
        throw new SegmentVersionConflictError(
          `Segment "${head.id}" changed while it was being saved; read it again and retry.`,
        );
      }
      throw error;
    }
    return head;
  }
}

function headAttributes(head: SegmentHead): Record<string, unknown> {
  return {
    id: head.id,
    version: head.version,
    status: head.status,
    definition: JSON.stringify(head.definition),
    createdAt: head.createdAt,
    updatedAt: head.updatedAt,
    updatedBy: head.updatedBy,
  };
}

function headFromItem(item: Record<string, unknown>): SegmentHead {
  return {
    id: String(item.id),
    version: Number(item.version),
    status: item.status === 'deleted' ? 'deleted' : 'active',
    definition: JSON.parse(String(item.definition)) as SegmentDefinition,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    updatedBy: String(item.updatedBy),
  };
}

function versionFromItem(item: Record<string, unknown>): SegmentVersion {
  return {
    id: String(item.id),
    version: Number(item.version),
    status: item.status === 'deleted' ? 'deleted' : 'active',
    definition: JSON.parse(String(item.definition)) as SegmentDefinition,
    at: String(item.at),
    by: String(item.by),
  };
}
