// A stand-in for Engine Toolkit on one machine (docs/simulator.md), which the CLI and the tests are built on:
// the public face that wires its parts together. It knows nothing of Node-RED.
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Deadlines } from './deadlines';
import { InputCache, type CacheInput } from './input-cache';
import { PlatformApi } from './platform-api';
import { recordProcessAnswer } from './process-answer';
import { ProcessPoster, processRequest, type ChunkInput, type ProcessAnswer } from './process-post';
import { FINAL_STATUSES, TaskBook, type TaskRecord, type WaitOptions, type WebhookKind } from './task-book';
import { WebhookServer } from './webhook-server';
import { buildWorkItem, type WorkItem } from './work-item';
import { KEY_PROXY_PREFIX, KeyProxy, type KeySetRecord } from './key-proxy';
import { Forwarder, type ForwardedOutput } from './forwarding';
import { MODEL_ROUTE_PREFIX, ModelServer, type ModelData } from './model-server';

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
  /**
   * Lifetime of the JWTs `getEngineJWT` signs, in seconds. Default 86 400 (24 h). A negative
   * value makes tokens that are already expired (to see the wake-up's 410).
   */
  jwtTtlSeconds?: number;
  /** ET's `sendOutputToUris` for every task: each output is forwarded to these (see `sendOutputToUris()`). */
  sendOutputToUris?: string[];
  /** The `libraryModelDirectory` of every task (shared by emulators given the same). Default: a temp folder. */
  libraryModelDirectory?: string;
  /** Largest value the key proxy stores (413 above). Default 1 MiB. */
  keyValueMaxBytes?: number;
}

const DEFAULT_MAX_BODY = 32 * 1024 * 1024;

/**
 * Engine Toolkit's side of an engine, in one process. Events (all with the task id first):
 * `heartbeat` (hb), `result` (result), `violation` (message), `refused` (kind, status),
 * `status` (status) when a task's status changes, `paused` when the engine pauses it with
 * `updateTask`, `woken` (the re-dispatch's /process status) after a `/callback` woke it,
 * `forwarded` (ForwardedOutput) for each output sent on to a `sendOutputToUris` URI.
 */
export class ToolkitEmulator extends EventEmitter {
  /** Base address of the webhooks, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;

  private readonly book: TaskBook;
  private readonly deadlines: Deadlines;
  private readonly cache = new InputCache();
  private readonly poster = new ProcessPoster();
  private readonly webhooks: WebhookServer;
  private readonly platform: PlatformApi;
  private readonly keyProxy: KeyProxy;
  private readonly forwarder: Forwarder;
  private readonly models = new ModelServer();
  private readonly modelDirectory: string;
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
    this.book = new TaskBook(this);
    this.deadlines = new Deadlines(this.book, {
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 0,
      enforceMaxTTL: options.enforceMaxTTL ?? true,
      maxTTLGraceMs: options.maxTTLGraceMs ?? 2000,
    });
    this.webhooks = new WebhookServer(this, this.book, this.deadlines, this.cache, options.maxBodyBytes ?? DEFAULT_MAX_BODY);
    this.platform = new PlatformApi(this, this.book, this.deadlines, this.poster, {
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY,
      jwtTtlSeconds: options.jwtTtlSeconds ?? 24 * 60 * 60,
    });
    this.keyProxy = new KeyProxy({ maxValueBytes: options.keyValueMaxBytes });
    this.forwarder = new Forwarder((record) => this.emit('forwarded', record));
    if (options.sendOutputToUris) this.forwarder.setUris('*', options.sendOutputToUris);
    // aiWARE's layout: /cache/{shard}/libraries/{libraryId}/{libraryEngineModelId}.
    this.modelDirectory = options.libraryModelDirectory ?? path.join(this.root, 'cache', 'shard-0', 'libraries');
    mkdirSync(this.engineDir, { recursive: true });
    mkdirSync(this.libraryModelDirectory, { recursive: true });
    // Each accepted result goes on to the task's sendOutputToUris, as ET sends it.
    this.on('result', (taskId: string, result: { output: unknown; index: number }) => {
      void this.forwarder.forward(taskId, this.book.ensure(taskId).record.fields, result.output, result.index);
    });
    server.on('request', (req, res) => void this.route(req, res));
  }

  static async start(options: EmulatorOptions = {}): Promise<ToolkitEmulator> {
    if (options.jwtTtlSeconds !== undefined && !Number.isSafeInteger(options.jwtTtlSeconds)) {
      throw new RangeError(`jwtTtlSeconds must be a whole number, got ${options.jwtTtlSeconds}`);
    }
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
    return this.modelDirectory;
  }

  /**
   * A work item with every /process field set as ET would set it, and fresh ids.
   * An override replaces a field, adds one (`chunk-metadata-…`), or removes it (value undefined).
   * Creates the task's `taskTmpDir`; `stop()` removes it.
   */
  workItem(overrides: Partial<Record<string, string>> = {}): WorkItem {
    this.assertRunning();
    const place = { url: this.url, root: this.root, engineDir: this.engineDir, libraryModelDirectory: this.libraryModelDirectory };
    const { taskId, fields } = buildWorkItem(place, ++this.sequence, overrides);
    this.book.ensure(taskId, fields);
    this.platform.knowToken(taskId, fields.token);
    this.keyProxy.register(taskId, fields);
    return { taskId, fields: { ...fields } };
  }

  /** What GET `cacheURI` serves for a task (stream engines read their input there). */
  setCache(taskId: string, source: CacheInput): void {
    const state = this.book.ensure(taskId);
    this.cache.set(taskId, source, state.record.fields);
  }

