/**
 * The event lake's row: one stored event, flattened for SQL. The archiver writes it as gzip NDJSON
 * (one JSON object per line, read by Athena's JSON SerDe and DuckDB's `read_json`); compaction
 * rewrites a day as Parquet with the same columns. The column list below is the one the Glue
 * tables, the DuckDB views and the Parquet files declare. Pure: no I/O.
 */
import { canonicalEventName } from '../../../events/catalogue.ts';
import type { JsonObject, JsonValue, PortraitEvent } from '../../../events/envelope.ts';
import { decimalToMicro, formatMicro } from '../tags/decimal.ts';
import { dateToDay, parseTimestamp } from '../tags/zone-calendar.ts';

export interface LakeProduct {
  readonly sku: string | null;
  readonly category: string | null;
  /** Unit price, exact decimal text quantised to 1e-6 as the tag engine reads money. */
  readonly price: string | null;
  readonly quantity: number | null;
}

/** One lake row. Absent values are `null`, so every line has every column. */
export interface LakeRow {
  readonly messageId: string;
  /** The events table's partition key (`u#…` / `a#…`): with `messageId`, the dedup key. */
  readonly memberKey: string;
  readonly userId: string | null;
  readonly anonymousId: string | null;
  readonly type: string;
  /** `track`: the name as sent (`Order Completed`). */
  readonly event: string | null;
  /** `track`: the catalogue key (`order_completed`), which the SQL filters on. */
  readonly eventKey: string | null;
  /** ISO-8601 UTC, when it happened. */
  readonly timestamp: string;
  readonly receivedAt: string;
  readonly sourceId: string;
  readonly orderId: string | null;
  /** Exact decimal text quantised to 1e-6 (`"19.9"`); `null` when absent or unreadable. */
  readonly revenue: string | null;
  readonly currency: string | null;
  readonly products: readonly LakeProduct[];
  /** Distinct non-empty product SKUs, for SQL that counts products without unnesting structs. */
  readonly skus: readonly string[];
  /**
   * `properties` as JSON text without `products` (already in `products`, and most of an order's
   * size); `traits` and `context` whole.
   */
  readonly properties: string | null;
  readonly traits: string | null;
  readonly context: string | null;
}

/** A lake column: its name and types in the NDJSON tables, and in Parquet where they differ. */
export interface LakeColumn {
  readonly name: string;
  readonly athena: string;
  readonly duckdb: string;
  readonly parquetAthena?: string;
  readonly parquetDuckdb?: string;
}

/** Column names and types, in order: the Glue tables and the DuckDB views are built from this. */
export const lakeColumns: readonly LakeColumn[] = [
  { name: 'messageId', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'memberKey', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'userId', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'anonymousId', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'type', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'event', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'eventKey', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'timestamp', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'receivedAt', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'sourceId', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'orderId', athena: 'string', duckdb: 'VARCHAR' },
  // Typed in Parquet: compaction casts the text once, so the nightly SQL sums without parsing.
  {
    name: 'revenue',
    athena: 'string',
    duckdb: 'VARCHAR',
    parquetAthena: 'decimal(38,6)',
    parquetDuckdb: 'DECIMAL(38, 6)',
  },
  { name: 'currency', athena: 'string', duckdb: 'VARCHAR' },
  {
    name: 'products',
    athena: 'array<struct<sku:string,category:string,price:string,quantity:int>>',
    duckdb: 'STRUCT(sku VARCHAR, category VARCHAR, price VARCHAR, quantity INTEGER)[]',
  },
  { name: 'skus', athena: 'array<string>', duckdb: 'VARCHAR[]' },
  { name: 'properties', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'traits', athena: 'string', duckdb: 'VARCHAR' },
  { name: 'context', athena: 'string', duckdb: 'VARCHAR' },
];

/** The lake's folder of raw event rows (the archiver's gzip NDJSON); days are `events/dt=YYYY-MM-DD/`. */
export const LAKE_EVENTS_PREFIX = 'events/';
/** Archiver files end so. */
export const LAKE_FILE_SUFFIX = '.ndjson.gz';
/** The lake's folder of compacted days (Parquet); days are `events-parquet/dt=YYYY-MM-DD/`. */
export const LAKE_PARQUET_PREFIX = 'events-parquet/';
/** Compaction's output files end so. */
export const LAKE_PARQUET_SUFFIX = '.parquet';
/** Both folders of event rows: a day may have files in either or both until compacted. */
export const LAKE_EVENT_PREFIXES = [LAKE_EVENTS_PREFIX, LAKE_PARQUET_PREFIX] as const;

/**
 * A column's name in the Parquet files: lower case, as the Glue catalogue stores column names,
 * so Athena matches them by name without relying on case folding; DuckDB resolves identifiers
 * case-insensitively, so the SQL's `memberKey` reads both formats.
 */
export function parquetColumnName(name: string): string {
  return name.toLowerCase();
}

const dayPattern = /^\d{4}-\d{2}-\d{2}$/;

/** A day that is not a real `YYYY-MM-DD` date. */
export class InvalidLakeDayError extends Error {
  readonly code = 'invalid_day';
  constructor(readonly day: unknown) {
    super(`A lake day must be a date YYYY-MM-DD, not ${JSON.stringify(day)}`);
    this.name = 'InvalidLakeDayError';
  }
}

