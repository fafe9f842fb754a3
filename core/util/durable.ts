// Writes that survive a power cut, where the project promises "nothing lost": the bytes are on
// disk (fsync) before the file has its name, and the name is on disk (the folder's fsync) before
// the caller goes on. A rename alone survives `kill -9`, not a power cut or a node's reboot.
import { randomBytes } from 'node:crypto';
import { link, open, readdir, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';

/** A temp name beside `file`, unique to this process and call. */
export function tempBeside(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Writes `data` to `file` and flushes it to disk. */
export async function writeSynced(file: string, data: string | Uint8Array, mode = 0o600, flag = 'w'): Promise<void> {
  const handle = await open(file, flag, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a file already written (by a stream, say) to disk. */
export async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes a folder's entries (a rename, a link, a removal in it) to disk. A file system that
 * cannot sync a folder (EINVAL, EISDIR, EPERM on some) is left as it is: there is nothing more to do.
 */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

/** Writes `file` whole and durably: a reader, a restart or a power cut sees all of it or none. */
export async function writeFileDurably(file: string, data: string | Uint8Array, dir: string, mode = 0o600): Promise<void> {
  const temp = tempBeside(file);
  try {
    await writeSynced(temp, data, mode);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/**
 * Creates `file` with `data`, durably, only if it does not exist: true for the one caller that
 * made it, false when it existed. The file is never seen half written: the bytes go to a temp
 * file first, which is then linked to the name (a link fails when the name exists).
 */
export async function createDurably(file: string, data: string | Uint8Array, dir: string, mode = 0o600): Promise<boolean> {
  const temp = tempBeside(file);
  try {
    await writeSynced(temp, data, mode);
    try {
      await link(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  } finally {
    await rm(temp, { force: true });
  }
  await syncDir(dir);
  return true;
}

/** Files flushed at once by `syncTree`. */
const TREE_CONCURRENCY = 32;

/**
 * Flushes every file and folder under `root` (an npm install, before its completion mark is
 * written): a mark that survives a power cut then always stands for files that did too.
 * Symbolic links are left as they are (their targets are in the tree or not ours).
 */
export async function syncTree(root: string): Promise<void> {
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    dirs.push(dir);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.push(full);
    }
  };
  await walk(root);
  for (let start = 0; start < files.length; start += TREE_CONCURRENCY) {
    await Promise.all(files.slice(start, start + TREE_CONCURRENCY).map(syncFile));
  }
  // Deepest first: a folder's entries are on disk before its parent's entry for it.
  for (const dir of dirs.reverse()) await syncDir(dir);
}
