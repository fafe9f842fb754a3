// Pause for callback (SPEC §5): the waits of the aiware-pause-for-callback nodes of one Node-RED.
// Local mode: the pack serves the callback URLs itself, keeps each wait on disk (a restart, even
// after `kill -9`, brings its task back with its webhooks) and resumes it exactly once.
// Platform mode: aiWARE's wake-up URL carries a signed `data`; the wake-up /process comes back
// through aiware-process-in, to whichever engine instance aiWARE starts.
import { createHash, randomUUID } from 'node:crypto';
import type * as http from 'node:http';
import { CallbackSigner } from './callback-tokens';
import { ProtocolError, errorMessage, jsonProblem } from './errors';
import { FIELD_NAMES, SECRET_FIELDS, type ParsedFields, type ProcessFields } from './fields';
import { getEngineJWT, updateTaskStatus } from './platform-api';
import { readBounded } from './small-body';
import { sendJson } from './answer';
import { mediaType } from './body-limits';
import type { SavedMessage } from './saved-message';
import type { Task, TaskEnd, TaskRegistry } from './tasks';
import { WaitStore, type SavedTask, type WaitOutcome, type WaitRecord } from './waits';

/** Where the callback URLs live, under the host's HTTP root. */
export const CALLBACK_PATH = '/aiware/callback/';

/** A `data` longer than this keeps the state in the wait folder and carries only a reference. */
export const MAX_INLINE_DATA = 3000;

/** The largest body a callback may send. */
export const DEFAULT_CALLBACK_BODY_BYTES = 1024 * 1024;

/** The longest a Node timer waits; a longer wait re-arms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What went wrong with a wait, for output 3 (`msg.error`). */
export interface WaitError {
  kind: 'failed' | 'timeout';
  message: string;
  /** What the service sent to the fail URL. */
  body?: unknown;
}

/** What the service needs of a pause node: it sends, the service decides when. */
export interface PauseNode {
  readonly id: string;
  /** Output 2: the wait's message, restored, goes on with `callback` (what the service sent). */
  resume(wait: WaitRecord, task: Task, callback: unknown): void;
  /** Output 3, when it is wired: false when it is not (the task then fails). */
  failed(wait: WaitRecord, task: Task, error: WaitError): boolean;
  /** The node's live waits changed (for its status). */
  changed(): void;
}

export interface PauseServiceOptions {
  registry: TaskRegistry;
  /** The folder of waits (and the signing secret, when none is configured). */
  stateDir: string;
  /** A signing secret shared by every instance of the engine; else one is kept in `stateDir`. */
  secret?: string;
  maxBodyBytes?: number;
  flowsStarted(): boolean;
  warn(text: string): void;
}

export interface LocalPauseOptions {
  /** The public base of the callback URLs (scheme, host, port, HTTP root). */
  baseUrl: string;
  /** Seconds; 0 means "as long as the task's maxTTL allows". */
  timeoutSeconds: number;
  message: SavedMessage;
  files: string[];
}

export interface LocalPause {
  waitId: string;
  callbackUrl: string;
  progressUrl: string;
  failUrl: string;
  expiresAt: number;
  /** True when maxTTL shortened the timeout. */
  capped: boolean;
}

export interface PlatformPauseOptions {
  /** The wake-up address when ET gives no `externalCallbackWebhook`. */
  wakeupUrl?: string;
  engineId?: string;
  timeoutSeconds: number;
  message: SavedMessage;
}

export interface PlatformPause {
  waitId: string;
  callbackUrl: string;
  failUrl: string;
  expiresAt: number;
  /** Where the state went: in `data` itself, or the wait folder (too large for a URL). */
  stateIn: 'data' | 'folder';
}

/** A platform wake-up checked and claimed: open the new task with `parsed`, then `resume` it. */
export interface Wake {
  waitId: string;
  /** The wake-up's fields, with what it lacks (webhooks, chunkContext…) from the paused task. */
  parsed: ParsedFields;
  resume(task: Task, callback: unknown): void;
}

/** The claims a local callback token carries. */
interface LocalClaims {
  w: string;
  n: string;
}

