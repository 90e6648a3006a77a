import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { functions } from '../../declarations/index.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

export interface AnalyticsApiProps {
  /** Environment whose log retention and removal policy apply. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Runs, RFM summaries and persona cards (written by `NightlyAnalytics`). */
  readonly analyticsTable: ITable;
  /** The keys the API checks. */
  readonly writeKeysTable: ITable;
}

/**
 * The read API of the nightly analytics (`GET /v1/analytics/rfm`, `GET /v1/analytics/personas`):
 * one function that reads the analytics table and the keys, nothing else. The routes come from
 * `infra/declarations/routes.ts` through the stack's function registry.
 */
export class AnalyticsApi extends Construct {
  readonly analytics: PortraitFunction;

  constructor(scope: Construct, id: string, props: AnalyticsApiProps) {
    super(scope, id);
    const { config, settings } = props;
    this.analytics = new PortraitFunction(this, 'Analytics', {
      declaration: functions.analytics,
      config,
      settings,
    });
    allow(
      this.analytics.function,
      ['dynamodb:GetItem', 'dynamodb:Query'],
      [props.analyticsTable.tableArn],
    );
    allow(this.analytics.function, ['dynamodb:GetItem'], [props.writeKeysTable.tableArn]);
  }

  /** The functions this construct built, by declaration id. */
  get functions(): { readonly analytics: IFunction } {
    return { analytics: this.analytics.function };
  }
}
