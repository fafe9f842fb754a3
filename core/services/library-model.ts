// Library engine models on disk (the seed's "Engines and Training Libraries"): where a task's model
// lives under `libraryModelDirectory` ({libraryId}/{libraryEngineModelId}), fetching it once under a
// lock shared by every engine instance, and publishing a model (downloaded or trained) whole: it is
// written to a staging folder beside its place and renamed into it, so no instance reads half a model.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { ProtocolError, errorMessage } from '../protocol/errors';
import type { ProcessFields } from '../protocol/fields';
import type { FailureReason } from '../protocol/constants';
import { sleep } from '../util/timers';
import { lockUnlessReady, type DirLockOptions, type HeldLock } from './dir-lock';

/** The model file inside a model's folder, and the manifest written beside it. */
export const MODEL_FILE = 'model';
export const MODEL_MANIFEST = 'model.json';

export interface ModelLocation {
  libraryId: string;
  libraryEngineModelId: string;
  /** `{libraryModelDirectory}/{libraryId}/{libraryEngineModelId}`: the model's folder. */
  directory: string;
  /** The model itself: `{directory}/model`. */
  path: string;
}

/** What `model.json` says of a published model. */
export interface ModelInfo {
  libraryId: string;
  libraryEngineModelId: string;
  size: number;
  sha256: string;
  /** `download <url>`, `training` or `flow`. */
  source: string;
  storedAt: string;
}

/** What the flow gets on `msg.aiware.model`. */
export interface ModelReport extends ModelLocation {
  size: number;
  sha256: string;
  source: string;
  storedAt: string;
  /** True when this call downloaded or stored it; false when it was there already. */
  fetched: boolean;
}

// An id becomes a folder name: nothing that could leave libraryModelDirectory.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

function idOf(name: 'libraryId' | 'libraryEngineModelId', fields: ProcessFields, payload: Record<string, unknown>): string {
  const value = fields[name] ?? payload[name];
  if (value === undefined || value === null || value === '') {
    throw new ProtocolError(400, `the task has no ${name} (neither a /process field nor in payload): a library model needs one`, { field: name, reason: 'invalid_data' });
  }
  if (typeof value !== 'string' || !SAFE_ID.test(value) || value.includes('..')) {
    throw new ProtocolError(400, `${name} ${JSON.stringify(value).slice(0, 60)} cannot name a folder: letters, digits, . _ - only`, { field: name, reason: 'invalid_data' });
  }
  return value;
}

/**
 * Where the task's model lives. The ids come from the /process fields, else from the payload (a
 * training job's payload carries them). When `libraryModelDirectory` already ends in
 * `{libraryId}/{libraryEngineModelId}` it is the model's folder itself; otherwise the two ids are
 * appended, giving the seed's `/cache/{shard}/libraries/{libraryId}/{libraryEngineModelId}`.
 * `fallbackDirectory` stands in for a task without `libraryModelDirectory`.
 */
export function modelLocation(fields: ProcessFields, payload: Record<string, unknown> = {}, fallbackDirectory?: string): ModelLocation {
  const libraryId = idOf('libraryId', fields, payload);
  const libraryEngineModelId = idOf('libraryEngineModelId', fields, payload);
  const root = fields.libraryModelDirectory ?? (fallbackDirectory || undefined);
  if (root === undefined) {
    throw new ProtocolError(400, 'the task has no libraryModelDirectory to keep the model in (set a fallback folder on the node for a plain Node-RED)', {
      field: 'libraryModelDirectory',
      reason: 'invalid_data',
    });
  }
  const resolved = path.resolve(root);
  const given = path.basename(resolved) === libraryEngineModelId && path.basename(path.dirname(resolved)) === libraryId;
  const directory = given ? resolved : path.join(resolved, libraryId, libraryEngineModelId);
  return { libraryId, libraryEngineModelId, directory, path: path.join(directory, MODEL_FILE) };
}

/** The published model's manifest, or undefined when it is not there (yet). */
export async function readModelInfo(location: ModelLocation): Promise<ModelInfo | undefined> {
  try {
    return JSON.parse(await readFile(path.join(location.directory, MODEL_MANIFEST), 'utf8')) as ModelInfo;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(err, `cannot read ${location.directory}`);
  }
}

/** Where a model comes from when it is not on disk: a URL, or bytes the flow has. */
export type ModelSource = { kind: 'url'; url: string; headers?: Record<string, string> } | { kind: 'data'; data: Buffer; source: 'training' | 'flow' };

export interface ModelOptions {
  /** Epoch ms: waiting for another instance's fetch, and the fetch itself, end by then. */
  deadline: number;
  signal?: AbortSignal;
  lock?: DirLockOptions;
  /** Download attempts for a network error or a 5xx. Default 3. */
  attempts?: number;
}

