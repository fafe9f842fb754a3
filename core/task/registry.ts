// The task registry: one entry per open /process task. Messages carry only the task id, so
// Node-RED can clone and fan them out; the handles (sync answer, timers, post queue) live in the
// task. The registry sends the running heartbeats from one wheel and fails tasks past maxTTL.
import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { DEFAULT_TASK_SETTINGS, Task, type OpenOptions, type TaskEnd, type TaskSettings } from './task';
import { WebhookClient } from './webhooks';
import { ProtocolError, errorMessage } from '../protocol/errors';
import { SecretIndex } from '../protocol/secret-index';
import { MAX_TIMER_MS } from '../util/timers';

/**
 * Every open task of this process. Emits `open` (task), `end` (TaskEnd),
 * `warning` (task, text) — for problems that have no message to report them on — and
 * `flowError` (task, text, node): a result or heartbeat reached the task (at that node) after it had ended.
 */
export class TaskRegistry extends EventEmitter {
  readonly settings: TaskSettings;
  readonly client: WebhookClient;
  /** The tokens of the open tasks, for scrubbing any text in one pass (the runner's log lines). */
  readonly secrets = new SecretIndex();
  private readonly tasks = new Map<string, Task>();
  private readonly deadlines = new Map<string, NodeJS.Timeout>();
  private readonly pending = new Set<Promise<void>>();
  private ticker?: NodeJS.Timeout;
  /** The heartbeat wheel: `wheel.length` slots of `slotMs` make one interval (at least 10 ms a slot). */
  private readonly wheel: Set<Task>[];
  private readonly slotMs: number;
  private readonly slots = new Map<Task, number>();
  private lastSlot = 0;
  /** When the ticker started (epoch ms): slots are counted from it, so the first task's heartbeat comes one interval after its opening. */
  private origin = 0;
  /** Set while a turn sends its slots: a post it starts does not start another turn. */
  private turning = false;
  /** Open asynchronous tasks: the ticker runs only while there are some. */
  private asyncOpen = 0;

  constructor(options: { settings?: Partial<TaskSettings>; client?: WebhookClient } = {}) {
    super();
    // Every aiware-process-in and the pause service listen for `open`/`end`: a flow with a dozen is no leak.
    this.setMaxListeners(0);
    this.settings = { ...DEFAULT_TASK_SETTINGS, ...options.settings };
    this.client = options.client ?? new WebhookClient();
    const slotCount = Math.max(1, Math.min(20, Math.floor(this.settings.heartbeatIntervalMs / 10)));
    this.slotMs = this.settings.heartbeatIntervalMs / slotCount;
    this.wheel = Array.from({ length: slotCount }, () => new Set<Task>());
  }

  get size(): number {
    return this.tasks.size;
  }

  open(options: OpenOptions): Task {
    const ttl = options.parsed.fields.maxTTL ?? this.settings.defaultTTLSeconds;
    if (options.restore && this.tasks.has(options.restore.id)) {
      throw new ProtocolError(409, `task ${options.restore.id} is already open in this process`, { reason: 'internal_error' });
    }
    const task = new Task(this, options, ttl);
    this.tasks.set(task.id, task);
    this.secrets.addFields(task.fields);
    this.watchDeadline(task, ttl);
    if (!task.isSync) {
      if (this.asyncOpen++ === 0) this.startTicker();
      // The wheel brought up to now first, so the task's slot is the current one and its first heartbeat one interval away.
      else this.turnWheel();
      this.joinWheel(task);
    }
    this.emit('open', task);
    return task;
  }

  get(id: string | undefined): Task | undefined {
    return id === undefined ? undefined : this.tasks.get(id);
  }

  /** Open tasks, optionally only those one node opened. */
  list(owner?: string): Task[] {
    const all = [...this.tasks.values()];
    return owner === undefined ? all : all.filter((task) => task.owner === owner);
  }

  /** Called by a task when it ends. */
  ended(end: TaskEnd): void {
    const { task } = end;
    this.tasks.delete(task.id);
    this.secrets.removeFields(task.fields);
    clearTimeout(this.deadlines.get(task.id));
    this.deadlines.delete(task.id);
    if (!task.isSync) {
      this.leaveWheel(task);
      if (--this.asyncOpen === 0) this.stopTicker();
    }
    // Tracked, so a node closing (drain) waits until its temp files are gone.
    for (const file of task.tmpFiles) this.track(this.removeFile(file));
    this.emit('end', end);
    this.turnWheel();
  }

