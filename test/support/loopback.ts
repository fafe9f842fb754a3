// A plain node:http server on loopback for a module's own test: the handler under test, a real socket.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Loopback {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function serve(handler: http.RequestListener): Promise<Loopback> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What came back: status, headers, body text. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request; `body` is written whole (or `write` writes it) and the answer read to its end. */
export function request(url: string, options: http.RequestOptions & { body?: string | Buffer; write?: (req: http.ClientRequest) => void } = {}): Promise<Reply> {
  const { body, write, ...rest } = options;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, ...rest }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (write) write(req);
    else req.end(body);
  });
}
