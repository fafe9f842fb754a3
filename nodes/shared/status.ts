// One status vocabulary for every node: yellow dot in flight, blue dot with a count waiting,
// green dot done, yellow ring a warning (it fails unless something changes), red ring failed, {} to clear.
import type { Node, NodeStatus } from 'node-red';

export const status = {
  inFlight: (text: string): NodeStatus => ({ fill: 'yellow', shape: 'dot', text }),
  waiting: (text: string): NodeStatus => ({ fill: 'blue', shape: 'dot', text }),
  done: (text: string): NodeStatus => ({ fill: 'green', shape: 'dot', text }),
  warning: (text: string): NodeStatus => ({ fill: 'yellow', shape: 'ring', text }),
  failed: (text: string): NodeStatus => ({ fill: 'red', shape: 'ring', text }),
  clear: (): NodeStatus => ({}),
};

/** How much of a text a status shows: the editor cuts longer ones off under the node anyway. */
export const STATUS_TEXT_LENGTH = 60;

/** A text cut to the status length (an error's message, say). */
export function statusText(text: string): string {
  return text.slice(0, STATUS_TEXT_LENGTH);
}

/** A status, or a function that makes it: only called when the status is shown. */
export type StatusSource = NodeStatus | (() => NodeStatus);

/**
 * Coalesces status updates: a node handling thousands of tasks a second would otherwise flood
 * the editor. The latest status is shown at most every `intervalMs`; a status given as a
 * function is only built then (translating its text on every request cost a third of the CPU).
 */
export class StatusBoard {
  private pending?: StatusSource;
  private shown?: string;
  private timer?: NodeJS.Timeout;
  /** Set by `close`: a node closed (redeployed) shows nothing more, also from posts that settle late. */
  private closed = false;

  constructor(
    private readonly node: Node,
    private readonly intervalMs = 250,
  ) {}

  set(next: StatusSource): void {
    if (this.closed) return;
    this.pending = next;
    if (this.timer) return;
    this.flush();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.pending) this.flush();
    }, this.intervalMs);
  }

  /** Shows a status at once (errors that must not wait), and stops pending updates. */
  now(next: StatusSource): void {
    if (this.closed) return;
    this.pending = next;
    this.flush();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.node.status(status.clear());
  }

  private flush(): void {
    const source = this.pending;
    this.pending = undefined;
    if (!source) return;
    const next = typeof source === 'function' ? source() : source;
    const key = JSON.stringify(next);
    if (key === this.shown) return;
    this.shown = key;
    this.node.status(next);
  }
}