  /** Removes a temp file; one already gone is fine, any other failure is a warning. */
  async removeFile(path: string): Promise<void> {
    try {
      await rm(path, { force: true });
    } catch (err) {
      this.emit('warning', { id: '-' }, `could not remove ${path}: ${errorMessage(err)}`);
    }
  }

  /** Keeps a post in the set `drain()` waits on. */
  track(promise: Promise<void>): void {
    this.pending.add(promise);
    this.turnWheel();
    void promise.finally(() => {
      this.pending.delete(promise);
      this.turnWheel();
    });
  }

  /** Resolves once every post in flight has settled, or after `timeoutMs`. */
  async drain(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.pending]).then(() => undefined), timeout]);
    clearTimeout(timer);
  }

  /** Fails the task when its deadline passes; a longer maxTTL than one timer can wait takes several. */
  private watchDeadline(task: Task, ttl: number): void {
    const wait = task.deadline - Date.now();
    const timer = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) this.watchDeadline(task, ttl);
        else task.fail({ reason: 'internal_error', message: `the flow did not end the task within maxTTL (${ttl} s)` });
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    this.deadlines.set(task.id, timer);
  }

  /**
   * The running heartbeats, spread over the interval: a wheel of slots, each task in the slot of
   * the moment it opened, so 1000 open tasks are some 50 posts every 50 ms, not 1000 in one burst
   * whose length each task's period would inherit. Slots follow the clock (`Date.now()`), not a
   * count of ticks, so a late tick delays one heartbeat and never drifts the period.
   */
  private startTicker(): void {
    this.origin = Date.now();
    this.lastSlot = 0;
    this.scheduleTick();
  }

  /**
   * The next tick, at the start of the next slot, reckoned from the clock each time. An interval
   * timer drifts later against the slots (each tick comes a little after the last one's 50 ms),
   * and when a tick then fell just past a slot's start it sent the slot before it a whole slot
   * late: 50 ms off two periods of one task in twenty, every few seconds, in the soak. A tick that
   * comes a little early finds nothing due and sets the next one to the same start.
   */
  private scheduleTick(): void {
    const delay = Math.max(1, Math.ceil(this.origin + (this.lastSlot + 1) * this.slotMs - Date.now()));
    this.ticker = setTimeout(() => {
      this.turnWheel();
      if (this.ticker) this.scheduleTick();
    }, delay);
  }

  /**
   * Sends the slots due by now. The ticker calls it, and so does the tasks' own work (a task
   * opening or ending, a post queued or settled): when 1000 tasks end in the same second the event
   * loop is busy for longer than a slot, and a timer would wait for all of it, while a slot due
   * in the middle goes out at the next post. Costs one clock read when nothing is due.
   */
  private turnWheel(): void {
    if (!this.ticker || this.turning) return;
    const current = this.slotAt(Date.now());
    if (current === this.lastSlot) return;
    this.turning = true;
    try {
      // Slots a late turn skipped are sent now, but never a whole turn of the wheel twice.
      for (let slot = Math.max(this.lastSlot + 1, current - this.wheel.length + 1); slot <= current; slot++) {
        for (const task of this.wheel[slot % this.wheel.length]) task.sendRunning();
      }
    } finally {
      this.lastSlot = current;
      this.turning = false;
    }
  }

  private stopTicker(): void {
    clearTimeout(this.ticker);
    this.ticker = undefined;
  }

  private slotAt(time: number): number {
    return Math.floor((time - this.origin) / this.slotMs);
  }

  /** Into the slot last sent: its next turn is one interval away (less at most one slot), never now. */
  private joinWheel(task: Task): void {
    const slot = this.lastSlot % this.wheel.length;
    this.wheel[slot].add(task);
    this.slots.set(task, slot);
  }

  private leaveWheel(task: Task): void {
    const slot = this.slots.get(task);
    if (slot === undefined) return;
    this.wheel[slot].delete(task);
    this.slots.delete(task);
  }
}
