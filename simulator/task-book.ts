// The emulator's record of each task, as ET keeps it: its status and how it closed, what the
// engine sent and broke, and waits until a record reaches a state.
import { EventEmitter } from 'node:events';
import type { FailureReason, Heartbeat, ResultBody } from '@aiware-nodered/node-red-aiware';

/**
 * - `pending`: built or posted, nothing heard yet;
 * - `running`: the engine answered asynchronously, or sent a heartbeat or result;
 * - `complete` / `failed`: a heartbeat closed the task, or /process answered with an error status,
 *   or the emulator timed it out (`timedOut`);
 * - `answered`: /process answered 200 with the output itself (synchronous chunk engine);
 * - `ignored`: /process answered 204;
 * - `paused`: the engine set the task `paused` with `updateTask` and waits for its wake-up
 *   (not final: a `/callback` re-dispatches it, or maxTTL ends it).
 */
export type TaskStatus = 'pending' | 'running' | 'complete' | 'failed' | 'answered' | 'ignored' | 'paused';

/** Statuses after which ET considers the task done: `waitForTask` resolves on these. */
export const FINAL_STATUSES: readonly TaskStatus[] = ['complete', 'failed', 'answered', 'ignored'];

export type WebhookKind = 'heartbeat' | 'result';

export type RecordedHeartbeat = Heartbeat & { at: number };
export type RecordedResult = ResultBody & { at: number };

export interface TaskRecord {
  taskId: string;
  /** The fields of the work item, when this emulator built it (absent for a task only heard of). */
  fields?: Record<string, string>;
  /** Accepted heartbeats, in arrival order. */
  heartbeats: RecordedHeartbeat[];
  /** Accepted results, in arrival order. */
  results: RecordedResult[];
  status: TaskStatus;
  failureReason?: FailureReason;
  failureMsg?: string;
  /** Breaches of the protocol (docs/protocol.md) by the engine: a well-behaved engine leaves this empty. */
  violations: string[];
  /** Every post received (accepted, refused or malformed), and every /process post made. */
  attempts: { heartbeat: number; result: number; process: number };
  /** Posts answered with a status set by `refuse()`. */
  refused: { kind: WebhookKind; status: number; at: number }[];
  /** Every /process answer, in order. */
  processAnswers: { status: number; at: number }[];
  /** The body of a synchronous 200 answer. */
  syncAnswer?: unknown;
  /** How many times `updateTask` set the task `paused`. */
  paused: number;
  /** Every `updateTask` status the engine sent (`paused` included), in order. */
  statusUpdates: { status: string; at: number }[];
  /** Each wake-up by `/callback`: when, and the status its /process re-dispatch was answered (absent when it got no answer). */
  wakeUps: { at: number; status?: number; error?: string }[];
  /** From an asynchronous answer. */
  estimatedProcessingTimeInSeconds?: number;
  /** The emulator failed the task because time ran out; `timeout` says which clock. */
  timedOut?: boolean;
  timeout?: 'maxTTL' | 'heartbeat';
  createdAt: number;
  closedAt?: number;
}

export interface WaitOptions {
  /** Default 10 000 ms. */
  timeoutMs?: number;
}

// Who closed a task decides what may still change it: an engine's heartbeat and the emulator's
// timeout are final; a /process answer is not (a retried /process reopens the task, and a later
// complete/failed heartbeat is the engine's own word).
type ClosedBy = 'process' | 'engine' | 'timeout';

/** A task's record and the emulator's handles on it. */
export interface TaskState {
  record: TaskRecord;
  closedBy?: ClosedBy;
  ttlTimer?: NodeJS.Timeout;
  heartbeatTimer?: NodeJS.Timeout;
}

type FinalStatus = Extract<TaskStatus, 'complete' | 'failed' | 'answered' | 'ignored'>;

const DEFAULT_WAIT_MS = 10_000;

/**
 * The tasks of one emulator, by id. `status` and `violation` are emitted on `events` (the
 * emulator), with the task id first.
 */
export class TaskBook {
  private readonly tasks = new Map<string, TaskState>();
  // Waiters listen here on `change:<taskId>` and `stopped`, apart from the public events.
  private readonly changes = new EventEmitter();
  private ended = false;

  constructor(private readonly events: EventEmitter) {
    this.changes.setMaxListeners(0);
  }

  /** Once stopped, no clock is armed and no wait begins. */
  get stopped(): boolean {
    return this.ended;
  }

