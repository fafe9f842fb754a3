// Where a server's CPU goes under the bench load: runs one server (as the bench does) with the V8
// CPU profiler on, keeps exactly the measured window, and prints self and total time by function
// and by package, with this pack's functions mapped back to their .ts lines. The profile is the
// main thread's; each thread's CPU (the garbage collector's helpers, a worker) is read from /proc.
//
//   npm run build && node dist/bench/profile.js [aiware|httpin|bare|embedded|runner|aiwareRecycle|runnerRecycle|runnerUntimed|runnerTraced|runnerSampled] [chunk bytes, default 1024] [--out file.cpuprofile]
//
// The bench children (bare, embedded) start the profiler for the window themselves
// (servers/probe.ts). The runner and the stock Node-REDs speak no bench protocol: they run under
// `node --cpu-prof` (Node 20 refuses it in NODE_OPTIONS, so it goes before the script), which
// profiles the whole process and writes the file when it exits after SIGTERM; the samples outside
// the window are dropped here (V8's profile timestamps and process.hrtime() read the same
// monotonic clock). The pack a stock Node-RED installed maps back to .ts lines like the repository's.
//
// Env: BENCH_SECONDS (default 5); BENCH_CHILD_FLAGS (Node flags for every server but the runner). The profile itself (open it in Chrome DevTools) is kept only with --out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { chunkBody, fixed, installCleanup, load, probe, runMain, sizeLabel, table, tempDir } from './lib';
import { cpuByThread, cpuByThreadSince } from './procstat';
import { SERVERS, etFields, startServer } from './setup';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const PACKAGE_ROOT = PACK_DIR;
/** Where a stock Node-RED has the pack: installed from its tarball into the user directory (./stock-nodered). */
const INSTALLED_PACK = path.join(path.sep, 'node_modules', '@aiware-nodered', 'node-red-aiware', 'dist', path.sep);

/**
 * The root `file` belongs to when it is compiled code of the repository's own packages (dist/,
 * runner/dist/, simulator/dist/) or of the pack as a stock Node-RED installed it; else undefined.
 */
function ourRoot(file: string): string | undefined {
  const installed = file.indexOf(INSTALLED_PACK);
  if (installed !== -1) return file.slice(0, installed + INSTALLED_PACK.length - '/dist/'.length);
  const rel = path.relative(PACKAGE_ROOT, file);
  return !rel.startsWith('..') && !rel.includes('node_modules') && /(^|\/)dist\//.test(rel) ? PACKAGE_ROOT : undefined;
}
const isOurs = (file: string): boolean => ourRoot(file) !== undefined;

// ---------------------------------------------------------------------------------------------
// locations: dist/*.js back to the .ts source through the compiler's source maps

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload);
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  return map;
}

function fileOf(url: string): string | undefined {
  if (url.startsWith('file://')) return fileURLToPath(url);
  return url.startsWith('/') ? url : undefined;
}

/** `core/body/reader.ts:212` for the pack's code, `node_modules/busboy/lib/...:40`, `node:events:517`; lines 1-based. */
function location(url: string, line0: number, column0: number): string {
  if (url === '') return '';
  const file = fileOf(url);
  if (file === undefined) return `${url}:${line0 + 1}`;
  const root = ourRoot(file);
  if (root !== undefined) {
    const entry: { originalSource?: string; originalLine?: number } | undefined = sourceMapFor(file)?.findEntry(line0, column0);
    if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
      const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(file), entry.originalSource);
      return `${path.relative(root, source)}:${entry.originalLine + 1}`;
    }
  }
  return `${path.relative(PACKAGE_ROOT, file)}:${line0 + 1}`;
}