/** Checks a `YYYY-MM-DD` day and returns it. */
export function checkLakeDay(day: unknown): string {
  if (typeof day !== 'string' || !dayPattern.test(day) || dateToDay(day) === undefined) {
    throw new InvalidLakeDayError(day);
  }
  return day;
}

/** The folder of one day's raw rows: `events/dt=2026-11-25/`. */
export function lakeDayPrefix(day: string): string {
  return `${LAKE_EVENTS_PREFIX}dt=${checkLakeDay(day)}/`;
}

/** The folder of one day's compacted rows: `events-parquet/dt=2026-11-25/`. */
export function lakeParquetDayPrefix(day: string): string {
  return `${LAKE_PARQUET_PREFIX}dt=${checkLakeDay(day)}/`;
}

/**
 * The partition day of an event: the UTC date of its `timestamp`. UTC, not the brand zone, so the
 * layout never depends on configuration; queries widen their `dt` range by a day on each side
 * and then filter on the brand-zone date exactly.
 */
export function lakeDayOf(event: Pick<PortraitEvent, 'timestamp'>): string {
  const ms = parseTimestamp(event.timestamp);
  if (Number.isNaN(ms)) throw new InvalidLakeDayError(event.timestamp);
  return new Date(ms).toISOString().slice(0, 10);
}

function text(value: JsonValue | undefined): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/** Money as the tag engine reads it (quantised to 1e-6), as exact text; `null` if unreadable. */
function money(value: JsonValue | undefined): string | null {
  const micro = decimalToMicro(value);
  return micro === undefined ? null : formatMicro(micro);
}

function products(value: JsonValue | undefined): LakeProduct[] {
  if (!Array.isArray(value)) return [];
  const out: LakeProduct[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
    const quantity = item.quantity;
    out.push({
      sku: text(item.sku),
      category: text(item.category),
      price: money(item.price),
      quantity: typeof quantity === 'number' && Number.isSafeInteger(quantity) ? quantity : null,
    });
  }
  return out;
}

function otherProperties(properties: JsonObject | undefined): JsonObject | undefined {
  if (properties === undefined || !('products' in properties)) return properties;
  const { products: _products, ...rest } = properties;
  return rest;
}

function json(value: JsonValue | undefined): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** The lake row of a stored event (`memberKey` is the events table's partition key). */
export function lakeRowOf(event: PortraitEvent, memberKey: string): LakeRow {
  const properties = event.properties;
  const lines = products(properties?.products);
  const skus = [...new Set(lines.map((line) => line.sku).filter((sku) => sku !== null))];
  return {
    messageId: event.messageId,
    memberKey,
    userId: event.userId ?? null,
    anonymousId: event.anonymousId ?? null,
    type: event.type,
    event: event.event ?? null,
    eventKey: event.event === undefined ? null : canonicalEventName(event.event),
    timestamp: event.timestamp,
    receivedAt: event.receivedAt,
    sourceId: event.sourceId,
    orderId: text(properties?.orderId),
    revenue: money(properties?.revenue),
    currency: text(properties?.currency),
    products: lines,
    skus,
    properties: json(otherProperties(properties)),
    traits: json(event.traits),
    context: json(event.context),
  };
}

/** The dedup identity of a row: the events table's key (member key and messageId). */
export function lakeRowIdentity(row: Pick<LakeRow, 'memberKey' | 'messageId'>): string {
  return `${row.memberKey}\u0000${row.messageId}`;
}

/**
 * One row per identity, in a deterministic order (timestamp, then member key, then messageId),
 * whatever order and repetitions the input had. Copies of one stored event are identical, so
 * which copy survives does not matter; the first seen is kept.
 */
export function dedupeLakeRows(rows: Iterable<LakeRow>): LakeRow[] {
  const seen = new Map<string, LakeRow>();
  for (const row of rows) {
    const identity = lakeRowIdentity(row);
    if (!seen.has(identity)) seen.set(identity, row);
  }
  return [...seen.values()].sort(
    (a, b) =>
      compare(a.timestamp, b.timestamp) ||
      compare(a.memberKey, b.memberKey) ||
      compare(a.messageId, b.messageId),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** NDJSON text of rows, one per line, each line ending in `\n`. */
export function encodeLakeRows(rows: readonly LakeRow[]): string {
  let out = '';
  for (const row of rows) out += `${JSON.stringify(row)}\n`;
  return out;
}

/** A lake file's line that is not a lake row. */
export class InvalidLakeRowError extends Error {
  readonly code = 'invalid_lake_row';
  constructor(
    readonly source: string,
    readonly line: number,
  ) {
    super(`${source}, line ${line}: not a lake row`);
    this.name = 'InvalidLakeRowError';
  }
}

/** Rows of NDJSON text; throws {@link InvalidLakeRowError} on a line that is not a row. */
export function decodeLakeRows(ndjson: string, source: string): LakeRow[] {
  const rows: LakeRow[] = [];
  const lines = ndjson.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new InvalidLakeRowError(source, i + 1);
    }
    const row = parsed as Partial<LakeRow> | null;
    if (
      typeof row !== 'object' ||
      row === null ||
      typeof row.messageId !== 'string' ||
      typeof row.memberKey !== 'string' ||
      typeof row.timestamp !== 'string'
    ) {
      throw new InvalidLakeRowError(source, i + 1);
    }
    rows.push(row as LakeRow);
  }
  return rows;
}
