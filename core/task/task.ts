// One /process task: what ET sent, what the flow has done with it, and its webhooks (results,
// heartbeats) posted in order. The registry that holds it (./registry) is its `TaskHome`.
import { randomUUID } from 'node:crypto';
import { scrubSecrets, secretsOf, type ProcessFields } from '../protocol/fields';
import { ProtocolError, errorMessage } from '../protocol/errors';
import { MODE_LIBRARY_TRAIN, type EngineType, type FailureReason, type Heartbeat, type ResultBody, type RespondMode } from '../protocol/constants';
import { WebhookClient, WebhookError } from './webhooks';
import { TaskPosts } from './posts';
import { carrierOf, type Context, type TraceCarrier } from '../util/trace';
import type { Counters, Failure, FlowNode, OpenOptions, Progress, RestoredTask, ResultOptions, SyncReply, TaskEnder, TaskSettings, TaskState, TaskTimes } from './types';

export * from './types';

export interface TaskEnd {
  task: Task;
  state: Exclude<TaskState, 'open'>;
  reason?: FailureReason;
  message?: string;
}

/** Sent with each result post: the same for every retry of one result. */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** What a task needs of the registry that holds it (`TaskRegistry`). */
export interface TaskHome {
  readonly settings: TaskSettings;
  readonly client: WebhookClient;
  /** `flowError` (task, text, node), `warning` (task, text) and `heartbeatPeriod` (ms between a task's automatic running heartbeats, as sent). */
  emit(event: 'flowError' | 'warning' | 'heartbeatPeriod', ...args: unknown[]): boolean;
  /** Keeps a post under way, for a drain to wait on. */
  track(promise: Promise<void>): void;
  /** The task has ended. */
  ended(end: TaskEnd): void;
}

export class Task {
  readonly id: string;
  readonly fields: ProcessFields;
  readonly chunkMetadata: Record<string, string>;
  readonly extra: Record<string, string>;
  /** The engine type the task runs as: `library-train` makes any engine a batch engine. */
  readonly engineType: EngineType;
  readonly respond: RespondMode;
  readonly mode?: string;
  readonly owner?: string;
  readonly startedAt: number;
  readonly deadline: number;
  readonly tmpFiles: string[];
  // Changed only through the methods below, so that what ET hears and what the task says agree.
  private current: TaskState = 'open';
  private info?: string;
  private readonly count: Counters;
  private resultCount = 0;
  /** The pause-for-callback wait the task is in, if any. */
  private waitId?: string;
  private reply?: SyncReply;
  private readonly posts: TaskPosts;
  /** Who ended it, kept after the end: a result or heartbeat that comes later names them. */
  private ender?: TaskEnder;
  /** The failure's message, once failed. */
  private endText?: string;
  /** Results and heartbeats that reached the task after it had ended. */
  private lateCount = 0;
  /** What the pack has to say of the task (the flow forgot it): the automatic heartbeats carry it while set. */
  private noticeText?: string;
  /** The trace the task continues (its saved state's, or the request's), if any. */
  readonly traceFrom?: TraceCarrier;
  /** The task goes on from a pause: restored from a saved wait, or woken by aiWARE. */
  readonly resumed: boolean;
  /** The task's span, as context, when it is traced, sampled or not (set by TaskTracing when the task opens). */
  traceContext?: Context;
  /** Where the task's time went, node by node, once it has ended or paused (set by NodeTiming; undefined when timing is off). */
  times?: TaskTimes;

  constructor(
    private readonly registry: TaskHome,
    options: OpenOptions,
    ttlSeconds: number,
  ) {
    const { parsed, restore } = options;
    this.id = restore?.id ?? randomUUID();
    this.startedAt = restore?.startedAt ?? Date.now();
    this.fields = parsed.fields;
    this.chunkMetadata = parsed.chunkMetadata;
    this.extra = parsed.extra;
    this.mode = typeof parsed.fields.payload?.mode === 'string' ? parsed.fields.payload.mode : undefined;
    const training = this.mode === MODE_LIBRARY_TRAIN;
    this.engineType = training ? 'batch' : options.engineType;
    this.respond = this.engineType === 'chunk' ? options.respond : 'async';
    this.owner = options.owner;
    this.reply = this.respond === 'sync' ? options.reply : undefined;
    this.deadline = this.startedAt + ttlSeconds * 1000;
    this.count = restore ? { ...restore.counters } : { bytesRead: options.bytesRead ?? 0, bytesWritten: 0, messagesWritten: 0 };
    this.resultCount = restore?.resultsSent ?? 0;
    this.info = restore?.infoMsg;
    this.tmpFiles = options.tmpFiles ?? [];
    this.traceFrom = restore?.trace ?? options.trace;
    this.resumed = restore !== undefined || options.resumed === true;
    this.posts = new TaskPosts(this, {
      settings: registry.settings,
      client: registry.client,
      warn: (text) => registry.emit('warning', this, text),
      period: (ms) => registry.emit('heartbeatPeriod', ms),
      track: (promise) => registry.track(promise),
    });
  }

