// A whole body of bounded size, read into memory: small /process bodies, callbacks, webhook bodies
// at the toolkit emulator, the try-it client's answers.
import type * as http from 'node:http';
import { ProtocolError } from '../protocol/errors';

export function bodyTooLarge(limit: number): ProtocolError {
  return new ProtocolError(413, `request body is larger than ${limit} bytes`);
}

export function disconnected(): ProtocolError {
  return new ProtocolError(400, 'the client closed the connection before the request body was complete', {
    reason: 'stream_read_error',
  });
}

export interface BoundedRead {
  /** The 413 to reject with past the limit. Default: "request body is larger than <limit> bytes". */
  tooLarge?: () => ProtocolError;
  /**
   * Past the limit, read the rest and throw it away before rejecting, so the connection can carry
   * the answer and the next request. Default false: reject at once and leave the rest unread.
   */
  drain?: boolean;
}

/**
 * Reads a whole body of up to `limit` bytes. Rejects with a 413 past the limit, and with a
 * `stream_read_error` 400 when the client goes before the end.
 */
export function readBounded(req: http.IncomingMessage, limit: number, options: BoundedRead = {}): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    let over = false;
    const finish = (err: ProtocolError | undefined): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) {
        if (!req.complete) req.pause();
        reject(err);
      } else {
        resolve(parts.length === 1 ? parts[0] : Buffer.concat(parts, size));
      }
    };
    const tooLarge = (): ProtocolError => (options.tooLarge ? options.tooLarge() : bodyTooLarge(limit));
    const onData = (data: Buffer): void => {
      if (over) return;
      size += data.length;
      if (size <= limit) parts.push(data);
      else if (options.drain) over = true;
      else finish(tooLarge());
    };
    const onEnd = (): void => finish(over ? tooLarge() : undefined);
    const onError = (): void => finish(disconnected());
    const onClose = (): void => {
      if (!req.complete) finish(disconnected());
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
