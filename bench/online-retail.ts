import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** One invoice line of UCI Online Retail (../shared/data/online_retail.csv.gz). */
export interface RetailLine {
  readonly invoiceNo: string;
  readonly stockCode: string;
  readonly description: string;
  readonly quantity: number;
  readonly invoiceDate: string;
  readonly unitPrice: string;
  readonly customerId: string;
  readonly country: string;
}

/** `../shared/data/online_retail.csv.gz` beside the repository, or in `PORTRAIT_SHARED_DATA`. */
export const onlineRetailPath = resolve(
  process.env.PORTRAIT_SHARED_DATA ?? resolve(import.meta.dirname, '..', '..', 'shared', 'data'),
  'online_retail.csv.gz',
);

/** Splits one CSV line (RFC 4180 quoting). */
function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** Every invoice line of the data set, in file order. */
export function readOnlineRetail(path = onlineRetailPath): RetailLine[] {
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  const lines = text.split(/\r?\n/);
  const out: RetailLine[] = [];
  for (const line of lines.slice(1)) {
    if (line.length === 0) continue;
    const [
      invoiceNo,
      stockCode,
      description,
      quantity,
      invoiceDate,
      unitPrice,
      customerId,
      country,
    ] = line.includes('"') ? splitCsvLine(line) : line.split(',');
    out.push({
      invoiceNo: invoiceNo ?? '',
      stockCode: stockCode ?? '',
      description: description ?? '',
      quantity: Number(quantity),
      invoiceDate: invoiceDate ?? '',
      unitPrice: unitPrice ?? '',
      customerId: customerId ?? '',
      country: country ?? '',
    });
  }
  return out;
}
