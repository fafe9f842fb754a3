// The headless runner: loads a build's flows from AIWARE_BUILD_RUNTIME into an embedded
// Node-RED on the port of VERITONE_WEBHOOK_PROCESS and serves Engine Toolkit until SIGTERM.
// It owns its HTTP server: /readyz and /metrics are its own, /process goes straight to the
// pack (no express), everything else to Node-RED.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  CALLBACK_PATH,
  DEFAULT_CALLBACK_HOLD_MS,
  RuntimeHandle,
  answerReady,
  errorMessage,
  recordingSpan,
  refuseWork,
  sendJson,
  type EngineState,
  type Task,
  type TaskEnd,
} from '@aiware-nodered/node-red-aiware';
import type { RunnerConfig } from './config';
import { readRuntimeFile, RuntimeFileError, typesUsed, type BuildRuntime } from './runtime-file';
import { flowsStarted, initNodeRed, MissingTypesError, nodeRedSettings, nodesNotStarted, onOneTab, withPositions, type NodeRedModule } from './embedded';
import { nodeRedLogging, type Logger } from './log';
import { RunnerMetrics } from './metrics';
import { createServer } from './http-server';
import { unusedCoreNodeFiles } from './core-nodes';
import { settingsProblems, withoutRunnerSettings } from './build-settings';
import { SlowestNodeLogs, TaskLines, traceFields } from './task-lines';
import { LoginGuard } from './login-guard';

/** The runner's state is the engine's readiness state. */
export type RunnerState = EngineState;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Writes a file so no reader ever sees half of it: a temp file, then a rename. */
function writeAtomic(file: string, data: string): void {
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(temp, data, { mode: 0o600 });
  fs.renameSync(temp, file);
}

/** Node-RED's credential encryption (aes-256-ctr, key sha256(secret)): checked before start. */
function decryptCredentials(secret: string, encrypted: string): unknown {
  const key = crypto.createHash('sha256').update(secret).digest();
  const iv = Buffer.from(encrypted.substring(0, 32), 'hex');
  const decipher = crypto.createDecipheriv('aes-256-ctr', key, iv);
  return JSON.parse(decipher.update(encrypted.substring(32), 'base64', 'utf8') + decipher.final('utf8'));
}

/** The host to reach this server on from itself: a wildcard listen address is reached on loopback. */
function callbackHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** The build's own `nodesExcludes`, and the core node files its flows do not use. */
function nodesExcludes(runtime: BuildRuntime): string[] {
  const own = runtime.settings?.nodesExcludes;
  return [...new Set([...(Array.isArray(own) ? own.filter((f): f is string => typeof f === 'string') : []), ...unusedCoreNodeFiles(typesUsed(runtime.flows))])];
}

/** Where the editor's login posts (the editor is at /editor). */
const EDITOR_LOGIN = '/editor/auth/token';

/**
 * Node-RED answers a login locked out after too many attempts with 500 ("Too many login attempts"):
 * a client reads that as a server fault and retries. Said as what it is: 429 with Retry-After (its 10 minutes).
 */
function lockoutAs429(res: http.ServerResponse): void {
  const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
  res.end = ((...args: unknown[]) => {
    const [chunk] = args;
    if (res.statusCode === 500 && !res.headersSent && (typeof chunk === 'string' || Buffer.isBuffer(chunk)) && chunk.includes('Too many login attempts')) {
      res.statusCode = 429;
      res.setHeader('Retry-After', '600');
    }
    return end(...args);
  }) as typeof res.end;
}

export class Runner {
  state: RunnerState = 'starting';
  /** Why start-up failed, for /readyz. */
  failure?: string;
  readonly metrics: RunnerMetrics;
  readonly server: http.Server;
  /** The pack's runtime, handed over when Node-RED loads the nodes. */
  readonly handle = new RuntimeHandle();
  private RED?: NodeRedModule;
  private metricsServer?: http.Server;
  private app?: Handler;
  private stopping?: Promise<void>;
  /** Failed editor logins counted per client address (the editor on). */
  private readonly loginGuard?: LoginGuard;
  /** The build's settings file, once read. */
  private runtimeSettings?: Record<string, unknown>;
  /** Puts the ids of its task on each line about one. */
  private readonly taskLines: TaskLines;

  constructor(
    readonly config: RunnerConfig,
    readonly log: Logger,
  ) {
    this.metrics = new RunnerMetrics({ engine_id: config.engineId, build_id: config.buildId });
    this.taskLines = new TaskLines(log);
    if (config.editorPasswordHash) this.loginGuard = new LoginGuard(config.editorPasswordHash, config.editorLogin, log);
    this.server = createServer(config.connections, log, (req, res) => this.serve(req, res));
  }

