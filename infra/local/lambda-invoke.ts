import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';
import type { FunctionDeclaration } from '../declarations/functions.ts';

/** A Lambda handler as exported by `functions/<name>/handler.ts`. */
export type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;

export class LocalInvocationTimeoutError extends Error {
  readonly code = 'function_timed_out';
  constructor(functionId: string, seconds: number) {
    super(`${functionId}: Task timed out after ${seconds} seconds`);
    this.name = 'LocalInvocationTimeoutError';
  }
}

/** The context object Lambda passes, with the declared timeout as the deadline. */
export function localLambdaContext(declaration: FunctionDeclaration, deadline: number): Context {
  const name = `portrait-local-${declaration.id}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    memoryLimitInMB: String(declaration.memoryMiB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/**
 * Calls a handler the way Lambda does: with a context and the declared timeout. A handler that
 * runs past it fails the invocation, as on AWS (locally its promise cannot be stopped, so its
 * late result is ignored).
 */
export function invokeLocally<E, R>(
  declaration: FunctionDeclaration,
  handler: LambdaHandler<E, R>,
): (event: E) => Promise<R> {
  return (event) => {
    const timeoutMs = declaration.timeoutSeconds * 1000;
    const context = localLambdaContext(declaration, Date.now() + timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new LocalInvocationTimeoutError(declaration.id, declaration.timeoutSeconds)),
        timeoutMs,
      );
    });
    return Promise.race([handler(event, context), timeout]).finally(() => clearTimeout(timer));
  };
}

/**
 * Calls a streaming handler (`streamifyResponse`) the way Lambda does: with the response stream, a
 * context and the declared timeout; past it the stream is cut, as on AWS.
 */
export function invokeStreamingLocally<E>(
  declaration: FunctionDeclaration,
  handler: (event: E, responseStream: Writable, context: Context) => Promise<void>,
): (event: E, responseStream: Writable) => Promise<void> {
  return (event, responseStream) => {
    const timeoutMs = declaration.timeoutSeconds * 1000;
    const context = localLambdaContext(declaration, Date.now() + timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        responseStream.destroy();
        reject(new LocalInvocationTimeoutError(declaration.id, declaration.timeoutSeconds));
      }, timeoutMs);
    });
    return Promise.race([handler(event, responseStream, context), timeout]).finally(() =>
      clearTimeout(timer),
    );
  };
}
