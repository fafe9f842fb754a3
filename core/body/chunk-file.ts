// Chunks on disk: where a big chunk spills, its temp file's name, and writing an in-memory chunk
// to a file for nodes that need a path.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../protocol/errors';
import type { BodyLimits } from './limits';
import type { ReceivedChunk } from './received';

const TEMP_PREFIX = 'aiware-chunk-';

export function writeError(dir: string, err: Error): ProtocolError {
  return new ProtocolError(500, `could not write the chunk to a temp file in ${dir || 'the temp directory'}: ${err.message}`, {
    reason: 'file_write_error',
    cause: err,
  });
}

/**
 * The folders a request's `taskTmpDir` may name: ET chooses it, but the engine does not write
 * wherever a request says. The OS temp folder (the runner's work folder's tmp/), ET's usual
 * `/tmp` and `/cache`, and the configured `tmpDirRoots`.
 */
export function tmpDirRoots(l: Pick<BodyLimits, 'tmpDirRoots'>): string[] {
  return [os.tmpdir(), '/tmp', '/cache', ...(l.tmpDirRoots ?? [])];
}

const realRoots = new Map<string, string | null>();

function realRoot(root: string): string | null {
  let real = realRoots.get(root);
  if (real === undefined) {
    try {
      real = fs.realpathSync(root);
    } catch {
      real = null;
    }
    if (realRoots.size < 256) realRoots.set(root, real);
  }
  return real;
}

export interface TmpDirChoice {
  /** The folder to write in. */
  dir: string;
  /** Why the task's own folder was not taken, for a warning. */
  warning?: string;
}

/**
 * Where a task's files go: its `taskTmpDir` when that is a directory inside an allowed root
 * (links resolved), else the OS temp folder with a warning saying why.
 */
export async function taskTmpDir(requested: string | undefined, l: Pick<BodyLimits, 'tmpDirRoots'>): Promise<TmpDirChoice> {
  const fallback = os.tmpdir();
  if (!requested) return { dir: fallback };
  let real: string;
  try {
    real = await fs.promises.realpath(requested);
    if (!(await fs.promises.stat(real)).isDirectory()) return { dir: fallback, warning: `taskTmpDir ${JSON.stringify(requested)} is not a directory: using ${fallback}` };
  } catch {
    return { dir: fallback, warning: `taskTmpDir ${JSON.stringify(requested)} does not exist: using ${fallback}` };
  }
  const roots = tmpDirRoots(l);
  for (const root of roots) {
    const base = realRoot(root);
    if (base !== null && (real === base || real.startsWith(base === path.sep ? base : base + path.sep))) return { dir: real };
  }
  return {
    dir: fallback,
    warning: `taskTmpDir ${JSON.stringify(requested)} is outside the folders a task may write in (${roots.join(', ')}): using ${fallback}; allow it with the tmpDirRoots setting (the runner's RUNNER_TMP_ROOTS)`,
  };
}

/** `limits.tmpDir` (configured, trusted), else the request's `taskTmpDir` when allowed, else the OS temp dir. */
export async function spillDir(l: BodyLimits, raw: Record<string, string>): Promise<TmpDirChoice> {
  if (l.tmpDir) return { dir: l.tmpDir };
  let requested = raw.taskTmpDir;
  if (requested === undefined) {
    // Field names are case-insensitive (core/protocol/fields.ts); this runs once per spilled chunk only.
    for (const name in raw) if (name.toLowerCase() === 'tasktmpdir') requested = raw[name];
  }
  return taskTmpDir(requested, l);
}

/** `aiware-chunk-<uuid>`, keeping a plain extension of the part's filename for tools that go by it. */
export function tempName(filename: string | undefined): string {
  const ext = filename === undefined ? '' : path.extname(filename);
  return TEMP_PREFIX + randomUUID() + (/^\.[A-Za-z0-9]{1,12}$/.test(ext) ? ext : '');
}

/**
 * The chunk as a file, for nodes that need a path: a spilled chunk's own file, or an in-memory chunk
 * written to a new temp file in `dir` (default the OS temp dir). The path is remembered on the chunk,
 * so a second call writes nothing; the caller removes the file (`removeQuietly`).
 */
export async function chunkToFile(chunk: ReceivedChunk, dir?: string): Promise<string> {
  if (chunk.path !== undefined) return chunk.path;
  const file = path.join(dir ?? os.tmpdir(), tempName(chunk.filename));
  try {
    await fs.promises.writeFile(file, chunk.buffer ?? Buffer.alloc(0), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    await removeQuietly(file);
    throw writeError(dir ?? os.tmpdir(), err as Error);
  }
  chunk.path = file;
  return file;
}

/** Removes a file, ignoring every error (it may be gone already). */
export async function removeQuietly(file: string): Promise<void> {
  try {
    await fs.promises.unlink(file);
  } catch {
    // nothing to do
  }
}
