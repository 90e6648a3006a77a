import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, type Writable } from 'node:stream';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { splitPrelude } from '../../shared/http/response-stream.ts';
import type { FunctionId } from '../declarations/functions.ts';
import { corsPolicy, type RouteDeclaration } from '../declarations/routes.ts';

/** An HTTP API (v2 payload) handler, as exported by `functions/<name>/handler.ts`. */
export type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

/**
 * A streaming handler (`streaming: true` routes), as Lambda's `streamifyResponse` calls it: it
 * writes the status and headers as a prelude, then the body, to `responseStream`.
 */
export type StreamingHttpHandler = (
  event: APIGatewayProxyEventV2,
  responseStream: Writable,
) => Promise<void>;

/** Lambda's synchronous request limit, the tighter of it and HTTP API's 10 MB. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

interface CompiledRoute {
  readonly route: RouteDeclaration;
  readonly pattern: RegExp;
  readonly params: string[];
}

function compile(route: RouteDeclaration): CompiledRoute {
  const params: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{(.+?)(\+)?\}$/.exec(segment);
      if (!param?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(param[1]);
      return param[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), params };
}

function isTextual(contentType: string | undefined, contentEncoding: string | undefined): boolean {
  if (contentEncoding && contentEncoding !== 'identity') return false;
  if (!contentType) return true;
  return /json|text|xml|urlencoded|javascript/i.test(contentType);
}

/** Builds the API Gateway HTTP API v2 event for a request, as AWS does. */
export function toHttpApiEvent(
  request: IncomingMessage,
  body: Buffer,
  route: RouteDeclaration,
  pathParameters: Record<string, string>,
): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    queryStringParameters[name] =
      queryStringParameters[name] === undefined ? value : `${queryStringParameters[name]},${value}`;
  }
  const textual = isTextual(headers['content-type'], headers['content-encoding']);
  const now = new Date();
  const routeKey = `${route.method} ${route.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: request.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.byteLength > 0
      ? { body: textual ? body.toString('utf8') : body.toString('base64') }
      : {}),
    isBase64Encoded: body.byteLength > 0 && !textual,
  };
}

/** The headers API Gateway adds to every response when the API has a CORS configuration. */
const corsHeaders: Record<string, string> = {
  'access-control-allow-origin': corsPolicy.allowOrigins.join(','),
};

/** API Gateway's answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`). */
function sendPreflight(response: ServerResponse): void {
  response.writeHead(204, {
    ...corsHeaders,
    'access-control-allow-methods': corsPolicy.allowMethods.join(','),
    'access-control-allow-headers': corsPolicy.allowHeaders.join(','),
    'access-control-max-age': String(corsPolicy.maxAgeSeconds),
  });
  response.end();
}