  /** The id of the pause-for-callback wait the task is in, or undefined when it is not waiting. */
  get waiting(): string | undefined {
    return this.waitId;
  }

  /**
   * The task waits for a callback: a `running` heartbeat says so now, unless `announce` is false
   * (the next tick of the wheel says it), and every one after it;
   * and hosts leave it alone when they stop (its wait is saved, a restart brings it back).
   */
  startWaiting(waitId: string, infoMsg: string, announce = true): void {
    this.assertOpen();
    this.waitId = waitId;
    if (announce) this.update({ infoMsg });
    else this.note({ infoMsg });
  }

  /** The wait is over (resumed, failed or timed out): the task is an ordinary open task again. */
  stopWaiting(): void {
    this.waitId = undefined;
  }

  /**
   * The task leaves this process with its state saved: no final heartbeat (another process, or
   * aiWARE's wake-up, carries it on). Posts already queued still go out.
   */
  pause(progress: Progress = {}, by?: TaskEnder): void {
    if (!this.isOpen) return;
    if (progress.infoMsg !== undefined || progress.counters) this.update(progress);
    this.end({ state: 'paused' }, by);
  }

  /** What a restored copy of this task needs (with `fields`, `chunkMetadata`, `extra`). */
  saved(): RestoredTask {
    const trace = carrierOf(this.traceContext) ?? this.traceFrom;
    return { id: this.id, startedAt: this.startedAt, resultsSent: this.resultCount, counters: { ...this.count }, infoMsg: this.info, ...(trace ? { trace } : {}) };
  }

  get state(): TaskState {
    return this.current;
  }

  /** The info message the task's heartbeats carry: the latest one the flow gave. */
  get infoMsg(): string | undefined {
    return this.info;
  }

  /** The pack's own word on the task, carried by the automatic `running` heartbeats instead of the flow's `infoMsg` while set. */
  get notice(): string | undefined {
    return this.noticeText;
  }

  setNotice(text: string | undefined): void {
    this.noticeText = text === undefined ? undefined : scrubSecrets(text, secretsOf(this.fields));
  }

  /** The node whose message ended the task (and who sent it that message); undefined while open, or when the pack ended it. */
  get endedBy(): TaskEnder | undefined {
    return this.ender;
  }

  /** The message the task failed with, once it has. */
  get endedMessage(): string | undefined {
    return this.endText;
  }

  /** How many results and heartbeats reached the task after it had ended: flow errors (see `flowError`). */
  get flowErrors(): number {
    return this.lateCount;
  }

  /** A result or heartbeat reached `node` after the task had ended: counted, and the registry emits `flowError` (task, text, node). */
  flowError(text: string, node?: FlowNode): void {
    this.lateCount++;
    this.registry.emit('flowError', this, text, node);
  }

  get counters(): Readonly<Counters> {
    return this.count;
  }

  get isOpen(): boolean {
    return this.current === 'open';
  }

  get isSync(): boolean {
    return this.respond === 'sync';
  }

  /** The number of results handed over so far (delivered or on their way). */
  get resultsSent(): number {
    return this.resultCount;
  }

  /**
   * Hands one output over: the /process answer for a synchronous task, otherwise a result POST
   * with the next `index`. Each call sends exactly one result. Resolves once ET has it; if it
   * cannot be delivered the task fails with the reason, and the promise rejects with it.
   */
  result(output: unknown, options: ResultOptions = {}): Promise<void> {
    this.assertOpen();
    if (this.isSync) {
      this.resultCount++;
      this.end({ state: 'complete' }, options.by, 200, output);
      return Promise.resolve();
    }
    const body: ResultBody = {
      chunkContext: this.fields.chunkContext,
      startOffsetMs: options.startOffsetMs ?? this.fields.startOffsetMS,
      endOffsetMs: options.endOffsetMs ?? this.fields.endOffsetMS,
      index: ++this.resultCount,
      output,
    };
    const url = this.fields.resultWebhook;
    if (!url) {
      const failure = new ProtocolError(400, 'the task has no resultWebhook to send results to', { field: 'resultWebhook' });
      this.fail({ reason: 'invalid_data', message: failure.message });
      return Promise.reject(failure);
    }
    // Delivery is at least once: a post ET recorded but answered too late is sent again, with the
    // same index and this key, so ET (or a proxy) can drop the copy.
    const headers = { [IDEMPOTENCY_HEADER]: `${this.fields.internalTaskId ?? this.id}/result/${body.index}` };
    const delivered = this.posts.post(
      url,
      body,
      headers,
      () => {
        this.count.messagesWritten++;
        this.count.bytesWritten += Buffer.byteLength(JSON.stringify(output) ?? '');
      },
      body.index,
    );
    const done = delivered.then(
      () => {
        if (options.complete) this.complete({}, options.by);
      },
      (err: unknown) => {
        const reason = err instanceof WebhookError ? err.reason : 'internal_error';
        this.fail({ reason, message: `result ${body.index} was not delivered: ${errorMessage(err)}` });
        throw err;
      },
    );
    return done;
  }

