// A task's posts to Engine Toolkit, in the order the flow handed them over: results, the flow's own
// `running` heartbeats and the final heartbeat go through one queue; the wheel's automatic
// `running` heartbeat goes beside it, at most one at a time, and the final one waits for it.
import { errorMessage } from '../protocol/errors';
import type { Heartbeat } from '../protocol/constants';
import type { WebhookClient } from './webhooks';
import type { Counters, TaskSettings } from './types';
import { ROOT_CONTEXT, parentFor, type Context } from '../util/trace';

/** What the posts need of their task and of the registry that holds it. */
export interface PostingTask {
  readonly deadline: number;
  readonly counters: Readonly<Counters>;
  readonly infoMsg: string | undefined;
  /** The task's span, as context, when its trace is recorded. */
  readonly traceContext?: Context;
}

export interface PostHome {
  readonly settings: TaskSettings;
  readonly client: WebhookClient;
  /** A post that failed and has no message to report it on. */
  warn(text: string): void;
  /** Keeps a post under way, for a drain to wait on. */
  track(promise: Promise<void>): void;
  /** The time from the task's previous automatic running heartbeat to this one, as they were sent (ms): how on time the wheel is. */
  period?(ms: number): void;
}

const RUNNING = { 'aiware.heartbeat.status': 'running' } as const;

export class TaskPosts {
  private queue: Promise<void> = Promise.resolve();
  /** The automatic `running` heartbeat on its way, if any: the final heartbeat waits for it. */
  private running?: Promise<void>;
  /** When the last automatic running heartbeat was sent (performance.now()). */
  private lastTick?: number;
  /** Cancels posts still under way when the task fails; made on first use (sync tasks never post). */
  private controller?: AbortController;

  constructor(
    private readonly task: PostingTask,
    private readonly home: PostHome,
  ) {}

  /**
   * A result after every post queued so far; `delivered` runs once ET has it, before the next post
   * goes. Rejects when it cannot be delivered.
   */
  post(url: string, body: unknown, headers: Record<string, string>, delivered: () => void, index?: number): Promise<void> {
    // Under the node that handed it over (result-out's span), when it did so in its span.
    const trace = parentFor(this.task.traceContext);
    return this.enqueue(async () => {
      await this.home.client.post(url, body, this.task.deadline, { signal: this.signal, headers, trace, attributes: index === undefined ? undefined : { 'aiware.result.index': index } });
      delivered();
    });
  }

  /** The flow's own `running` heartbeat: never dropped, queued in order after results already sent. */
  progress(url: string): void {
    const heartbeat: Heartbeat = { status: 'running', ...this.task.counters, infoMsg: this.task.infoMsg };
    const trace = parentFor(this.task.traceContext);
    this.enqueue(() => this.home.client.post(url, heartbeat, this.task.deadline, { signal: this.signal, trace, attributes: RUNNING })).catch((err: unknown) =>
      this.home.warn(`running heartbeat not delivered: ${errorMessage(err)}`),
    );
  }

  /** The wheel's `running` heartbeat: skipped while the previous one is still on its way, not retried past the next tick. */
  tick(url: string, infoMsg: string | undefined): void {
    if (this.running) return;
    // A tick skipped (the previous one still on its way) makes the next period two intervals: it counts as late.
    const now = performance.now();
    if (this.lastTick !== undefined) this.home.period?.(now - this.lastTick);
    this.lastTick = now;
    const heartbeat: Heartbeat = { status: 'running', ...this.task.counters, infoMsg };
    const deadline = Math.min(this.task.deadline, Date.now() + this.home.settings.heartbeatIntervalMs);
    this.running = this.home.client
      .post(url, heartbeat, deadline, { signal: this.signal, running: true, trace: this.task.traceContext ?? ROOT_CONTEXT, attributes: RUNNING })
      .catch((err: unknown) => this.home.warn(`running heartbeat not delivered: ${errorMessage(err)}`))
      .finally(() => {
        this.running = undefined;
      });
  }

  /**
   * The final heartbeat, queued behind the results: ET must have every result before it hears
   * "complete". It also waits for a running heartbeat still on its way (at most one interval), so
   * it is the last. It may take `finalHeartbeatGraceMs` past the task's deadline.
   */
  final(url: string, end: Pick<Heartbeat, 'status' | 'failureReason' | 'failureMsg'>): void {
    const deadline = Math.max(this.task.deadline, Date.now()) + this.home.settings.finalHeartbeatGraceMs;
    this.enqueue(async () => {
      await this.running;
      // Made now, not when the task ended: its counters include the results delivered before it.
      const heartbeat: Heartbeat = { status: end.status, ...this.task.counters, failureReason: end.failureReason, failureMsg: end.failureMsg, infoMsg: this.task.infoMsg };
      await this.home.client.post(url, heartbeat, deadline, { trace: this.task.traceContext ?? ROOT_CONTEXT, attributes: { 'aiware.heartbeat.status': end.status } });
    }).catch((err: unknown) => this.home.warn(`final heartbeat (${end.status}) not delivered: ${errorMessage(err)}`));
  }

  /** Drops the posts under way (the task has failed and says why). */
  abort(): void {
    this.controller?.abort();
  }

  /** Resolves once every post queued so far has settled. */
  flushed(): Promise<void> {
    return this.queue;
  }

  private get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  private enqueue(send: () => Promise<void>): Promise<void> {
    const next = this.queue.then(send);
    this.queue = next.then(
      () => undefined,
      () => undefined,
    );
    this.home.track(this.queue);
    return next;
  }
}
