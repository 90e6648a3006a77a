import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { functions } from '../../declarations/index.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';
import { profileItemsOnly } from './tag-engine.ts';

export interface SegmentsProps {
  /** Environment whose log retention and removal policy apply to the functions. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Segment definitions: the current head of every segment and every saved version. */
  readonly segmentsTable: ITable;
  /** Materialised membership: member states, member rows per shard, ledger and counts. */
  readonly membershipsTable: ITable;
  /** Hashed API keys; the segments function checks callers and their scopes against them. */
  readonly writeKeysTable: ITable;
}

/**
 * The segment engine: the segments function answers the definitions API (create, list, read,
 * edit, delete, read a version) and lists a segment's members, and the segmenter keeps
 * membership materialised from the profiles stream. The routes are made by `PublicApi`, the
 * segmenter's stream event source by `StreamConsumers`; both find the functions in the registry
 * (`functions`).
 */
export class Segments extends Construct {
  readonly segments: PortraitFunction;
  readonly segmenter: PortraitFunction;
  /**
   * Stream event filters for `StreamConsumers`: the segmenter acts on profile items only (their
   * writes, links and removals), not on the history items in the same stream.
   */
  readonly streamFilters = { segmenter: [profileItemsOnly] } as const;

  constructor(scope: Construct, id: string, props: SegmentsProps) {
    super(scope, id);
    const { config, settings } = props;

    this.segments = new PortraitFunction(this, 'Segments', {
      declaration: functions.segments,
      config,
      settings,
    });
    // A head or a version by key, the heads by a Query on their partition; a save puts the head
    // and the new version in one TransactWriteItems of two Puts, which IAM authorises by the
    // actions it contains, so PutItem covers it. A deletion is saved the same way, as a version
    // with status `deleted`, so the function needs no DeleteItem.
    allow(
      this.segments.function,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
      [props.segmentsTable.tableArn],
    );
    allow(this.segments.function, ['dynamodb:GetItem'], [props.writeKeysTable.tableArn]);
    // A segment's members page by page, one Query per shard partition (`sm#<segment>#<shard>`),
    // and its count by a Query on the counts partition (`sc#<segment>`); it writes no membership.
    // `check` reads member states in BatchGetItem chunks of 100; `changes` and `asOf` Query the
    // ledger partitions (`sl#<segment>#<shard>`).
    allow(
      this.segments.function,
      ['dynamodb:BatchGetItem', 'dynamodb:Query'],
      [props.membershipsTable.tableArn],
    );

    this.segmenter = new PortraitFunction(this, 'Segmenter', {
      declaration: functions.segmenter,
      config,
      settings,
    });
    // Lists the heads with a Query on their partition for every batch, so a definition saved a
    // moment ago applies to the next profile write; it reads nothing else of the definitions.
    allow(this.segmenter.function, ['dynamodb:Query'], [props.segmentsTable.tableArn]);
    // A member's state by key and updated on its version; each enter or exit is one
    // TransactWriteItems of a Put or Delete of the member row, a Put of the ledger entry, an
    // Update of the shard count and an Update of the member's stamp, authorised by those actions
    // (and a GetItem of the stamp when another writer was first). It never Queries memberships:
    // counts, member pages and the ledger are read by the segments function.
    allow(
      this.segmenter.function,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      [props.membershipsTable.tableArn],
    );
  }

  /** The functions this construct built, by declaration id. */
  get functions(): { readonly segments: IFunction; readonly segmenter: IFunction } {
    return { segments: this.segments.function, segmenter: this.segmenter.function };
  }
}
