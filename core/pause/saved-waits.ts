// The local waits on disk that have not come back into this process yet: read from the folder once,
// handed to each pause node as it registers, and, while the engine starts, what a callback for one
// of them waits on (its node registering, the flows starting), within a bound.
import { errorMessage } from '../protocol/errors';
import type { WaitRecord, WaitStore } from './wait-store';

export interface SavedWait {
  wait: WaitRecord;
  claimed: boolean;
}

export class SavedWaits {
  /** Saved waits not live in this process, by node: read from the folder once. */
  private byNode?: Promise<Map<string, SavedWait[]>>;
  /** Saved waits read and not back yet: a callback for one is held until it is. */
  private readonly pending = new Map<string, { back: Promise<void>; resolve(): void }>();
  /** Held until the flows have started: callbacks, and the replays of claimed waits. */
  private onStart: (() => void)[] = [];

  constructor(
    private readonly store: WaitStore,
    private readonly warn: (text: string) => void,
  ) {}

  /** The saved waits of a node, once: the folder is read at the first call. */
  async take(nodeId: string): Promise<SavedWait[]> {
    this.byNode ??= this.load();
    const byNode = await this.byNode;
    const mine = byNode.get(nodeId) ?? [];
    byNode.delete(nodeId);
    return mine;
  }

  /** Waits of a node that stopped: the node that starts again (a redeploy) takes them without reading the folder. */
  putBack(nodeId: string, waits: SavedWait[]): void {
    if (waits.length > 0) void this.byNode?.then((byNode) => byNode.set(nodeId, [...(byNode.get(nodeId) ?? []), ...waits]));
  }

  /** A saved wait is back (live, or refused): a callback held for it goes on. */
  back(waitId: string): void {
    const entry = this.pending.get(waitId);
    this.pending.delete(waitId);
    entry?.resolve();
  }

  /** Runs `go` once the flows have started (now, on the next turn, when they have). */
  afterStart(go: () => void, flowsStarted: boolean): void {
    if (flowsStarted) setImmediate(go);
    else this.onStart.push(go);
  }

  /** The flows have started. */
  started(): void {
    const waiting = this.onStart;
    this.onStart = [];
    for (const go of waiting) go();
  }

  /**
   * Resolves once a wait saved on disk would be back if it is coming at all: after the flows have
   * started (when no pause node has asked yet), the folder has been read, and its node has restored
   * it; or at `until`, whichever comes first.
   */
  async settled(waitId: string, flowsStarted: boolean, until: number): Promise<void> {
    if (!this.byNode && !flowsStarted) await within(new Promise<void>((wake) => this.onStart.push(wake)), until);
    if (this.byNode) await within(this.byNode, until);
    const entry = this.pending.get(waitId);
    if (entry) await within(entry.back, until);
  }

  /** Reads the folder: saved local waits by node. Old claims and temp files are swept. */
  private async load(): Promise<Map<string, SavedWait[]>> {
    const byNode = new Map<string, SavedWait[]>();
    await this.store.sweep().catch((err: unknown) => this.warn(`could not sweep ${this.store.dir}: ${errorMessage(err)}`));
    const all = await this.store.list((file, problem) => this.warn(`wait file ${file} cannot be read (${problem}): left as it is`));
    for (const entry of all) {
      if (entry.wait.mode !== 'local') continue;
      if (!this.pending.has(entry.wait.id)) {
        let resolve = (): void => undefined;
        const back = new Promise<void>((done) => (resolve = done));
        this.pending.set(entry.wait.id, { back, resolve });
      }
      const list = byNode.get(entry.wait.node) ?? [];
      list.push(entry);
      byNode.set(entry.wait.node, list);
    }
    return byNode;
  }
}

/** Resolves when `promise` does or at `until`, whichever comes first. */
function within(promise: Promise<unknown>, until: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, until - Date.now()));
  });
  return Promise.race([promise.then(() => undefined), bound]).finally(() => clearTimeout(timer));
}
