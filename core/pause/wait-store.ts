// Where pause-for-callback keeps its waits: one JSON file per wait in a folder of the engine's
// working folder, each written whole and durably (temp, fsync, rename, the folder's fsync) before
// its URL leaves, and a claim file created only if none exists (a synced temp file linked to its
// name), so of any number of callbacks (in one process or in several engine instances sharing the
// folder) exactly one claims a wait, and a claim is never seen half written. A claim carries the
// callback's body: a restart resumes a claimed wait whose flow had not finished with it.
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { ParsedFields } from '../protocol/fields';
import type { EngineType, RespondMode } from '../protocol/constants';
import type { SavedMessage } from './saved-message';
import type { RestoredTask } from '../task/task';
import { createDurably, writeFileDurably } from '../util/durable';

export type WaitMode = 'local' | 'platform';

/** How a wait ended: the first of these to claim it wins. */
export type WaitOutcome = 'resumed' | 'failed' | 'timed out' | 'ended';

/** The task a wait belongs to, enough to open it again in another process. */
export interface SavedTask extends RestoredTask {
  parsed: ParsedFields;
  engineType: EngineType;
  respond: RespondMode;
  owner?: string;
}

export interface WaitRecord {
  version: 1;
  id: string;
  mode: WaitMode;
  /** The aiware-pause-for-callback node that made it, which resumes it. */
  node: string;
  createdAt: number;
  /** When a local wait times out (its token expires with it). */
  expiresAt: number;
  /** True when the task's maxTTL shortened the node's timeout. */
  capped: boolean;
  task: SavedTask;
  message: SavedMessage;
  /** Temp files the message refers to (the chunk): removed when the wait ends. */
  files: string[];
}

export interface WaitClaim {
  outcome: WaitOutcome;
  at: number;
  /** Until when the claim is kept, so a late call of the URL hears 409, not 404. */
  keepUntil: number;
  /**
   * The callback that claimed it, `{ body }` as `saveMessage` keeps it (Buffers tagged), for a
   * resume or a failure from a callback: a restart resumes the wait with it.
   */
  callback?: SavedMessage;
}

const WAIT_SUFFIX = '.wait.json';
const CLAIM_SUFFIX = '.claim.json';
/** Files read at once when a folder of waits is loaded. */
const READ_CONCURRENCY = 64;
/** A temp file this old was left by a crash. */
const STALE_TEMP_MS = 60_000;

export class WaitStore {
  constructor(readonly dir: string) {}

  // Made each time, not once: a folder removed under a running engine (a cleaned work folder)
  // comes back at the next wait instead of failing every one after it.
  private async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  private file(id: string, suffix: string): string {
    if (!/^[A-Za-z0-9-]+$/.test(id)) throw new Error(`not a wait id: ${id}`);
    return path.join(this.dir, id + suffix);
  }

  /** Writes the wait whole and durably: a reader, a restart after `kill -9` or a power cut sees all of it or none. */
  async save(wait: WaitRecord): Promise<void> {
    await this.prepare();
    await writeFileDurably(this.file(wait.id, WAIT_SUFFIX), JSON.stringify(wait), this.dir);
  }

  async load(id: string): Promise<WaitRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.file(id, WAIT_SUFFIX), 'utf8')) as WaitRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Claims the wait for `outcome`: true for the one caller that made the claim file, false when
   * it existed already (another callback, the timeout, another instance got there first).
   */
  async claim(id: string, claim: WaitClaim): Promise<boolean> {
    await this.prepare();
    return createDurably(this.file(id, CLAIM_SUFFIX), JSON.stringify(claim), this.dir);
  }

  /** The claim on a wait, if one was made (a file that cannot be read still counts as claimed). */
  async claimOf(id: string): Promise<WaitClaim | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(id, CLAIM_SUFFIX), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as WaitClaim;
    } catch {
      return { outcome: 'ended', at: 0, keepUntil: 0 };
    }
  }

  /** Removes the wait's state (its claim stays until `sweep` finds it past `keepUntil`). */
  async remove(id: string): Promise<void> {
    await rm(this.file(id, WAIT_SUFFIX), { force: true });
  }

  /** Every saved wait, with whether it was claimed. Unreadable files are reported, not fatal. */
  async list(onProblem?: (file: string, problem: string) => void): Promise<{ wait: WaitRecord; claimed: boolean }[]> {
    await this.prepare();
    const names = await readdir(this.dir);
    const claims = new Set(names.filter((name) => name.endsWith(CLAIM_SUFFIX)).map((name) => name.slice(0, -CLAIM_SUFFIX.length)));
    const waits = names.filter((name) => name.endsWith(WAIT_SUFFIX));
    const found: { wait: WaitRecord; claimed: boolean }[] = [];
    for (let start = 0; start < waits.length; start += READ_CONCURRENCY) {
      await Promise.all(
        waits.slice(start, start + READ_CONCURRENCY).map(async (name) => {
          try {
            const wait = JSON.parse(await readFile(path.join(this.dir, name), 'utf8')) as WaitRecord;
            found.push({ wait, claimed: claims.has(wait.id) });
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onProblem?.(name, (err as Error).message);
          }
        }),
      );
    }
    return found.sort((a, b) => a.wait.createdAt - b.wait.createdAt);
  }

  /** Removes claims kept past their time, and temp files a crash left behind. */
  async sweep(now = Date.now()): Promise<number> {
    await this.prepare();
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      const file = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        // Only old ones: a young one may be another instance's file on its way to its rename.
        const info = await stat(file).catch(() => undefined);
        if (info && info.mtimeMs < now - STALE_TEMP_MS) await rm(file, { force: true });
        continue;
      }
      if (!name.endsWith(CLAIM_SUFFIX)) continue;
      const id = name.slice(0, -CLAIM_SUFFIX.length);
      const claim = await this.claimOf(id);
      if (claim && claim.keepUntil < now && !(await this.load(id))) {
        await rm(file, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
