import type { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { RouteDeclaration } from '../../infra/declarations/routes.ts';
import {
  type Gateway,
  type StreamingHttpHandler,
  startGateway,
} from '../../infra/local/gateway.ts';
import { endStream, httpResponseStream, writeChunk } from '../../shared/http/response-stream.ts';

const route: RouteDeclaration = {
  method: 'GET',
  path: '/v1/things/{id}/stream',
  function: 'exporter',
  scope: 'segments:read',
  streaming: true,
};

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
});

async function serve(handler: StreamingHttpHandler): Promise<string> {
  gateway = await startGateway({
    routes: [route],
    handlers: {},
    streamingHandlers: { exporter: handler },
    onError: () => {},
  });
  return `${gateway.url}/v1/things/x/stream`;
}

describe('local gateway: streaming routes', () => {
  it('sends the prelude as status and headers and each chunk as it is written', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const url = await serve(async (event, stream: Writable) => {
      const body = httpResponseStream(stream, {
        statusCode: 201,
        headers: { 'content-type': 'text/plain', 'x-id': event.pathParameters?.id ?? '' },
      });
      await writeChunk(body, 'first\n');
      await released;
      await writeChunk(body, 'second\n');
      await endStream(body);
    });
    const response = await fetch(url);
    expect(response.status).toBe(201);
    expect(response.headers.get('x-id')).toBe('x');
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    // The first chunk arrives while the handler is still running: streamed, not buffered.
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first\n');
    release();
    let rest = '';
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      rest += new TextDecoder().decode(part.value);
    }
    expect(rest).toBe('second\n');
  });

  it('answers 200 application/octet-stream when the handler writes no prelude', async () => {
    const url = await serve(async (_event, stream) => {
      await writeChunk(stream, 'raw bytes');
      await endStream(stream);
    });
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(await response.text()).toBe('raw bytes');
  });

  it('answers 500 when the handler fails before the prelude, and cuts the body after it', async () => {
    const failing = await serve(async () => {
      throw new Error('boom');
    });
    const early = await fetch(failing);
    expect(early.status).toBe(500);
    expect(await early.json()).toEqual({ message: 'Internal Server Error' });
    await gateway?.stop();

    const url = await serve(async (_event, stream) => {
      const body = httpResponseStream(stream, { statusCode: 200 });
      await writeChunk(body, 'partial');
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new Error('boom after the first byte');
    });
    const late = await fetch(url);
    expect(late.status).toBe(200);
    await expect(late.text()).rejects.toThrow();
  });
});
