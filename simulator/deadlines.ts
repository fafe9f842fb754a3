// The emulator's clocks on a task, as ET's: maxTTL from the first /process post, and the
// heartbeat timeout; either fails a task still open when it runs out, with `heartbeat_timeout`.
import type { TaskBook, TaskState } from './task-book';

export interface DeadlineOptions {
  /** No heartbeat within this many ms fails the task; 0: off. */
  heartbeatTimeoutMs: number;
  enforceMaxTTL: boolean;
  /** Extra time past `maxTTL`, so an engine that fails the task itself at its deadline is heard first. */
  maxTTLGraceMs: number;
}

export class Deadlines {
  constructor(
    private readonly book: TaskBook,
    private readonly options: DeadlineOptions,
  ) {}

  /** Starts the task's maxTTL clock, once: a retried /process does not restart it. */
  armTTL(state: TaskState): void {
    if (!this.options.enforceMaxTTL || state.ttlTimer || this.book.stopped) return;
    const raw = state.record.fields?.maxTTL;
    if (raw === undefined || !/^\s*\d+\s*$/.test(raw) || Number(raw) <= 0) return;
    const seconds = Number(raw);
    state.ttlTimer = setTimeout(
      () => {
        state.ttlTimer = undefined;
        if (state.closedBy === 'engine' || state.closedBy === 'timeout') return;
        state.record.timedOut = true;
        state.record.timeout = 'maxTTL';
        this.book.close(state, 'failed', 'timeout', {
          reason: 'heartbeat_timeout',
          message: `the toolkit emulator gave up: no complete or failed heartbeat within maxTTL (${seconds} s)`,
        });
        this.book.changed(state);
      },
      seconds * 1000 + this.options.maxTTLGraceMs,
    );
  }

  /** Starts (or restarts) the wait for the task's next heartbeat; a paused task waits for none. */
  armHeartbeat(state: TaskState): void {
    const { heartbeatTimeoutMs } = this.options;
    if (heartbeatTimeoutMs <= 0 || state.closedBy !== undefined || this.book.stopped || state.record.status === 'paused') return;
    clearTimeout(state.heartbeatTimer);
    state.heartbeatTimer = setTimeout(() => {
      state.heartbeatTimer = undefined;
      if (state.closedBy !== undefined) return;
      state.record.timedOut = true;
      state.record.timeout = 'heartbeat';
      this.book.close(state, 'failed', 'timeout', {
        reason: 'heartbeat_timeout',
        message: `the toolkit emulator gave up: no heartbeat for ${heartbeatTimeoutMs} ms`,
      });
      this.book.changed(state);
    }, heartbeatTimeoutMs);
  }

  /** A paused task sends no heartbeats until it is woken: its heartbeat clock stops (maxTTL runs on). */
  suspendHeartbeat(state: TaskState): void {
    clearTimeout(state.heartbeatTimer);
    state.heartbeatTimer = undefined;
  }
}