/** The claims of a platform `data`: the state itself (`s`) or its hash (`h`), and the outcome (`o`). */
interface DataClaims {
  w: string;
  n: string;
  o?: 'fail';
  s?: { task: SavedTask; message: SavedMessage };
  h?: string;
}

interface LiveWait {
  wait: WaitRecord;
  task: Task;
  timer?: NodeJS.Timeout;
  /** Set the moment a callback or the timeout claims it, before the claim file is written. */
  claimed: boolean;
}

/**
 * The waits of one Node-RED. Nodes register when they start (their saved waits come back) and
 * unregister when they stop (their waits stay on disk, their tasks leave memory without a word).
 */
export class PauseService {
  readonly store: WaitStore;
  private signerPromise?: Promise<CallbackSigner>;
  private readonly nodes = new Map<string, PauseNode>();
  private readonly live = new Map<string, LiveWait>();
  /** Saved local waits not live in this process, by node: read from the folder once. */
  private saved?: Promise<Map<string, { wait: WaitRecord; claimed: boolean }[]>>;
  private readonly maxBodyBytes: number;

  constructor(private readonly options: PauseServiceOptions) {
    this.store = new WaitStore(options.stateDir);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_CALLBACK_BODY_BYTES;
    // A waiting task that ends any other way (maxTTL, a redeploy of its process-in) ends its wait.
    options.registry.on('end', (end: TaskEnd) => {
      const id = end.task.waiting;
      const live = id === undefined ? undefined : this.live.get(id);
      if (live?.task !== end.task || end.state === 'paused') return;
      void this.settle(live, 'ended').catch((err: unknown) => this.options.warn(`wait ${live.wait.id}: ${errorMessage(err)}`));
    });
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
    this.saved ??= this.loadSaved();
    const byNode = await this.saved;
    const mine = byNode.get(node.id) ?? [];
    byNode.delete(node.id);
    let restored = 0;
    for (const { wait, claimed } of mine) {
      if (this.nodes.get(node.id) !== node) return restored; // stopped while restoring
      if (await this.restore(wait, claimed)) restored++;
    }
    if (restored > 0) node.changed();
    return restored;
  }

  /** A node stops: its waits stay saved, their tasks leave this process (no heartbeat says so). */
  unregister(node: PauseNode): void {
    if (this.nodes.get(node.id) !== node) return;
    this.nodes.delete(node.id);
    const suspended: { wait: WaitRecord; claimed: boolean }[] = [];
    for (const live of [...this.live.values()]) {
      if (live.wait.node !== node.id || live.claimed) continue;
      clearTimeout(live.timer);
      this.live.delete(live.wait.id);
      live.wait.task = { ...live.wait.task, ...live.task.saved() };
      live.task.pause();
      suspended.push({ wait: live.wait, claimed: false });
    }
    // A node that starts again (a redeploy) finds them here, without reading the folder again.
    if (suspended.length > 0) void this.saved?.then((byNode) => byNode.set(node.id, [...(byNode.get(node.id) ?? []), ...suspended]));
  }

  /**
   * Local mode: saves the wait (before any URL exists), then makes the callback URLs and marks
   * the task waiting. The timeout is capped by what is left of the task's maxTTL, less a margin
   * for the flow to end the task from output 3.
   */
  async pauseLocal(task: Task, node: PauseNode, options: LocalPauseOptions): Promise<LocalPause> {
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
    node.changed();
    return { waitId: id, callbackUrl, progressUrl: `${callbackUrl}/progress`, failUrl: `${callbackUrl}/fail`, expiresAt, capped };
  }

