import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { functions } from '../../declarations/index.ts';
import { backfillerSchedule } from '../../declarations/schedules.ts';
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
  /** Member profiles: the backfiller scans them and reads each member's newest profile. */
  readonly profilesTable: ITable;
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
  readonly backfiller: PortraitFunction;
  readonly backfillerRule: Rule;
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
    // A preview evaluates a definition over the stored members: a parallel Scan of the profiles
    // table, stopped after a few seconds (then the answer is an estimate).
    allow(this.segments.function, ['dynamodb:Scan'], [props.profilesTable.tableArn]);
    // A segment's members page by page, one Query per shard partition (`sm#<segment>#<shard>`),
    // and its count by a Query on the counts partition (`sc#<segment>`); it writes no membership.
    // `check` reads member states in BatchGetItem chunks of 100; `changes` and `asOf` Query the
    // ledger partitions (`sl#<segment>#<shard>`). The backfill job (shown as each segment's
    // membership state) is read by key with the GetItem above.
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

    this.backfiller = new PortraitFunction(this, 'Backfiller', {
      declaration: functions.backfiller,
      config,
      settings,
    });
    // The members by a parallel Scan of the profiles table, each member's newest profile by key
    // (following a link); the heads by a Query and the job by key, saved with a conditional Put;
    // memberships as the segmenter writes them.
    allow(
      this.backfiller.function,
      ['dynamodb:Scan', 'dynamodb:GetItem'],
      [props.profilesTable.tableArn],
    );
    allow(
      this.backfiller.function,
      ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem'],
      [props.segmentsTable.tableArn],
    );
    allow(
      this.backfiller.function,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      [props.membershipsTable.tableArn],
    );
    // A run stops after about 50 s and saves where it is; the next one continues. A missed run is
    // never retried: the next, a minute later, does the same work.
    const period = Duration.minutes(backfillerSchedule.awsEveryMinutes);
    this.backfiller.function.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
    });
    this.backfillerRule = new Rule(this, 'BackfillerSchedule', {
      description: backfillerSchedule.description,
      schedule: Schedule.rate(period),
      targets: [
        new LambdaFunction(this.backfiller.function, { retryAttempts: 0, maxEventAge: period }),
      ],
    });
  }

  /** The functions this construct built, by declaration id. */
  get functions(): {
    readonly segments: IFunction;
    readonly segmenter: IFunction;
    readonly backfiller: IFunction;
  } {
    return {
      segments: this.segments.function,
      segmenter: this.segmenter.function,
      backfiller: this.backfiller.function,
    };
  }
}