  /** The address the server listens on (useful with port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Listens at once (ET polls readiness from the start and must hear 503, not a refused
   * connection), then writes the build into the work folder and starts its flows. Throws on a
   * failure for good; the caller keeps serving /readyz 500 for a while and exits non-zero.
   */
  async start(): Promise<void> {
    const { config, log } = this;
    log.info({ runtimeFile: config.runtimeFile, workDir: config.workDir, process: config.process }, 'starting');
    this.server.listen(config.process.port, config.process.host);
    await once(this.server, 'listening');
    log.info({ port: this.port, ready: config.ready.path, limits: config.connections }, 'listening');
    if (typeof config.metricsPort === 'number') await this.listenMetrics(config.metricsPort);
    try {
      const runtime = readRuntimeFile(config.runtimeFile);
      this.runtimeSettings = runtime.settings;
      this.checkCredentials(runtime);
      // What `aiware-sim check` reports, said here too: settings the runner sets itself are its own.
      for (const problem of settingsProblems(runtime.settings, typesUsed(runtime.flows))) {
        log.warn({ setting: problem.where }, `build runtime ${problem.where} ${problem.message}: ${problem.code === 'runner' ? "the runner's value is used" : 'passed on as given'}`);
      }
      const userDir = path.join(config.workDir, 'node-red');
      const tmpDir = path.join(config.workDir, 'tmp');
      fs.mkdirSync(userDir, { recursive: true });
      fs.mkdirSync(tmpDir, { recursive: true });
      // Chunks spill to taskTmpDir, else the OS temp dir: that is the work folder's tmp/.
      process.env.TMPDIR = tmpDir;
      // The files, in a fixed order, each written whole: package.json, modules, flows, credentials.
      writeAtomic(path.join(userDir, 'package.json'), JSON.stringify({ name: `engine-${config.engineId}`, private: true, version: '0.0.0' }, null, 2));
      const moduleDirs = await this.installModules(runtime);
      // Nodes exported without their tab (an example, a selection) are put on one.
      writeAtomic(path.join(userDir, 'flows.json'), JSON.stringify(onOneTab(withPositions(runtime.flows))));
      const credentialsFile = path.join(userDir, 'flows_cred.json');
      if (runtime.credentials) writeAtomic(credentialsFile, JSON.stringify(runtime.credentials));
      else fs.rmSync(credentialsFile, { force: true });

      const settings = nodeRedSettings({
        userDir,
        handle: this.handle,
        // A request's taskTmpDir may be in the work folder too (its tmp/ is the OS temp folder here).
        aiware: {
          tmpDirRoots: [config.workDir, ...config.tmpRoots],
          // Waits of pause-for-callback: in the work folder, which a restart (and, on a shared /cache, another instance) finds.
          stateDir: path.join(config.workDir, 'pauses'),
          callbackBaseUrl: config.callbackBaseUrl ?? `http://${callbackHost(config.process.host)}:${this.port}`,
          callbackSecret: config.callbackSecret,
          recycleChunks: config.recycleChunks,
          minBodyRate: config.connections.minBodyRate,
          minBodyRateGraceMs: config.connections.minBodyRateGraceMs,
        },
        moduleDirs,
        settings: {
          ...withoutRunnerSettings(runtime.settings),
          // The runner's own settings win over the build's.
          credentialSecret: config.credentialSecret ?? false,
          logging: nodeRedLogging(
            log,
            (text) => this.scrubOpenSecrets(text),
            (text) => this.taskLines.fieldsOf(text),
          ),
          contextStorage: { default: { module: 'memory' }, file: { module: 'localfilesystem' } },
          ...(config.editorPasswordHash
            ? {
                httpAdminRoot: '/editor',
                disableEditor: false,
                adminAuth: { type: 'credentials', users: [{ username: 'admin', password: config.editorPasswordHash, permissions: '*' }] },
              }
            : // No editor, so no other flows than these: Node-RED loads only the core nodes they use.
              { httpAdminRoot: false, disableEditor: true, nodesExcludes: nodesExcludes(runtime) }),
        },
      });
      const { RED, app } = initNodeRed(this.server, settings);
      this.RED = RED;
      this.app = app;
      const started = flowsStarted(RED);
      await RED.start();
      try {
        await started;
      } catch (err) {
        if (err instanceof MissingTypesError) {
          throw new RuntimeFileError(config.runtimeFile, `${err.message}: install them, or name them in "modules"`, { missingTypes: err.types });
        }
        throw err;
      }
      if (this.handle.conflict) throw new RuntimeFileError(config.runtimeFile, this.handle.conflict.message);
      const notStarted = nodesNotStarted(RED, runtime.flows);
      if (notStarted.length > 0) {
        const named = notStarted.slice(0, 5).map((n) => `${n.type as string} "${(n.name as string) || (n.id as string)}"`);
        throw new RuntimeFileError(
          config.runtimeFile,
          `Node-RED did not start ${notStarted.length === 1 ? 'a node' : `${notStarted.length} nodes`} of its flows (${named.join(', ')}${notStarted.length > 5 ? ', …' : ''}): its log above says why (config nodes that name each other, a node that failed to construct)`,
        );
      }
      const processIn = this.chooseProcessRoute(runtime);
      this.watchTasks();
      this.state = 'ready';
      log.info(
        { url: `http://${config.process.host}:${this.port}${config.process.path}`, processIn, types: typesUsed(runtime.flows), ...(config.recycleChunks ? { recycleChunks: true } : {}) },
        'ready',
      );
      if (config.wakeup) void this.wakeUp(config.wakeup);
    } catch (err) {
      this.state = 'failed';
      this.failure = errorMessage(err);
      throw err;
    }
  }

