// Pause for callback: the waits of the aiware-pause-for-callback nodes of one Node-RED.
// Local mode: the pack serves the callback URLs itself, keeps each wait on disk (a restart, even
// after `kill -9`, brings its task back with its webhooks) and resumes it exactly once.
// Platform mode: aiWARE's wake-up URL carries a signed `data`; the wake-up /process comes back
// through aiware-process-in, to whichever engine instance aiWARE starts.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import { errorMessage } from '../protocol/errors';
import type { ParsedFields } from '../protocol/fields';
import type { Task, TaskEnd } from '../task/task';
import { MAX_TIMER_MS } from '../util/timers';
import { inSpan, inSpanNow, parentFor } from '../util/trace';
import { CallbackRoutes } from './callback-routes';
import { CallbackSigner } from './callback-tokens';
import { pausePlatform, prepareWake, type PlatformContext } from './platform-mode';
import {
  CALLBACK_PATH,
  DEFAULT_CALLBACK_BODY_BYTES,
  DEFAULT_CALLBACK_HOLD_MS,
  CLAIM_KEPT_MS,
  type LiveWait,
  type LocalClaims,
  type LocalPause,
  type LocalPauseOptions,
  type PauseNode,
  type PauseServiceOptions,
  type PlatformPause,
  type PlatformPauseOptions,
  type Wake,
  type WaitError,
} from './types';
import { failureText, savedTask } from './wait-helpers';
import { WaitStore, type WaitClaim, type WaitOutcome, type WaitRecord } from './wait-store';
import { restoreMessage, saveMessage } from './saved-message';
import { SavedWaits, type SavedWait } from './saved-waits';
import { ResumedWaits } from './resumed-waits';

export * from './types';
export { unreachableBase, wakeupAddress } from './wait-helpers';

/**
 * The waits of one Node-RED. Nodes register when they start (their saved waits come back) and
 * unregister when they stop (their waits stay on disk, their tasks leave memory without a word).
 * Emits `paused` (mode) when a task starts waiting, and `woken` (mode, outcome) when a wait ends
 * here: resumed, failed by the service, timed out (for a host's metrics).
 */
export class PauseService extends EventEmitter {
  readonly store: WaitStore;
  private signerPromise?: Promise<CallbackSigner>;
  private readonly nodes = new Map<string, PauseNode>();
  private readonly live = new Map<string, LiveWait>();
  /** Saved local waits not back in this process yet. */
  private readonly saved: SavedWaits;
  /** Claimed waits whose task runs on from them. */
  private readonly resumed: ResumedWaits;
  private readonly holdMs: number;
  private readonly routes: CallbackRoutes;
  private readonly platform: PlatformContext;

  constructor(private readonly options: PauseServiceOptions) {
    super();
    const store = new WaitStore(options.stateDir);
    this.store = store;
    this.saved = new SavedWaits(store, (text) => options.warn(text));
    this.resumed = new ResumedWaits(store, (text) => options.warn(text));
    this.holdMs = options.callbackHoldMs ?? DEFAULT_CALLBACK_HOLD_MS;
    const signer = (): Promise<CallbackSigner> => this.signer();
    const warn = (text: string): void => options.warn(text);
    this.routes = new CallbackRoutes({
      store,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_CALLBACK_BODY_BYTES,
      signer,
      warn,
      live: (waitId) => this.liveOrComingBack(waitId),
      claim: (live, outcome, body) => this.claim(live, outcome, body),
      finish: (live, outcome, body) => this.finish(live, outcome, body),
    });
    this.platform = {
      store,
      signer,
      warn,
      node: (id) => this.nodes.get(id),
      flowsStarted: () => options.flowsStarted(),
      failThrough: (node, wait, task, error) => this.failThrough(node, wait, task, error),
      notWaiting: (waitId) => this.routes.notWaiting(waitId),
    };
    // A waiting task that ends any other way (maxTTL, a redeploy of its process-in) ends its wait.
    options.registry.on('end', (end: TaskEnd) => {
      const id = end.task.waiting;
      const live = id === undefined ? undefined : this.live.get(id);
      if (live?.task === end.task && end.state !== 'paused') {
        void this.settle(live, 'ended').catch((err: unknown) => this.options.warn(`wait ${live.wait.id}: ${errorMessage(err)}`));
      }
      this.resumed.ended(end.task);
    });
  }

