// Helpers for the bench parent: the constants every part shares, child processes (server children
// over IPC, stops, output tails), autocannon runs, request bodies and streamed uploads, loopback
// servers, and markdown tables. Every child and temp path is tracked so one `cleanup()` ends them all.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { encodeMultipart, multipartStream } from '@aiware-nodered/aiware-sim';
import { RUNNER_NODE_FLAGS } from '@aiware-nodered/node-red-runner';
import { RSS_SAMPLE_MS, type BenchCommand, type BenchReport, type WindowStats } from './protocol';

// autocannon ships no types; this is the part of its API the bench uses.
interface AutocannonResult {
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
  '2xx': number;
}
interface AutocannonInstance extends NodeJS.EventEmitter {
  stop(): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

// ---------------------------------------------------------------------------------------------
// constants and the environment

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Binary, as a media chunk is: process-in hands it to the flow as a Buffer, not decoded text. */
export const CHUNK_MIME = 'audio/wav';
/** The file name of the `chunk` part in every request the bench sends. */
const CHUNK_FILENAME = 'chunk.wav';

/** The load average as the bench process starts, for the reports: anything else running on the machine skews every number. */
export const LOAD_AT_START = `${os
  .loadavg()
  .map((n) => n.toFixed(2))
  .join(' / ')} (1 / 5 / 15 min)`;

/** A positive number from the environment variable `name`, else `fallback`; anything else stops the bench. */
export function envNumber(name: string, fallback: number, unit: string): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of ${unit}, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * BENCH_CHILD_FLAGS: Node flags for every server but the runner (bare, the embedded Node-RED, and
 * the stock Node-REDs before red.js), e.g. the runner's own to see what they do for a stock
 * Node-RED; a run with them leaves bench/RESULTS.md alone.
 */
export const CHILD_FLAGS: readonly string[] = (process.env.BENCH_CHILD_FLAGS ?? '').split(/\s+/).filter(Boolean);

/** The IPC children's flags: gc() before a measurement window that asks for it, so "RSS before" is a settled heap. */
export const IPC_CHILD_FLAGS: readonly string[] = ['--expose-gc', ...CHILD_FLAGS];

/** The runner's command line as the image has it (RUNNER_NODE_FLAGS), for the reports. */
export const RUNNER_COMMAND = `node ${RUNNER_NODE_FLAGS.join(' ')} runner/main.js`;

/** V8's CPU profiler for a whole process, written into `dir` when it exits (`name` and `intervalUs` default to V8's). */
export function cpuProfFlags(dir: string, name?: string, intervalUs?: number): string[] {
  return ['--cpu-prof', '--cpu-prof-dir', dir, ...(name ? ['--cpu-prof-name', name] : []), ...(intervalUs ? ['--cpu-prof-interval', String(intervalUs)] : [])];
}

/** How a report names the command that made it: the knobs set in `envNames`, then `npm run <script>` or `node <script file>`. */
export function commandLine(envNames: string[], script: string): string {
  const knobs = envNames
    .filter((name) => process.env[name])
    .map((name) => `${name}=${process.env[name]} `)
    .join('');
  return knobs + (process.env.npm_lifecycle_event === script ? `npm run ${script}` : `node ${path.relative(process.cwd(), process.argv[1])}`);
}

// ---------------------------------------------------------------------------------------------
// cleanup: children and temp paths

const children = new Set<ChildProcess>();
const tempPaths = new Set<string>();

/** A temp directory removed by `cleanup()` whatever happens. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempPaths.add(dir);
  return dir;
}

/** Has `cleanup()` kill `child` if it is still running then; `untrack` once it has exited. */
export function track(child: ChildProcess): void {
  children.add(child);
}

export function untrack(child: ChildProcess): void {
  children.delete(child);
}

/** Kills every child still running and removes every temp path. Synchronous: safe in 'exit'. */
export function cleanup(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempPaths) fs.rmSync(dir, { recursive: true, force: true });
  tempPaths.clear();
}