  /**
   * Stops taking work (readiness 503, /process 503), gives open tasks `graceMs` to end, fails
   * what is left with `system_error`, flushes the webhooks, stops Node-RED and the server.
   * Idempotent: a second call returns the first one's promise.
   */
  stop(reason = 'stop'): Promise<void> {
    this.stopping ??= this.drain(reason);
    return this.stopping;
  }

  /**
   * A second signal: no more grace. Open tasks fail with `system_error` at once, and their failed
   * heartbeats (and posts in flight) get `boundMs` to leave.
   */
  async abort(signal: string, boundMs: number): Promise<void> {
    const tasks = this.handle.runtime?.registry;
    if (!tasks) return;
    for (const task of tasks.list()) {
      if (task.waiting) continue;
      task.fail({ reason: 'system_error', message: `the engine was stopped at once (a second ${signal}) before the task ended` });
    }
    await tasks.drain(boundMs);
  }

  private async drain(reason: string): Promise<void> {
    const { log, config } = this;
    const tasks = this.handle.runtime?.registry;
    if (this.state !== 'failed') this.state = 'draining';
    // A task waiting for a callback is saved: it leaves with Node-RED and comes back at the next start.
    const working = () => (tasks ? tasks.list().filter((task) => !task.waiting).length : 0);
    log.info({ reason, openTasks: working(), waitingTasks: (tasks?.size ?? 0) - working(), graceMs: config.graceMs }, 'draining');
    if (tasks && working() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, config.graceMs);
        function onEnd(): void {
          if (working() === 0) done();
        }
        function done(): void {
          clearTimeout(timer);
          tasks!.off('end', onEnd);
          resolve();
        }
        tasks.on('end', onEnd);
      });
      for (const task of tasks.list()) {
        if (task.waiting) continue;
        task.fail({ reason: 'system_error', message: `the engine shut down (${reason}) before the task ended: it had ${config.graceMs / 1000} s of grace` });
      }
    }
    // Results and final heartbeats still on their way, also of tasks that ended just before.
    await tasks?.drain(10_000);
    try {
      await this.RED?.stop();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'Node-RED did not stop cleanly');
    }
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.metricsServer) {
      this.metricsServer.closeAllConnections();
      await new Promise<void>((resolve) => this.metricsServer!.close(() => resolve()));
    }
    if (this.state !== 'failed') this.state = 'stopped';
    log.info({}, 'stopped');
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query < 0 ? url : url.slice(0, query);
    if (req.method === 'GET' && pathname === this.config.ready.path) return answerReady(res, this.state, this.failure);
    if (req.method === 'GET' && pathname === '/metrics' && this.config.metricsPort === undefined) return void this.serveMetrics(res);
    if (pathname === this.config.process.path && req.method === 'POST') {
      if (refuseWork(res, this.state, this.failure)) return;
      const end = this.metrics.processLatency.startTimer();
      res.once('finish', () => end({ status: String(res.statusCode) }));
      // The build's process-in may serve another path (see chooseProcessRoute): ET's path goes to it. Chosen
      // again if a redeploy (editor on) moved it; while one owns ET's path, that is a map lookup.
      const pack = this.handle.runtime;
      if (pack && !pack.owner('post', pathname)) {
        const paths = pack.processPaths();
        if (paths.length === 1 && pack.dispatch('post', paths[0], req, res)) return;
      }
    }
    if (req.method === 'POST' && this.loginGuard && pathname === EDITOR_LOGIN) {
      lockoutAs429(res);
      const next = (): void => (this.app ? void this.app(req, res) : sendJson(res, 503, { error: 'the engine is starting' }));
      return void this.loginGuard.handle(req, res, next).catch((err: unknown) => sendJson(res, 500, { error: errorMessage(err) }));
    }
    if (this.handle.dispatch(req, res)) return;
    // A callback while Node-RED is still loading: held until the pack is there to restore its wait.
    if (this.state === 'starting' && pathname.startsWith(CALLBACK_PATH)) return void this.holdCallback(req, res);
    if (this.app) return this.app(req, res);
    sendJson(res, 503, { error: 'the engine is starting' });
  }

  /** Holds a callback until the pack has attached (it then holds it until its wait is restored), within callbackHoldMs. */
  private async holdCallback(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const runtime = await this.handle.whenAttached(this.callbackHoldMs());
    if (runtime && this.handle.dispatch(req, res)) return;
    req.resume();
    res.setHeader('Retry-After', '5');
    sendJson(res, 503, { error: 'the engine is starting: call again' });
  }

  /** The build's `aiware.callbackHoldMs`, else the pack's default. */
  private callbackHoldMs(): number {
    const aiware = (this.runtimeSettings?.aiware ?? {}) as { callbackHoldMs?: unknown };
    return typeof aiware.callbackHoldMs === 'number' ? aiware.callbackHoldMs : DEFAULT_CALLBACK_HOLD_MS;
  }

  /** /metrics on a port of its own (RUNNER_METRICS_PORT), on the /process host: nothing else is served there. */
  private async listenMetrics(port: number): Promise<void> {
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') void this.serveMetrics(res);
      else sendJson(res, 404, { error: 'only GET /metrics is served here' });
    });
    this.metricsServer = server;
    server.listen(port, this.config.process.host);
    await once(server, 'listening');
    this.log.info({ port: (server.address() as AddressInfo).port }, 'metrics listening');
  }

  private async serveMetrics(res: http.ServerResponse): Promise<void> {
    const text = await this.metrics.registry.metrics();
    res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
    res.end(text);
  }

  /**
   * Which aiware-process-in serves VERITONE_WEBHOOK_PROCESS: the one on its path, else the build's only
   * one whatever its path (examples each have a path of their own, so that they can be imported together
   * into one Node-RED). Two or more, none on the path: the build is ambiguous, start-up fails.
   */
  private chooseProcessRoute(runtime: BuildRuntime): string {
    const { config } = this;
    const pack = this.handle.runtime;
    const wanted = config.process.path;
    if (pack?.owner('post', wanted)) return wanted;
    const paths = pack?.processPaths() ?? [];
    if (paths.length === 1) return paths[0];
    if (paths.length === 0) {
      throw new RuntimeFileError(config.runtimeFile, `no aiware-process-in serves POST ${wanted} (VERITONE_WEBHOOK_PROCESS): the flows use ${typesUsed(runtime.flows).join(', ')}`);
    }
    throw new RuntimeFileError(
      config.runtimeFile,
      `no aiware-process-in serves POST ${wanted} (VERITONE_WEBHOOK_PROCESS) and the build has ${paths.length} (${paths.join(', ')}): give the engine's one the path ${wanted}, or keep only one`,
    );
  }

  private checkCredentials(runtime: BuildRuntime): void {
    const encrypted = runtime.credentials?.$;
    if (typeof encrypted !== 'string') return;
    if (!this.config.credentialSecret) {
      throw new RuntimeFileError(this.config.runtimeFile, 'its credentials are encrypted and RUNNER_CREDENTIAL_SECRET is not set');
    }
    try {
      decryptCredentials(this.config.credentialSecret, encrypted);
    } catch {
      throw new RuntimeFileError(this.config.runtimeFile, 'its credentials cannot be decrypted with RUNNER_CREDENTIAL_SECRET (is it the secret they were encrypted with?)');
    }
  }

  private async installModules(runtime: BuildRuntime): Promise<string[]> {
    const modules = runtime.modules ?? {};
    if (Object.keys(modules).length === 0) return [];
    if (!this.config.shareFolder) {
      throw new RuntimeFileError(this.config.runtimeFile, `it names modules (${Object.keys(modules).join(', ')}) but AIWARE_AUTOMATE_SHARE_FOLDER is not set`);
    }
    const started = Date.now();
    // Loaded only by builds that name modules: most starts need no lock library.
    const { ensureModules } = await import('./modules');
    // Tarball paths are relative to the runtime file.
    const result = await ensureModules({ modules, shareFolder: this.config.shareFolder, log: this.log, baseDir: path.dirname(this.config.runtimeFile) });
    this.log.info({ modules: Object.keys(modules), dir: result.dir, installed: result.installed, ms: Date.now() - started }, result.installed ? 'modules installed' : 'modules reused');
    return result.dir ? [result.dir] : [];
  }

  private watchTasks(): void {
    const pack = this.handle.runtime;
    if (!pack) return;
    this.metrics.watch(pack);
    // A task's lines carry ids, states and times, never a token: they skip the redaction by path,
    // whose wildcard paths cost ~9 µs a line (a task's failure message is scrubbed where it is made,
    // and its line keeps the redaction all the same).
    const taskLog = this.log.child({}, { redact: [] });
    // The line's fields are made only when debug lines are written (not by default): a task costs no object for a line nobody reads.
    pack.registry.on('open', (task: Task) => {
      if (taskLog.isLevelEnabled('debug'))
        taskLog.debug({ taskId: task.id, nodeId: task.owner, internalTaskId: task.fields.internalTaskId, engineType: task.engineType, ...traceFields(task) }, 'task open');
    });
    const bySlowest = new SlowestNodeLogs(taskLog);
    pack.registry.on('end', (end: TaskEnd) => {
      const { task } = end;
      const times = pack.timing?.timesOf(task);
      const slowest = times?.nodes[0];
      const span = recordingSpan(task.traceContext)?.spanContext();
      // One literal, the same shape for every task (pino leaves out what is undefined), not parts
      // spread in from objects of their own.
      const fields = {
        taskId: task.id,
        nodeId: task.owner,
        internalTaskId: task.fields.internalTaskId,
        state: end.state,
        failureReason: end.reason,
        ms: Date.now() - task.startedAt,
        // Where its time went (docs/runner.md): its slowest node, the one that held its messages
        // longest (its id, type and name come with the logger: SlowestNodeLogs), and with
        // RUNNER_LOG_NODE_TIMES each node's part (opt-in: ~5 µs a line to write).
        slowestNodeMs: slowest?.ms,
        nodes: this.config.logNodeTimes ? times?.nodes : undefined,
        trace_id: span?.traceId,
        span_id: span?.spanId,
      };
      // A task that fails while the flow has no message of it was forgotten by the flow: a flow error.
      if (end.state === 'failed') {
        const flowError = this.taskLines.forgotten(end) ? 'forgotten' : undefined;
        this.log.warn({ ...fields, slowestNodeId: slowest?.id, slowestNodeType: slowest?.type, slowestNodeName: slowest?.name, failureMsg: end.message, flowError }, 'task failed');
      } else bySlowest.log(slowest).info(fields, 'task ended');
    });
    // After the `end` listener above, which asks it whether the flow forgot the task.
    this.taskLines.watch(pack, this.RED?.hooks);
  }

  /**
   * aiWARE started this engine to wake a paused task (PAYLOAD_JSON with `isCallback`): the wake-up
   * goes to /process as ET's would, with the ids and token it names; the rest of the task (its
   * webhooks) comes from the saved wait.
   */
  private async wakeUp(payload: Record<string, unknown>): Promise<void> {
    const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);
    const body: Record<string, string | undefined> = {
      payload: JSON.stringify(payload),
      token: str(payload.token),
      veritoneApiBaseUrl: str(payload.veritoneApiBaseUrl),
      internalJobId: str(payload.jobId),
      internalTaskId: str(payload.taskId),
    };
    const url = `http://${callbackHost(this.config.process.host)}:${this.port}${this.config.process.path}`;
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const text = await response.text();
      if (response.ok) this.log.info({ status: response.status }, 'woken from PAYLOAD_JSON');
      else this.log.error({ status: response.status, answer: text.slice(0, 300) }, 'the wake-up in PAYLOAD_JSON was refused');
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'the wake-up in PAYLOAD_JSON could not be sent');
    }
  }

  /** `text` without the tokens of the tasks open now: the registry keeps them indexed, so a line costs the same at 1 or 1000 open tasks. */
  private scrubOpenSecrets(text: string): string {
    return this.handle.runtime?.registry.secrets.scrub(text) ?? text;
  }
}
