import { Duration, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import {
  corsPolicy,
  type HttpMethod as DeclaredMethod,
  routes as declaredRoutes,
  type FunctionId,
  type RouteDeclaration,
} from '../../declarations/index.ts';
import { type FunctionRegistry, requireFunction } from './function-registry.ts';
import { logRetention } from './portrait-function.ts';
import { dataRemovalPolicy } from './removal.ts';

export interface PublicApiProps {
  /** Environment whose throttling and log retention apply. */
  readonly config: EnvironmentConfig;
  /** Functions the routes invoke, by declaration id; every routed function must be present. */
  readonly functions: FunctionRegistry;
  /**
   * Routes to expose.
   * @default - every route in `infra/declarations/routes.ts`
   */
  readonly routes?: readonly RouteDeclaration[];
}

const methods: Readonly<Record<DeclaredMethod, HttpMethod>> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  DELETE: HttpMethod.DELETE,
  PATCH: HttpMethod.PATCH,
};

/**
 * Access log fields. Request headers are left out on purpose: the write key travels in the
 * Authorization header and must never reach a log.
 */
const accessLogFields = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTimeEpoch',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationStatus: '$context.integrationStatus',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
};

/**
 * The public HTTP API: one route per declaration, each integrated with the declared function,
 * a `$default` stage throttled per environment, and JSON access logs.
 *
 * Routes carry no API Gateway authorizer: callers authenticate with scoped keys that the
 * functions check, because Segment clients may put the write key in the JSON body as `writeKey`,
 * where an authorizer cannot see it.
 */
export class PublicApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: PublicApiProps) {
    super(scope, id);
    const { config } = props;

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: `Portrait public API (${config.name})`,
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [...corsPolicy.allowOrigins],
        allowMethods: corsPolicy.allowMethods.map((method) => CorsHttpMethod[method]),
        allowHeaders: [...corsPolicy.allowHeaders],
        maxAge: Duration.seconds(corsPolicy.maxAgeSeconds),
      },
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: logRetention(config),
      removalPolicy: dataRemovalPolicy(config),
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: config.api.throttleRateLimit,
        burstLimit: config.api.throttleBurstLimit,
      },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(accessLogFields)),
      },
    });

    const integrations = new Map<FunctionId, HttpLambdaIntegration>();
    // A streaming route is served by its function's URL (`SegmentExport`): HTTP API cannot stream.
    for (const route of (props.routes ?? declaredRoutes).filter((r) => !r.streaming)) {
      let integration = integrations.get(route.function);
      if (!integration) {
        const handler = requireFunction(props.functions, route.function, `Route ${route.path}`);
        integration = new HttpLambdaIntegration(`${route.function}-integration`, handler);
        integrations.set(route.function, integration);
      }
      const [created] = this.httpApi.addRoutes({
        path: route.path,
        methods: [methods[route.method]],
        integration,
      });
      if (created) {
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            route.scope === null
              ? `${route.method} ${route.path} is public by design: it serves the API document, ` +
                'which holds no data, so that tools can fetch it without a key.'
              : `${route.method} ${route.path} is authorised by the ${route.function} function, which ` +
                `checks the caller's hashed key and its "${route.scope}" scope; Segment clients may send ` +
                'the write key as `writeKey` in the JSON body, which no API Gateway authorizer can read.',
        });
      }
    }
  }

  /** The API's base URL. */
  get url(): string {
    return this.httpApi.apiEndpoint;
  }
}