  /** The flows have started: claimed waits restored before it go on, held callbacks are answered. */
  started(): void {
    this.saved.started();
  }

  private signer(): Promise<CallbackSigner> {
    this.signerPromise ??= CallbackSigner.open(this.options.stateDir, this.options.secret);
    return this.signerPromise;
  }

  /** The live waits of one node (or all). */
  waiting(nodeId?: string): number {
    if (nodeId === undefined) return this.live.size;
    let count = 0;
    for (const live of this.live.values()) if (live.wait.node === nodeId) count++;
    return count;
  }

  /** A node starts: it resumes from now on, and its saved waits come back (their tasks reopen). */
  async register(node: PauseNode): Promise<number> {
    this.nodes.set(node.id, node);
    const mine = await this.saved.take(node.id);
    let restored = 0;
    for (const { wait, claimed } of mine) {
      if (this.nodes.get(node.id) !== node) return restored; // stopped while restoring
      try {
        if (await this.restore(wait, claimed)) restored++;
      } finally {
        this.saved.back(wait.id);
      }
    }
    if (restored > 0) node.changed();
    return restored;
  }

  /** A node stops: its waits stay saved, their tasks leave this process (no heartbeat says so). */
  unregister(node: PauseNode): void {
    if (this.nodes.get(node.id) !== node) return;
    this.nodes.delete(node.id);
    const suspended: SavedWait[] = [];
    for (const live of [...this.live.values()]) {
      if (live.wait.node !== node.id || live.claimed) continue;
      clearTimeout(live.timer);
      this.live.delete(live.wait.id);
      live.wait.task = { ...live.wait.task, ...live.task.saved() };
      live.task.pause();
      suspended.push({ wait: live.wait, claimed: false });
    }
    // A node that starts again (a redeploy) finds them here, without reading the folder again.
    this.saved.putBack(node.id, suspended);
  }

  /**
   * Local mode: saves the wait (before any URL exists), then makes the callback URLs and marks
   * the task waiting. The timeout is capped by what is left of the task's maxTTL, less a margin
   * for the flow to end the task from output 3.
   */
  pauseLocal(task: Task, node: PauseNode, options: LocalPauseOptions): Promise<LocalPause> {
    return inSpan(parentFor(task.traceContext), 'aiware pause', { 'aiware.pause.mode': 'local' }, async (span) => {
      const paused = await this.savedLocal(task, node, options);
      span?.setAttribute('aiware.wait.id', paused.waitId);
      return paused;
    });
  }

  private async savedLocal(task: Task, node: PauseNode, options: LocalPauseOptions): Promise<LocalPause> {
    const now = Date.now();
    const left = task.deadline - now;
    const margin = Math.min(30_000, Math.max(1000, left / 10));
    const cap = Math.max(0, left - margin);
    const wanted = options.timeoutSeconds > 0 ? options.timeoutSeconds * 1000 : Infinity;
    const capped = wanted > cap;
    const expiresAt = now + Math.min(wanted, cap);
    const id = randomUUID();
    const wait: WaitRecord = {
      version: 1,
      id,
      mode: 'local',
      node: node.id,
      createdAt: now,
      expiresAt,
      capped,
      task: savedTask(task, true),
      message: options.message,
      files: options.files,
    };
    const signer = await this.signer();
    await this.store.save(wait);
    const token = signer.sign({ w: id, n: node.id } satisfies LocalClaims, expiresAt);
    const callbackUrl = `${options.baseUrl.replace(/\/+$/, '')}${CALLBACK_PATH}${token}`;
    this.goLive(wait, task, true);
    this.emit('paused', 'local');
    // The task's earlier waits, resumed, are superseded by this one: a restart resumes this one.
    this.resumed.superseded(task);
    node.changed();
    return { waitId: id, callbackUrl, progressUrl: `${callbackUrl}/progress`, failUrl: `${callbackUrl}/fail`, expiresAt, capped };
  }