  /**
   * Platform mode: signs the state into `data` (or saves it and signs a reference when it is too
   * large for a URL), gets the wake-up JWT from aiWARE, and marks the task `paused` there.
   * The caller sends the URL on, then lets the task go (`task.pause()`).
   */
  async pausePlatform(task: Task, node: PauseNode, options: PlatformPauseOptions): Promise<PlatformPause> {
    const { fields } = task;
    const base = wakeupAddress(fields.externalCallbackWebhook ?? options.wakeupUrl);
    if (!base) {
      throw new ProtocolError(400, 'the platform mode needs a wake-up address: the task has no externalCallbackWebhook and the node sets no wake-up URL', { reason: 'invalid_data' });
    }
    if (!fields.veritoneApiBaseUrl || !fields.token) {
      throw new ProtocolError(400, 'the platform mode needs the task’s veritoneApiBaseUrl and token (use the local mode without a platform)', { reason: 'invalid_data' });
    }
    const payload = fields.payload ?? {};
    const engineId = options.engineId ?? stringOf(payload.engineId);
    if (!engineId) throw new ProtocolError(400, 'the platform mode needs the engine id: set ENGINE_ID (the runner does) or payload.engineId', { reason: 'invalid_data' });
    const jobId = stringOf(payload.jobId) ?? fields.internalJobId;
    const taskId = stringOf(payload.taskId) ?? fields.internalTaskId;
    if (!jobId || !taskId) throw new ProtocolError(400, 'the platform mode needs the task’s job and task ids (payload.jobId/taskId or internalJobId/internalTaskId)', { reason: 'invalid_data' });

    const now = Date.now();
    const expiresAt = now + (options.timeoutSeconds > 0 ? options.timeoutSeconds : 7 * 24 * 3600) * 1000;
    const id = randomUUID();
    const state = { task: savedTask(task, false), message: options.message };
    const signer = await this.signer();
    let claims: DataClaims = { w: id, n: node.id, s: state };
    let stateIn: PlatformPause['stateIn'] = 'data';
    if (signer.sign(claims, expiresAt).length > MAX_INLINE_DATA) {
      const wait: WaitRecord = { version: 1, id, mode: 'platform', node: node.id, createdAt: now, expiresAt, capped: false, ...state, files: [] };
      await this.store.save(wait);
      claims = { w: id, n: node.id, h: hashOf(state) };
      stateIn = 'folder';
    }
    const jwt = await getEngineJWT(fields.veritoneApiBaseUrl, fields.token, { engineId, tdoId: stringOf(payload.tdoId) ?? stringOf(payload.recordingId), jobId, taskId });
    const url = (data: string) => `${base}?jwt=${encodeURIComponent(jwt)}&engineId=${encodeURIComponent(engineId)}&data=${encodeURIComponent(data)}`;
    const callbackUrl = url(signer.sign({ ...claims }, expiresAt));
    const failUrl = url(signer.sign({ ...claims, o: 'fail' }, expiresAt));
    await updateTaskStatus(fields.veritoneApiBaseUrl, fields.token, taskId, 'paused');
    return { waitId: id, callbackUrl, failUrl, expiresAt, stateIn };
  }

  /**
   * A platform wake-up (`payload.isCallback`): checks `data` (signed by this engine, unaltered, a
   * pause this engine's flows have) and claims the wait, so a second wake-up gets 409. Throws a
   * 4xx ProtocolError that resumes nothing, or 503 while the flows are not running.
   */
  async prepareWake(data: unknown, parsed: ParsedFields): Promise<Wake> {
    if (typeof data !== 'string' || data === '') throw new ProtocolError(400, 'a wake-up (payload.isCallback) needs payload.data: the data of the wake-up URL', { field: 'payload' });
    const check = (await this.signer()).verify<DataClaims>(data);
    if ('problem' in check) throw new ProtocolError(check.problem === 'expired' ? 410 : 401, `the wake-up's data was refused: ${check.message}`, { field: 'payload' });
    const { w: waitId, n: nodeId } = check.claims;
    const node = this.nodes.get(nodeId);
    if (!node) {
      if (!this.options.flowsStarted()) throw new ProtocolError(503, 'the flows are starting: send the wake-up again');
      throw new ProtocolError(404, `no aiware-pause-for-callback node ${nodeId} in this engine's flows`, { field: 'payload' });
    }
    let state = check.claims.s;
    if (!state) {
      const stored = await this.store.load(waitId);
      if (!stored) throw await this.notWaiting(waitId);
      state = { task: stored.task, message: stored.message };
      if (hashOf(state) !== check.claims.h) throw new ProtocolError(401, `the saved state of wait ${waitId} does not match its wake-up`, { field: 'payload' });
    }
    const outcome: WaitOutcome = check.claims.o === 'fail' ? 'failed' : 'resumed';
    const at = Date.now();
    if (!(await this.store.claim(waitId, { outcome, at, keepUntil: at + 7 * 24 * 3600 * 1000 }))) {
      this.options.warn(`wait ${waitId}: a wake-up came after it had been woken (answered 409)`);
      throw new ProtocolError(409, `wait ${waitId} has already been woken`);
    }
    await this.store.remove(waitId);
    const saved = state;
    return {
      waitId,
      parsed: mergeFields(parsed, saved.task),
      resume: (task, callback) => {
        const wait: WaitRecord = { version: 1, id: waitId, mode: 'platform', node: nodeId, createdAt: at, expiresAt: at, capped: false, ...saved, files: [] };
        const target = this.nodes.get(nodeId) ?? node;
        if (outcome === 'resumed') target.resume(wait, task, callback);
        else this.failThrough(target, wait, task, { kind: 'failed', message: failureText(callback), body: callback });
      },
    };
  }

