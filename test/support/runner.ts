// The real runner as a child process (`node runner/main.js`), on a port of its own choosing,
// with a runtime file and environment per test. Its JSON log lines are collected as they come.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../runner/embedded';

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export class RunnerProcess {
  readonly lines: LogLine[] = [];
  /** Everything the child wrote, for failure messages. */
  output = '';
  exitCode?: number | null;
  private readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly runtimeFile: string,
  ) {
    let buffered = '';
    const onData = (data: Buffer) => {
      this.output += data.toString();
      buffered += data.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ level: 'raw', msg: line });
        }
      }
      this.notify();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        this.exitCode = code;
        this.notify();
        resolve(code);
      }),
    );
  }

  /** Writes `runtime` (an object, or raw text) to a file and starts a runner on it. */
  static start(runtime: unknown, env: Record<string, string> = {}, options: { dir?: string } = {}): RunnerProcess {
    const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-runner-'));
    const runtimeFile = path.join(dir, 'runtime.json');
    if (runtime !== undefined) fs.writeFileSync(runtimeFile, typeof runtime === 'string' ? runtime : JSON.stringify(runtime));
    return RunnerProcess.spawn(path.join(PACKAGE_ROOT, 'runner', 'main.js'), dir, runtimeFile, {
      RUNNER_WORKDIR: path.join(dir, 'work'),
      ...env,
    });
  }

  /** Runs another entry file (the image's /app/main.js) with `env` over the defaults. */
  static startCommand(main: string, env: Record<string, string>): RunnerProcess {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-runner-'));
    return RunnerProcess.spawn(main, dir, env.AIWARE_BUILD_RUNTIME, env);
  }

  private static spawn(main: string, dir: string, runtimeFile: string, env: Record<string, string>): RunnerProcess {
    const child = spawn(process.execPath, [main], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? os.tmpdir(),
        AIWARE_BUILD_RUNTIME: runtimeFile,
        VERITONE_WEBHOOK_PROCESS: 'http://127.0.0.1:0/process',
        VERITONE_WEBHOOK_READY: 'http://127.0.0.1:0/readyz',
        ENGINE_ID: 'engine-1',
        BUILD_ID: 'build-1',
        RUNNER_WORKDIR: path.join(dir, 'work'),
        RUNNER_FAIL_LINGER_SECONDS: '30',
        RUNNER_GRACE_SECONDS: '10',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new RunnerProcess(child, dir, runtimeFile);
  }

  /** Resolves with the first log line that matches; rejects if the runner exits or time runs out. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no such log line within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs);
      const check = () => {
        const line = this.lines.find(predicate);
        if (line) return finish(undefined, line);
        if (this.exitCode !== undefined) finish(new Error(`the runner exited (${this.exitCode}) first; output:\n${this.output}`));
      };
      const finish = (err?: Error, line?: LogLine) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        if (err) reject(err);
        else resolve(line!);
      };
      this.waiters.push(check);
      check();
    });
  }

  /** The base URL, once the runner listens. */
  async url(): Promise<string> {
    const line = await this.waitForLog((l) => l.msg === 'listening');
    return `http://127.0.0.1:${line.port as number}`;
  }

  async ready(): Promise<string> {
    await this.waitForLog((l) => l.msg === 'ready');
    return this.url();
  }

  exit(timeoutMs = 30_000): Promise<number | null> {
    let timer: NodeJS.Timeout;
    return Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the runner did not exit within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  signal(name: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitCode === undefined) this.child.kill(name);
  }

  /** Stops it (SIGKILL if it must) and removes its folder. */
  async dispose(): Promise<void> {
    if (this.exitCode === undefined) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Polls a URL until `accept(status)` (ET polls /readyz every second; tests poll faster). */
export async function pollStatus(url: string, accept: (status: number) => boolean, timeoutMs = 20_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (accept(status)) return status;
    if (Date.now() > end) throw new Error(`${url} never answered as expected (last ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