function send(response: ServerResponse, result: APIGatewayProxyResultV2): void {
  if (
    typeof result === 'string' ||
    typeof result !== 'object' ||
    result === null ||
    !('statusCode' in result)
  ) {
    // HTTP API infers a 200 JSON response from a bare value.
    response.writeHead(200, { ...corsHeaders, 'content-type': 'application/json' });
    response.end(typeof result === 'string' ? result : JSON.stringify(result));
    return;
  }
  const headers: Record<string, string | string[]> = {
    ...corsHeaders,
    ...(result.headers as Record<string, string>),
  };
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  response.writeHead(result.statusCode ?? 200, headers);
  const body = result.body ?? '';
  response.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

/**
 * Runs a streaming handler and relays what it writes as it writes it, the way a Function URL in
 * `RESPONSE_STREAM` mode does: the prelude becomes the status line and headers (none: 200
 * `application/octet-stream`), the rest is sent chunked, with backpressure both ways. A handler
 * that fails before the prelude is a 500; after it, the connection is cut. A client that leaves
 * ends the handler's stream, so its next write fails.
 */
function relayStream(
  response: ServerResponse,
  run: (stream: Writable) => Promise<void>,
  onError: (error: unknown) => void,
): void {
  const stream = new PassThrough();
  let head: Buffer | undefined = Buffer.alloc(0);
  const sendHead = (
    statusCode: number,
    headers: Record<string, string>,
    cookies?: readonly string[],
  ) => {
    response.writeHead(statusCode, {
      ...corsHeaders,
      ...headers,
      ...(cookies?.length ? { 'set-cookie': [...cookies] } : {}),
    });
  };
  const forward = (chunk: Buffer) => {
    if (chunk.byteLength === 0 || response.write(chunk)) return;
    stream.pause();
    response.once('drain', () => stream.resume());
  };
  stream.on('data', (chunk: Buffer) => {
    if (head === undefined) {
      forward(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const split = splitPrelude(head);
    if (!split) return;
    head = undefined;
    sendHead(split.metadata.statusCode, { ...split.metadata.headers }, split.metadata.cookies);
    forward(split.rest);
  });
  stream.on('end', () => {
    if (head !== undefined) {
      sendHead(200, { 'content-type': 'application/octet-stream' });
      response.end(head);
      return;
    }
    response.end();
  });
  response.on('close', () => {
    if (!response.writableFinished) stream.destroy();
  });
  run(stream).then(
    () => {
      if (!stream.writableEnded) stream.end();
    },
    (error: unknown) => {
      onError(error);
      if (head !== undefined && !response.headersSent) {
        sendJson(response, 500, { message: 'Internal Server Error' });
      } else {
        response.destroy();
      }
      stream.destroy();
    },
  );
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { ...corsHeaders, 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

export interface Gateway {
  readonly url: string;
  readonly server: Server;
  stop(): Promise<void>;
}

/**
 * A local stand-in for API Gateway's HTTP API: the same route table as the CDK app, requests
 * turned into v2 events, and the same handlers called.
 */
export async function startGateway(options: {
  readonly routes: readonly RouteDeclaration[];
  readonly handlers: Partial<Record<FunctionId, HttpHandler>>;
  /** Handlers of `streaming: true` routes. */
  readonly streamingHandlers?: Partial<Record<FunctionId, StreamingHttpHandler>>;
  readonly port?: number;
  readonly host?: string;
  readonly onError?: (error: unknown) => void;
}): Promise<Gateway> {
  const compiled = options.routes.map(compile);
  const dispatch = (request: IncomingMessage, response: ServerResponse, body: Buffer) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      sendPreflight(response);
      return;
    }
    const match = compiled
      .filter((entry) => entry.route.method === request.method)
      .map((entry) => ({ entry, groups: entry.pattern.exec(path) }))
      .find((candidate) => candidate.groups !== null);
    if (!match?.groups) {
      sendJson(response, 404, { message: 'Not Found' });
      return;
    }
    // API Gateway passes path parameters decoded; a malformed escape is the client's error.
    const pathParameters: Record<string, string> = {};
    try {
      match.entry.params.forEach((name, i) => {
        pathParameters[name] = decodeURIComponent(match.groups?.[i + 1] ?? '');
      });
    } catch {
      sendJson(response, 400, { message: 'Bad Request' });
      return;
    }
    const event = toHttpApiEvent(request, body, match.entry.route, pathParameters);
    if (match.entry.route.streaming) {
      const streaming = options.streamingHandlers?.[match.entry.route.function];
      if (!streaming) {
        sendJson(response, 500, { message: 'Internal Server Error' });
        return;
      }
      relayStream(
        response,
        (stream) => streaming(event, stream),
        (error) => options.onError?.(error),
      );
      return;
    }
    const handler = options.handlers[match.entry.route.function];
    if (!handler) {
      sendJson(response, 500, { message: 'Internal Server Error' });
      return;
    }
    handler(event).then(
      (result) => send(response, result),
      (error: unknown) => {
        // A handler that throws is what API Gateway reports as a 500 with this body.
        options.onError?.(error);
        sendJson(response, 500, { message: 'Internal Server Error' });
      },
    );
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > MAX_PAYLOAD_BYTES) {
        if (!aborted) sendJson(response, 413, { message: 'Request Entity Too Large' });
        aborted = true;
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (aborted) return;
      try {
        dispatch(request, response, Buffer.concat(chunks));
      } catch (error) {
        // A request line Node's parser lets through but URL parsing refuses (e.g. `//[x`).
        options.onError?.(error);
        sendJson(response, 400, { message: 'Bad Request' });
      }
    });
    request.on('error', () => {
      aborted = true;
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
