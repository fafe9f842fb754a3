// The baseline: node:http + busboy, every field and the whole chunk read into memory, then the
// same transcript as the flows build. Nothing a Node-RED flow could do with less.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';
import { serveBench, failStart } from './probe';
import { transcriptFor } from './work';

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method !== 'POST' || req.url !== '/process') {
    answer(res, 404, { error: 'not found' });
    return;
  }
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: req.headers });
  } catch (err) {
    answer(res, 400, { error: (err as Error).message });
    return;
  }
  const fields: Record<string, string> = {};
  const parts: Buffer[] = [];
  let size = 0;
  let failed = false;
  bb.on('field', (name, value) => {
    fields[name] = value;
  });
  bb.on('file', (name, stream) => {
    if (name !== 'chunk') {
      stream.resume();
      return;
    }
    stream.on('data', (data: Buffer) => {
      parts.push(data);
      size += data.length;
    });
  });
  bb.on('error', (err: Error) => {
    failed = true;
    answer(res, 400, { error: err.message });
  });
  bb.on('close', () => {
    if (failed) return;
    const chunk = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
    answer(res, 200, transcriptFor(chunk.length));
  });
  req.pipe(bb);
}

const server = http.createServer(handle);
// The keep-alive runner/embedded.ts and the runner (its default) set, so connections live alike there and here.
server.keepAliveTimeout = 65_000;
server.on('error', failStart);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  serveBench(`http://127.0.0.1:${port}`, () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
