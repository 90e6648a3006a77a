/**
 * Lambda response streaming, the same on AWS and locally. On AWS the Node.js runtime provides the
 * global `awslambda` (`streamifyResponse`, `HttpResponseStream.from`); locally there is none, and
 * these stand-ins do what it does: the handler is called with a writable stream, and the HTTP
 * status and headers go first on that stream as a JSON prelude followed by 8 NUL bytes — the
 * format a Lambda Function URL reads, which the local gateway reads too (`splitPrelude`).
 */
import type { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';

/** The status and headers of a streamed HTTP response. */
export interface StreamedResponseMetadata {
  readonly statusCode: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cookies?: readonly string[];
}

/** A handler that writes its answer to `responseStream` (Lambda's `streamifyResponse` shape). */
export type StreamingHandler<E> = (
  event: E,
  responseStream: Writable,
  context: Context,
) => Promise<void>;

/** What the Lambda Node.js runtime defines globally; absent outside Lambda. */
interface AwsLambdaGlobal {
  streamifyResponse<E>(handler: StreamingHandler<E>): StreamingHandler<E>;
  HttpResponseStream: {
    from(stream: Writable, metadata: StreamedResponseMetadata): Writable;
  };
}

// @types/aws-lambda declares `awslambda` as always there; outside Lambda it is not (or, with
// some libraries loaded, an empty object), so the runtime's functions are looked for.
const runtimeGlobal = (): AwsLambdaGlobal | undefined => {
  const candidate = (globalThis as unknown as { awslambda?: Partial<AwsLambdaGlobal> }).awslambda;
  return typeof candidate?.streamifyResponse === 'function' &&
    typeof candidate.HttpResponseStream?.from === 'function'
    ? (candidate as AwsLambdaGlobal)
    : undefined;
};

/** Marks a handler as streaming, as the Lambda runtime's symbol does (read by the local runtime). */
export const STREAMING_HANDLER = Symbol.for('aws.lambda.runtime.handler.streaming');

/** Lambda's `awslambda.streamifyResponse` on AWS; locally, the handler marked as streaming. */
export function streamifyResponse<E>(handler: StreamingHandler<E>): StreamingHandler<E> {
  const aws = runtimeGlobal();
  if (aws) return aws.streamifyResponse(handler);
  return Object.assign(handler, { [STREAMING_HANDLER]: 'response' });
}

/** The bytes that end the metadata prelude of a streamed HTTP response. */
export const PRELUDE_DELIMITER = Buffer.alloc(8, 0);

/**
 * Sends the status and headers first (`awslambda.HttpResponseStream.from` on AWS); the body is
 * then written to the returned stream.
 */
export function httpResponseStream(stream: Writable, metadata: StreamedResponseMetadata): Writable {
  const aws = runtimeGlobal();
  if (aws) return aws.HttpResponseStream.from(stream, metadata);
  stream.write(Buffer.concat([Buffer.from(JSON.stringify(metadata)), PRELUDE_DELIMITER]));
  return stream;
}

/**
 * Splits the metadata prelude off the start of a streamed response: undefined while the
 * delimiter has not arrived yet; JSON holds no NUL byte, so the first 8 NULs end it.
 */
export function splitPrelude(
  head: Buffer,
): { metadata: StreamedResponseMetadata; rest: Buffer } | undefined {
  const end = head.indexOf(PRELUDE_DELIMITER);
  if (end < 0) return undefined;
  const metadata = JSON.parse(head.subarray(0, end).toString('utf8')) as StreamedResponseMetadata;
  return { metadata, rest: head.subarray(end + PRELUDE_DELIMITER.length) };
}

/** The reader went away (or the stream was cut) before the answer was complete. */
export class ResponseStreamClosedError extends Error {
  readonly code = 'response_stream_closed';
  override readonly name = 'ResponseStreamClosedError';
}

/**
 * Writes a chunk and waits until the stream can take more (backpressure), so a slow reader slows
 * the producer instead of filling memory. Rejects when the stream fails or the reader left.
 */
export function writeChunk(stream: Writable, chunk: Buffer | string): Promise<void> {
  if (stream.destroyed || stream.writableEnded) {
    return Promise.reject(new ResponseStreamClosedError('the response stream is closed'));
  }
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (error: Error) => done(error);
    const onClose = () => done(new ResponseStreamClosedError('the response stream closed'));
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/** Ends the stream and resolves once everything written has been handed on. */
export function endStream(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableFinished || stream.destroyed) {
      resolve();
      return;
    }
    stream.end(() => resolve());
  });
}
