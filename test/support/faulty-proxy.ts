import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A proxy in front of the runtime's gateway that forwards every request, and for the first
 * `failures` requests throws the real answer away and answers 500 instead: the events were
 * accepted, but the client believes they were not and retries them.
 */
export async function startFaultyProxy(
  target: string,
  failures: number,
): Promise<{
  url: string;
  requests: () => number;
  close: () => Promise<void>;
}> {
  let seen = 0;
  let failed = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen += 1;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === 'string' && name !== 'host' && name !== 'content-length')
          headers[name] = value;
      }
      fetch(`${target}${request.url ?? '/'}`, {
        method: request.method,
        headers,
        body: Buffer.concat(chunks),
      })
        .then(async (upstream) => {
          const body = Buffer.from(await upstream.arrayBuffer());
          if (failed < failures) {
            failed += 1;
            response.writeHead(500, { 'content-type': 'application/json' });
            response.end('{"message":"injected failure"}');
            return;
          }
          response.writeHead(upstream.status, {
            'content-type': upstream.headers.get('content-type') ?? 'application/json',
          });
          response.end(body);
        })
        .catch(() => {
          response.writeHead(502);
          response.end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
