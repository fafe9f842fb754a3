// HTTP answers with a JSON body: the /process answers of process-in and the runner, and the
// emulator's webhook answers.
import type * as http from 'node:http';
import type { ProtocolError } from '../protocol/errors';

/**
 * Answers with a JSON body (or none for 204 / an undefined body); `close` asks the client to
 * open a new connection for its next request. Nothing is written once an answer has started.
 */
export function sendJson(res: http.ServerResponse, status: number, body: unknown, options: { close?: boolean } = {}): void {
  if (res.headersSent || res.destroyed) return;
  const headers: http.OutgoingHttpHeaders = options.close ? { Connection: 'close' } : {};
  if (status === 204 || body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answers a failed /process request with `{"error": "...", "field": "..."}` and the error's status.
 *
 * How a caller answers a body it could not read: when `readProcessBody` rejects before the end of
 * the body (413, 415, too many fields, a second chunk…), the rest of the body is still in the socket
 * and is never read, so the connection cannot carry another request. This sends `Connection: close`
 * in that case; Node then ends the socket once the answer is written (and this destroys it, should
 * it still be open). Nothing is sent when the client is gone (a disconnect mid-upload) or an answer
 * has already started: the response is destroyed instead.
 */
export function sendJsonError(res: http.ServerResponse, err: ProtocolError): void {
  const req = res.req;
  if (res.headersSent || res.destroyed || req.socket.destroyed) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  const unread = !req.complete;
  res.statusCode = err.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (!unread) {
    res.end(body);
    return;
  }
  res.setHeader('Connection', 'close');
  const socket = res.socket;
  res.end(body, () => {
    // Node ends a `Connection: close` socket itself once the answer is out; make sure of it, so an
    // unread body (say a 4 GiB upload past the limit) never keeps the connection open.
    if (socket && !socket.destroyed && !socket.writableEnded) socket.destroy();
  });
}
