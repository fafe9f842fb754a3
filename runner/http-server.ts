// The runner's HTTP server and the limits a client meets there: how long a request's headers and
// the whole request may take, how long an idle keep-alive connection stays, how many connections
// are open at once. Each cut is answered as HTTP says (408, 503; for what Node cannot parse 400,
// 413 or 431, as Node does) and logged in one warn line. An idle keep-alive connection closing is
// normal, and is not logged.
import * as http from 'node:http';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionLimits } from './config';
import type { Logger } from './log';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** How long a refused connection may stay to read its 503 before it is destroyed. */
const REFUSED_LINGER_MS = 1000;

// What Node itself answers when it cannot parse a request (its socketOnError), by error code.
const PARSE_ANSWERS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
};

function answer(status: string, headers = '', body = ''): string {
  return `HTTP/1.1 ${status}\r\nConnection: close\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * Node checks the headers and request timeouts on an interval, 30 s by default: a 10 s headers
 * timeout would cut at up to 40 s. A quarter of the headers timeout (the shorter), within 0.1 to 1 s.
 */
function checkingIntervalMs(limits: ConnectionLimits): number {
  return Math.min(1000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4)));
}

/** An HTTP server serving `handler` within `limits`, logging each cut on `log`. */
export function createServer(limits: ConnectionLimits, log: Logger, handler: Handler): http.Server {
  // The response in flight on a socket: a timeout before it is the headers', after it the request's.
  const inFlight = new WeakMap<Duplex, http.ServerResponse>();
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: checkingIntervalMs(limits),
    },
    (req, res) => {
      inFlight.set(req.socket, res);
      res.once('close', () => {
        if (inFlight.get(req.socket) === res) inFlight.delete(req.socket);
      });
      handler(req, res);
    },
  );

  // With a listener here Node answers nothing itself: this answers as Node would, and logs.
  // (No 'timeout' listener: one would keep Node from closing idle keep-alive connections.)
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const res = inFlight.get(socket);
    const { remoteAddress, remotePort, bytesRead } = socket as net.Socket;
    const client = { remoteAddress, remotePort, bytesRead };
    let status: string | undefined;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = '408 Request Timeout';
      if (res) {
        const { method, url = '' } = res.req;
        const fields = { ...client, method, path: url.split('?')[0], limit: 'RUNNER_REQUEST_TIMEOUT_SECONDS', seconds: limits.requestTimeoutMs / 1000 };
        log.warn({ ...fields, status: 408 }, 'request timeout');
      } else {
        log.warn({ ...client, limit: 'RUNNER_HEADERS_TIMEOUT_SECONDS', seconds: limits.headersTimeoutMs / 1000, status: 408 }, 'headers timeout');
      }
    } else if (err.code?.startsWith('HPE_')) {
      status = PARSE_ANSWERS[err.code] ?? '400 Bad Request';
      log.warn({ ...client, code: err.code, status: Number(status.slice(0, 3)) }, 'bad request');
    } else {
      // The socket failed (a reset, a broken pipe): the client is gone, nobody to answer.
      log.debug({ ...client, code: err.code }, 'client connection error');
    }
    // Node's own rule: answer only when no answer of the handler's has started on this socket.
    if (status && socket.writable && !res?.headersSent) socket.write(answer(status));
    socket.destroy();
  });

  capConnections(server, limits.maxConnections, log);
  return server;
}

/**
 * Answers a connection past `max` with 503 before any HTTP parsing. Node's own `maxConnections`
 * closes such a connection unanswered (its 'drop' event); ET hears 503 as "busy", a close as a failure.
 */
function capConnections(server: http.Server, max: number, log: Logger): void {
  // http.Server parses each connection in its one 'connection' listener: the cap goes in front of it.
  const listeners = server.listeners('connection') as ((socket: net.Socket) => void)[];
  if (listeners.length !== 1) throw new Error(`http.Server has ${listeners.length} connection listeners, expected its own one`);
  const [parse] = listeners;
  server.removeListener('connection', parse);
  const body = JSON.stringify({ error: `the engine has its RUNNER_MAX_CONNECTIONS (${max}) connections open` });
  const refusal = answer('503 Service Unavailable', 'Content-Type: application/json; charset=utf-8\r\n', body);
  let open = 0;
  let lingering = 0;
  server.on('connection', (socket: net.Socket) => {
    if (open < max) {
      open++;
      socket.once('close', () => open--);
      parse.call(server, socket);
      return;
    }
    log.warn({ remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, limit: 'RUNNER_MAX_CONNECTIONS', maxConnections: max, status: 503 }, 'connection refused');
    socket.on('error', () => socket.destroy());
    // The request it may have sent is read and dropped: closing on unread bytes would reset the
    // connection and could lose the 503. Lingering ones are capped too, beyond that Node's way: write, close.
    socket.resume();
    socket.end(refusal);
    if (lingering >= max) return void socket.destroy();
    lingering++;
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
    socket.once('close', () => {
      lingering--;
      clearTimeout(timer);
    });
  });
}
