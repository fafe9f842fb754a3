// A model's download: over http(s) into a file, retried for network errors and 5xx within the
// task's deadline, checked against Content-Length, with the failure reasons aiWARE names.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { ProtocolError, errorMessage } from '../protocol/errors';
import type { FailureReason } from '../protocol/constants';
import { sleep } from '../util/timers';
import { context, inSpan } from '../util/trace';

export interface DownloadOptions {
  /** Epoch ms: the download, its retries included, ends by then. */
  deadline: number;
  signal?: AbortSignal;
  /** Download attempts for a network error or a 5xx. Default 3. */
  attempts?: number;
}

// A URL's query may carry a signature or token: the manifest and messages keep only its origin and path.
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}${parsed.search ? '?…' : ''}`;
  } catch {
    return '(not a URL)';
  }
}

/** A failure to write under libraryModelDirectory: `file_write_error`, naming a full disk as such. */
export function fileError(err: unknown, what: string): ProtocolError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : errorMessage(err);
  return new ProtocolError(507, `${what}: ${why}`, { reason: 'file_write_error', cause: err });
}

function reasonForStatus(status: number): FailureReason {
  if (status === 404 || status === 410) return 'url_not_found';
  if (status === 401 || status === 403) return 'url_not_allowed';
  if (status === 429) return 'rate_limited';
  return 'url_error';
}

function reasonForNetwork(code: string | undefined): FailureReason {
  if (code === 'ECONNREFUSED') return 'url_connection_refused';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return 'url_timeout';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'url_not_found';
  return 'url_error';
}

class Retryable extends ProtocolError {}

/** Downloads `url` into `file`: retried for network errors and 5xx, checked against Content-Length. */
export function download(url: string, file: string, headers: Record<string, string>, options: DownloadOptions): Promise<{ size: number; sha256: string }> {
  // A span under the node's (library-model's), with the address but never the URL's query (a signed URL's key).
  let host: { 'server.address': string } | undefined;
  try {
    host = { 'server.address': new URL(url).hostname };
  } catch {
    // The attempt says why.
  }
  return inSpan(context.active(), 'aiware model download', { ...host }, async (span) => {
    const got = await downloadRetried(url, file, headers, options);
    span?.setAttribute('aiware.model.bytes', got.size);
    return got;
  });
}

async function downloadRetried(url: string, file: string, headers: Record<string, string>, options: DownloadOptions): Promise<{ size: number; sha256: string }> {
  const shown = redactUrl(url);
  const attempts = options.attempts ?? 3;
  let wait = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadOnce(url, shown, file, headers, options);
    } catch (err) {
      if (!(err instanceof Retryable) || attempt >= attempts || Date.now() + wait >= options.deadline) {
        if (err instanceof Retryable) throw new ProtocolError(err.status, `${err.message} (after ${attempt} attempts)`, { reason: err.reason });
        throw err;
      }
      await sleep(wait, options.signal);
      wait *= 2;
    }
  }
}

function downloadOnce(url: string, shown: string, file: string, headers: Record<string, string>, options: DownloadOptions): Promise<{ size: number; sha256: string }> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new ProtocolError(400, `the model URL is not a URL: ${JSON.stringify(url.slice(0, 60))}`, { reason: 'invalid_data' }));
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.reject(new ProtocolError(400, `the model URL must be http(s), got ${target.protocol}`, { reason: 'invalid_data' }));
  }
  const timeout = Math.max(1, options.deadline - Date.now());
  return new Promise((resolve, reject) => {
    let responded = false;
    const req = (target.protocol === 'https:' ? https : http).get(target, { headers, timeout, signal: options.signal }, (res) => {
      responded = true;
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume();
        const error = `GET ${shown} answered ${status}`;
        reject(status >= 500 ? new Retryable(502, error, { reason: 'url_error' }) : new ProtocolError(502, `${error}: the model cannot be downloaded`, { reason: reasonForStatus(status) }));
        return;
      }
      const expected = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
      const hash = createHash('sha256');
      let size = 0;
      let cut = false;
      res.on('aborted', () => {
        cut = true;
      });
      const count = new Transform({
        transform(data: Buffer, _encoding, callback) {
          size += data.length;
          hash.update(data);
          callback(null, data);
        },
      });
      pipeline(res as Readable, count, createWriteStream(file)).then(
        () => {
          if (cut || (expected !== undefined && Number.isFinite(expected) && size !== expected)) {
            reject(new Retryable(502, `GET ${shown} was cut short: ${size} of ${expected ?? 'an unknown number of'} bytes arrived`, { reason: 'stream_read_error' }));
            return;
          }
          resolve({ size, sha256: hash.digest('hex') });
        },
        (err: unknown) => {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EACCES' || code === 'EROFS' || code === 'EIO') {
            reject(fileError(err, `cannot write the model to ${path.dirname(path.dirname(file))}`));
          } else {
            reject(new Retryable(502, `GET ${shown} was cut short: ${size} of ${expected ?? 'an unknown number of'} bytes arrived (${errorMessage(err)})`, { reason: 'stream_read_error' }));
          }
        },
      );
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in time`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // Once the answer has begun, the body's pipeline reports how it ended.
      if (responded) return;
      if (options.signal?.aborted) {
        reject(new ProtocolError(500, `GET ${shown} was cancelled`, { reason: 'internal_error' }));
        return;
      }
      const reason = reasonForNetwork(err.code);
      const message = `GET ${shown} failed: ${errorMessage(err)}`;
      reject(reason === 'url_timeout' ? new ProtocolError(504, message, { reason }) : new Retryable(502, message, { reason }));
    });
  });
}