/**
 * Makes sure nothing outlives the bench: cleanup on exit and on Ctrl-C, and a watchdog that ends
 * a run stuck longer than `limitMs` (autocannon and the uploads have their own timeouts too).
 */
export function installCleanup(limitMs: number): void {
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      cleanup();
      process.exit(130);
    });
  }
  setTimeout(() => {
    console.error(`bench: still running after ${Math.round(limitMs / 1000)} s; stopping everything`);
    cleanup();
    process.exit(2);
  }, limitMs).unref();
}

/** Runs a bench script's `main`, says `<name> failed:` and exits 1 on an error, and cleans up either way. */
export function runMain(name: string, main: () => Promise<void>): void {
  main()
    .catch((err: unknown) => {
      console.error(`${name} failed:`, err);
      process.exitCode = 1;
    })
    .finally(cleanup);
}

// ---------------------------------------------------------------------------------------------
// child processes: output, exits, stops

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
function exited(child: ChildProcess): Promise<number | string | null> {
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

/** SIGKILL, for a child that failed to start: nothing of it is worth waiting for. */
export function kill(child: ChildProcess): void {
  child.kill('SIGKILL');
  untrack(child);
}

// ---------------------------------------------------------------------------------------------
// server children

/**
 * A server under test in its own process. `measure` runs work inside a measurement window and
 * gives the window's CPU and RSS: over IPC from the child itself (ServerChild), or read from
 * /proc (RunnerChild in ./runner-child: the production entry point speaks no bench protocol).
 */
export interface BenchServer {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** `gc: false`: no forced garbage collection before the window (only IPC children do one). */
  measure<T>(work: () => Promise<T>, options?: { gc?: boolean }): Promise<{ value: T; stats: WindowStats }>;
  /** The window's RSS peak so far, without closing it. */
  peek(): Promise<{ rssBefore: number; rssPeak: number }>;
  stop(): Promise<void>;
}

/** A server in its own process, so its CPU time and RSS are its own; it reports them over IPC. */
export class ServerChild implements BenchServer {
  /** Commands go one at a time: each waits for the child's next report. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  /** Forks `script` (compiled, in dist/bench/servers) and waits for it to report ready. */
  static async start(name: string, script: string, args: string[] = [], env: Record<string, string> = {}): Promise<ServerChild> {
    const child = fork(path.join(__dirname, 'servers', script), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...IPC_CHILD_FLAGS],
      env: { ...process.env, ...env },
    });
    track(child);
    try {
      const ready = await nextReport(child, 60_000);
      if (ready.type !== 'ready') throw new Error(`${name} did not start: ${ready.type === 'failed' ? ready.error : ready.type}`);
      return new ServerChild(name, child, ready.url);
    } catch (err) {
      kill(child);
      throw err;
    }
  }

  /**
   * Runs `work` inside a measurement window and returns its value with the child's stats.
   * `gc: false` skips the forced collection that otherwise opens the window (see BenchCommand).
   */
  async measure<T>(work: () => Promise<T>, options: { gc?: boolean } = {}): Promise<{ value: T; stats: WindowStats }> {
    await this.command({ cmd: 'start', gc: options.gc }, 'started');
    const value = await work();
    const stats = await this.command({ cmd: 'stop' }, 'measured');
    return { value, stats: stats as WindowStats };
  }

  /** The window's RSS peak so far, without closing it. */
  async peek(): Promise<{ rssBefore: number; rssPeak: number }> {
    const report = await this.command({ cmd: 'peek' }, 'peeked');
    return report as { rssBefore: number; rssPeak: number };
  }

  /** Asks the child to stop its server and exit; kills it when that takes more than 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) {
      untrack(child);
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.send({ cmd: 'exit' } satisfies BenchCommand);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    untrack(child);
  }

  private command(command: BenchCommand, expect: BenchReport['type']): Promise<BenchReport> {
    const run = async (): Promise<BenchReport> => {
      const reply = nextReport(this.child, 30_000);
      this.child.send(command);
      const report = await reply;
      if (report.type !== expect) throw new Error(`${this.name}: expected ${expect}, got ${JSON.stringify(report)}`);
      return report;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** The child's next IPC report; rejects if it exits or stays silent for `timeoutMs`. */
