/**
 * The analytics table, the only code that knows its item layout: nightly runs (status and
 * counts), the latest succeeded run, and per run the RFM summary and the persona cards with drift.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { PersonaCard, PersonaDrift } from '../domain/analytics/personas.ts';
import type { RfmSummary } from '../domain/analytics/rfm-summary.ts';

export type RunStatus = 'running' | 'succeeded' | 'failed';

export interface AnalyticsRun {
  readonly runId: string;
  /** `YYYY-MM-DD` in the brand zone. */
  readonly asOf: string;
  readonly windowDays: number;
  readonly status: RunStatus;
  /** ISO-8601. */
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** Members in the RFM output. */
  readonly members?: number;
  readonly k?: number;
  /** Mean silhouette per k tried. */
  readonly silhouettes?: Readonly<Record<string, number>>;
  readonly writeBack?: {
    readonly scanned: number;
    readonly written: number;
    readonly cleared: number;
    readonly unchanged: number;
  };
  /** Why a failed run failed (the state's error name and cause). */
  readonly error?: { readonly name: string; readonly cause: string };
}

export interface StoredPersonas {
  readonly runId: string;
  readonly cards: readonly PersonaCard[];
  readonly drift: PersonaDrift;
}

const RUN_PK = 'run';
const LATEST_PK = 'latest';
const LATEST_SK = 'succeeded';

export class AnalyticsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Writes a run's record; a succeeded run also becomes the latest one, unless a later run (by
   * as-of date, then id) already is.
   */
  async saveRun(run: AnalyticsRun): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: RUN_PK, sk: run.runId, ...run } }),
    );
    if (run.status !== 'succeeded') return;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: LATEST_PK, sk: LATEST_SK, runId: run.runId, asOf: run.asOf },
          ConditionExpression:
            'attribute_not_exists(pk) OR asOf < :asOf OR (asOf = :asOf AND runId <= :runId)',
          ExpressionAttributeValues: { ':asOf': run.asOf, ':runId': run.runId },
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
    }
  }

  async run(runId: string): Promise<AnalyticsRun | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: RUN_PK, sk: runId },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, ...run } = Item;
    return run as AnalyticsRun;
  }

  /** The latest succeeded run, `undefined` before the first one. */
  async latestSucceeded(): Promise<AnalyticsRun | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: LATEST_PK, sk: LATEST_SK },
        ConsistentRead: true,
      }),
    );
    return typeof Item?.runId === 'string' ? this.run(Item.runId) : undefined;
  }

  /** The newest runs first (run ids sort by time), at most `limit`. */
  async recentRuns(limit: number): Promise<AnalyticsRun[]> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': RUN_PK },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (result.Items ?? []).map(({ pk: _pk, sk: _sk, ...run }) => run as AnalyticsRun);
  }

  async saveRfm(runId: string, summary: RfmSummary): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: `${RUN_PK}#${runId}`, sk: 'rfm', summary: JSON.stringify(summary) },
      }),
    );
  }

  async rfm(runId: string): Promise<RfmSummary | undefined> {
    const item = await this.part(runId, 'rfm');
    return typeof item?.summary === 'string' ? (JSON.parse(item.summary) as RfmSummary) : undefined;
  }

  async savePersonas(personas: StoredPersonas): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        // JSON text: cards nest maps of maps, which DynamoDB maps bill by attribute name.
        Item: {
          pk: `${RUN_PK}#${personas.runId}`,
          sk: 'personas',
          personas: JSON.stringify(personas),
        },
      }),
    );
  }

  async personas(runId: string): Promise<StoredPersonas | undefined> {
    const item = await this.part(runId, 'personas');
    return typeof item?.personas === 'string'
      ? (JSON.parse(item.personas) as StoredPersonas)
      : undefined;
  }

  private async part(runId: string, sk: string) {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `${RUN_PK}#${runId}`, sk },
        ConsistentRead: true,
      }),
    );
    return Item;
  }
}
