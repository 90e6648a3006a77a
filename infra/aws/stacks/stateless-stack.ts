import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';
import { Alarms } from '../constructs/alarms.ts';
import { AnalyticsApi } from '../constructs/analytics-api.ts';
import { ApiDocument } from '../constructs/api-document.ts';
import { Erasure } from '../constructs/erasure.ts';
import { EventLake } from '../constructs/event-lake.ts';
import type { FunctionRegistry } from '../constructs/function-registry.ts';
import { Ingest } from '../constructs/ingest.ts';
import { NightlyAnalytics } from '../constructs/nightly-analytics.ts';
import { runtimeSettings } from '../constructs/portrait-function.ts';
import { PublicApi } from '../constructs/public-api.ts';
import { SegmentExport } from '../constructs/segment-export.ts';
import { Segments } from '../constructs/segments.ts';
import { StreamConsumers } from '../constructs/stream-consumers.ts';
import { TagEngine } from '../constructs/tag-engine.ts';
import { Webhooks } from '../constructs/webhooks.ts';
import type { StatefulStack } from './stateful-stack.ts';

export interface StatelessStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /** The tables and queues the functions read and write. */
  readonly stateful: StatefulStack;
}

/** Functions, the HTTP API, event source mappings and alarms: safe to destroy and redeploy. */
export class StatelessStack extends Stack {
  readonly ingest: Ingest;
  readonly tagEngine: TagEngine;
  readonly segments: Segments;
  readonly webhooks: Webhooks;
  readonly segmentExport: SegmentExport;
  readonly erasure: Erasure;
  readonly api: PublicApi;
  readonly apiDocument: ApiDocument;
  readonly analyticsApi: AnalyticsApi;
  readonly nightlyAnalytics: NightlyAnalytics;
  readonly streamConsumers: StreamConsumers;
  readonly eventLake: EventLake;
  readonly alarms: Alarms;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { eventStore, eventQueue, webhookQueue, erasureQueue } = props.stateful;
    const settings = runtimeSettings(config, {
      tables: eventStore.tables,
      eventsQueue: eventQueue.queue,
      webhooksQueue: webhookQueue.queue,
      lakeBucket: props.stateful.eventLake.bucket,
      erasuresQueue: erasureQueue.queue,
    });

    this.ingest = new Ingest(this, 'Ingest', {
      config,
      settings,
      eventsTable: eventStore.table('events'),
      writeKeysTable: eventStore.table('write-keys'),
      eventsQueue: eventQueue.queue,
      queueDeclaration: eventQueue.declaration,
    });
    this.tagEngine = new TagEngine(this, 'TagEngine', {
      config,
      settings,
      profilesTable: eventStore.table('profiles'),
      writeKeysTable: eventStore.table('write-keys'),
      segmentsTable: eventStore.table('segments'),
      membershipsTable: eventStore.table('memberships'),
    });
    // Only ingest (protects personal fields) and query (reveals them) load the personal-data key.
    props.stateful.personalDataKey.grantUse(this.ingest.ingest);
    props.stateful.personalDataKey.grantUse(this.tagEngine.query);
    this.segments = new Segments(this, 'Segments', {
      config,
      settings,
      segmentsTable: eventStore.table('segments'),
      membershipsTable: eventStore.table('memberships'),
      writeKeysTable: eventStore.table('write-keys'),
      profilesTable: eventStore.table('profiles'),
    });
    this.webhooks = new Webhooks(this, 'Webhooks', {
      config,
      settings,
      segmentsTable: eventStore.table('segments'),
      writeKeysTable: eventStore.table('write-keys'),
      queue: webhookQueue.queue,
    });
    this.apiDocument = new ApiDocument(this, 'ApiDocument', { config, settings });
    this.segmentExport = new SegmentExport(this, 'SegmentExport', {
      config,
      settings,
      segmentsTable: eventStore.table('segments'),
      membershipsTable: eventStore.table('memberships'),
      writeKeysTable: eventStore.table('write-keys'),
    });
    this.analyticsApi = new AnalyticsApi(this, 'AnalyticsApi', {
      config,
      settings,
      analyticsTable: eventStore.table('analytics'),
      writeKeysTable: eventStore.table('write-keys'),
    });
    this.eventLake = new EventLake(this, 'EventLake', {
      config,
      settings,
      bucketArnExportName: props.stateful.eventLake.bucketArnExportName,
    });
    this.erasure = new Erasure(this, 'Erasure', {
      config,
      settings,
      tables: eventStore.tables,
      queue: erasureQueue.queue,
      lakeBucketArnExportName: props.stateful.eventLake.bucketArnExportName,
      suppressionReaders: [
        this.ingest.collect.function,
        this.ingest.ingest.function,
        this.webhooks.deliverer.function,
        this.tagEngine.tagger.function,
        this.tagEngine.historian.function,
        this.segments.segmenter.function,
      ],
    });
    this.nightlyAnalytics = new NightlyAnalytics(this, 'NightlyAnalytics', {
      config,
      settings,
      // By the exported ARN, as EventLake does: no cross-stack reference to the bucket construct.
      lakeBucket: Bucket.fromBucketArn(
        this,
        'LakeBucket',
        Fn.importValue(props.stateful.eventLake.bucketArnExportName),
      ),
      lakeDatabaseName: props.stateful.eventLake.databaseName,
      compactor: this.eventLake.compactor.function,
      profilesTable: eventStore.table('profiles'),
      analyticsTable: eventStore.table('analytics'),
    });
    const functions: FunctionRegistry = {
      ...this.ingest.functions,
      ...this.tagEngine.functions,
      ...this.segments.functions,
      ...this.webhooks.functions,
      ...this.apiDocument.functions,
      ...this.segmentExport.functions,
      ...this.analyticsApi.functions,
      ...this.eventLake.functions,
      ...this.erasure.functions,
      ...this.nightlyAnalytics.functions,
    };

    this.api = new PublicApi(this, 'PublicApi', { config, functions });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'ExportUrl', {
      description: 'Base URL of GET /v1/segments/{id}/export (Lambda response streaming)',
      value: this.segmentExport.url.url,
    });
    this.streamConsumers = new StreamConsumers(this, 'StreamConsumers', {
      config,
      tables: eventStore.tables,
      functions,
      filters: {
        ...this.tagEngine.streamFilters,
        ...this.segments.streamFilters,
        ...this.webhooks.streamFilters,
        ...this.eventLake.streamFilters,
      },
    });

    const deadLetterQueues = {
      [eventQueue.declaration.id]: eventQueue.deadLetterQueue,
      [webhookQueue.declaration.id]: webhookQueue.deadLetterQueue,
      [erasureQueue.declaration.id]: erasureQueue.deadLetterQueue,
    };
    if (this.streamConsumers.failureQueue) {
      deadLetterQueues['stream-failures'] = this.streamConsumers.failureQueue;
    }
    this.alarms = new Alarms(this, 'Alarms', {
      config,
      deadLetterQueues,
      functions,
      streamConsumers: this.streamConsumers.functions,
      httpApis: { public: this.api.httpApi },
    });
  }
}
