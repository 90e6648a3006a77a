import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { functions } from '../../declarations/index.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

export interface SegmentsProps {
  /** Environment whose log retention and removal policy apply to the function. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Segment definitions: the current head of every segment and every saved version. */
  readonly segmentsTable: ITable;
  /** Hashed API keys; the segments function checks callers and their scopes against them. */
  readonly writeKeysTable: ITable;
}

/**
 * Segment definitions: the segments function answers the definitions API (create, list, read,
 * edit, delete, read a version). Its routes are made by `PublicApi`, which finds the function
 * in the registry (`functions`).
 */
export class Segments extends Construct {
  readonly segments: PortraitFunction;

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
  }

  /** The functions this construct built, by declaration id. */
  get functions(): { readonly segments: IFunction } {
    return { segments: this.segments.function };
  }
}
