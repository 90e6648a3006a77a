import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  type FunctionUrl,
  FunctionUrlAuthType,
  HttpMethod,
  InvokeMode,
} from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { corsPolicy, exportRoute, functions } from '../../declarations/index.ts';
import { allow } from './grants.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

export interface SegmentExportProps {
  /** Environment whose log retention and removal policy apply to the function. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
  /** Segment definitions: the export reads a segment's head. */
  readonly segmentsTable: ITable;
  /** Materialised membership: the export pages through a segment's member rows. */
  readonly membershipsTable: ITable;
  /** Hashed API keys; the exporter checks the caller's key and its scope itself. */
  readonly writeKeysTable: ITable;
}

/**
 * The streaming export of a segment (`GET /v1/segments/{id}/export`). API Gateway's HTTP API
 * cannot stream and caps an answer at 6 MB, a fraction of a large segment, so the exporter is
 * served by its own Lambda Function URL in `RESPONSE_STREAM` mode, at the same path, and is not a
 * route of the HTTP API. The URL has no IAM auth: marketing tools authenticate with the same
 * scoped keys as on the rest of the API, which the function checks before the first byte.
 */
export class SegmentExport extends Construct {
  readonly exporter: PortraitFunction;
  readonly url: FunctionUrl;

  constructor(scope: Construct, id: string, props: SegmentExportProps) {
    super(scope, id);
    const { config, settings } = props;

    this.exporter = new PortraitFunction(this, 'Exporter', {
      declaration: functions.exporter,
      config,
      settings,
    });
    // The segment's head by key, the caller's key record by key, and the member rows one Query
    // per shard partition (`sm#<segment>#<shard>`); it writes nothing.
    allow(this.exporter.function, ['dynamodb:GetItem'], [props.segmentsTable.tableArn]);
    allow(this.exporter.function, ['dynamodb:GetItem'], [props.writeKeysTable.tableArn]);
    allow(this.exporter.function, ['dynamodb:Query'], [props.membershipsTable.tableArn]);

    this.url = this.exporter.function.addFunctionUrl({
      authType: FunctionUrlAuthType.NONE,
      invokeMode: InvokeMode.RESPONSE_STREAM,
      cors: {
        allowedOrigins: [...corsPolicy.allowOrigins],
        allowedMethods: [HttpMethod[exportRoute.method]],
        allowedHeaders: ['authorization', 'accept'],
        maxAge: Duration.seconds(corsPolicy.maxAgeSeconds),
      },
    });
  }

  /** The functions this construct built, by declaration id. */
  get functions(): { readonly exporter: PortraitFunction['function'] } {
    return { exporter: this.exporter.function };
  }
}
