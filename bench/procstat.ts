// CPU time and RSS of another process, read from outside through /proc (Linux): for a child that
// cannot report them itself (the runner is the production entry point and speaks no bench
// protocol), and for the other servers too, so every row of the throughput table is measured
// the same way. `OutsideServer` is the base of the two kinds measured only so: the runner and a
// stock Node-RED.
//   CPU: utime + stime of /proc/<pid>/stat (all threads), in clock ticks (getconf CLK_TCK,
//        usually 100/s: 10 ms resolution, well under 1 % of a 5 s window under load);
//   RSS: VmRSS of /proc/<pid>/status, sampled as often as the IPC children sample their own.
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { terminate, type BenchServer } from './lib';
import { RSS_SAMPLE_MS, type WindowStats } from './protocol';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User and system CPU time of `pid` so far, in µs. */
export function cpuTimes(pid: number): { userUs: number; systemUs: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const us = 1e6 / clockTicks();
  return { userUs: Number(fields[11]) * us, systemUs: Number(fields[12]) * us };
}

/**
 * User + system CPU time of each of `pid`'s threads so far, in µs, summed by kind: `main` (the event
 * loop), `V8` (V8's helper threads: concurrent and parallel GC, compilation), `libuv` (its pool), and
 * other threads by name (a worker thread is `WorkerThread`). Threads that ended are not counted.
 */
export function cpuByThread(pid: number): Map<string, number> {
  const us = 1e6 / clockTicks();
  const byKind = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    let name: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue; // it ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kind = tid === String(pid) ? 'main' : name.startsWith('V8') ? 'V8' : name.startsWith('libuv') ? 'libuv' : name.replace(/\d+$/, '');
    byKind.set(kind, (byKind.get(kind) ?? 0) + (Number(fields[11]) + Number(fields[12])) * us);
  }
  return byKind;
}

/** What `pid`'s threads used since `before` (a `cpuByThread` reading), in µs: by kind, and in all. */
export function cpuByThreadSince(pid: number, before: Map<string, number>): { byKind: Map<string, number>; totalUs: number } {
  const byKind = new Map<string, number>();
  let totalUs = 0;
  for (const [kind, us] of cpuByThread(pid)) {
    const used = us - (before.get(kind) ?? 0);
    byKind.set(kind, used);
    totalUs += used;
  }
  return { byKind, totalUs };
}

/** Resident set size of `pid` now, in bytes. */
export function rss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no VmRSS (has the process exited?)`);
  return Number(match[1]) * 1024;
}

/** One measurement window on `pid`, read from outside. */
export class OutsideWindow {
  private readonly cpu: { userUs: number; systemUs: number };
  readonly rssBefore: number;
  private rssPeak: number;
  private samples = 0;
  private readonly sampler: NodeJS.Timeout;

  constructor(readonly pid: number) {
    this.rssBefore = rss(pid);
    this.rssPeak = this.rssBefore;
    this.cpu = cpuTimes(pid);
    this.sampler = setInterval(() => this.sample(), RSS_SAMPLE_MS);
  }

  private sample(): void {
    try {
      this.rssPeak = Math.max(this.rssPeak, rss(this.pid));
      this.samples++;
    } catch {
      // The process exited: the window ends with what was sampled.
    }
  }

  peek(): { rssBefore: number; rssPeak: number } {
    this.sample();
    return { rssBefore: this.rssBefore, rssPeak: this.rssPeak };
  }

  /** Ends the window without reading it (the work failed; the process may be gone). */
  dispose(): void {
    clearInterval(this.sampler);
  }

  stop(): WindowStats {
    clearInterval(this.sampler);
    const cpu = cpuTimes(this.pid);
    const rssAfter = rss(this.pid);
    return {
      userUs: cpu.userUs - this.cpu.userUs,
      systemUs: cpu.systemUs - this.cpu.systemUs,
      rssBefore: this.rssBefore,
      rssPeak: Math.max(this.rssPeak, rssAfter),
      rssAfter,
      samples: this.samples,
    };
  }
}

/** Runs `work` inside a window on `pid` and returns its value with the window's stats. */
export async function measureOutside<T>(pid: number, work: () => Promise<T>): Promise<{ value: T; stats: WindowStats }> {
  const window = new OutsideWindow(pid);
  let value: T;
  try {
    value = await work();
  } catch (err) {
    window.dispose();
    throw err;
  }
  return { value, stats: window.stop() };
}

/**
 * A server in its own process that speaks no bench protocol (the runner, a stock Node-RED):
 * measured from outside (`OutsideWindow`), stopped with SIGTERM. It counts the output lines it
 * printed inside measurement windows: a log line per request would be a cost of its own.
 */
export abstract class OutsideServer implements BenchServer {
  exitCode?: number | string | null;
  /** Output lines printed inside measurement windows. */
  linesInWindows = 0;
  private window?: OutsideWindow;

  protected constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly url: string,
    /** Every output line it has printed so far. */
    private readonly lines: () => number,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  async measure<T>(work: () => Promise<T>): Promise<{ value: T; stats: WindowStats }> {
    const window = new OutsideWindow(this.pid);
    const lines = this.lines();
    this.window = window;
    try {
      const value = await work();
      return { value, stats: window.stop() };
    } finally {
      window.dispose();
      this.window = undefined;
      this.linesInWindows += this.lines() - lines;
    }
  }

  peek(): Promise<{ rssBefore: number; rssPeak: number }> {
    if (!this.window) return Promise.reject(new Error(`${this.name}: peek outside a measurement window`));
    return Promise.resolve(this.window.peek());
  }

  /** SIGTERM: the runner drains (no open tasks here), Node-RED stops its flows; both exit 0. */
  async stop(): Promise<void> {
    const { code } = await terminate(this.child);
    this.exitCode = code;
  }
}
