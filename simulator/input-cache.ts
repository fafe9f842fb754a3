// What a task's `cacheURI` serves: the input a stream engine reads, from memory or from disk.
import type * as http from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import { errorMessage, sendJson } from '@aiware-nodered/node-red-aiware';
import { DEFAULT_CHUNK_MIME_TYPE } from './multipart';

/** An input to cache: in memory or a file, with its MIME type when known. */
export type CacheInput = { data: Buffer | string; mimeType?: string } | { path: string; mimeType?: string };

type CacheSource = { data: Buffer; mimeType: string } | { path: string; mimeType: string };

export class InputCache {
  private readonly sources = new Map<string, CacheSource>();

  /** Serves `source` for the task; without a MIME type, the task's `chunkMimeType` tells it. */
  set(taskId: string, source: CacheInput, fields: Record<string, string> | undefined): void {
    const mimeType = source.mimeType ?? fields?.chunkMimeType ?? DEFAULT_CHUNK_MIME_TYPE;
    this.sources.set(taskId, 'path' in source ? { path: source.path, mimeType } : { data: typeof source.data === 'string' ? Buffer.from(source.data, 'utf8') : source.data, mimeType });
  }

  /** As `set`, unless the task already has an input (a retried /process keeps the first). */
  setFirst(taskId: string, source: CacheInput, fields: Record<string, string> | undefined): void {
    if (!this.sources.has(taskId)) this.set(taskId, source, fields);
  }

  /** Answers GET or HEAD `/cache/<taskId>`. */
  async serve(taskId: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendJson(res, 405, { error: 'the cache takes GET' });
      return;
    }
    const source = this.sources.get(taskId);
    if (!source) {
      sendJson(res, 404, { error: `no cached input for task ${taskId}` });
      return;
    }
    if ('data' in source) {
      res.writeHead(200, { 'Content-Type': source.mimeType, 'Content-Length': source.data.length });
      res.end(req.method === 'HEAD' ? undefined : source.data);
      return;
    }
    let size: number;
    try {
      size = (await stat(source.path)).size;
    } catch (err) {
      sendJson(res, 404, { error: `cannot read cached input: ${errorMessage(err)}` });
      return;
    }
    res.writeHead(200, { 'Content-Type': source.mimeType, 'Content-Length': size });
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    // pipeline closes the file when the response ends or breaks (also at stop()).
    pipeline(createReadStream(source.path, { start: 0, end: size - 1 }), res, () => undefined);
  }
}
