// A /process post as ET makes it: the work item's fields and chunk as multipart/form-data (a file
// chunk streamed from disk), sent over a keep-alive agent, and the engine's answer read back.
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { encodeMultipart, multipartStream, DEFAULT_CHUNK_MIME_TYPE } from './multipart';

/** The chunk to post with a work item: in memory, or read from disk as it is sent. */
export type ChunkInput = { data: Buffer | string; mimeType?: string; filename?: string } | { path: string; mimeType?: string; filename?: string };

/** The engine's answer to /process. `body` is parsed JSON, else text, or null when empty (204). */
export interface ProcessAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/** An encoded /process request. */
export interface ProcessRequest {
  /** The fields as sent: a chunk's `mimeType` replaces `chunkMimeType`. */
  fields: Record<string, string>;
  body: Buffer | Readable;
  contentType: string;
  length: number;
}

/**
 * The multipart body for a work item's fields and chunk. A chunk's `mimeType`, when given, is also
 * sent as `chunkMimeType` (ET derives one from the other). Throws at once for a missing file.
 */
export function processRequest(itemFields: Record<string, string>, chunk?: ChunkInput): ProcessRequest {
  const fields = { ...itemFields };
  if (chunk?.mimeType !== undefined && fields.chunkMimeType !== undefined) fields.chunkMimeType = chunk.mimeType;
  const mimeType = chunk?.mimeType ?? fields.chunkMimeType ?? DEFAULT_CHUNK_MIME_TYPE;
  if (chunk && 'path' in chunk) {
    const { stream, contentType, length } = multipartStream(fields, { path: chunk.path, filename: chunk.filename, mimeType });
    return { fields, body: stream, contentType, length };
  }
  const data = chunk === undefined ? undefined : typeof chunk.data === 'string' ? Buffer.from(chunk.data, 'utf8') : chunk.data;
  const { body, contentType } = encodeMultipart(fields, data === undefined ? undefined : { data, filename: chunk?.filename, mimeType });
  return { fields, body, contentType, length: body.length };
}

/** Posts /process requests; `destroy()` closes its kept-alive connections. */
export class ProcessPoster {
  private readonly agent = new http.Agent({ keepAlive: true });

  /** Resolves with whatever status the engine answered; rejects only for network errors. */
  post(target: string, request: ProcessRequest): Promise<ProcessAnswer> {
    const { body, contentType, length } = request;
    const url = new URL(target);
    const secure = url.protocol === 'https:';
    return new Promise<ProcessAnswer>((resolve, reject) => {
      const req = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? undefined : this.agent,
          headers: { 'Content-Type': contentType, 'Content-Length': String(length), 'User-Agent': 'aiware-toolkit-emulator' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (data: Buffer) => chunks.push(data));
          res.on('error', reject);
          res.on('end', () => {
            // The engine answered before taking the whole body: stop sending (and close the file).
            if (!Buffer.isBuffer(body) && !body.readableEnded) {
              body.destroy();
              req.destroy();
            }
            const status = res.statusCode ?? 0;
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
            }
            resolve({ status, headers, body: parseAnswer(Buffer.concat(chunks), headers['content-type']) });
          });
        },
      );
      req.on('error', (err) => {
        if (!Buffer.isBuffer(body)) body.destroy();
        reject(err);
      });
      if (Buffer.isBuffer(body)) {
        req.end(body);
      } else {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  destroy(): void {
    this.agent.destroy();
  }
}

// JSON when the engine says so or says nothing and it parses; text otherwise; null when empty.
function parseAnswer(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return null;
  const text = raw.toString('utf8');
  if (contentType === undefined || /\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
