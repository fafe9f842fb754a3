// Chunks on disk: where a big chunk spills, its temp file's name, and writing an in-memory chunk
// to a file for nodes that need a path.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ProtocolError } from './errors';
import type { BodyLimits } from './body-limits';
import type { ReceivedChunk } from './body';

const TEMP_PREFIX = 'aiware-chunk-';

export function writeError(dir: string, err: Error): ProtocolError {
  return new ProtocolError(500, `could not write the chunk to a temp file in ${dir || 'the temp directory'}: ${err.message}`, {
    reason: 'file_write_error',
    cause: err,
  });
}

/** `limits.tmpDir`, else the `taskTmpDir` field when it names a directory, else the OS temp dir. */
export async function spillDir(l: BodyLimits, raw: Record<string, string>): Promise<string> {
  if (l.tmpDir) return l.tmpDir;
  let taskTmpDir = raw.taskTmpDir;
  if (taskTmpDir === undefined) {
    // Field names are case-insensitive (core/fields.ts); this runs once per spilled chunk only.
    for (const name in raw) if (name.toLowerCase() === 'tasktmpdir') taskTmpDir = raw[name];
  }
  if (taskTmpDir) {
    try {
      if ((await fs.promises.stat(taskTmpDir)).isDirectory()) return taskTmpDir;
    } catch {
      // not there: the OS temp dir will do
    }
  }
  return os.tmpdir();
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
