// The runner as the bench runs it: the real entry point (`node runner/main.js`), configured only
// through its environment as in production, in its own process. It speaks no bench protocol, so
// its CPU and RSS are read from /proc (./procstat), and it is stopped with SIGTERM (a drain).
// Also the small process helpers the cold-start part shares: free ports, status polls, exits.
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { WindowStats } from './protocol';
import { track, untrack, type BenchServer } from './lib';
import { OutsideWindow } from './procstat';

/** The package folder (this file runs from dist/bench). */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
export const RUNNER_MAIN = path.join(PACKAGE_ROOT, 'runner', 'main.js');

/** A port free right now (the OS picks it; nothing else on this machine races for it in a bench). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One GET on a fresh connection: the status, or 0 when nothing answered (refused, reset, timeout). */
export function getStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise<number>((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Collects a child's output lines: JSON lines are parsed, and the last few kept for error
 * messages. `countOnly()` stops all that once nothing more is awaited: the runner logs a line per
 * task, and parsing them would cost the bench process, which is also the load generator, CPU that
 * the other servers' rows do not pay.
 */
export class OutputLines {
  count = 0;
  private counting = false;
  private readonly tail: string[] = [];
  private buffered = '';
  private listeners: ((line: Record<string, unknown> | undefined, text: string) => void)[] = [];

  constructor(child: ChildProcess) {
    const onData = (data: Buffer): void => {
      if (this.counting) {
        for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) this.count++;
        return;
      }
      this.buffered += data.toString();
      let newline: number;
      while ((newline = this.buffered.indexOf('\n')) >= 0) {
        const text = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        this.count++;
        this.tail.push(text);
        if (this.tail.length > 30) this.tail.shift();
        let line: Record<string, unknown> | undefined;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          line = undefined;
        }
        for (const listener of this.listeners) listener(line, text);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  }

  /** From now on only count lines (the tail stays as it is). */
  countOnly(): void {
    this.counting = true;
    this.buffered = '';
    this.listeners = [];
  }

  on(listener: (line: Record<string, unknown> | undefined, text: string) => void): void {
    this.listeners.push(listener);
  }

  text(): string {
    return this.tail.join('\n');
  }
}

/** Resolves with the exit code (or signal name) once `child` has exited. */
export function exited(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
export async function terminate(child: ChildProcess, graceMs = 20_000): Promise<{ code: number | string | null; killed: boolean }> {
  const done = exited(child);
  let killed = false;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, graceMs);
  const code = await done;
  clearTimeout(timer);
  untrack(child);
  return { code, killed };
}

export interface RunnerOptions {
  /** AIWARE_BUILD_RUNTIME. */
  runtimeFile: string;
  /** RUNNER_WORKDIR: a fresh folder per start. */
  workDir: string;
  /** 0 (default) lets the runner pick a free port; it logs the one it got. */
  port?: number;
  /** Node options before runner/main.js (e.g. --cpu-prof: not allowed in NODE_OPTIONS on Node 20). */
  execArgv?: string[];
  env?: Record<string, string>;
}

/** Spawns `node [execArgv] runner/main.js` with the environment ET and the image give it. */
export function spawnRunner(options: RunnerOptions): ChildProcess {
  const port = options.port ?? 0;
  const child = spawn(process.execPath, [...(options.execArgv ?? []), RUNNER_MAIN], {
    // A production-like environment: only what the image sets, nothing of npm's.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.tmpdir(),
      AIWARE_BUILD_RUNTIME: options.runtimeFile,
      VERITONE_WEBHOOK_PROCESS: `http://127.0.0.1:${port}/process`,
      VERITONE_WEBHOOK_READY: `http://127.0.0.1:${port}/readyz`,
      RUNNER_WORKDIR: options.workDir,
      ENGINE_ID: 'bench-engine',
      BUILD_ID: 'bench-build',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  return child;
}

/** Polls `url` every `everyMs` until it answers 200; rejects when `child` exits first or time runs out. */
export async function untilOk(url: string, child: ChildProcess, output: OutputLines, timeoutMs: number, everyMs: number, onAnswer?: (status: number) => void): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before ${url} answered 200; output:\n${output.text()}`);
    }
    const status = await getStatus(url);
    if (status !== 0) onAnswer?.(status);
    if (status === 200) return;
    if (Date.now() > end) throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s (last ${status}); output:\n${output.text()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The runner as a bench server: ready once /readyz answers 200. */
export class RunnerChild implements BenchServer {
  exitCode?: number | string | null;
  /** Output lines written inside measurement windows: a log line per request would be a cost of its own. */
  linesInWindows = 0;
  private window?: OutsideWindow;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly output: OutputLines,
    readonly url: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(name: string, options: RunnerOptions, timeoutMs = 60_000): Promise<RunnerChild> {
    const child = spawnRunner(options);
    const output = new OutputLines(child);
    try {
      // With a port of its own choosing, the runner logs it (at info: a higher RUNNER_LOG_LEVEL needs a fixed port).
      const port = options.port ? options.port : await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no "listening" log line within ${timeoutMs / 1000} s; output:\n${output.text()}`)), timeoutMs);
        output.on((line) => {
          if (line?.msg === 'listening' && typeof line.port === 'number') {
            clearTimeout(timer);
            resolve(line.port);
          }
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code ?? signal}) before listening; output:\n${output.text()}`));
        });
      });
      const url = `http://127.0.0.1:${port}`;
      await untilOk(`${url}/readyz`, child, output, timeoutMs, 50);
      output.countOnly();
      return new RunnerChild(name, child, output, url);
    } catch (err) {
      child.kill('SIGKILL');
      untrack(child);
      throw err;
    }
  }

  async measure<T>(work: () => Promise<T>): Promise<{ value: T; stats: WindowStats }> {
    const window = new OutsideWindow(this.pid);
    const lines = this.output.count;
    this.window = window;
    try {
      const value = await work();
      return { value, stats: window.stop() };
    } finally {
      window.dispose();
      this.window = undefined;
      this.linesInWindows += this.output.count - lines;
    }
  }

  async peek(): Promise<{ rssBefore: number; rssPeak: number }> {
    if (!this.window) throw new Error(`${this.name}: peek outside a measurement window`);
    return this.window.peek();
  }

  /** SIGTERM: the runner drains (no open tasks here) and exits 0. */
  async stop(): Promise<void> {
    const { code } = await terminate(this.child);
    this.exitCode = code;
  }
}
