// The runner as Engine Toolkit starts it: `node main.js` of the runner package, in a process of
// its own, configured only through its environment. One class for the CLI, the tests and the
// bench: it collects the runner's JSON log lines and stops it as ET does (SIGTERM, then SIGKILL).
// It also gives the runner an IPC channel (which ET does not): the runner reports its port and
// readiness there, whatever its log level, and stops by itself when the channel closes, so a
// runner never outlives the process that started it (the runner's parent.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
// The constant alone: the runner's index would load its logger, metrics and Node-RED glue.
import { RUNNER_NODE_FLAGS } from '@aiware-nodered/node-red-runner/dist/node-flags';
import { isRunnerReport, type RunnerReport } from '@aiware-nodered/node-red-runner/dist/parent';

/** `main.js` of the installed runner package. */
export function defaultRunnerScript(): string {
  return require.resolve('@aiware-nodered/node-red-runner/main.js');
}

/** A port free on loopback now, for a caller that must fix the port (a `--runner` script that reports nothing). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether `promise` settled within `ms` (its result is not needed). */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A runner log line (pino JSON); a line that is not JSON is `{ level: 'raw', msg }`. */
export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface RunnerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunnerProcessOptions {
  /** AIWARE_BUILD_RUNTIME. */
  runtimeFile: string;
  /** The entry to run; default `main.js` of the runner package. */
  script?: string;
  /** Node options before the script; default the image's own (RUNNER_NODE_FLAGS). Give them too when adding others (--cpu-prof, which NODE_OPTIONS may not carry). */
  execArgv?: readonly string[];
  /** RUNNER_WORKDIR; default a temp folder, removed at stop. */
  workDir?: string;
  /** AIWARE_AUTOMATE_SHARE_FOLDER; unset when absent. */
  shareFolder?: string;
  /** 0 (default): the runner picks a free port and reports it. */
  port?: number;
  ENGINE_ID?: string;
  BUILD_ID?: string;
  /** More variables, over the defaults. */
  env?: Record<string, string>;
  /** Start from the caller's whole environment (the CLI); default only PATH, HOME and the network's CAs and proxies, as in the image. */
  inheritEnv?: boolean;
  cwd?: string;
  /** Everything the runner prints is appended here. */
  logFile?: string;
  /** Called with each line the runner prints. */
  onLine?: (text: string) => void;
  /** More folders of the caller's to remove at stop (a test's runtime folder). */
  removeAtStop?: string[];
}

const KEPT_TAIL = 30;

/** What a production-like environment keeps of ours: the path, the home, and how to reach the network (CAs, proxies). */
const MACHINE_ENV = /^(?:PATH|HOME|TMPDIR|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY)$/i;

function machineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir() };
  for (const [name, value] of Object.entries(process.env)) if (MACHINE_ENV.test(name) && value !== undefined) env[name] = value;
  return env;
}

export class RunnerProcess {
  /** Every line so far, parsed (until `countOnly()`). */
  readonly lines: LogLine[] = [];
  private readonly texts: string[] = [];
  /** How many lines it printed. */
  count = 0;
  /** Resolves with how the child ended, whenever it does. */
  readonly exited: Promise<RunnerExit>;
  private exit?: RunnerExit;
  /** What the runner last reported on its IPC channel. */
  private report?: RunnerReport['aiwareRunner'];
  private readonly lastLines: string[] = [];
  private waiters: (() => void)[] = [];
  private counting = false;
  private stopping?: Promise<void>;
  private readonly log?: fs.WriteStream;

