import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { functions } from '../../declarations/index.ts';
import { PortraitFunction, type RuntimeSettings } from './portrait-function.ts';

export interface ApiDocumentProps {
  /** Environment whose log retention and removal policy apply to the function. */
  readonly config: EnvironmentConfig;
  /** Runtime settings shared by every function of the stack (see `runtimeSettings`). */
  readonly settings: RuntimeSettings;
}

/**
 * The API document: a function that serves the OpenAPI 3.1 document generated from the route
 * declarations and request schemas in its bundle. It reads no table and holds no permission
 * beyond its own log group; its public route is made by `PublicApi`.
 */
export class ApiDocument extends Construct {
  readonly openapi: PortraitFunction;

  constructor(scope: Construct, id: string, props: ApiDocumentProps) {
    super(scope, id);
    this.openapi = new PortraitFunction(this, 'OpenApi', {
      declaration: functions.openapi,
      config: props.config,
      settings: props.settings,
    });
  }

  /** The functions this construct built, by declaration id. */
  get functions(): { readonly openapi: IFunction } {
    return { openapi: this.openapi.function };
  }
}
