import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import type { FunctionRegistry } from './function-registry.ts';

/** The window every alarm sums or maxes over, matching the config's "in 5 minutes" thresholds. */
const alarmPeriod = Duration.minutes(5);

/**
 * How far a stream consumer may fall behind before its alarm fires. Normal lag is the batching
 * window (about a second); five minutes means a batch has been failing and retrying, or the
 * consumer cannot keep up, and the tags it maintains are that stale.
 */
export const defaultIteratorAgeThreshold = Duration.minutes(5);

export interface AlarmsProps {
  /** Environment whose thresholds and notification topic apply. */
  readonly config: EnvironmentConfig;
  /**
   * Dead-letter queues by name; an alarm fires when one holds `dlqDepthThreshold` messages.
   * @default - none
   */
  readonly deadLetterQueues?: Readonly<Record<string, IQueue>>;
  /**
   * Functions by declaration id; each gets an errors and a throttles alarm.
   * @default - none
   */
  readonly functions?: FunctionRegistry;
  /**
   * Functions that read a DynamoDB stream, by declaration id; each gets an iterator-age alarm.
   * @default - none
   */
  readonly streamConsumers?: FunctionRegistry;
  /**
   * Age of the oldest record a stream consumer has read (maximum) at which its alarm fires.
   * @default - `defaultIteratorAgeThreshold` (5 minutes)
   */
  readonly iteratorAgeThreshold?: Duration;
  /**
   * HTTP APIs by name; each gets a 5xx alarm at `functionErrorsThreshold`. HTTP APIs publish no
   * throttle metric (throttled requests are counted as 4xx), so throttling is watched on the
   * functions behind them.
   * @default - none
   */
  readonly httpApis?: Readonly<Record<string, IHttpApi>>;
}

/**
 * CloudWatch alarms on everything that signals lost or stuck work, with thresholds from the
 * environment config. When the config names an SNS topic, every alarm notifies it.
 */
export class Alarms extends Construct {
  readonly alarms: Alarm[] = [];
  /** The topic alarms notify, when the environment configures one. */
  readonly notifyTopic?: ITopic;
  private readonly config: EnvironmentConfig;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.config = props.config;
    const { alarms } = props.config;
    if (alarms.notifyTopicArn) {
      this.notifyTopic = Topic.fromTopicArn(this, 'NotifyTopic', alarms.notifyTopicArn);
    }

    for (const [name, queue] of Object.entries(props.deadLetterQueues ?? {})) {
      this.add(`DeadLetters-${name}`, {
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: alarmPeriod,
          statistic: Stats.MAXIMUM,
        }),
        threshold: alarms.dlqDepthThreshold,
        description: `Messages are waiting in the ${name} dead-letter queue: inspect, fix, redrive.`,
      });
    }
    for (const [name, fn] of Object.entries(props.functions ?? {})) {
      if (!fn) continue;
      this.add(`Errors-${name}`, {
        metric: fn.metricErrors({ period: alarmPeriod, statistic: Stats.SUM }),
        threshold: alarms.functionErrorsThreshold,
        description: `The ${name} function reported errors.`,
      });
      this.add(`Throttles-${name}`, {
        metric: fn.metricThrottles({ period: alarmPeriod, statistic: Stats.SUM }),
        threshold: alarms.throttlesThreshold,
        description: `Invocations of the ${name} function were throttled.`,
      });
    }
    const iteratorAge = props.iteratorAgeThreshold ?? defaultIteratorAgeThreshold;
    for (const [name, fn] of Object.entries(props.streamConsumers ?? {})) {
      if (!fn) continue;
      this.add(`IteratorAge-${name}`, {
        // Lambda publishes IteratorAge in milliseconds for stream event sources.
        metric: fn.metric('IteratorAge', { period: alarmPeriod, statistic: Stats.MAXIMUM }),
        threshold: iteratorAge.toMilliseconds(),
        description:
          `The ${name} function is more than ${iteratorAge.toHumanString()} behind its stream: ` +
          'a batch keeps failing or the consumer cannot keep up.',
      });
    }
    for (const [name, api] of Object.entries(props.httpApis ?? {})) {
      this.add(`ServerErrors-${name}`, {
        metric: api.metricServerError({ period: alarmPeriod, statistic: Stats.SUM }),
        threshold: alarms.functionErrorsThreshold,
        description: `The ${name} HTTP API answered with 5xx responses.`,
      });
    }
  }

  private add(
    id: string,
    options: { readonly metric: Metric; readonly threshold: number; readonly description: string },
  ): void {
    const alarm = new Alarm(this, id, {
      metric: options.metric,
      threshold: options.threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: `[${this.config.name}] ${options.description}`,
    });
    if (this.notifyTopic) alarm.addAlarmAction(new SnsAction(this.notifyTopic));
    this.alarms.push(alarm);
  }
}