  /** Serves `…/aiware/callback/<token>[/progress|/fail]`: POST acts, GET only shows the wait. */
  async serve(method: string, path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      await this.handle(method.toUpperCase(), path.slice(path.indexOf(CALLBACK_PATH) + CALLBACK_PATH.length), req, res);
    } catch (err) {
      req.resume();
      const failure = err instanceof ProtocolError ? err : new ProtocolError(500, errorMessage(err));
      if (failure.status >= 500) this.options.warn(`callback: ${failure.message}`);
      sendJson(res, failure.status, failure.toJSON(), { close: !req.complete });
    }
  }

  private async handle(method: string, rest: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const slash = rest.indexOf('/');
    const token = slash < 0 ? rest : rest.slice(0, slash);
    const action = slash < 0 ? '' : rest.slice(slash + 1);
    if (!['', 'progress', 'fail'].includes(action)) throw new ProtocolError(404, `no callback action "${action}": POST the URL itself, …/progress or …/fail`);
    if (method !== 'GET' && method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      throw new ProtocolError(405, 'a callback URL takes POST (GET only shows the wait)');
    }
    const check = (await this.signer()).verify<LocalClaims>(decodeURIComponent(token));
    if ('problem' in check) throw new ProtocolError(check.problem === 'expired' ? 410 : 401, `callback refused: ${check.message}`);
    const waitId = check.claims.w;
    const live = this.live.get(waitId);
    if (method === 'GET') return void sendJson(res, 200, await this.describe(waitId, live));
    if (!live) {
      const problem = await this.notWaiting(waitId);
      if (problem.status === 503) res.setHeader('Retry-After', '5');
      throw problem;
    }
    if (live.claimed) throw this.late(waitId, 'it has already ended');
    // Read before claiming: a body that is refused (400, 413) leaves the wait open.
    const body = await this.readBody(req);
    if (action === 'progress') {
      if (live.claimed || !live.task.isOpen) throw this.late(waitId, 'it has already ended');
      live.task.update({ infoMsg: progressText(body) });
      return void sendJson(res, 200, { wait: waitId, state: 'waiting', infoMsg: live.task.infoMsg });
    }
    const outcome: WaitOutcome = action === 'fail' ? 'failed' : 'resumed';
    if (!(await this.claim(live, outcome))) throw this.late(waitId, 'another call got there first');
    sendJson(res, 200, { wait: waitId, state: outcome });
    this.finish(live, outcome, body);
  }

  private late(waitId: string, why: string): ProtocolError {
    this.options.warn(`wait ${waitId}: a late or duplicate callback was refused (409): ${why}`);
    return new ProtocolError(409, `wait ${waitId} is no longer waiting: ${why}`);
  }

  /**
   * Why a wait is not waiting here: 409 when it was claimed; 503 when it is saved but its node is
   * not running (the flows are starting, or it was removed); else 404, without saying whether it
   * ever existed.
   */
  private async notWaiting(waitId: string): Promise<ProtocolError> {
    const claim = await this.store.claimOf(waitId);
    if (claim) return this.late(waitId, `it was ${claim.outcome}`);
    if (await this.store.load(waitId)) {
      return new ProtocolError(503, `wait ${waitId} is not running in this engine now (is its aiware-pause-for-callback node deployed?): call again`);
    }
    return new ProtocolError(404, 'no such wait');
  }

  private async describe(waitId: string, live: LiveWait | undefined): Promise<Record<string, unknown>> {
    if (live && !live.claimed) {
      return { wait: waitId, state: 'waiting', createdAt: iso(live.wait.createdAt), expiresAt: iso(live.wait.expiresAt), infoMsg: live.task.infoMsg };
    }
    const claim = await this.store.claimOf(waitId);
    if (claim) return { wait: waitId, state: claim.outcome, at: iso(claim.at) };
    const saved = await this.store.load(waitId);
    if (saved) return { wait: waitId, state: 'saved (its node is not running)', createdAt: iso(saved.createdAt), expiresAt: iso(saved.expiresAt) };
    throw new ProtocolError(404, 'no such wait');
  }

  private async readBody(req: http.IncomingMessage): Promise<unknown> {
    const raw = await readBounded(req, this.maxBodyBytes, {
      drain: true,
      tooLarge: () => new ProtocolError(413, `a callback body may be at most ${this.maxBodyBytes} bytes: the wait stays open`),
    });
    if (raw.length === 0) return undefined;
    const type = mediaType(req.headers['content-type']);
    if (type === 'application/json' || type.endsWith('+json')) {
      try {
        return JSON.parse(raw.toString('utf8')) as unknown;
      } catch (err) {
        throw new ProtocolError(400, `the callback body is declared JSON and is not: ${jsonProblem(err)}; the wait stays open`);
      }
    }
    if (type === '' || type.startsWith('text/') || type === 'application/x-www-form-urlencoded') return raw.toString('utf8');
    return raw;
  }

  /** Claims a live wait: in memory first (one process), then on disk (other instances, a restart). */
  private async claim(live: LiveWait, outcome: WaitOutcome): Promise<boolean> {
    if (live.claimed) return false;
    live.claimed = true;
    const at = Date.now();
    return this.store.claim(live.wait.id, { outcome, at, keepUntil: Math.max(live.wait.expiresAt, at) + 24 * 3600 * 1000 });
  }

  /** The wait is over: the task is an ordinary task again, and the node sends the message on. */
  private finish(live: LiveWait, outcome: WaitOutcome, body: unknown): void {
    const { wait, task } = live;
    clearTimeout(live.timer);
    this.live.delete(wait.id);
    task.stopWaiting();
    // The message may name its chunk file: it lives as long as the task now.
    task.tmpFiles.push(...wait.files);
    void this.store.remove(wait.id).catch((err: unknown) => this.options.warn(`wait ${wait.id}: ${errorMessage(err)}`));
    const node = this.nodes.get(wait.node);
    node?.changed();
    if (!task.isOpen) return;
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

  /** Reads the folder once: saved local waits by node. Old claims and temp files are swept. */
  private async loadSaved(): Promise<Map<string, { wait: WaitRecord; claimed: boolean }[]>> {
    const byNode = new Map<string, { wait: WaitRecord; claimed: boolean }[]>();
    await this.store.sweep().catch((err: unknown) => this.options.warn(`could not sweep ${this.store.dir}: ${errorMessage(err)}`));
    const all = await this.store.list((file, problem) => this.options.warn(`wait file ${file} cannot be read (${problem}): left as it is`));
    for (const entry of all) {
      if (entry.wait.mode !== 'local') continue;
      const list = byNode.get(entry.wait.node) ?? [];
      list.push(entry);
      byNode.set(entry.wait.node, list);
    }
    return byNode;
  }

  /** A saved wait's task opens again here, with its webhooks, counters and results so far. */
  private async restore(wait: WaitRecord, claimed: boolean): Promise<boolean> {
    const { registry } = this.options;
    if (this.live.has(wait.id) || registry.get(wait.task.id)) return false;
    const task = registry.open({
      parsed: wait.task.parsed,
      engineType: wait.task.engineType,
      respond: wait.task.respond,
      owner: wait.node,
      restore: wait.task,
    });
    if (claimed) {
      // Claimed, but the process stopped before the flow had it: resuming now could do it twice.
      task.tmpFiles.push(...wait.files);
      task.fail({ reason: 'system_error', message: `the engine stopped while wait ${wait.id} was resuming: its flow may not have run` });
      await this.store.remove(wait.id);
      return false;
    }
    // The wheel sends its heartbeats: 10 000 waits coming back do not post 10 000 at once.
    this.goLive(wait, task, false);
    return true;
  }
}

