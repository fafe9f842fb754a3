// application/json and application/x-www-form-urlencoded bodies: small, read whole, bounded.
// `readBounded` is also what the toolkit emulator reads webhook bodies with.
import type * as http from 'node:http';
import { ProtocolError, jsonProblem } from './errors';
import { CHUNK_FIELD, JSON_TYPE, bodyTooLarge, disconnected, fieldTooLarge, tooManyFields, type BodyLimits } from './body-limits';
import type { ReceivedBody } from './body';
import { ownBufferFrom } from './own-buffer';

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

export function fromSmallBody(type: string, body: Buffer, l: BodyLimits): ReceivedBody {
  const raw: Record<string, string> = {};
  let chunkText: string | undefined;
  let count = 0;
  const add = (name: string, value: string): void => {
    if (name === CHUNK_FIELD) {
      chunkText = value;
      return;
    }
    // A UTF-8 string takes at most 3 bytes per UTF-16 unit: measure only when it could be over.
    if (value.length * 3 > l.maxFieldBytes && Buffer.byteLength(value) > l.maxFieldBytes) {
      throw fieldTooLarge(name, l.maxFieldBytes);
    }
    if (++count > l.maxFields) throw tooManyFields(l.maxFields);
    raw[name] = value;
  };
  if (type === JSON_TYPE) {
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new ProtocolError(400, `application/json body is not JSON: ${jsonProblem(err)}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ProtocolError(400, 'application/json body must be a JSON object of fields');
    }
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      add(name, typeof v === 'string' ? v : JSON.stringify(v));
    }
  } else {
    for (const [name, v] of new URLSearchParams(body.toString('utf8'))) add(name, v);
  }
  if (chunkText === undefined) return { raw, bytesRead: body.length };
  const buffer = ownBufferFrom(chunkText);
  return { raw, chunk: { buffer, size: buffer.length }, bytesRead: body.length };
}