  /**
   * POSTs the work item to an engine's /process as ET does: multipart/form-data, the string fields
   * then the file part `chunk`. A `path` chunk is streamed from disk. A chunk's `mimeType`, when
   * given, is also sent as `chunkMimeType` (ET derives one from the other). Resolves with whatever
   * status the engine answered; rejects only for network errors.
   */
  async process(processUrl: string, item: WorkItem, chunk?: ChunkInput): Promise<ProcessAnswer> {
    this.assertRunning();
    const state = this.book.ensure(item.taskId, item.fields);
    state.record.attempts.process++;
    if (state.closedBy === 'process') this.book.reopen(state);
    this.deadlines.armTTL(state);
    const request = processRequest(item.fields, chunk);
    if (chunk) this.cache.setFirst(item.taskId, chunk, request.fields);
    this.platform.dispatched(item.taskId, processUrl, request.fields);
    // The key proxy lets the task use the ids it is posted with.
    this.keyProxy.register(item.taskId, request.fields);
    const answer = await this.poster.post(processUrl, request);
    recordProcessAnswer(this.book, this.deadlines, state, answer);
    if (state.record.status === 'answered') void this.forwarder.forward(item.taskId, request.fields, answer.body);
    return answer;
  }

  /** A snapshot of one task's record. Throws for a task this emulator never heard of. */
  task(taskId: string): TaskRecord {
    return this.book.snapshot(taskId);
  }

  /** Snapshots of every task, in creation order. */
  allTasks(): TaskRecord[] {
    return this.book.snapshots();
  }

  /** Resolves once the task is done (complete, failed, answered or ignored); rejects on timeout. */
  waitForTask(taskId: string, options: WaitOptions = {}): Promise<TaskRecord> {
    return this.book.wait((rec) => FINAL_STATUSES.includes(rec.status), taskId, options.timeoutMs, 'the task to end');
  }

  /**
   * Resolves with a snapshot of the task once `predicate` holds for it (checked now and after every
   * change), or rejects after `timeoutMs`. The predicate sees the live record: read it, don't change it.
   */
  waitFor(predicate: (rec: Readonly<TaskRecord>) => boolean, taskId: string, options: WaitOptions = {}): Promise<TaskRecord> {
    return this.book.wait(predicate, taskId, options.timeoutMs, 'the condition');
  }

  /**
   * The next posts of `kind` for the task (or for any task, with '*') are answered with these
   * statuses, one each, instead of 204: `[503, 503]` refuses two. A task's own list is used
   * before the '*' list. Refused posts are counted in `attempts` and listed in `refused`.
   */
  refuse(taskId: string, kind: WebhookKind, statuses: number[]): void {
    this.webhooks.refuse(taskId, kind, statuses);
  }

  /** Keys set through the key proxy, in order; with a job id, only that job's. */
  keys(jobId?: string): KeySetRecord[] {
    return this.keyProxy.keys(jobId);
  }

  /** The key proxy's stored text for a key, or undefined (unset or expired). */
  keyValue(scope: 'job' | 'task', id: string, key: string): string | undefined {
    return this.keyProxy.peek(scope, id, key);
  }

  /** Calls the key proxy has answered, by kind. */
  get keyCalls(): Readonly<KeyProxy['counts']> {
    return { ...this.keyProxy.counts };
  }

  /** ET's `sendOutputToUris` for one task (or '*' for every task without its own). */
  sendOutputToUris(taskId: string, uris: string[]): void {
    this.forwarder.setUris(taskId, uris);
  }

  /** Outputs forwarded to `sendOutputToUris` so far (the posts that have ended), optionally of one task. */
  forwarded(taskId?: string): ForwardedOutput[] {
    return this.forwarder.forwarded(taskId);
  }

  /** Resolves once every forward under way has ended. */
  forwardsSettled(): Promise<void> {
    return this.forwarder.drain();
  }

  /** Serves a library engine model at `modelUrl(...)`; undefined stops serving it. */
  serveModel(libraryId: string, libraryEngineModelId: string, model: ModelData | undefined): string {
    this.models.set(libraryId, libraryEngineModelId, model);
    return this.modelUrl(libraryId, libraryEngineModelId);
  }

  modelUrl(libraryId: string, libraryEngineModelId: string): string {
    return ModelServer.urlFor(this.url, libraryId, libraryEngineModelId);
  }

  /** Downloads of a model answered so far. */
  modelDownloads(libraryId: string, libraryEngineModelId: string): number {
    return this.models.downloads(libraryId, libraryEngineModelId);
  }

  /** Closes the server and every connection, clears every timer, removes the temp dirs. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.book.stop();
    this.poster.destroy();
    await this.forwarder.drain();
    this.forwarder.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await rm(this.root, { recursive: true, force: true });
  }

  // The key proxy and the models have routes of their own; everything else is the webhooks'.
  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // GraphQL and the wake-up /callback (pause-for-callback) first; ET's own routes after.
    if (this.platform.handles(req.url)) return this.platform.handle(req, res);
    const target = new URL(req.url ?? '/', 'http://toolkit');
    try {
      if (target.pathname.startsWith(KEY_PROXY_PREFIX)) return await this.keyProxy.handle(req, res, target.pathname, target.searchParams);
      if (target.pathname.startsWith(MODEL_ROUTE_PREFIX)) return await this.models.serve(req, res, target.pathname);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
      else res.destroy();
      return;
    }
    return this.webhooks.handle(req, res);
  }

  private assertRunning(): void {
    if (this.stopping) throw new Error('the toolkit emulator is stopped');
  }
}
