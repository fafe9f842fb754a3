// A lock between processes that share a folder (engine instances sharing libraryModelDirectory):
// `mkdir` is atomic, so whoever creates `<target>.lock` holds it. The holder touches it while it
// works; one left behind by a process that died goes stale and is taken over by rename.
// (The palette pack carries no lock library: this is the part of proper-lockfile it needs.)
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { sleep } from './sleep';

export interface DirLockOptions {
  /** A lock not touched for this long belongs to a process that died. Default 30 s. */
  staleMs?: number;
  /** How often the holder touches its lock. Default a third of `staleMs`. */
  touchMs?: number;
  /** First wait between two tries; doubles up to `maxWaitMs`. Default 25 ms. */
  pollMs?: number;
  maxPollMs?: number;
  signal?: AbortSignal;
}

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

export class LockTimeoutError extends Error {
  constructor(readonly lockPath: string) {
    super(`${lockPath} is held by another engine instance and was not released in time`);
    this.name = 'LockTimeoutError';
  }
}

/** Takes `<target>.lock` once, or reports that someone else holds it (`undefined`). */
export async function tryLock(target: string, options: DirLockOptions = {}): Promise<HeldLock | undefined> {
  const lockPath = `${target}.lock`;
  const staleMs = options.staleMs ?? 30_000;
  try {
    await mkdir(lockPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!(await isStale(lockPath, staleMs))) return undefined;
    // Renamed away first: of two processes that found it stale, only one rename succeeds.
    try {
      await rename(lockPath, `${lockPath}.stale-${randomBytes(4).toString('hex')}`);
    } catch {
      return undefined;
    }
    return tryLock(target, options);
  }
  await writeFile(`${lockPath}/owner`, `${process.pid}\n`).catch(() => undefined);
  const touch = setInterval(
    () => {
      const now = new Date();
      utimes(lockPath, now, now).catch(() => undefined);
    },
    options.touchMs ?? Math.max(10, Math.floor(staleMs / 3)),
  );
  touch.unref();
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      clearInterval(touch);
      await rm(lockPath, { recursive: true, force: true });
    },
  };
}

/**
 * Takes the lock, waiting for it while `ready()` is false: a waiter whose work someone else has
 * done meanwhile (the model is there now) gets `undefined` and takes no lock. Gives up with a
 * `LockTimeoutError` at `deadline` (epoch ms).
 */
export async function lockUnlessReady(target: string, ready: () => Promise<boolean>, deadline: number, options: DirLockOptions = {}): Promise<HeldLock | undefined> {
  let wait = options.pollMs ?? 25;
  const maxWait = options.maxPollMs ?? 1000;
  for (;;) {
    if (await ready()) return undefined;
    const held = await tryLock(target, options);
    if (held) {
      // Published between the check and the lock: nothing to do after all.
      if (await ready()) {
        await held.release();
        return undefined;
      }
      return held;
    }
    if (Date.now() + wait > deadline || options.signal?.aborted) throw new LockTimeoutError(`${target}.lock`);
    await sleep(wait, options.signal);
    wait = Math.min(wait * 2, maxWait);
  }
}

async function isStale(lockPath: string, staleMs: number): Promise<boolean> {
  try {
    const info = await stat(lockPath);
    return Date.now() - info.mtimeMs > staleMs;
  } catch {
    // Gone meanwhile: not stale, just free; the next try takes it.
    return false;
  }
}
