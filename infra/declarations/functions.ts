/**
 * Lambda functions, declared once: the CDK app bundles `entry` with esbuild; the local runtime
 * imports the same module and calls its exported `handler`.
 */

export interface FunctionDeclaration {
  readonly id: FunctionId;
  readonly description: string;
  /** Path of the handler module, relative to the repository root. */
  readonly entry: string;
  readonly memoryMiB: number;
  readonly timeoutSeconds: number;
  /**
   * Packages with native code: installed beside the bundle (for the function's architecture)
   * instead of bundled, which esbuild cannot do for `.node` binaries.
   * @default - none; everything is bundled
   */
  readonly nativeModules?: readonly string[];
  /**
   * Repository files the handler reads at run time (SQL), copied into the bundle at the same
   * relative path, where `bundledFileUrl` finds them.
   * @default - none
   */
  readonly bundledFiles?: readonly string[];
  /**
   * Size of `/tmp` in MiB (512–10240), for functions that stage files there.
   * @default 512
   */
  readonly ephemeralStorageMiB?: number;
}

export type FunctionId =
  | 'collect'
  | 'ingest'
  | 'tagger'
  | 'sweeper'
  | 'historian'
  | 'query'
  | 'segments'
  | 'segmenter'
  | 'backfiller'
  | 'webhooks'
  | 'notifier'
  | 'deliverer'
  | 'openapi'
  | 'exporter'
  | 'archiver'
  | 'compactor'
  | 'erasures'
  | 'eraser'
  | 'analytics'
  | 'nightly-run'
  | 'nightly-cluster'
  | 'nightly-personas'
  | 'nightly-write-back';

export const functions: Readonly<Record<FunctionId, FunctionDeclaration>> = {
  collect: {
    id: 'collect',
    description: 'Validates Segment-Spec events and packs them onto the events queue',
    entry: 'functions/collect/handler.ts',
    memoryMiB: 512,
    timeoutSeconds: 10,
  },
  ingest: {
    id: 'ingest',
    description: 'Writes queued events to the events table, deduplicated by messageId',
    entry: 'functions/ingest/handler.ts',
    memoryMiB: 512,
    timeoutSeconds: 60,
  },
  tagger: {
    id: 'tagger',
    description: 'Folds the events stream into member profiles and re-evaluates their tags',
    entry: 'functions/tagger/handler.ts',
    memoryMiB: 1024,
    timeoutSeconds: 120,
  },
  sweeper: {
    id: 'sweeper',
    description: 'Re-evaluates members whose windowed tags are due to change with the clock',
    entry: 'functions/sweeper/handler.ts',
    memoryMiB: 1024,
    timeoutSeconds: 120,
  },
  historian: {
    id: 'historian',
    description: 'Records tag changes from the profiles stream as member tag history',
    entry: 'functions/historian/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 60,
  },
  query: {
    id: 'query',
    description: 'Answers the read API: members, their tags with reasons, and tag history',
    entry: 'functions/query/handler.ts',
    memoryMiB: 512,
    timeoutSeconds: 10,
  },
  segments: {
    id: 'segments',
    description: 'Segment definitions API: create, edit, delete, list, read versions',
    entry: 'functions/segments/handler.ts',
    memoryMiB: 512,
    timeoutSeconds: 10,
  },
  segmenter: {
    id: 'segmenter',
    description: 'Keeps segment membership materialised from the profiles stream',
    entry: 'functions/segmenter/handler.ts',
    memoryMiB: 1024,
    timeoutSeconds: 120,
  },
  backfiller: {
    id: 'backfiller',
    description: 'Brings existing members into segments created or edited since, run by run',
    entry: 'functions/backfiller/handler.ts',
    memoryMiB: 1024,
    timeoutSeconds: 120,
  },
  webhooks: {
    id: 'webhooks',
    description: 'Segment webhooks API: subscribe, list, unsubscribe',
    entry: 'functions/webhooks/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 10,
  },
  notifier: {
    id: 'notifier',
    description: 'Turns segment ledger entries into webhook deliveries on the webhook queue',
    entry: 'functions/notifier/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 60,
  },
  deliverer: {
    id: 'deliverer',
    description: 'Posts signed webhook deliveries to subscribers, retrying with backoff',
    entry: 'functions/deliverer/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 60,
  },
  openapi: {
    id: 'openapi',
    description: 'Serves the OpenAPI 3.1 document of the HTTP API, generated from its schemas',
    entry: 'functions/openapi/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 10,
  },
  exporter: {
    id: 'exporter',
    description: 'Streams a whole segment as NDJSON or CSV (Lambda response streaming)',
    entry: 'functions/exporter/handler.ts',
    memoryMiB: 512,
    // The longest Lambda allows: a segment of millions streams for minutes.
    timeoutSeconds: 900,
  },
  archiver: {
    id: 'archiver',
    description: 'Copies the events stream to the event lake, gzip NDJSON by UTC day',
    entry: 'functions/archiver/handler.ts',
    memoryMiB: 512,
    timeoutSeconds: 60,
  },
  compactor: {
    id: 'compactor',
    description: 'Compacts lake days into Parquet, one row per event',
    entry: 'functions/compactor/handler.ts',
    // DuckDB deduplicates a day in memory and spills to /tmp, where the day's files are staged.
    memoryMiB: 3008,
    timeoutSeconds: 900,
    nativeModules: ['@duckdb/node-api'],
    ephemeralStorageMiB: 4096,
  },
  erasures: {
    id: 'erasures',
    description: 'Erasure API: start a member erasure, read its receipt',
    entry: 'functions/erasures/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 10,
  },
  eraser: {
    id: 'eraser',
    description: 'Erases a member from every store, records the receipt, suppresses the ids',
    entry: 'functions/eraser/handler.ts',
    memoryMiB: 512,
    timeoutSeconds: 300,
    // DuckDB rewrites Parquet lake files without the erased member's rows.
    nativeModules: ['@duckdb/node-api'],
  },
  analytics: {
    id: 'analytics',
    description: 'Nightly analytics read API: RFM grid and segment table, persona cards and drift',
    entry: 'functions/analytics/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 10,
  },
  'nightly-run': {
    id: 'nightly-run',
    description:
      'Nightly analytics: plans a run (id, dates, RFM statement) and records its outcome',
    entry: 'functions/nightly-run/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 30,
    // Plan renders the Athena statement from shared/sql/rfm.sql; rfm-job.ts imports DuckDB.
    bundledFiles: ['shared/sql/rfm.sql'],
    nativeModules: ['@duckdb/node-api'],
  },
  'nightly-cluster': {
    id: 'nightly-cluster',
    description: 'Nightly analytics: standardised features, k choice and k-means over the RFM rows',
    entry: 'functions/nightly-cluster/handler.ts',
    // A million members' rows and features are held in memory (about 1.5 GB).
    memoryMiB: 4096,
    timeoutSeconds: 900,
  },
  'nightly-personas': {
    id: 'nightly-personas',
    description: 'Nightly analytics: persona cards, drift, RFM summary and each member persona id',
    entry: 'functions/nightly-personas/handler.ts',
    memoryMiB: 4096,
    timeoutSeconds: 900,
  },
  'nightly-write-back': {
    id: 'nightly-write-back',
    description: 'Nightly analytics: writes changed results back to the profiles of one shard',
    entry: 'functions/nightly-write-back/handler.ts',
    // Builds every member's results from the run's RFM rows: at 1M members ~1.4 GB of heap while
    // the rows and the results are both held.
    memoryMiB: 4096,
    timeoutSeconds: 900,
  },
};
