import { PassThrough } from 'node:stream';
import { type StreamedResponseMetadata, splitPrelude } from '../../shared/http/response-stream.ts';

/** A response stream for calling a streaming handler in a test; `result()` once it is done. */
export function collectingStream() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return {
    stream,
    /** The prelude's status and headers, and the body as text. */
    result(): { metadata: StreamedResponseMetadata; body: string } {
      const split = splitPrelude(Buffer.concat(chunks));
      if (!split) throw new Error('the handler wrote no prelude');
      return { metadata: split.metadata, body: split.rest.toString('utf8') };
    },
  };
}

/** RFC 4180 records of a CSV text (quoted fields may hold commas, quotes, CR and LF). */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        field += char;
      }
    } else if (char === '"' && field === '') {
      quoted = true;
    } else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 1;
    } else {
      field += char;
    }
  }
  if (field !== '' || record.length > 0) throw new Error('the CSV does not end with CRLF');
  return records;
}