  /** Answers 204 to a synchronous /process: ET treats the chunk as "nothing to do". */
  ignore(by?: TaskEnder): void {
    this.assertOpen();
    if (this.isSync) this.end({ state: 'ignored' }, by, 204, undefined);
    else this.complete({}, by);
  }

  /** A `running` heartbeat now, with an info message and counters the flow knows. */
  update(progress: Progress = {}): void {
    this.assertOpen();
    this.note(progress);
    if (this.isSync) return;
    // The flow's own progress is never dropped: queued in order, after results already sent.
    const url = this.fields.heartbeatWebhook;
    if (!url) return;
    this.posts.progress(url);
  }

  /** Ends the task well: after every result already handed over, a `complete` heartbeat. */
  complete(progress: Progress = {}, by?: TaskEnder): void {
    if (!this.isOpen) return;
    this.note(progress);
    if (this.isSync) {
      // A synchronous chunk that completes without output answers 204 (nothing to say).
      this.end({ state: 'ignored' }, by, 204, undefined);
      return;
    }
    this.end({ state: 'complete' }, by);
    this.finalHeartbeat({ status: 'complete' });
  }

  /** Ends the task with a failure. The first failure wins; later ones are ignored. */
  fail(failure: Failure, progress: Progress = {}): void {
    if (!this.isOpen) return;
    this.note(progress);
    // The message leaves the engine (heartbeat, sync answer, the runner's log): never with the task's tokens in it.
    failure = { ...failure, message: scrubSecrets(failure.message, secretsOf(this.fields)) };
    if (this.isSync) {
      const body = { error: failure.message, failureReason: failure.reason, ...(failure.node ? { node: failure.node } : {}) };
      this.end({ state: 'failed', reason: failure.reason, message: failure.message }, failure.by, failure.status ?? 500, body);
      return;
    }
    this.end({ state: 'failed', reason: failure.reason, message: failure.message }, failure.by);
    // Results still on their way are dropped: the task has failed and says why.
    this.posts.abort();
    this.finalHeartbeat({ status: 'failed', failureReason: failure.reason, failureMsg: failure.message });
  }

  /** The synchronous request went away before it was answered. */
  abandon(): void {
    if (!this.isOpen) return;
    this.reply = undefined;
    this.end({ state: 'failed', reason: 'internal_error', message: 'the toolkit closed the /process request before it was answered' }, undefined);
  }

  /** Resolves once every post queued so far has settled. */
  flushed(): Promise<void> {
    return this.posts.flushed();
  }

  /** Called by the registry's ticker: skipped while the previous one is still on its way. */
  sendRunning(): void {
    const url = this.fields.heartbeatWebhook;
    if (url && this.isOpen) this.posts.tick(url, this.noticeText ?? this.infoMsg);
  }

  private finalHeartbeat(end: Pick<Heartbeat, 'status' | 'failureReason' | 'failureMsg'>): void {
    const url = this.fields.heartbeatWebhook;
    if (url) this.posts.final(url, end);
    else this.registry.emit('warning', this, `the task ended (${end.status}) but has no heartbeatWebhook to say so`);
  }

  private note(progress: Progress): void {
    if (progress.infoMsg !== undefined) this.info = scrubSecrets(progress.infoMsg, secretsOf(this.fields));
    Object.assign(this.count, progress.counters);
  }

  private end(end: Omit<TaskEnd, 'task'>, by: TaskEnder | undefined, status?: number, body?: unknown): void {
    this.current = end.state;
    this.endText = end.message;
    this.noticeText = undefined;
    // Plain copies: an ended task is remembered a while, the nodes of a redeployed flow need not be.
    if (by) this.ender = { node: plainNode(by.node), from: by.from && plainNode(by.from) };
    const reply = this.reply;
    this.reply = undefined;
    if (reply && status !== undefined) reply(status, body);
    this.registry.ended({ task: this, ...end });
  }

  private assertOpen(): void {
    if (!this.isOpen) {
      throw new ProtocolError(409, `task ${this.id} has already ended (${this.current}): nothing more can be sent for it`, {
        reason: 'internal_error',
      });
    }
  }
}

function plainNode(node: FlowNode): FlowNode {
  return { id: node.id, type: node.type, name: node.name || undefined };
}