  /**
   * Platform mode: signs the state into `data` (or saves it and signs a reference when it is too
   * large for a URL), gets the wake-up JWT from aiWARE, and marks the task `paused` there.
   * The caller sends the URL on, then lets the task go (`task.pause()`).
   */
  async pausePlatform(task: Task, node: PauseNode, options: PlatformPauseOptions): Promise<PlatformPause> {
    const paused = await inSpan(parentFor(task.traceContext), 'aiware pause', { 'aiware.pause.mode': 'platform' }, async (span) => {
      const made = await pausePlatform(this.platform, task, node, options);
      span?.setAttributes({ 'aiware.wait.id': made.waitId, 'aiware.pause.state_in': made.stateIn });
      return made;
    });
    this.emit('paused', 'platform');
    return paused;
  }

  /** A platform wake-up (`payload.isCallback`), checked and claimed: see `prepareWake` in ./platform-mode. */
  async prepareWake(data: unknown, parsed: ParsedFields): Promise<Wake> {
    const wake = await prepareWake(this.platform, data, parsed);
    this.emit('woken', 'platform', 'resumed');
    return wake;
  }

  /** Serves `…/aiware/callback/<token>[/progress|/fail]`: POST acts, GET only shows the wait. */
  serve(method: string, path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    return this.routes.serve(method, path, req, res);
  }

  /** Claims a live wait: in memory first (one process), then on disk (other instances, a restart). */
  /**
   * Claims a live wait: in memory first (one process), then on disk (other instances, a restart),
   * with the callback's body, so that a restart resumes the wait with it. A claim that could not be
   * written leaves the wait open for the service's retry.
   */
  private async claim(live: LiveWait, outcome: WaitOutcome, body?: unknown): Promise<boolean> {
    if (live.claimed) return false;
    live.claimed = true;
    const at = Date.now();
    const callback = outcome === 'resumed' || outcome === 'failed' ? saveMessage({ body }) : undefined;
    try {
      return await this.store.claim(live.wait.id, { outcome, at, keepUntil: Math.max(live.wait.expiresAt, at) + CLAIM_KEPT_MS, callback });
    } catch (err) {
      live.claimed = false;
      throw err;
    }
  }

  /**
   * The live wait, or one saved and still coming back (the engine is starting, its node restoring
   * its waits): held until it is back, for at most `callbackHoldMs`.
   */
  private async liveOrComingBack(waitId: string): Promise<LiveWait | undefined> {
    const live = this.live.get(waitId);
    if (live) return live;
    await this.saved.settled(waitId, this.options.flowsStarted(), Date.now() + this.holdMs);
    return this.live.get(waitId);
  }

  /** The wait is over: the task is an ordinary task again, and the node sends the message on. */
  private finish(live: LiveWait, outcome: WaitOutcome, body: unknown): void {
    const { wait, task } = live;
    clearTimeout(live.timer);
    this.live.delete(wait.id);
    this.emit('woken', 'local', outcome);
    task.stopWaiting();
    // The message may name its chunk file: it lives as long as the task now.
    task.tmpFiles.push(...wait.files);
    // The wait's file stays while the task runs on from here: a restart before its end resumes it again.
    this.resumed.add(task, wait.id);
    const node = this.nodes.get(wait.node);
    node?.changed();
    if (!task.isOpen) return;
    const attributes = { 'aiware.pause.mode': 'local', 'aiware.wait.id': wait.id, 'aiware.wait.outcome': outcome, 'aiware.wait.waited_ms': Date.now() - wait.createdAt };
    inSpanNow(task.traceContext, 'aiware wake-up', attributes, () => this.wake(live, outcome, body, node));
  }

  /** The wait's task goes on: output 2 with the callback, output 3 (or the task's failure). */
  private wake({ wait, task }: LiveWait, outcome: WaitOutcome, body: unknown, node: PauseNode | undefined): void {
    if (!node) {
      task.fail({ reason: 'internal_error', message: `wait ${wait.id} ended (${outcome}) while its aiware-pause-for-callback node was not running` });
    } else if (outcome === 'resumed') {
      node.resume(wait, task, body);
    } else if (outcome === 'failed') {
      this.failThrough(node, wait, task, { kind: 'failed', message: failureText(body), body });
    } else if (outcome === 'timed out') {
      const seconds = Math.round((wait.expiresAt - wait.createdAt) / 1000);
      this.failThrough(node, wait, task, { kind: 'timeout', message: `no callback came within ${seconds} s${wait.capped ? ' (the timeout, capped by the task’s maxTTL)' : ''}` });
    }
  }

