// A stand-in for Engine Toolkit on one machine (SPEC §7): it builds work items with every
// /process field, posts them to an engine as ET does, hosts the heartbeat and result webhooks,
// records what arrives per task, checks it against SPEC §4, and enforces maxTTL and heartbeat
// timeouts. The CLI and the tests are built on this class; it knows nothing of Node-RED.
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, pipeline } from 'node:stream';
import type { AddressInfo } from 'node:net';
import {
  CHUNK_METADATA_PREFIX,
  HEARTBEAT_STATUSES,
  isFailureReason,
  type FailureReason,
  type Heartbeat,
  type ResultBody,
} from '@aiware-nodered/node-red-aiware';
import type { ProcessFieldName } from '@aiware-nodered/node-red-aiware';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
import { encodeMultipart, multipartStream, DEFAULT_CHUNK_MIME_TYPE } from './multipart';

export interface EmulatorOptions {
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on. Default 0: any free port. */
  port?: number;
  /**
   * Fail a task that answered /process asynchronously (or sent a heartbeat) when no heartbeat
   * follows within this many ms, as ET does, with failureReason `heartbeat_timeout`.
   * Default 0: off (a library user opts in; the CLI turns it on).
   */
  heartbeatTimeoutMs?: number;
  /** Fail a task still open `maxTTL` seconds after its first /process post. Default true. */
  enforceMaxTTL?: boolean;
  /**
   * Extra time past `maxTTL` before the emulator gives up on a task, so an engine that fails the
   * task itself at its deadline is heard first. Default 2000.
   */
  maxTTLGraceMs?: number;
  /** Largest webhook body accepted (413 and a violation above). Default 32 MiB. */
  maxBodyBytes?: number;
}

/** A work item as ET hands it to an engine: the task id in its webhook URLs, and the /process fields. */
export interface WorkItem {
  taskId: string;
  fields: Record<string, string>;
}

/** The chunk to post with a work item: in memory, or read from disk as it is sent. */
export type ChunkInput = { data: Buffer | string; mimeType?: string; filename?: string } | { path: string; mimeType?: string; filename?: string };

/** The engine's answer to /process. `body` is parsed JSON, else text, or null when empty (204). */
export interface ProcessAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/**
 * - `pending`: built or posted, nothing heard yet;
 * - `running`: the engine answered asynchronously, or sent a heartbeat or result;
 * - `complete` / `failed`: a heartbeat closed the task, or /process answered with an error status,
 *   or the emulator timed it out (`timedOut`);
 * - `answered`: /process answered 200 with the output itself (synchronous chunk engine);
 * - `ignored`: /process answered 204.
 */
export type TaskStatus = 'pending' | 'running' | 'complete' | 'failed' | 'answered' | 'ignored';

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
  /** Breaches of SPEC §3/§4 by the engine: a well-behaved engine leaves this empty. */
  violations: string[];
  /** Every post received (accepted, refused or malformed), and every /process post made. */
  attempts: { heartbeat: number; result: number; process: number };
  /** Posts answered with a status set by `refuse()`. */
  refused: { kind: WebhookKind; status: number; at: number }[];
  /** Every /process answer, in order. */
  processAnswers: { status: number; at: number }[];
  /** The body of a synchronous 200 answer. */
  syncAnswer?: unknown;
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

const DEFAULT_WAIT_MS = 10_000;
const DEFAULT_MAX_BODY = 32 * 1024 * 1024;
const COUNTERS = ['bytesRead', 'bytesWritten', 'messagesWritten'] as const;

type CacheSource = { data: Buffer; mimeType: string } | { path: string; mimeType: string };

// Who closed a task decides what may still change it: an engine's heartbeat and the emulator's
// timeout are final; a /process answer is not (a retried /process reopens the task, and a later
// complete/failed heartbeat is the engine's own word).
type ClosedBy = 'process' | 'engine' | 'timeout';

interface TaskState {
  record: TaskRecord;
  closedBy?: ClosedBy;
  ttlTimer?: NodeJS.Timeout;
  heartbeatTimer?: NodeJS.Timeout;
  cache?: CacheSource;
}

interface Refusals {
  heartbeat: number[];
  result: number[];
}

class BodyTooLarge extends Error {}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value === '' ? 'an empty body' : `text ${JSON.stringify(value.slice(0, 80))}`;
  return `a ${typeof value}`;
}