/** The task as a wait keeps it; `withSecrets` false leaves the tokens out (they travel in a URL). */
function savedTask(task: Task, withSecrets: boolean): SavedTask {
  const fields: ProcessFields = { ...task.fields };
  if (!withSecrets) for (const name of SECRET_FIELDS) delete fields[name];
  return {
    ...task.saved(),
    parsed: { fields, chunkMetadata: task.chunkMetadata, extra: task.extra },
    engineType: task.engineType,
    respond: task.respond,
    owner: task.owner,
  };
}

/** The wake-up's own fields win; what it lacks comes from the task that paused. */
function mergeFields(parsed: ParsedFields, saved: SavedTask): ParsedFields {
  const fields: ProcessFields = { ...parsed.fields };
  const old = saved.parsed.fields as Record<string, unknown>;
  const target = fields as Record<string, unknown>;
  for (const name of FIELD_NAMES) if (target[name] === undefined && old[name] !== undefined) target[name] = old[name];
  const chunkMetadata = Object.keys(parsed.chunkMetadata).length > 0 ? parsed.chunkMetadata : saved.parsed.chunkMetadata;
  return { fields, chunkMetadata, extra: { ...saved.parsed.extra, ...parsed.extra } };
}

function isLoopback(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || host.startsWith('127.');
  } catch {
    return false;
  }
}

