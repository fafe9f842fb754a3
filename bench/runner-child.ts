// The runner as the bench runs it: the real entry point (the runner package's main.js, started
// by the simulator's RunnerProcess as the CLI and the tests start it), configured only through
// its environment as in production, in its own process. It speaks no bench protocol, so its CPU
// and RSS are read from /proc (./procstat), and it is stopped with SIGTERM (a drain).
// Also the small process helpers the cold-start part shares: status polls, exits.
import type { ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { RunnerProcess } from '@aiware-nodered/aiware-sim';
import type { WindowStats } from './protocol';
import { track, untrack, type BenchServer } from './lib';
import { OutsideMeter } from './procstat';

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

/** The last lines a child printed, for error messages. */
export function outputTail(child: ChildProcess, keep = 30): () => string {
  const tail: string[] = [];
  let partial = '';
  const onData = (data: Buffer): void => {
    const lines = (partial + data.toString()).split('\n');
    partial = lines.pop() ?? '';
    tail.push(...lines);
    tail.splice(0, Math.max(0, tail.length - keep));
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return () => [...tail, partial].join('\n');
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
  /** Node options before main.js (e.g. --cpu-prof: not allowed in NODE_OPTIONS on Node 20). */
  execArgv?: readonly string[];
  env?: Record<string, string>;
  /** Everything the runner prints is also appended here (its lines stay readable after `countOnly()`). */
  logFile?: string;
}

/** The runner with the environment ET and the image give it, killed by the bench's cleanup if left running. */
export function startRunner(options: RunnerOptions): RunnerProcess {
  const runner = RunnerProcess.start({ ...options, ENGINE_ID: 'bench-engine', BUILD_ID: 'bench-build' });
  track(runner.child);
  return runner;
}

/** Polls `url` every `everyMs` until it answers 200; rejects when `child` exits first or time runs out. */
export async function untilOk(url: string, child: ChildProcess, output: () => string, timeoutMs: number, everyMs: number, onAnswer?: (status: number) => void): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before ${url} answered 200; output:\n${output()}`);
    }
    const status = await getStatus(url);
    if (status !== 0) onAnswer?.(status);
    if (status === 200) return;
    if (Date.now() > end) throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s (last ${status}); output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The runner as a bench server: ready once /readyz answers 200. */
export class RunnerChild implements BenchServer {
  exitCode?: number | string | null;
  /** Output lines written inside measurement windows: a log line per request would be a cost of its own. */
  private readonly meter: OutsideMeter;

  private constructor(
    readonly name: string,
    readonly runner: RunnerProcess,
    readonly url: string,
  ) {
    this.meter = new OutsideMeter(
      name,
      () => this.pid,
      () => this.runner.count,
    );
  }

  get pid(): number {
    return this.runner.pid!;
  }

  static async start(name: string, options: RunnerOptions, timeoutMs = 60_000): Promise<RunnerChild> {
    const runner = startRunner(options);
    const output = (): string => runner.tail().join('\n');
    try {
      // With a port of its own choosing, the runner reports it to RunnerProcess, whatever RUNNER_LOG_LEVEL.
      const url = options.port ? `http://127.0.0.1:${options.port}` : await runner.url(timeoutMs);
      await untilOk(`${url}/readyz`, runner.child, output, timeoutMs, 50);
      runner.countOnly();
      return new RunnerChild(name, runner, url);
    } catch (err) {
      await runner.kill();
      untrack(runner.child);
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }

  /** Output lines printed inside measurement windows. */
  get linesInWindows(): number {
    return this.meter.linesInWindows;
  }

  measure<T>(work: () => Promise<T>): Promise<{ value: T; stats: WindowStats }> {
    return this.meter.measure(work);
  }

  peek(): Promise<{ rssBefore: number; rssPeak: number }> {
    return this.meter.peek();
  }

  /** SIGTERM: the runner drains (no open tasks here) and exits 0. */
  async stop(): Promise<void> {
    const { code } = await terminate(this.runner.child);
    this.exitCode = code;
  }
}