  private constructor(
    readonly child: ChildProcess,
    /** The runtime file and the work folder (for tests that write there). */
    readonly runtimeFile: string,
    readonly workDir: string,
    private readonly tempDirs: string[],
    options: RunnerProcessOptions,
  ) {
    if (options.logFile) this.log = fs.createWriteStream(options.logFile, { flags: 'a' });
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = '';
      stream.on('data', (data: Buffer) => {
        this.log?.write(data);
        if (this.counting) {
          for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) this.count++;
          return;
        }
        const lines = (partial + data.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.line(line, options.onLine);
        this.notify();
      });
      stream.on('end', () => {
        if (partial && !this.counting) this.line(partial, options.onLine);
        this.notify();
      });
    }
    child.on('message', (message) => {
      if (!isRunnerReport(message)) return;
      this.report = message.aiwareRunner;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      const end = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exit) return;
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      };
      child.once('exit', end);
      // A child that could not be spawned at all never emits 'exit'.
      child.on('error', (err) => {
        if (child.pid !== undefined) return;
        this.line(`cannot start the runner: ${errorMessage(err)}`, options.onLine);
        end(null, null);
      });
    });
  }

  /** Spawns the runner with the environment ET and the image give it. */
  static start(options: RunnerProcessOptions): RunnerProcess {
    const script = options.script ?? defaultRunnerScript();
    if (!fs.existsSync(script)) throw new Error(`the runner is not there: ${script} is missing (npm run build makes it)`);
    const tempDirs = [...(options.removeAtStop ?? [])];
    let workDir = options.workDir;
    if (workDir === undefined) {
      workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-runner-'));
      tempDirs.push(workDir);
    }
    const port = options.port ?? 0;
    const base: NodeJS.ProcessEnv = options.inheritEnv ? { ...process.env } : machineEnv();
    const child = spawn(process.execPath, [...(options.execArgv ?? RUNNER_NODE_FLAGS), script], {
      // A work folder of its own is where it runs; a given one may not exist until the runner makes it.
      cwd: options.cwd ?? (tempDirs.includes(workDir) ? workDir : undefined),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...base,
        AIWARE_BUILD_RUNTIME: options.runtimeFile,
        VERITONE_WEBHOOK_PROCESS: `http://127.0.0.1:${port}/process`,
        VERITONE_WEBHOOK_READY: `http://127.0.0.1:${port}/readyz`,
        ENGINE_ID: options.ENGINE_ID ?? 'engine-1',
        BUILD_ID: options.BUILD_ID ?? 'build-1',
        RUNNER_WORKDIR: workDir,
        ...(options.shareFolder === undefined ? {} : { AIWARE_AUTOMATE_SHARE_FOLDER: options.shareFolder }),
        ...options.env,
      },
    });
    return new RunnerProcess(child, options.runtimeFile, workDir, tempDirs, options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How the child ended, or undefined while it runs. */
  get exitStatus(): RunnerExit | undefined {
    return this.exit;
  }

  /** The exit code: undefined while it runs, null when a signal ended it. */
  get exitCode(): number | null | undefined {
    return this.exit?.code;
  }

  /** The last lines it printed, for a report when it stops unexpectedly. */
  tail(): string[] {
    return [...this.lastLines];
  }

  /** Everything it printed so far (until `countOnly()`), for assertions and error messages. */
  get output(): string {
    return this.texts.join('\n');
  }

  /** From now on only count lines (the bench: parsing a line per task would cost the load generator). */
  countOnly(): void {
    this.counting = true;
    this.lines.length = 0;
    this.texts.length = 0;
    this.waiters = [];
  }

  /** Resolves with the first log line that matches; rejects if the runner exits or time runs out. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return this.until(() => this.lines.find(predicate), 'no such runner log line', timeoutMs);
  }

  /** Resolves with the log lines that match once there are `count` of them; rejects if the runner exits or time runs out. */
  waitForLogs(predicate: (line: LogLine) => boolean, count: number, timeoutMs = 30_000): Promise<LogLine[]> {
    return this.until(
      () => {
        const found = this.lines.filter(predicate);
        return found.length >= count ? found : undefined;
      },
      `fewer than ${count} such runner log lines`,
      timeoutMs,
    );
  }

  /** The base URL (`http://127.0.0.1:port`), once the runner listens. */
  url(timeoutMs = 30_000): Promise<string> {
    return this.until(() => this.baseUrl(), 'the runner did not report its port', timeoutMs);
  }

  /**
   * The base URL, once the runner is ready (its /readyz answers 200); rejects as soon as its start-up
   * has failed. The runner writes out its log before it says so: its start-up lines are in `lines`.
   */
  ready(timeoutMs = 30_000): Promise<string> {
    return this.until(
      () => {
        if (this.report?.state === 'failed') throw new Error(`the runner failed to start: ${this.report.failure ?? 'it did not say why'}`);
        return this.report?.state === 'ready' ? this.baseUrl() : undefined;
      },
      'the runner was not ready',
      timeoutMs,
    );
  }

  /** Resolves with the exit code once it has exited and its last lines are read; rejects after `timeoutMs`. */
  async waitExit(timeoutMs = 30_000): Promise<number | null> {
    if (!(await within(this.exited, timeoutMs))) throw new Error(`the runner did not exit within ${timeoutMs} ms; its last lines:\n${this.tail().join('\n')}`);
    await this.drained();
    return this.exit!.code;
  }

  signal(name: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.exit) this.child.kill(name);
  }

  /** SIGTERM, `termWaitMs` to drain, then SIGKILL; closes the log and removes the temp folders. Idempotent. */
  stop(termWaitMs = 10_000): Promise<void> {
    this.stopping ??= this.shutdown(termWaitMs);
    return this.stopping;
  }

  /** Its pipes may still hold the last lines after the exit: read them (within a second). */
  private async drained(): Promise<void> {
    await within(Promise.all([this.child.stdout, this.child.stderr].map((s) => (s && !s.readableEnded ? once(s, 'close') : Promise.resolve()))), 1000);
  }

  /** SIGKILL at once (a test's cleanup, a second Ctrl-C), and the temp folders removed. */
  async kill(): Promise<void> {
    if (!this.exit) this.child.kill('SIGKILL');
    await within(this.exited, 5000);
    await this.stop(0);
  }

  private async shutdown(termWaitMs: number): Promise<void> {
    if (!this.exit) {
      this.child.kill('SIGTERM');
      if (!(await within(this.exited, termWaitMs))) {
        this.line(`the runner did not exit within ${termWaitMs / 1000} s of SIGTERM: killed`);
        this.child.kill('SIGKILL');
        await within(this.exited, 5000);
      }
    }
    await this.drained();
    if (this.log) await new Promise<void>((resolve) => this.log!.end(resolve));
    for (const dir of this.tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  }

  private baseUrl(): string | undefined {
    return this.report?.port === undefined ? undefined : `http://127.0.0.1:${this.report.port}`;
  }

  /**
   * Resolves with what `probe` gives once it gives something (it is asked again at each line and
   * report); rejects when it throws, when the runner exits first, or after `timeoutMs` (saying `what`).
   */
  private until<T>(probe: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(this.failure(`${what} within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        let value: T | undefined;
        try {
          value = probe();
        } catch (err) {
          return finish(this.failure(errorMessage(err)));
        }
        if (value !== undefined) return finish(undefined, value);
        if (this.exit) finish(this.failure(`the runner exited (${describeExit(this.exit)}) first`));
      };
      const finish = (err?: Error, value?: T): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        if (err) reject(err);
        else resolve(value!);
      };
      this.waiters.push(check);
      check();
    });
  }

  /** An error saying `what`, with the runner's last lines when it printed any. */
  private failure(what: string): Error {
    const lines = this.tail();
    return new Error(lines.length > 0 ? `${what}; its last lines:\n${lines.join('\n')}` : what);
  }

  private line(text: string, onLine?: (text: string) => void): void {
    text = text.replace(/\r$/, '');
    this.count++;
    this.texts.push(text);
    this.lastLines.push(text);
    if (this.lastLines.length > KEPT_TAIL) this.lastLines.shift();
    let parsed: LogLine;
    try {
      const value = JSON.parse(text) as unknown;
      parsed = typeof value === 'object' && value !== null ? (value as LogLine) : { level: 'raw', msg: text };
    } catch {
      parsed = { level: 'raw', msg: text };
    }
    this.lines.push(parsed);
    onLine?.(text);
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export function describeExit(exit: RunnerExit): string {
  if (exit.signal) return `signal ${exit.signal}`;
  return exit.code === null ? 'it could not be started' : `code ${exit.code}`;
}