/** Who the code belongs to: the pack's own file, an npm package, a Node core module, or V8. */
function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : 'V8 builtins / native';
  if (url.startsWith('node:')) {
    const parts = url.slice('node:'.length).split('/');
    return `node:${parts[0] === 'internal' ? parts.slice(1, 2).join('/') : parts[0]}`;
  }
  const file = fileOf(url) ?? url;
  const rel = path.relative(PACKAGE_ROOT, file);
  if (isOurs(file)) return `pack: ${location(url, frame.lineNumber, frame.columnNumber).replace(/:\d+$/, '')}`;
  const nm = rel.lastIndexOf(`node_modules${path.sep}`);
  if (nm !== -1) {
    const parts = rel.slice(nm + 'node_modules/'.length).split(path.sep);
    return `npm: ${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  return rel;
}

function label(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  const at = location(frame.url, frame.lineNumber, frame.columnNumber);
  return at ? `${name} ${at}` : name;
}

// ---------------------------------------------------------------------------------------------
// summary

interface Summary {
  sampledMs: number;
  busyMs: number;
  self: Map<string, number>;
  total: Map<string, number>;
  categories: Map<string, number>;
  /** Hot source lines inside the pack's own functions (self time), `core/body/reader.ts:212`. */
  packLines: Map<string, number>;
  /** Self time of V8 builtins and native code (writev, writeString…) by the nearest JS function calling them. */
  nativeCallers: Map<string, number>;
}

function add<K>(map: Map<K, number>, key: K, value: number): void {
  map.set(key, (map.get(key) ?? 0) + value);
}

/** The measured window, in µs of the monotonic clock (process.hrtime, V8 profile timestamps). */
interface Window {
  startUs: number;
  endUs: number;
}

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function summarise(profile: CpuProfile, window: Window): Summary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // A sample lasts until the next one (the Chrome DevTools convention).
  const durations = new Map<number, number>();
  let t = profile.startTime;
  const times = profile.timeDeltas.map((delta) => (t += delta));
  profile.samples.forEach((id, i) => {
    if (times[i] < window.startUs || times[i] > window.endUs) return;
    const until = Math.min(i + 1 < times.length ? times[i + 1] : profile.endTime, window.endUs);
    add(durations, id, Math.max(0, until - times[i]));
  });

  const summary: Summary = { sampledMs: 0, busyMs: 0, self: new Map(), total: new Map(), categories: new Map(), packLines: new Map(), nativeCallers: new Map() };
  for (const [id, us] of durations) {
    const node = byId.get(id)!;
    const ms = us / 1000;
    summary.sampledMs += ms;
    if (node.callFrame.functionName === '(idle)') continue;
    summary.busyMs += ms;
    add(summary.self, label(node.callFrame), ms);
    add(summary.categories, category(node.callFrame), ms);
    if (node.callFrame.url === '' && !node.callFrame.functionName.startsWith('(')) {
      let caller = parent.get(id);
      while (caller !== undefined && byId.get(caller)!.callFrame.url === '') caller = parent.get(caller);
      add(summary.nativeCallers, `${node.callFrame.functionName} ← ${caller === undefined ? '?' : label(byId.get(caller)!.callFrame)}`, ms);
    }
    // Total time: every distinct function on the stack, once (recursion must not count twice).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = label(byId.get(at)!.callFrame);
      if (!seen.has(key)) {
        seen.add(key);
        add(summary.total, key, ms);
      }
    }
  }
  // positionTicks say which lines of a function the samples landed on (over the whole profile:
  // for the runner that includes start-up, so lines are apportioned, not exact, there).
  for (const node of profile.nodes) {
    const file = fileOf(node.callFrame.url);
    if (!file || !isOurs(file) || file.includes(`${path.sep}bench${path.sep}`)) continue;
    const ticks = node.positionTicks ?? [];
    const all = ticks.reduce((n, tick) => n + tick.ticks, 0);
    const nodeMs = (durations.get(node.id) ?? 0) / 1000;
    if (all === 0 || nodeMs === 0) continue;
    for (const tick of ticks) add(summary.packLines, `${location(node.callFrame.url, tick.line - 1, 0)} (${node.callFrame.functionName || 'anonymous'})`, (nodeMs * tick.ticks) / all);
  }
  return summary;
}

/** The `n` biggest entries: ms, % of busy time, µs per answered request (to compare servers), key. */
function top(map: Map<string, number>, n: number, busyMs: number, requests: number, filter: (key: string) => boolean = () => true): string[][] {
  return [...map.entries()]
    .filter(([key]) => filter(key))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, ms]) => [fixed(ms, 1), `${fixed((100 * ms) / busyMs, 1)}%`, fixed((1000 * ms) / requests, 1), key]);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const out = outAt === -1 ? undefined : args.splice(outAt, 2)[1];
  const kind = args[0] ?? 'aiware';
  const size = Number(args[1] ?? 1024);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const spec = SERVERS.find((s) => s.key === kind);
  if (!spec || !Number.isSafeInteger(size) || size < 0 || !(seconds > 0)) {
    throw new Error(
      'usage: node dist/bench/profile.js [aiware|httpin|bare|embedded|runner|aiwareRecycle|runnerRecycle|runnerUntimed|runnerTraced|runnerSampled] [chunk bytes] [--out file.cpuprofile]',
    );
  }
  installCleanup((seconds + 120) * 1000);
  const root = tempDir('aiware-profile-');
  const file = path.join(root, `${kind}.cpuprofile`);
  const { body, contentType } = chunkBody(etFields(root), size);

  const server = await startServer(spec, root, { cpuProfile: file });
  let window: Window;
  let requests: number;
  try {
    const url = `${server.url}/process`;
    const answer = await probe(url, body, contentType);
    if (answer.status !== 200) throw new Error(`${kind} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    await load({ url, body, contentType, connections: 10, seconds: 2 }); // warm-up (JIT), outside the window
    let startUs = 0;
    const threadsBefore = cpuByThread(server.pid);
    // No forced gc() first, as in the bench's throughput runs (bench/protocol.ts says why).
    const { value, stats } = await server.measure(
      () => {
        startUs = nowUs();
        return load({ url, body, contentType, connections: 10, seconds });
      },
      { gc: false },
    );
    window = { startUs, endUs: nowUs() };
    requests = value.completed;
    const cpuUs = stats.userUs + stats.systemUs;
    console.log(`# CPU profile: ${spec.label}, ${sizeLabel(size)} chunk, ${seconds} s, 10 connections`);
    console.log('');
    console.log(
      `${fixed(value.rps, 0)} req/s under the profiler, ${value.non2xx + value.errors} errors, ${fixed(cpuUs / value.completed, 0)} µs CPU per request (profiler overhead included; ${spec.reports === 'ipc' ? 'process.cpuUsage() in the child' : '/proc/<pid>/stat'})`,
    );
    // The profile is the main thread's; the garbage collector's helper threads and any worker are not in it.
    const threads = [...cpuByThreadSince(server.pid, threadsBefore).byKind].map(([kind, us]) => [kind, us / value.completed] as const).filter(([, us]) => us >= 0.5);
    console.log(`by thread (/proc/<pid>/task): ${threads.map(([kind, us]) => `${kind} ${fixed(us, 0)} µs`).join(', ')} per request`);
  } finally {
    // The runner writes its profile as it exits.
    await server.stop();
  }
  const summary = summarise(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile, window);
  console.log(
    `sampled ${fixed(summary.sampledMs, 0)} ms, busy (not idle) ${fixed(summary.busyMs, 0)} ms (${fixed((1000 * summary.busyMs) / requests, 0)} µs per request); percentages are of busy time`,
  );
  if (out) fs.copyFileSync(file, out);

  const header = ['ms', '%', 'µs/req'];
  console.log('\n## Self time by package / file\n');
  console.log(table([...header, 'where'], top(summary.categories, 30, summary.busyMs, requests)));
  console.log('\n## Top functions by self time\n');
  console.log(table([...header, 'function'], top(summary.self, 40, summary.busyMs, requests)));
  console.log('\n## Builtins and native code by their JS caller (self time)\n');
  console.log(table([...header, 'native ← caller'], top(summary.nativeCallers, 20, summary.busyMs, requests)));
  const isPack = (key: string) => / (core|nodes|runner)\/[\w/-]+\.ts:\d+$/.test(key);
  console.log("\n## The pack's functions by total time (self + what they call)\n");
  console.log(table([...header, 'function'], top(summary.total, 30, summary.busyMs, requests, isPack)));
  console.log('\n## Hot lines in the pack (self time)\n');
  console.log(table([...header, 'line'], top(summary.packLines, 25, summary.busyMs, requests)));
  if (out) console.log(`\nprofile written to ${out} (whole profile; the measured window is ${window.startUs}–${window.endUs} µs of its clock)`);
}

runMain('profile', main);
