import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { routes } from '../../infra/declarations/routes.ts';
import { toHttpApiEvent } from '../../infra/local/gateway.ts';

function request(method: string, url: string, headers: Record<string, string>): IncomingMessage {
  const message = new IncomingMessage(new Socket());
  message.method = method;
  message.url = url;
  message.headers = headers;
  message.httpVersion = '1.1';
  return message;
}

const track = routes.find((route) => route.path === '/v1/track');

describe('local gateway: HTTP API v2 events', () => {
  it('builds the v2 event API Gateway would send for a JSON request', () => {
    if (!track) throw new Error('the /v1/track route is not declared');
    const body = Buffer.from('{"userId":"张伟"}');
    const event = toHttpApiEvent(
      request('POST', '/v1/track?a=1&a=2', {
        'Content-Type': 'application/json',
        authorization: 'Basic x',
      }),
      body,
      track,
      {},
    );
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /v1/track',
      rawPath: '/v1/track',
      rawQueryString: 'a=1&a=2',
      queryStringParameters: { a: '1,2' },
      isBase64Encoded: false,
      body: '{"userId":"张伟"}',
      requestContext: {
        http: { method: 'POST', path: '/v1/track' },
        stage: '$default',
        routeKey: 'POST /v1/track',
      },
    });
    expect(event.headers['content-type']).toBe('application/json');
  });

  it('base64-encodes compressed or binary bodies, as API Gateway does', () => {
    if (!track) throw new Error('the /v1/track route is not declared');
    const body = Buffer.from([0x1f, 0x8b, 0x08, 0x00]);
    const event = toHttpApiEvent(
      request('POST', '/v1/batch', {
        'content-type': 'application/x-www-form-urlencoded',
        'content-encoding': 'gzip',
      }),
      body,
      track,
      {},
    );
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(body);
  });
});
