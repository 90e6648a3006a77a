import { gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { InvalidBodyError, PayloadTooLargeError } from './errors.ts';

/** A request header by name (HTTP API lower-cases them; tests may not). */
export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  return event.headers?.[name.toLowerCase()] ?? event.headers?.[name];
}

/** True when the body is gzip-encoded (RudderStack's SDKs send that by default). */
export function isGzipped(event: APIGatewayProxyEventV2): boolean {
  return header(event, 'content-encoding')?.toLowerCase().trim() === 'gzip';
}

/**
 * The request body as bytes: base64 undone, gzip inflated, and `maxBytes` enforced both on the
 * wire and after inflating, so a small compressed body cannot expand without bound.
 */
export function decodeRequestBody(event: APIGatewayProxyEventV2, maxBytes: number): Buffer {
  const raw = event.body ?? '';
  let bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (isGzipped(event)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes + 1 });
    } catch (error) {
      if (
        error instanceof RangeError ||
        (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
      ) {
        throw new PayloadTooLargeError(`The inflated body exceeds ${maxBytes} bytes.`, maxBytes);
      }
      throw new InvalidBodyError('The body is labelled gzip but is not valid gzip.');
    }
  }
  if (bytes.byteLength > maxBytes) {
    throw new PayloadTooLargeError(
      `The body is ${bytes.byteLength} bytes; the limit is ${maxBytes}. Split it into smaller batches.`,
      maxBytes,
    );
  }
  return bytes;
}
