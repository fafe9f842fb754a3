// The collector the traced runner sends its spans to: an OTLP/HTTP endpoint on loopback in the bench
// process that reads each export whole and answers 200, as a collector would, keeping only counts.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpSink {
  /** The runner's environment: traces on, exported here by OTLP/HTTP (protobuf, the SDK's default). */
  env: Record<string, string>;
  /** Exports and bytes received so far. */
  received: { exports: number; bytes: number };
}

let started: Promise<OtlpSink> | undefined;

/** The sink, started on first use; it lives as long as the bench process (unref'd: it holds no exit). */
export function otlpSink(): Promise<OtlpSink> {
  started ??= new Promise<OtlpSink>((resolve, reject) => {
    const received = { exports: 0, bytes: 0 };
    const server = http.createServer((req, res) => {
      req.on('data', (part: Buffer) => (received.bytes += part.length));
      req.on('end', () => {
        received.exports++;
        res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      const { port } = server.address() as AddressInfo;
      resolve({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }, received });
    });
  });
  return started;
}