/**
 * True when local callback URLs on `baseUrl` cannot reach this engine from where the task came
 * from: a loopback base, for a task whose toolkit (its heartbeat webhook) is on another host.
 */
export function unreachableBase(baseUrl: string, fields: Pick<ProcessFields, 'heartbeatWebhook'>): boolean {
  return isLoopback(baseUrl) && fields.heartbeatWebhook !== undefined && !isLoopback(fields.heartbeatWebhook);
}

/** `<base>/callback`: the base as given when it already ends in /callback. */
export function wakeupAddress(base: string | undefined): string | undefined {
  if (!base) return undefined;
  const trimmed = base.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return trimmed.endsWith('/callback') ? trimmed : `${trimmed}/callback`;
}

function hashOf(state: unknown): string {
  return createHash('sha256').update(JSON.stringify(state)).digest('base64url');
}

function stringOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The infoMsg a progress call sets: its `progress` (or `infoMsg`, `message`) text, else the body as text. */
function progressText(body: unknown): string {
  let text: string;
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) {
    const b = body as Record<string, unknown>;
    const named = [b.progress, b.infoMsg, b.message].find((v): v is string => typeof v === 'string');
    text = named ?? JSON.stringify(body);
  } else if (Buffer.isBuffer(body)) {
    text = `${body.length} bytes`;
  } else {
    text = body === undefined ? 'progress' : typeof body === 'string' ? body : JSON.stringify(body);
  }
  return text.slice(0, 1000);
}

/** What a fail call says went wrong: its `error` (or `message`) text, else the body as text. */
function failureText(body: unknown): string {
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) {
    const b = body as Record<string, unknown>;
    const named = [b.error, b.message, b.failureMsg].find((v): v is string => typeof v === 'string');
    return (named ?? JSON.stringify(body)).slice(0, 1000);
  }
  if (typeof body === 'string' && body !== '') return body.slice(0, 1000);
  return 'the service gave no reason';
}
