// The engine side of a run: the runner started as a child process on a runtime file (with the
// environment Engine Toolkit gives it), and the readiness wait ET does before the first work item.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorMessage } from '../../core/errors';

/** The runner's entry, `<package root>/runner/main.js` (this file is dist/simulator/cli/engine.js). */
export function defaultRunnerScript(): string {
  const candidates = [path.resolve(__dirname, '..', '..', '..', 'runner', 'main.js'), path.resolve(__dirname, '..', '..', 'runner', 'main.js')];
  return candidates.find((file) => fs.existsSync(file)) ?? candidates[0];
}

/** A port free on loopback now (the runner binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RunnerStart {
  script: string;
  runtimeFile: string;
  engineId: string;
  buildId: string;
  /** Given by the user: kept. Absent: a temp folder, removed at stop. */
  shareFolder?: string;
  /** Everything the runner prints goes here (the out folder's runner.log). */
  logFile: string;
  /** Called with each line the runner prints (for --verbose). */
  onLine?: (line: string) => void;
}

const KEPT_LINES = 20;
const TERM_WAIT_MS = 10_000;
const KILL_WAIT_MS = 2_000;

/**
 * The runner as ET runs it: `node runner/main.js` with AIWARE_BUILD_RUNTIME, the webhook
 * addresses on a free loopback port, the engine and build ids, and a working folder and share
 * folder of its own (the production defaults under /cache are not writable on a laptop).
 */
export class RunnerProcess {
  readonly processUrl: string;
  readonly readyUrl: string;
  /** Resolves with how the child ended, whenever it does. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly lastLines: string[] = [];
  private exit?: { code: number | null; signal: NodeJS.Signals | null };
  private stopping?: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    port: number,
    private readonly tempDirs: string[],
    private readonly log: fs.WriteStream,
    onLine: ((line: string) => void) | undefined,
  ) {
    this.processUrl = `http://127.0.0.1:${port}/process`;
    this.readyUrl = `http://127.0.0.1:${port}/readyz`;
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        log.write(text);
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.line(line, onLine);
      });
      stream.on('end', () => partial && this.line(partial, onLine));
    }
    this.exited = new Promise((resolve) => {
      const end = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exit) return;
        this.exit = { code, signal };
        resolve(this.exit);
      };
      child.once('exit', end);
      // A child that could not be spawned at all never emits 'exit'.
      child.on('error', (err) => {
        if (child.pid !== undefined) return;
        this.line(`aiware-sim: cannot start the runner: ${errorMessage(err)}`, onLine);
        end(null, null);
      });
    });
  }

  static async start(options: RunnerStart): Promise<RunnerProcess> {
    if (!fs.existsSync(options.script)) throw new Error(`the runner is not there: ${options.script} is missing (npm run build makes it)`);
    const port = await freePort();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-sim-runner-'));
    const tempDirs = [workDir];
    let shareFolder = options.shareFolder;
    if (shareFolder === undefined) {
      shareFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-sim-share-'));
      tempDirs.push(shareFolder);
    }
    const log = fs.createWriteStream(options.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [options.script], {
      cwd: workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        AIWARE_BUILD_RUNTIME: options.runtimeFile,
        VERITONE_WEBHOOK_PROCESS: `http://127.0.0.1:${port}/process`,
        VERITONE_WEBHOOK_READY: `http://127.0.0.1:${port}/readyz`,
        ENGINE_ID: options.engineId,
        BUILD_ID: options.buildId,
        RUNNER_WORKDIR: workDir,
        AIWARE_AUTOMATE_SHARE_FOLDER: shareFolder,
      },
    });
    return new RunnerProcess(child, port, tempDirs, log, options.onLine);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How the child ended, or undefined while it runs. */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  /** The last lines it printed, for a report when it stops unexpectedly. */
  tail(): string[] {
    return [...this.lastLines];
  }

  /** SIGTERM, up to 10 s to drain, then SIGKILL; closes the log and removes the temp folders. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** Ctrl-C twice: no more waiting, the process is about to exit. */
  killNow(): void {
    if (!this.exit) this.child.kill('SIGKILL');
    for (const dir of this.tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  }

  private async shutdown(): Promise<void> {
    if (!this.exit) {
      this.child.kill('SIGTERM');
      if (!(await within(this.exited, TERM_WAIT_MS))) {
        this.line(`aiware-sim: the runner did not exit within ${TERM_WAIT_MS / 1000} s of SIGTERM: killed`);
        this.child.kill('SIGKILL');
        await within(this.exited, KILL_WAIT_MS);
      }
    }
    // Its pipes may still hold the last lines after the exit.
    await within(Promise.all([this.child.stdout, this.child.stderr].map((s) => (s && !s.readableEnded ? once(s, 'close') : undefined))), 1000);
    await new Promise<void>((resolve) => this.log.end(resolve));
    for (const dir of this.tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  }

  private line(line: string, onLine?: (line: string) => void): void {
    line = line.replace(/\r$/, '');
    this.lastLines.push(line);
    if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
    onLine?.(line);
  }
}

/** Whether `promise` settled within `ms` (its result is not needed). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export type Readiness =
  | { ready: true; afterMs: number }
  | { ready: false; why: 'failed'; message: string }
  | { ready: false; why: 'timeout'; message: string }
  | { ready: false; why: 'aborted'; message: string };

const POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;

/**
 * ET's readiness wait: GET the URL every second until it answers 200 (ready), 500 (failed for
 * good: its body says why), or `timeoutMs` passes. Any other answer, or none, means not yet.
 * `signal` ends the wait early (the runner exited, Ctrl-C).
 */
export async function waitForReady(url: string, timeoutMs: number, signal: AbortSignal): Promise<Readiness> {
  const started = Date.now();
  let last = 'no answer yet';
  for (;;) {
    if (signal.aborted) return { ready: false, why: 'aborted', message: String(signal.reason ?? 'aborted') };
    const answer = await get(url, signal);
    if (answer.status === 200) return { ready: true, afterMs: Date.now() - started };
    if (answer.status === 500) return { ready: false, why: 'failed', message: `${url} answered 500: ${bodyText(answer.body)}` };
    last = answer.status === undefined ? answer.error : `${answer.status} ${bodyText(answer.body)}`;
    const left = timeoutMs - (Date.now() - started);
    if (left <= 0) return { ready: false, why: 'timeout', message: `the engine was not ready within ${Math.round(timeoutMs / 1000)} s (last answer from ${url}: ${last})` };
    await sleep(Math.min(POLL_MS, left), signal);
  }
}

// The message in an error body ({"error": "..."}), else the text, short.
function bodyText(body: string): string {
  let text = body.trim();
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const { error, message } = parsed as Record<string, unknown>;
      if (typeof error === 'string') text = error;
      else if (typeof message === 'string') text = message;
    }
  } catch {
    // not JSON: the text as it is
  }
  if (text === '') return '(empty body)';
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

function get(url: string, signal: AbortSignal): Promise<{ status: number; body: string } | { status: undefined; error: string }> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? https : http).get(target, { agent: false, timeout: REQUEST_TIMEOUT_MS, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        if (body.length < 4096) body += text;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ status: undefined, error: errorMessage(err) }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve({ status: undefined, error: errorMessage(err) }));
  });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
