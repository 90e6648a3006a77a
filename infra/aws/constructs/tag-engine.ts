import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { FilterCriteria, FilterRule, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import {
  functions,
  profilesTable,
  type ScheduleDeclaration,
  sweeperSchedule,
} from '../../declarations/index.ts';
import { requireFunction } from './function-registry.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

/** A stream filter passing the records of profile items (`sk` = `profile`), not history items. */
export const profileItemsOnly = FilterCriteria.filter({
  dynamodb: { Keys: { sk: { S: FilterRule.isEqual('profile') } } },
});

/** The index the sweeper reads: profiles by the instant their tags next change. */
const [dueIndex] = profilesTable.indexes;

export interface TagEngineProps {
  /** Environment whose log retention and removal policy apply to the functions. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Member profiles and tag history, with the `due` index. */
  readonly profilesTable: ITable;
  /** Hashed API keys; the query function checks callers against them. */
  readonly writeKeysTable: ITable;
  /** Segment definitions; the query function lists their heads to explain a member's segments. */
  readonly segmentsTable: ITable;
  /** Materialised membership; the query function reads a member's state from it. */
  readonly membershipsTable: ITable;
  /**
   * When the sweeper runs.
   * @default - `sweeperSchedule` from `infra/declarations/schedules.ts`
   */
  readonly sweeperSchedule?: ScheduleDeclaration;
}

/**
 * The tag engine: the tagger folds the events stream into member profiles and their tags, the
 * sweeper re-evaluates members whose windowed tags are due to change with the clock, the
 * historian records tag changes from the profiles stream as history, and the query function
 * answers the member read API. The tagger's stream event source is made by
 * `StreamConsumers` from its declaration, with `streamFilters` from here; the query function's
 * routes by `PublicApi`; both find the functions in the registry (`functions`).
 */
export class TagEngine extends Construct {
  readonly tagger: PortraitFunction;
  readonly sweeper: PortraitFunction;
  readonly historian: PortraitFunction;
  readonly query: PortraitFunction;
  /** The EventBridge rule that runs the sweeper. */
  readonly sweeperRule: Rule;
  /**
   * Stream event filters for `StreamConsumers`: the tagger acts on INSERT records only (ingest
   * never updates an event; REMOVE records are TTL expiries, as many as the inserts over time),
   * and already skips the others, so filtering only saves the invocations.
   */
  readonly streamFilters = {
    tagger: [FilterCriteria.filter({ eventName: FilterRule.isEqual('INSERT') })],
    // Profile items only: the history items the historian itself writes are in the same stream.
    historian: [profileItemsOnly],
  } as const;

  constructor(scope: Construct, id: string, props: TagEngineProps) {
    super(scope, id);
    const { config, settings, profilesTable: profiles } = props;
    const schedule = props.sweeperSchedule ?? sweeperSchedule;

    this.tagger = new PortraitFunction(this, 'Tagger', {
      declaration: functions.tagger,
      config,
      settings,
    });
    // Reads a profile and puts it back (an identity merge puts the link and the profile in one
    // transaction; IAM authorises TransactWriteItems by the actions it contains).
    allow(this.tagger.function, ['dynamodb:GetItem', 'dynamodb:PutItem'], [profiles.tableArn]);

    // Copies the tag changes each profile write carries into history items; its stream source
    // is made by `StreamConsumers`.
    this.historian = new PortraitFunction(this, 'Historian', {
      declaration: functions.historian,
      config,
      settings,
    });
    allow(this.historian.function, ['dynamodb:PutItem'], [profiles.tableArn]);

    this.sweeper = new PortraitFunction(this, 'Sweeper', {
      declaration: functions.sweeper,
      config,
      settings,
    });
    allow(this.sweeper.function, ['dynamodb:GetItem', 'dynamodb:PutItem'], [profiles.tableArn]);
    allow(
      this.sweeper.function,
      ['dynamodb:Query'],
      [`${profiles.tableArn}/index/${dueIndex.name}`],
    );

    this.query = new PortraitFunction(this, 'Query', {
      declaration: functions.query,
      config,
      settings,
    });
    // A profile by key, and its history by a Query on the member's partition.
    allow(this.query.function, ['dynamodb:GetItem', 'dynamodb:Query'], [profiles.tableArn]);
    allow(this.query.function, ['dynamodb:GetItem'], [props.writeKeysTable.tableArn]);
    // A member's segments: its membership state by key (`mm#<member>`), and the definition heads
    // by a Query on their partition, to say why the member is in each.
    allow(this.query.function, ['dynamodb:GetItem'], [props.membershipsTable.tableArn]);
    allow(this.query.function, ['dynamodb:Query'], [props.segmentsTable.tableArn]);

    // An EventBridge rule rather than EventBridge Scheduler: both stop at one-minute rates, and
    // the rule invokes through a Lambda permission scoped to it, with no role to manage; the
    // Scheduler's extras (time zones, one-off and flexible windows) serve nothing here.
    // A missed or failed sweep is never retried: the next one, a period later, reads every member
    // due up to its own start, so a retry could only run stale work alongside it. Overlapping
    // sweeps are harmless, as every profile write is conditional on the version read.
    const sweeper = requireFunction(this.functions, schedule.function, `Schedule "${schedule.id}"`);
    const period = Duration.minutes(schedule.awsEveryMinutes);
    sweeper.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.sweeperRule = new Rule(this, 'SweeperSchedule', {
      description: schedule.description,
      schedule: Schedule.rate(period),
      targets: [new LambdaFunction(sweeper, { retryAttempts: 0, maxEventAge: period })],
    });
  }

  /** The functions this construct built, by declaration id. */
  get functions(): {
    readonly tagger: IFunction;
    readonly sweeper: IFunction;
    readonly historian: IFunction;
    readonly query: IFunction;
  } {
    return {
      tagger: this.tagger.function,
      sweeper: this.sweeper.function,
      historian: this.historian.function,
      query: this.query.function,
    };
  }
}
