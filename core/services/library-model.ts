// Library engine models on disk (docs/nodes.md, aiware-library-model): where a task's model
// lives under `libraryModelDirectory` ({libraryId}/{libraryEngineModelId}), fetching it once under a
// lock shared by every engine instance, and publishing a model (downloaded or trained) whole: it is
// written to a staging folder beside its place and renamed into it, so no instance reads half a model.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { ProtocolError, errorMessage } from '../protocol/errors';
import type { ProcessFields } from '../protocol/fields';
import { lockUnlessReady, type DirLockOptions, type HeldLock } from './dir-lock';
import { download, fileError, redactUrl, type DownloadOptions } from './model-download';
import { syncDir, syncFile, writeSynced } from '../util/durable';
import { context, inSpan } from '../util/trace';

export { fileError } from './model-download';

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
 * appended, giving aiWARE's `/cache/{shard}/libraries/{libraryId}/{libraryEngineModelId}`.
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

export interface ModelOptions extends DownloadOptions {
  /** Epoch ms: waiting for another instance's fetch, and the fetch itself, end by then. */
  deadline: number;
  lock?: DirLockOptions;
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
export function publish(location: ModelLocation, source: ModelSource, options: ModelOptions, replace = false): Promise<ModelInfo> {
  const attributes = { 'aiware.model.source': source.kind === 'url' ? 'url' : source.source, 'aiware.model.replace': replace };
  return inSpan(context.active(), 'aiware model publish', attributes, async (span) => {
    const info = await publishNow(location, source, options, replace);
    span?.setAttribute('aiware.model.bytes', info.size);
    return info;
  });
}

async function publishNow(location: ModelLocation, source: ModelSource, options: ModelOptions, replace: boolean): Promise<ModelInfo> {
  const staging = `${location.directory}.partial-${randomBytes(6).toString('hex')}`;
  try {
    await mkdir(staging, { recursive: true });
    const file = path.join(staging, MODEL_FILE);
    let written: { size: number; sha256: string };
    if (source.kind === 'url') {
      written = await download(source.url, file, source.headers ?? {}, options);
      await syncFile(file);
    } else {
      await writeSynced(file, source.data, 0o644);
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
    await writeSynced(path.join(staging, MODEL_MANIFEST), `${JSON.stringify(info, null, 2)}\n`, 0o644);
    // Published durably: the files' bytes, the staging folder's entries, then the rename in its parent.
    await syncDir(staging);
    let old: string | undefined;
    if (replace && (await exists(location.directory))) {
      old = `${location.directory}.old-${randomBytes(6).toString('hex')}`;
      await rename(location.directory, old);
    }
    await rename(staging, location.directory);
    await syncDir(path.dirname(location.directory));
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

function lockError(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if ((err as Error).name === 'LockTimeoutError') return new ProtocolError(503, `${errorMessage(err)} (the task's maxTTL passed)`, { reason: 'internal_error' });
  return fileError(err, 'cannot take the model lock');
}
