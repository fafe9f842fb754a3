// A lock between processes that share a folder (engine instances sharing libraryModelDirectory):
// proper-lockfile's `<target>.lock` directory (mkdir is atomic), touched while held, taken over
// once stale when its holder died. This adds the wait: a waiter whose work someone else finished
// meanwhile takes no lock at all.
import * as lockfile from 'proper-lockfile';
import { sleep } from '../util/timers';

export interface DirLockOptions {
  /** A lock not touched for this long belongs to a process that died. Default 30 s (at least 2 s). */
  staleMs?: number;
  /** First wait between two tries; doubles up to `maxPollMs`. Default 25 ms. */
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
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      lockfilePath: lockPath,
      realpath: false,
      stale: options.staleMs ?? 30_000,
      retries: 0,
      // A lock taken over while still held (the holder stalled past `stale`): the work is written
      // to a staging folder and published by rename, so a second writer costs time, not a model.
      onCompromised: () => undefined,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') return undefined;
    throw err;
  }
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      await release().catch(() => undefined);
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