/**
 * The model at `location`, fetched from `source` when it is not there yet. Of several instances
 * (processes or tasks) asking at once, one fetches under the lock; the others wait for it and
 * find it published.
 */
export async function ensureModel(location: ModelLocation, source: () => ModelSource, options: ModelOptions): Promise<ModelReport> {
  const present = await readModelInfo(location);
  if (present) return { ...location, ...present, fetched: false };
  const held = await lock(location, options);
  if (!held) return report(location, await mustRead(location), false);
  try {
    const info = await publish(location, source(), options);
    return report(location, info, true);
  } finally {
    await held.release();
  }
}

/**
 * Stores a model (a training task's, or bytes the flow downloaded itself) at `location`, replacing
 * one already there: the new one is published by rename, then the old one removed.
 */
export async function storeModel(location: ModelLocation, data: Buffer, source: 'training' | 'flow', options: ModelOptions): Promise<ModelReport> {
  await mkdir(path.dirname(location.directory), { recursive: true }).catch((err: unknown) => {
    throw fileError(err, `cannot create ${path.dirname(location.directory)}`);
  });
  const held = await lockUnlessReady(location.directory, () => Promise.resolve(false), options.deadline, { ...options.lock, signal: options.signal }).catch((err: unknown) => {
    throw lockError(err);
  });
  try {
    const info = await publish(location, { kind: 'data', data, source }, options, true);
    return report(location, info, true);
  } finally {
    await held?.release();
  }
}

/** Takes the model's lock, or undefined once another instance has published it. */
export async function lock(location: ModelLocation, options: ModelOptions): Promise<HeldLock | undefined> {
  await mkdir(path.dirname(location.directory), { recursive: true }).catch((err: unknown) => {
    throw fileError(err, `cannot create ${path.dirname(location.directory)}`);
  });
  return lockUnlessReady(location.directory, async () => (await readModelInfo(location)) !== undefined, options.deadline, { ...options.lock, signal: options.signal }).catch((err: unknown) => {
    throw lockError(err);
  });
}

async function mustRead(location: ModelLocation): Promise<ModelInfo> {
  const info = await readModelInfo(location);
  if (!info) throw new ProtocolError(500, `${location.directory} vanished after it was published`, { reason: 'file_write_error' });
  return info;
}

function report(location: ModelLocation, info: ModelInfo, fetched: boolean): ModelReport {
  return { ...location, size: info.size, sha256: info.sha256, source: info.source, storedAt: info.storedAt, fetched };
}

/**
 * Writes the model whole into a staging folder beside its place, then renames it in. The caller
 * holds the lock. `replace` moves an existing model aside first (a retrained model).
 */
export async function publish(location: ModelLocation, source: ModelSource, options: ModelOptions, replace = false): Promise<ModelInfo> {
  const staging = `${location.directory}.partial-${randomBytes(6).toString('hex')}`;
  try {
    await mkdir(staging, { recursive: true });
    const file = path.join(staging, MODEL_FILE);
    let written: { size: number; sha256: string };
    if (source.kind === 'url') {
      written = await download(source.url, file, source.headers ?? {}, options);
    } else {
      await writeFile(file, source.data);
      written = { size: source.data.length, sha256: createHash('sha256').update(source.data).digest('hex') };
    }
    const info: ModelInfo = {
      libraryId: location.libraryId,
      libraryEngineModelId: location.libraryEngineModelId,
      size: written.size,
      sha256: written.sha256,
      source: source.kind === 'url' ? `download ${redactUrl(source.url)}` : source.source,
      storedAt: new Date().toISOString(),
    };
    await writeFile(path.join(staging, MODEL_MANIFEST), `${JSON.stringify(info, null, 2)}\n`);
    let old: string | undefined;
    if (replace && (await exists(location.directory))) {
      old = `${location.directory}.old-${randomBytes(6).toString('hex')}`;
      await rename(location.directory, old);
    }
    await rename(staging, location.directory);
    if (old) await rm(old, { recursive: true, force: true });
    return info;
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof ProtocolError) throw err;
    throw fileError(err, `cannot write the model to ${location.directory}`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

// A URL's query may carry a signature or token: the manifest and messages keep only its origin and path.
function redactUrl(url: string): string {
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

function lockError(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if ((err as Error).name === 'LockTimeoutError') return new ProtocolError(503, `${errorMessage(err)} (the task's maxTTL passed)`, { reason: 'internal_error' });
  return fileError(err, 'cannot take the model lock');
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
async function download(url: string, file: string, headers: Record<string, string>, options: ModelOptions): Promise<{ size: number; sha256: string }> {
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

function downloadOnce(url: string, shown: string, file: string, headers: Record<string, string>, options: ModelOptions): Promise<{ size: number; sha256: string }> {
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