/** Problems that make ET reject a heartbeat (400), per SPEC §4. */
export function heartbeatProblems(body: unknown): string[] {
  if (!isObject(body)) return [`body must be a JSON object, got ${describeValue(body)}`];
  const problems: string[] = [];
  const { status, failureReason } = body;
  if (status === undefined) problems.push('status is required');
  else if (!(HEARTBEAT_STATUSES as readonly unknown[]).includes(status)) {
    problems.push(`status must be one of ${HEARTBEAT_STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
  }
  if (failureReason === undefined) {
    if (status === 'failed') problems.push('failureReason is required when status is failed');
  } else if (!isFailureReason(failureReason)) {
    problems.push(`failureReason ${JSON.stringify(failureReason)} is not one of the failure reasons`);
  }
  for (const name of COUNTERS) {
    if (body[name] !== undefined && !isCount(body[name])) problems.push(`${name} must be a non-negative integer, got ${JSON.stringify(body[name])}`);
  }
  for (const name of ['infoMsg', 'failureMsg'] as const) {
    if (body[name] !== undefined && typeof body[name] !== 'string') problems.push(`${name} must be a string`);
  }
  return problems;
}

/** Problems that make ET reject a result (400), per SPEC §4. */
export function resultProblems(body: unknown): string[] {
  if (!isObject(body)) return [`body must be a JSON object, got ${describeValue(body)}`];
  const problems: string[] = [];
  if (body.index === undefined) problems.push('index is required');
  else if (typeof body.index !== 'number' || !Number.isSafeInteger(body.index) || body.index < 1) {
    problems.push(`index must be an integer from 1, got ${JSON.stringify(body.index)}`);
  }
  if (body.output === undefined) problems.push('output is required');
  else if (!isObject(body.output)) problems.push(`output must be a VTN-standard JSON object, got ${describeValue(body.output)}`);
  if (body.chunkContext !== undefined && typeof body.chunkContext !== 'string') problems.push('chunkContext must be a string');
  for (const name of ['startOffsetMs', 'endOffsetMs'] as const) {
    if (body[name] !== undefined && !isCount(body[name])) problems.push(`${name} must be a non-negative integer, got ${JSON.stringify(body[name])}`);
  }
  return problems;
}

/**
 * Engine Toolkit's side of an engine, in one process. Events (all with the task id first):
 * `heartbeat` (hb), `result` (result), `violation` (message), `refused` (kind, status),
 * `status` (status) when a task's status changes.
 */
export class ToolkitEmulator extends EventEmitter {
  /** Base address of the webhooks, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;

  private readonly tasks = new Map<string, TaskState>();
  // Waiters listen here on `change:<taskId>` and `stopped`, apart from the public events.
  private readonly changes = new EventEmitter();
  private readonly refusals = new Map<string, Refusals>();
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly heartbeatTimeoutMs: number;
  private readonly enforceMaxTTL: boolean;
  private readonly maxTTLGraceMs: number;
  private readonly maxBodyBytes: number;
  private sequence = 0;
  private stopping?: Promise<void>;

  private constructor(
    private readonly server: http.Server,
    url: string,
    private readonly root: string,
    options: EmulatorOptions,
  ) {
    super();
    this.url = url;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 0;
    this.enforceMaxTTL = options.enforceMaxTTL ?? true;
    this.maxTTLGraceMs = options.maxTTLGraceMs ?? 2000;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.changes.setMaxListeners(0);
    mkdirSync(this.engineDir, { recursive: true });
    mkdirSync(this.libraryModelDirectory, { recursive: true });
    server.on('request', (req, res) => void this.handle(req, res));
  }

  static async start(options: EmulatorOptions = {}): Promise<ToolkitEmulator> {
    const host = options.host ?? '127.0.0.1';
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    let root: string;
    try {
      root = await mkdtemp(path.join(os.tmpdir(), 'aiware-toolkit-'));
    } catch (err) {
      server.close();
      throw err;
    }
    return new ToolkitEmulator(server, `http://${shownHost}:${port}`, root, options);
  }

  /** Shared by every task of this emulator, as ET's engine directory is shared by instances. */
  get engineDir(): string {
    return path.join(this.root, 'engine');
  }

  get libraryModelDirectory(): string {
    return path.join(this.root, 'models');
  }

  /**
   * A work item with every field of SPEC §3 set as ET would set it, and fresh ids.
   * An override replaces a field, adds one (`chunk-metadata-…`), or removes it (value undefined).
   * Creates the task's `taskTmpDir`; `stop()` removes it.
   */
  workItem(overrides: Partial<Record<string, string>> = {}): WorkItem {
    this.assertRunning();
    const taskId = `task-${++this.sequence}-${randomBytes(4).toString('hex')}`;
    const internalJobId = `job-${randomBytes(6).toString('hex')}`;
    const taskTmpDir = path.join(this.root, 'tasks', taskId);
    mkdirSync(taskTmpDir, { recursive: true });
    const now = Date.now();
    // Typed as every field, so a field added to PROCESS_FIELDS must be added here too.
    const standard: Record<ProcessFieldName, string> = {
      chunkMimeType: 'text/plain',
      startOffsetMS: '0',
      endOffsetMS: '10000',
      chunkIndex: '0',
      chunkUUID: randomUUID(),
      chunkTimestamp: String(now),
      inputFolderID: `folder-${randomBytes(4).toString('hex')}`,
      width: '1280',
      height: '720',
      libraryId: `library-${randomBytes(4).toString('hex')}`,
      libraryEngineModelId: `model-${randomBytes(4).toString('hex')}`,
      cacheURI: `${this.url}/cache/${encodeURIComponent(taskId)}`,
      veritoneApiBaseUrl: this.url,
      token: `token-${randomBytes(16).toString('hex')}`,
      payload: JSON.stringify({ jobId: internalJobId, taskId, organizationId: '1' }),
      chunkContext: `context-${randomUUID()}`,
      heartbeatWebhook: `${this.url}/heartbeat/${encodeURIComponent(taskId)}`,
      resultWebhook: `${this.url}/result/${encodeURIComponent(taskId)}`,
      externalCallbackWebhook: this.url,
      maxTTL: '3600',
      internalJobId,
      internalTaskId: taskId,
      taskTmpDir,
      engineDir: this.engineDir,
      libraryModelDirectory: this.libraryModelDirectory,
      redisETUrl: this.url,
      controllerToken: `controller-${randomBytes(16).toString('hex')}`,
    };
    const fields: Record<string, string> = {
      ...standard,
      [`${CHUNK_METADATA_PREFIX}x-aiware-chunk-timestamp`]: String(now),
      [`${CHUNK_METADATA_PREFIX}source`]: 'aiware-toolkit-emulator',
    };
    for (const [name, value] of Object.entries(overrides)) {
      if (value === undefined) delete fields[name];
      else fields[name] = value;
    }
    this.ensure(taskId, fields);
    return { taskId, fields: { ...fields } };
  }

  /** What GET `cacheURI` serves for a task (stream engines read their input there). */
  setCache(taskId: string, source: { data: Buffer | string; mimeType?: string } | { path: string; mimeType?: string }): void {
    const state = this.ensure(taskId);
    state.cache = this.cacheSource(source, state.record.fields);
  }

  /**
   * POSTs the work item to an engine's /process as ET does: multipart/form-data, the string fields
   * then the file part `chunk`. A `path` chunk is streamed from disk. A chunk's `mimeType`, when
   * given, is also sent as `chunkMimeType` (ET derives one from the other). Resolves with whatever
   * status the engine answered; rejects only for network errors.
   */
  async process(processUrl: string, item: WorkItem, chunk?: ChunkInput): Promise<ProcessAnswer> {
    this.assertRunning();
    const state = this.ensure(item.taskId, item.fields);
    const rec = state.record;
    rec.attempts.process++;
    if (state.closedBy === 'process') this.reopen(state);
    this.armTTL(state);

    const fields = { ...item.fields };
    if (chunk?.mimeType !== undefined && fields.chunkMimeType !== undefined) fields.chunkMimeType = chunk.mimeType;
    const mimeType = chunk?.mimeType ?? fields.chunkMimeType ?? DEFAULT_CHUNK_MIME_TYPE;

    let body: Buffer | Readable;
    let contentType: string;
    let length: number;
    if (chunk && 'path' in chunk) {
      const encoded = multipartStream(fields, { path: chunk.path, filename: chunk.filename, mimeType });
      ({ stream: body, contentType, length } = encoded);
    } else {
      const data = chunk === undefined ? undefined : typeof chunk.data === 'string' ? Buffer.from(chunk.data, 'utf8') : chunk.data;
      const encoded = encodeMultipart(fields, data === undefined ? undefined : { data, filename: chunk?.filename, mimeType });
      ({ body, contentType } = encoded);
      length = encoded.body.length;
    }
    if (chunk && !state.cache) state.cache = this.cacheSource(chunk, fields);

    const answer = await this.post(processUrl, body, contentType, length);
    this.onProcessAnswer(state, answer);
    return answer;
  }

  /** A snapshot of one task's record. Throws for a task this emulator never heard of. */
  task(taskId: string): TaskRecord {
    const state = this.tasks.get(taskId);
    if (!state) throw new Error(`the toolkit emulator knows no task ${JSON.stringify(taskId)}`);
    return structuredClone(state.record);
  }

  /** Snapshots of every task, in creation order. */
  allTasks(): TaskRecord[] {
    return [...this.tasks.values()].map((state) => structuredClone(state.record));
  }

  /** Resolves once the task is done (complete, failed, answered or ignored); rejects on timeout. */
  waitForTask(taskId: string, options: WaitOptions = {}): Promise<TaskRecord> {
    return this.wait((rec) => FINAL_STATUSES.includes(rec.status), taskId, options.timeoutMs, 'the task to end');
  }

  /**
   * Resolves with a snapshot of the task once `predicate` holds for it (checked now and after every
   * change), or rejects after `timeoutMs`. The predicate sees the live record: read it, don't change it.
   */
  waitFor(predicate: (rec: Readonly<TaskRecord>) => boolean, taskId: string, options: WaitOptions = {}): Promise<TaskRecord> {
    return this.wait(predicate, taskId, options.timeoutMs, 'the condition');
  }

  private wait(
    predicate: (rec: Readonly<TaskRecord>) => boolean,
    taskId: string,
    timeoutMs = DEFAULT_WAIT_MS,
    waitingFor: string,
  ): Promise<TaskRecord> {
    return new Promise<TaskRecord>((resolve, reject) => {
      if (this.stopping) {
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

  /**
   * The next posts of `kind` for the task (or for any task, with '*') are answered with these
   * statuses, one each, instead of 204: `[503, 503]` refuses two. A task's own list is used
   * before the '*' list. Refused posts are counted in `attempts` and listed in `refused`.
   */
  refuse(taskId: string, kind: WebhookKind, statuses: number[]): void {
    for (const status of statuses) {
      if (!Number.isInteger(status) || status < 400 || status > 599) {
        throw new RangeError(`refuse() takes 4xx or 5xx statuses, got ${status}`);
      }
    }
    let list = this.refusals.get(taskId);
    if (!list) this.refusals.set(taskId, (list = { heartbeat: [], result: [] }));
    list[kind].push(...statuses);
  }

  /** Closes the server and every connection, clears every timer, removes the temp dirs. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    for (const state of this.tasks.values()) this.clearTimers(state);
    this.changes.emit('stopped');
    this.agent.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await rm(this.root, { recursive: true, force: true });
  }

  // ---- task bookkeeping ----

  private ensure(taskId: string, fields?: Record<string, string>): TaskState {
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
          createdAt: Date.now(),
        },
      };
      this.tasks.set(taskId, state);
    } else if (fields !== undefined && state.record.fields === undefined) {
      state.record.fields = { ...fields };
    }
    return state;
  }

  private changed(state: TaskState): void {
    this.changes.emit(`change:${state.record.taskId}`);
  }

  private setStatus(state: TaskState, status: TaskStatus): void {
    if (state.record.status === status) return;
    state.record.status = status;
    this.emit('status', state.record.taskId, status);
  }

  private violation(state: TaskState, message: string): void {
    state.record.violations.push(message);
    this.emit('violation', state.record.taskId, message);
  }

  private close(
    state: TaskState,
    status: Extract<TaskStatus, 'complete' | 'failed' | 'answered' | 'ignored'>,
    by: ClosedBy,
    failure: { reason?: FailureReason; message?: string } = {},
  ): void {
    const rec = state.record;
    state.closedBy = by;
    rec.closedAt = Date.now();
    // A task's failure fields always describe its latest closing, never an earlier one.
    if (failure.reason === undefined) delete rec.failureReason;
    else rec.failureReason = failure.reason;
    if (failure.message === undefined) delete rec.failureMsg;
    else rec.failureMsg = failure.message;
    this.clearTimers(state);
    this.setStatus(state, status);
  }

  private reopen(state: TaskState): void {
    const rec = state.record;
    state.closedBy = undefined;
    delete rec.closedAt;
    delete rec.failureReason;
    delete rec.failureMsg;
    delete rec.syncAnswer;
    this.setStatus(state, 'pending');
  }

  private clearTimers(state: TaskState): void {
    clearTimeout(state.ttlTimer);
    clearTimeout(state.heartbeatTimer);
    state.ttlTimer = undefined;
    state.heartbeatTimer = undefined;
  }

  private armTTL(state: TaskState): void {
    if (!this.enforceMaxTTL || state.ttlTimer || this.stopping) return;
    const raw = state.record.fields?.maxTTL;
    if (raw === undefined || !/^\s*\d+\s*$/.test(raw) || Number(raw) <= 0) return;
    const seconds = Number(raw);
    state.ttlTimer = setTimeout(() => {
      state.ttlTimer = undefined;
      if (state.closedBy === 'engine' || state.closedBy === 'timeout') return;
      state.record.timedOut = true;
      state.record.timeout = 'maxTTL';
      this.close(state, 'failed', 'timeout', {
        reason: 'heartbeat_timeout',
        message: `the toolkit emulator gave up: no complete or failed heartbeat within maxTTL (${seconds} s)`,
      });
      this.changed(state);
    }, seconds * 1000 + this.maxTTLGraceMs);
  }

  private armHeartbeatTimeout(state: TaskState): void {
    if (this.heartbeatTimeoutMs <= 0 || state.closedBy !== undefined || this.stopping) return;
    clearTimeout(state.heartbeatTimer);
    state.heartbeatTimer = setTimeout(() => {
      state.heartbeatTimer = undefined;
      if (state.closedBy !== undefined) return;
      state.record.timedOut = true;
      state.record.timeout = 'heartbeat';
      this.close(state, 'failed', 'timeout', {
        reason: 'heartbeat_timeout',
        message: `the toolkit emulator gave up: no heartbeat for ${this.heartbeatTimeoutMs} ms`,
      });
      this.changed(state);
    }, this.heartbeatTimeoutMs);
  }

  private takeRefusal(taskId: string, kind: WebhookKind): number | undefined {
    for (const key of [taskId, '*']) {
      const list = this.refusals.get(key);
      if (list && list[kind].length > 0) return list[kind].shift();
    }
    return undefined;
  }

  private summary(taskId: string): string {
    const state = this.tasks.get(taskId);
    if (!state) return 'nothing was ever heard of it';
    const rec = state.record;
    const last = rec.heartbeats[rec.heartbeats.length - 1];
    const parts = [
      `status ${rec.status}`,
      `${rec.heartbeats.length} heartbeat(s)${last ? ` (last: ${last.status})` : ''}`,
      `${rec.results.length} result(s)`,
      `${rec.refused.length} refused post(s)`,
    ];
    if (rec.violations.length > 0) parts.push(`violations: ${rec.violations.join(' | ')}`);
    return parts.join(', ');
  }

  private cacheSource(source: ChunkInput, fields: Record<string, string> | undefined): CacheSource {
    const mimeType = source.mimeType ?? fields?.chunkMimeType ?? DEFAULT_CHUNK_MIME_TYPE;
    if ('path' in source) return { path: source.path, mimeType };
    return { data: typeof source.data === 'string' ? Buffer.from(source.data, 'utf8') : source.data, mimeType };
  }

  private assertRunning(): void {
    if (this.stopping) throw new Error('the toolkit emulator is stopped');
  }

  // ---- /process (ET → engine) ----

  private post(target: string, body: Buffer | Readable, contentType: string, length: number): Promise<ProcessAnswer> {
    const url = new URL(target);
    const secure = url.protocol === 'https:';
    return new Promise<ProcessAnswer>((resolve, reject) => {
      const req = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? undefined : this.agent,
          headers: { 'Content-Type': contentType, 'Content-Length': String(length), 'User-Agent': 'aiware-toolkit-emulator' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (data: Buffer) => chunks.push(data));
          res.on('error', reject);
          res.on('end', () => {
            // The engine answered before taking the whole body: stop sending (and close the file).
            if (!Buffer.isBuffer(body) && !body.readableEnded) {
              body.destroy();
              req.destroy();
            }
            const status = res.statusCode ?? 0;
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
            }
            resolve({ status, headers, body: parseAnswer(Buffer.concat(chunks), headers['content-type']) });
          });
        },
      );
      req.on('error', (err) => {
        if (!Buffer.isBuffer(body)) body.destroy();
        reject(err);
      });
      if (Buffer.isBuffer(body)) {
        req.end(body);
      } else {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  private onProcessAnswer(state: TaskState, answer: ProcessAnswer): void {
    const rec = state.record;
    rec.processAnswers.push({ status: answer.status, at: Date.now() });
    // An engine's heartbeat or the emulator's timeout already settled the task.
    if (state.closedBy === 'engine' || state.closedBy === 'timeout') {
      this.changed(state);
      return;
    }
    const { status, body } = answer;
    if (status === 204) {
      this.close(state, 'ignored', 'process');
    } else if (status >= 200 && status < 300) {
      if (isObject(body) && 'estimatedProcessingTimeInSeconds' in body) {
        const estimate = body.estimatedProcessingTimeInSeconds;
        if (isCount(estimate)) rec.estimatedProcessingTimeInSeconds = estimate as number;
        else this.violation(state, `/process answer: estimatedProcessingTimeInSeconds must be a non-negative integer, got ${JSON.stringify(estimate)}`);
        if (rec.status === 'pending') this.setStatus(state, 'running');
        if (!state.heartbeatTimer) this.armHeartbeatTimeout(state);
      } else {
        if (!isObject(body)) {
          this.violation(state, `/process answered ${status} with ${describeValue(body)}, not a VTN-standard JSON object or {estimatedProcessingTimeInSeconds}`);
        }
        rec.syncAnswer = body;
        this.close(state, 'answered', 'process');
      }
    } else {
      const detail = body === null ? '' : `: ${typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body).slice(0, 200)}`;
      this.close(state, 'failed', 'process', {
        reason: status >= 500 ? 'internal_error' : 'invalid_data',
        message: `/process answered ${status}${detail}`,
      });
    }
    this.changed(state);
  }

  // ---- webhooks (engine → ET) ----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const { pathname } = new URL(req.url ?? '/', 'http://toolkit');
      const match = /^\/(heartbeat|result|cache)\/([^/]+)\/?$/.exec(pathname);
      if (!match) {
        req.resume();
        reply(res, 404, { error: `no route for ${req.method} ${pathname}` });
        return;
      }
      const kind = match[1];
      let taskId: string;
      try {
        taskId = decodeURIComponent(match[2]);
      } catch {
        req.resume();
        reply(res, 400, { error: `bad task id in ${pathname}` });
        return;
      }
      if (kind === 'cache') {
        await this.serveCache(taskId, req, res);
        return;
      }
      if (req.method !== 'POST') {
        req.resume();
        res.setHeader('Allow', 'POST');
        reply(res, 405, { error: `${pathname} takes POST` });
        return;
      }
      await this.webhook(kind as WebhookKind, taskId, req, res);
    } catch (err) {
      if (!res.headersSent) reply(res, 500, { error: errorMessage(err) });
      else res.destroy();
    }
  }

  private async webhook(kind: WebhookKind, taskId: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw: Buffer | undefined;
    try {
      raw = await readBody(req, this.maxBodyBytes);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
    }
    if (this.stopping) {
      reply(res, 503, { error: 'the toolkit emulator is stopping' });
      return;
    }
    const state = this.ensure(taskId);
    const rec = state.record;
    const attempt = ++rec.attempts[kind];
    const at = Date.now();

    const refusal = this.takeRefusal(taskId, kind);
    if (refusal !== undefined) {
      rec.refused.push({ kind, status: refusal, at });
      this.emit('refused', taskId, kind, refusal);
      this.changed(state);
      reply(res, refusal, { error: `refused by the toolkit emulator (${kind} post ${attempt})` });
      return;
    }

    const reject = (status: number, problems: string[]): void => {
      for (const problem of problems) this.violation(state, `${kind} post ${attempt}: ${problem}`);
      this.changed(state);
      reply(res, status, { error: problems.join('; ') });
    };
    if (raw === undefined) {
      reject(413, [`body is larger than ${this.maxBodyBytes} bytes`]);
      return;
    }
    const contentType = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      reject(400, [`Content-Type must be application/json, got ${JSON.stringify(contentType)}`]);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      reject(400, [`body is not JSON: ${errorMessage(err)}`]);
      return;
    }
    const problems = kind === 'heartbeat' ? heartbeatProblems(body) : resultProblems(body);
    if (problems.length > 0) {
      reject(400, problems);
      return;
    }
    // Recorded before the 204 goes out, so an engine that saw its 204 finds its post recorded.
    if (kind === 'heartbeat') this.acceptHeartbeat(state, body as Heartbeat, at, attempt);
    else this.acceptResult(state, body as ResultBody, at, attempt);
    this.changed(state);
    res.writeHead(204).end();
  }

  private acceptHeartbeat(state: TaskState, heartbeat: Heartbeat, at: number, attempt: number): void {
    const rec = state.record;
    if ('infoMs' in heartbeat) this.violation(state, `heartbeat post ${attempt}: infoMs is a misspelling of infoMsg`);
    if (state.closedBy === 'engine') {
      this.violation(state, `heartbeat post ${attempt}: ${heartbeat.status} heartbeat after the task was closed by a ${rec.status} heartbeat`);
    }
    rec.heartbeats.push({ ...heartbeat, at });
    this.emit('heartbeat', rec.taskId, heartbeat);
    // After the engine closed the task or the emulator timed it out, a heartbeat is only recorded.
    if (state.closedBy === 'engine' || state.closedBy === 'timeout') return;
    if (heartbeat.status === 'running') {
      if (rec.status === 'pending') this.setStatus(state, 'running');
      this.armHeartbeatTimeout(state);
      return;
    }
    if (heartbeat.status === 'complete') {
      this.checkIndexes(state);
      this.close(state, 'complete', 'engine');
    } else {
      this.close(state, 'failed', 'engine', { reason: heartbeat.failureReason, message: heartbeat.failureMsg });
    }
  }

  private acceptResult(state: TaskState, result: ResultBody, at: number, attempt: number): void {
    const rec = state.record;
    const label = `result post ${attempt} (index ${result.index})`;
    if (state.closedBy === 'engine') this.violation(state, `${label}: arrived after the task was closed by a ${rec.status} heartbeat`);
    if (rec.results.some((earlier) => earlier.index === result.index)) this.violation(state, `${label}: index ${result.index} was already received`);
    const expected = rec.fields?.chunkContext;
    if (expected !== undefined && result.chunkContext !== expected) {
      this.violation(
        state,
        result.chunkContext === undefined
          ? `${label}: chunkContext is missing (the task's is ${JSON.stringify(expected)})`
          : `${label}: chunkContext ${JSON.stringify(result.chunkContext)} is not the task's ${JSON.stringify(expected)}`,
      );
    }
    rec.results.push({ ...result, at });
    this.emit('result', rec.taskId, result);
    if (state.closedBy === undefined && rec.status === 'pending') this.setStatus(state, 'running');
  }

  // SPEC §4: `index` is the running count of results, from 1; a complete task has 1..N.
  private checkIndexes(state: TaskState): void {
    const indexes = [...new Set(state.record.results.map((result) => result.index))].sort((a, b) => a - b);
    if (indexes.some((index, i) => index !== i + 1)) {
      this.violation(state, `complete heartbeat: result indexes are not 1..${indexes.length}: got ${indexes.join(', ')}`);
    }
  }

  private async serveCache(taskId: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      reply(res, 405, { error: 'the cache takes GET' });
      return;
    }
    const source = this.tasks.get(taskId)?.cache;
    if (!source) {
      reply(res, 404, { error: `no cached input for task ${taskId}` });
      return;
    }
    if ('data' in source) {
      res.writeHead(200, { 'Content-Type': source.mimeType, 'Content-Length': source.data.length });
      res.end(req.method === 'HEAD' ? undefined : source.data);
      return;
    }
    let size: number;
    try {
      size = (await stat(source.path)).size;
    } catch (err) {
      reply(res, 404, { error: `cannot read cached input: ${errorMessage(err)}` });
      return;
    }
    res.writeHead(200, { 'Content-Type': source.mimeType, 'Content-Length': size });
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    // pipeline closes the file when the response ends or breaks (also at stop()).
    pipeline(createReadStream(source.path, { start: 0, end: size - 1 }), res, () => undefined);
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

// Reads the whole body, up to `limit` bytes; past that it drains the rest and throws BodyTooLarge.
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (data: Buffer) => {
      size += data.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(data);
    });
    req.on('end', () => (tooLarge ? reject(new BodyTooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

// JSON when the engine says so or says nothing and it parses; text otherwise; null when empty.
function parseAnswer(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return null;
  const text = raw.toString('utf8');
  if (contentType === undefined || /\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