  /** Output 3 when wired; else the task fails: `external_error` for a failure, `heartbeat_timeout` for a timeout. */
  private failThrough(node: PauseNode, wait: WaitRecord, task: Task, error: WaitError): void {
    if (node.failed(wait, task, error)) return;
    const reason = error.kind === 'timeout' ? 'heartbeat_timeout' : 'external_error';
    const what = error.kind === 'timeout' ? 'the wait for a callback timed out' : 'the outside service reported a failure';
    task.fail({ reason, message: `${what}: ${error.message}`, node: node.id });
  }

  /** Ends a wait with no resume: claimed as `outcome`, its files go with the task. */
  private async settle(live: LiveWait, outcome: WaitOutcome): Promise<void> {
    if (!(await this.claim(live, outcome))) return;
    this.finish(live, outcome, undefined);
    // Its task has ended: nothing holds the chunk file any more.
    for (const file of live.wait.files) void this.options.registry.removeFile(file);
  }

  private goLive(wait: WaitRecord, task: Task, announce: boolean): void {
    const live: LiveWait = { wait, task, claimed: false };
    this.live.set(wait.id, live);
    task.startWaiting(wait.id, `waiting for a callback (wait ${wait.id})`, announce);
    this.armTimeout(live);
  }

  private armTimeout(live: LiveWait): void {
    const wait = live.wait.expiresAt - Date.now();
    live.timer = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) return this.armTimeout(live);
        void this.claim(live, 'timed out')
          .then((won) => {
            if (won) this.finish(live, 'timed out', undefined);
          })
          .catch((err: unknown) => this.options.warn(`wait ${live.wait.id}: ${errorMessage(err)}`));
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
  }

  /** A saved wait's task opens again here, with its webhooks, counters and results so far. */
  private async restore(wait: WaitRecord, claimed: boolean): Promise<boolean> {
    const { registry } = this.options;
    if (this.live.has(wait.id) || registry.get(wait.task.id)) return false;
    const claim = claimed ? await this.store.claimOf(wait.id) : undefined;
    // Its task ended another way (maxTTL, a redeploy) just before the engine stopped: nothing to resume.
    if (claim?.outcome === 'ended') {
      await this.store.remove(wait.id);
      return false;
    }
    const task = registry.open({
      parsed: wait.task.parsed,
      engineType: wait.task.engineType,
      respond: wait.task.respond,
      owner: wait.node,
      restore: wait.task,
    });
    if (claimed) return this.replay(wait, task, claim);
    // The wheel sends its heartbeats: 10 000 waits coming back do not post 10 000 at once.
    this.goLive(wait, task, false);
    return true;
  }

  /**
   * A claimed wait whose task had not ended when the engine stopped: the callback that claimed it
   * was kept with the claim, so the task goes on from the pause again, once the flows run (its
   * results carry the same Idempotency-Keys as the first time). Calls of its URL hear 409.
   */
  private async replay(wait: WaitRecord, task: Task, claim: WaitClaim | undefined): Promise<boolean> {
    if (!claim || (claim.outcome !== 'timed out' && !claim.callback)) {
      task.tmpFiles.push(...wait.files);
      task.fail({ reason: 'system_error', message: `the engine stopped while wait ${wait.id} was resuming, and its callback was not kept: its flow cannot run again` });
      await this.store.remove(wait.id);
      return false;
    }
    const live: LiveWait = { wait, task, claimed: true };
    this.live.set(wait.id, live);
    task.startWaiting(wait.id, `resuming wait ${wait.id} after a restart`, false);
    const body = claim.callback ? restoreMessage(claim.callback).body : undefined;
    const go = (): void => this.finish(live, claim.outcome, body);
    this.saved.afterStart(go, this.options.flowsStarted());
    return true;
  }
}