function nextReport(child: ChildProcess, timeoutMs: number): Promise<BenchReport> {
  return new Promise<BenchReport>((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (report: BenchReport): void => {
      finish();
      resolve(report);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      finish();
      reject(new Error(`server child exited (${signal ?? code}) before answering`));
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`server child did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

// ---------------------------------------------------------------------------------------------
// load: autocannon

export interface LoadOptions {
  url: string;
  body: Buffer;
  contentType: string;
  seconds: number;
  connections: number;
}

export interface LoadResult {
  /** 2xx answers per second: errors never count as throughput. */
  rps: number;
  /** Latency percentiles of the 2xx answers, in ms (our own, finer than autocannon's whole ms). */
  p50: number;
  p99: number;
  /** Every answered request, 2xx or not: the denominator of CPU per request. */
  completed: number;
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Status codes seen, e.g. { "200": 1234 }. */
  statuses: Record<string, number>;
  seconds: number;
  /** Every 2xx latency, ms, sorted: runs are merged through them (`mergeLoads`). */
  latencies: Float64Array;
}

/** Bounded: 5 minutes of 10 connections at well over 10k req/s would not fill it. */
const MAX_LATENCIES = 4_000_000;

/** One autocannon run: `connections` keep-alive connections posting the same body for `seconds`. */
export function load(opts: LoadOptions): Promise<LoadResult> {
  return new Promise<LoadResult>((resolve, reject) => {
    const latencies = new Float64Array(MAX_LATENCIES);
    let count = 0;
    const instance = autocannon(
      {
        url: opts.url,
        method: 'POST',
        headers: { 'content-type': opts.contentType },
        body: opts.body,
        connections: opts.connections,
        duration: opts.seconds,
        timeout: 30,
      },
      (err, result) => {
        if (err) return reject(err);
        // A copy of its own: the 32 MB buffer goes as soon as this run ends.
        const sorted = latencies.slice(0, count).sort();
        const statuses: Record<string, number> = {};
        for (const [code, { count: n }] of Object.entries(result.statusCodeStats)) statuses[code] = n;
        resolve({
          rps: result['2xx'] / result.duration,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          completed: result['2xx'] + result.non2xx,
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          statuses,
          seconds: result.duration,
          latencies: sorted,
        });
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300 && count < MAX_LATENCIES) latencies[count++] = ms;
    });
  });
}

/** Several runs against one server as one: counts added, percentiles of all their latencies. */
export function mergeLoads(runs: LoadResult[]): LoadResult {
  const sum = (pick: (r: LoadResult) => number) => runs.reduce((n, r) => n + pick(r), 0);
  const latencies = new Float64Array(sum((r) => r.latencies.length));
  let at = 0;
  for (const run of runs) {
    latencies.set(run.latencies, at);
    at += run.latencies.length;
  }
  latencies.sort();
  const statuses: Record<string, number> = {};
  for (const run of runs) for (const [code, n] of Object.entries(run.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const seconds = sum((r) => r.seconds);
  return {
    rps: sum((r) => r.ok) / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    completed: sum((r) => r.completed),
    ok: sum((r) => r.ok),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    statuses,
    seconds,
    latencies,
  };
}

/** The `q` quantile (0..1) of values sorted ascending; NaN for none. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The mean of `values`; NaN for none. */
export function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** The middle of `values` (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Call times in ms, summed up for a latency table row. */
export interface LatencyRow {
  label: string;
  calls: number;
  p50: number;
  p99: number;
  mean: number;
}

export function latencyRow(label: string, values: number[]): LatencyRow {
  const sorted = [...values].sort((a, b) => a - b);
  return { label, calls: values.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), mean: mean(values) };
}

/** One request, to check a server answers this body as expected before loading it. */
export async function probe(url: string, body: Buffer, contentType: string): Promise<{ status: number; text: string }> {
  // A Buffer is a Uint8Array; only @types/node's Buffer generics and the DOM BodyInit disagree.
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: body as unknown as Uint8Array<ArrayBuffer>, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, text: await res.text() };
}

// ---------------------------------------------------------------------------------------------
// request bodies: the ET fields and a `chunk` part; big ones streamed from a sparse file, never in
// the client's memory

/** A whole /process body in memory, for autocannon and the checks. */
export interface ChunkBody {
  size: number;
  body: Buffer;
  contentType: string;
}

/** `fields` and a chunk of `size` random bytes as multipart/form-data (simulator/multipart encodeMultipart). */
export function chunkBody(fields: Record<string, string>, size: number): ChunkBody {
  const { body, contentType } = encodeMultipart(fields, { data: randomBytes(size), filename: CHUNK_FILENAME, mimeType: CHUNK_MIME });
  return { size, body, contentType };
}

/** A sparse file of `size` zero bytes: takes no disk until read, and reads as fast as memory. */
export function sparseFile(dir: string, name: string, size: number): string {
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

export interface UploadResult {
  status: number;
  text: string;
  seconds: number;
  /** The bench's own (client) RSS growth while sending: shows the client does not buffer either. */
  clientRssGrowth: number;
}

/**
 * POSTs `fields` + the file as the `chunk` part, streamed with a Content-Length, as ET does.
 * `onProgress` hears the bytes sent so far, after each piece of the body.
 */
export async function upload(url: string, fields: Record<string, string>, file: string, timeoutMs: number, onProgress?: (sent: number, total: number) => void): Promise<UploadResult> {
  const body = multipartStream(fields, { path: file, filename: CHUNK_FILENAME, mimeType: CHUNK_MIME });
  if (onProgress) {
    let sent = 0;
    // A second 'data' listener beside the pipe only counts; the pipe still applies backpressure.
    body.stream.on('data', (data: Buffer) => onProgress((sent += data.length), body.length));
  }
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, RSS_SAMPLE_MS);
  const started = process.hrtime.bigint();
  try {
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': body.contentType, 'content-length': String(body.length) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (data: string) => {
          if (text.length < 4096) text += data;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    // A server that answers before reading everything ends the pipeline early: the answer counts.
    const sent = pipeline(body.stream, req).catch(() => undefined);
    const { status, text } = await answered;
    await sent;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { status, text, seconds, clientRssGrowth: rssPeak - rssBefore };
  } finally {
    clearInterval(sampler);
  }
}

// ---------------------------------------------------------------------------------------------
// loopback servers in the bench process (baselines, recorders)

/** Listens on a free loopback port; resolves with the server's base URL. */
export async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes `server` and every connection it still has. */
export function close(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------
// formatting

/** The first lines of a report: when, and on which Node.js and system. */
export function reportHead(): string[] {
  return [`- Date: ${new Date().toISOString()}`, `- Node.js ${process.version} on ${os.platform()} ${os.release()} (${os.arch()})`];
}

export function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function sizeLabel(bytes: number): string {
  if (bytes >= GiB) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${bytes / MiB} MiB`;
  return `${bytes / KiB} KiB`;
}

/** A markdown table; numeric-looking columns are right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const right = header.map((_, i) => rows.length > 0 && rows.every((row) => /^[-+]?[\d.,]+[×%]?$|^n\/a$/.test(row[i] ?? '')));
  const widths = header.map((h, i) => Math.max(h.length, 3, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