  /** The task's state, made on first mention; `fields` are kept when it has none yet. */
  ensure(taskId: string, fields?: Record<string, string>): TaskState {
    let state = this.tasks.get(taskId);
    if (!state) {
      state = {
        record: {
          taskId,
          fields: fields === undefined ? undefined : { ...fields },
          heartbeats: [],
          results: [],
          status: 'pending',
          violations: [],
          attempts: { heartbeat: 0, result: 0, process: 0 },
          refused: [],
          processAnswers: [],
          paused: 0,
          statusUpdates: [],
          wakeUps: [],
          createdAt: Date.now(),
        },
      };
      this.tasks.set(taskId, state);
    } else if (fields !== undefined && state.record.fields === undefined) {
      state.record.fields = { ...fields };
    }
    return state;
  }

  /** A snapshot of one task's record. Throws for a task this emulator never heard of. */
  snapshot(taskId: string): TaskRecord {
    const state = this.tasks.get(taskId);
    if (!state) throw new Error(`the toolkit emulator knows no task ${JSON.stringify(taskId)}`);
    return structuredClone(state.record);
  }

  /** Snapshots of every task, in creation order. */
  snapshots(): TaskRecord[] {
    return [...this.tasks.values()].map((state) => structuredClone(state.record));
  }

  /** Wakes the waiters on this task: call after every change to its record. */
  changed(state: TaskState): void {
    this.changes.emit(`change:${state.record.taskId}`);
  }

  setStatus(state: TaskState, status: TaskStatus): void {
    if (state.record.status === status) return;
    state.record.status = status;
    this.events.emit('status', state.record.taskId, status);
  }

  violation(state: TaskState, message: string): void {
    state.record.violations.push(message);
    this.events.emit('violation', state.record.taskId, message);
  }

  close(state: TaskState, status: FinalStatus, by: ClosedBy, failure: { reason?: FailureReason; message?: string } = {}): void {
    const rec = state.record;
    state.closedBy = by;
    rec.closedAt = Date.now();
    // A task's failure fields always describe its latest closing, never an earlier one.
    if (failure.reason === undefined) delete rec.failureReason;
    else rec.failureReason = failure.reason;
    if (failure.message === undefined) delete rec.failureMsg;
    else rec.failureMsg = failure.message;
    clearTimers(state);
    this.setStatus(state, status);
  }

  reopen(state: TaskState): void {
    const rec = state.record;
    state.closedBy = undefined;
    delete rec.closedAt;
    delete rec.failureReason;
    delete rec.failureMsg;
    delete rec.syncAnswer;
    this.setStatus(state, 'pending');
  }

  /**
   * Resolves with a snapshot of the task once `predicate` holds for it (checked now and after every
   * change), or rejects after `timeoutMs`. The predicate sees the live record: read it, don't change it.
   */
  wait(predicate: (rec: Readonly<TaskRecord>) => boolean, taskId: string, timeoutMs = DEFAULT_WAIT_MS, waitingFor: string): Promise<TaskRecord> {
    return new Promise<TaskRecord>((resolve, reject) => {
      if (this.ended) {
        reject(new Error(`the toolkit emulator is stopped; cannot wait for task ${taskId}`));
        return;
      }
      const event = `change:${taskId}`;
      const finish = (): void => {
        clearTimeout(timer);
        this.changes.off(event, check);
        this.changes.off('stopped', onStopped);
      };
      const check = (): void => {
        const state = this.tasks.get(taskId);
        if (!state) return;
        let done: boolean;
        try {
          done = predicate(state.record);
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (done) {
          finish();
          resolve(structuredClone(state.record));
        }
      };
      const onStopped = (): void => {
        finish();
        reject(new Error(`the toolkit emulator stopped while task ${taskId} was awaited`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`task ${taskId}: timed out after ${timeoutMs} ms waiting for ${waitingFor}; ${this.summary(taskId)}`));
      }, timeoutMs);
      this.changes.on(event, check);
      this.changes.on('stopped', onStopped);
      check();
    });
  }

  /** Clears every task's clocks and rejects every wait. */
  stop(): void {
    this.ended = true;
    for (const state of this.tasks.values()) clearTimers(state);
    this.changes.emit('stopped');
  }

  private summary(taskId: string): string {
    const state = this.tasks.get(taskId);
    if (!state) return 'nothing was ever heard of it';
    const rec = state.record;
    const last = rec.heartbeats[rec.heartbeats.length - 1];
    const parts = [`status ${rec.status}`, `${rec.heartbeats.length} heartbeat(s)${last ? ` (last: ${last.status})` : ''}`, `${rec.results.length} result(s)`, `${rec.refused.length} refused post(s)`];
    if (rec.violations.length > 0) parts.push(`violations: ${rec.violations.join(' | ')}`);
    return parts.join(', ');
  }
}

// A closed task runs no clock.
function clearTimers(state: TaskState): void {
  clearTimeout(state.ttlTimer);
  clearTimeout(state.heartbeatTimer);
  state.ttlTimer = undefined;
  state.heartbeatTimer = undefined;
}
