/**
 * The RFM step's rows as the cluster, persona and write-back steps read them: gzip NDJSON as
 * DuckDB's COPY (gzipped by the job) and Athena's UNLOAD write it, checked row by row into
 * `RfmRow`s. No DuckDB here: the readers' Lambda bundles need none.
 */
import type { LakeStore, RfmRow } from '../domain/analytics/contracts.ts';
import { rfmClass8Names, valueTiers } from '../domain/segments/segment-definition.ts';
import { forEachGzipLine } from './nightly/lake-files.ts';

/** A file of RFM rows that does not hold RFM rows. */
export class InvalidRfmRowError extends Error {
  readonly code = 'invalid_rfm_row';
  constructor(source: string, line: number, why: string) {
    super(`${source}, line ${line}: ${why}`);
    this.name = 'InvalidRfmRowError';
  }
}

/** Exact decimal text in its shortest form: `"123.450000"` → `"123.45"`, `"0.000000"` → `"0"`. */
function canonicalDecimal(text: string): string | undefined {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return undefined;
  const whole = (match[2] ?? '0').replace(/^0+(?=\d)/, '');
  const fraction = (match[3] ?? '').replace(/0+$/, '');
  const negative = match[1] === '-' && (whole !== '0' || fraction !== '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

// The field readers take the row and its place rather than closing over them: a million rows
// are read per night, and closures made per row cost about a second of it.
type Fields = Record<string, unknown>;

function textField(o: Fields, name: string, source: string, line: number): string {
  const v = o[name];
  if (typeof v !== 'string') throw new InvalidRfmRowError(source, line, `${name} is not text`);
  return v;
}

function wholeField(o: Fields, name: string, source: string, line: number): number {
  const raw = o[name];
  const v = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new InvalidRfmRowError(source, line, `${name} is not a whole number`);
  }
  return v;
}

function scoreField(o: Fields, name: string, source: string, line: number): number {
  const v = wholeField(o, name, source, line);
  if (v < 1 || v > 5) throw new InvalidRfmRowError(source, line, `${name} is not a score 1–5`);
  return v;
}

const class8Names: ReadonlySet<string> = new Set(rfmClass8Names);
const valueTierNames: ReadonlySet<string> = new Set(valueTiers);

function rowOf(value: unknown, source: string, line: number): RfmRow {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidRfmRowError(source, line, 'not an object');
  }
  // Athena writes column names in lower case; DuckDB as written. Both are snake_case here.
  const o = value as Fields;
  const monetary = canonicalDecimal(textField(o, 'monetary', source, line));
  if (monetary === undefined)
    throw new InvalidRfmRowError(source, line, 'monetary is not a decimal');
  const class8 = textField(o, 'class8', source, line);
  if (!class8Names.has(class8)) throw new InvalidRfmRowError(source, line, 'class8 is unknown');
  const valueTier = textField(o, 'value_tier', source, line);
  if (!valueTierNames.has(valueTier)) {
    throw new InvalidRfmRowError(source, line, 'value_tier is unknown');
  }
  const aov =
    typeof o.average_order_value === 'string'
      ? Number(o.average_order_value)
      : o.average_order_value;
  if (typeof aov !== 'number' || !Number.isFinite(aov)) {
    throw new InvalidRfmRowError(source, line, 'average_order_value is not a number');
  }
  return {
    memberId: textField(o, 'member_id', source, line),
    lastOrderDate: textField(o, 'last_order_date', source, line),
    firstOrderDate: textField(o, 'first_order_date', source, line),
    recencyDays: wholeField(o, 'recency_days', source, line),
    frequency: wholeField(o, 'frequency', source, line),
    monetary,
    r: scoreField(o, 'r', source, line),
    f: scoreField(o, 'f', source, line),
    m: scoreField(o, 'm', source, line),
    score: textField(o, 'score', source, line),
    segment: textField(o, 'segment', source, line),
    class8,
    valueTier: valueTier as RfmRow['valueTier'],
    distinctProducts: wholeField(o, 'distinct_products', source, line),
    averageOrderValue: aov,
    tenureDays: wholeField(o, 'tenure_days', source, line),
  };
}

/** The RFM rows in the given lake files (gzip NDJSON, as DuckDB's COPY and Athena's UNLOAD write). */
export async function readRfmRows(store: LakeStore, keys: readonly string[]): Promise<RfmRow[]> {
  const rows: RfmRow[] = [];
  for (const key of keys) {
    const body = await store.get(key);
    if (body === undefined) throw new InvalidRfmRowError(key, 0, 'no such lake file');
    await forEachGzipLine(body, (line, number) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new InvalidRfmRowError(key, number, 'not JSON');
      }
      rows.push(rowOf(parsed, key, number));
    });
  }
  return rows;
}
