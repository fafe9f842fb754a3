// Two of the bench's servers side by side, for a small difference between them (what a setting
// costs). A pair of fresh processes, one of each, run at once, idle in turn, and take the same load
// in short alternating slices, so the machine's slow drifts fall on both alike; their ratios (req/s,
// CPU a request of all threads and of the main one, /proc/<pid>/task) are averaged. That is done
// again with fresh processes `instances` times, because two processes of one server differ by
// themselves (layout, JIT): the mean over instances is printed with its 95 % interval, so a run
// says whether it resolved the difference.
//
// Two processes of one server differ by ~±8 % by themselves, and most of that is where things land
// in memory: so on Linux (where setarch and taskset are) the run re-executes itself with address
// randomisation off (`setarch -R`, which its children inherit), gives both processes of a pair the
// same V8 seeds (`--hash-seed`, `--random-seed`: the instance's number, so instances still differ
// from each other), and keeps the load on CPU 0 and both servers, all their threads, on CPU 1. In an
// A/A run (`pair.js runner runner 1024 6 4`) that narrowed the instances from 0.93–1.09× to
// 0.96–1.02×. BENCH_PAIR_STEADY=0 runs without it.
//
// The servers run on the Node that runs this (the runner needs 22.9+; `npm exec -- node …` takes the
// devDependency's, as `npm run bench` does):
//
//   npm run build && npm exec -- node dist/bench/pair.js [--env NAME=value ...] <server> <baseline server> [chunk bytes, default 1024] [instances, default 8] [pairs an instance, default 6] [seconds a slice, default 1.5]
//
// e.g. `node dist/bench/pair.js runner runnerUntimed 1024` for what per-node timing costs. `--env` gives the
// first server (a runner) more environment: `pair.js --env RUNNER_RECYCLE_CHUNKS=1 runner runner`.
// `npm run bench`'s costs part (./costs) runs its comparisons with `comparePair`.
import { execFileSync, spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { chunkBody, fixed, installCleanup, load, mean, probe, runMain, sizeLabel, table, tempDir, type BenchServer, type ChunkBody } from './lib';
import { cpuByThread, cpuByThreadSince } from './procstat';
import { SERVERS, etFields, startServer, type ServerSpec } from './setup';

interface Slice {
  rps: number;
  /** CPU a request, µs: all threads, the main thread. */
  cpuUs: number;
  mainUs: number;
}

/** One slice of load on `server`. */
async function slice(server: BenchServer, body: ChunkBody, seconds: number): Promise<Slice> {
  const before = cpuByThread(server.pid);
  const result = await load({ url: `${server.url}/process`, body: body.body, contentType: body.contentType, connections: 10, seconds });
  const used = cpuByThreadSince(server.pid, before);
  return { rps: result.rps, cpuUs: used.totalUs / result.completed, mainUs: (used.byKind.get('main') ?? 0) / result.completed };
}

/** Student's t for a two-sided 95 % interval, by degrees of freedom (1–30; beyond, 1.96 is near enough). */
const T95 = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04];

export interface Summary {
  mean: number;
  /** The 95 % interval of the mean. */
  low: number;
  high: number;
  min: number;
  max: number;
}

/** The mean of `values`, its 95 % interval, and the lowest and highest. */
export function summarize(values: number[]): Summary {
  const n = values.length;
  const m = mean(values);
  const sd = Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (n - 1));
  const half = ((T95[n - 2] ?? 1.96) * sd) / Math.sqrt(n);
  return { mean: m, low: m - half, high: m + half, min: Math.min(...values), max: Math.max(...values) };
}

/** A summary as the tables show it: mean, interval, lowest–highest. */
export function summaryCells(s: Summary): string[] {
  return [`${fixed(s.mean, 3)}×`, `${fixed(s.low, 3)}–${fixed(s.high, 3)}`, `${fixed(s.min, 2)}–${fixed(s.max, 2)}`];
}

let steadyRun: boolean | undefined;
/** Whether runs hold things steady (see the top): on Linux with setarch and taskset, unless BENCH_PAIR_STEADY=0. */
export function steady(): boolean {
  return (steadyRun ??=
    process.platform === 'linux' && process.env.BENCH_PAIR_STEADY !== '0' && ['setarch', 'taskset'].every((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0));
}

/** `pid` and all its threads on CPU `cpus` (taskset's list: `1`, `0-1`). */
export function pinTo(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/**
 * When runs hold things steady and this process was not started under `setarch -R`: runs this
 * script again under it (address randomisation off, for it and its children) and gives its exit
 * status; undefined when this process is the one to do the work.
 */
export function rerunUnderSetarch(): number | undefined {
  if (!steady() || process.env.BENCH_PAIR_SETARCH === '1') return undefined;
  const run = spawnSync('setarch', [os.machine(), '-R', process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, BENCH_PAIR_SETARCH: '1' } });
  return run.status ?? 1;
}

export interface PairOptions {
  /** The server measured, and its baseline. */
  server: ServerSpec;
  baseline: ServerSpec;
  root: string;
  body: ChunkBody;
  instances: number;
  /** Pairs of slices an instance. */
  pairs: number;
  /** Seconds a slice. */
  seconds: number;
  /** More environment for `server` (a runner). */
  env?: Record<string, string>;
  /** Told after each instance. */
  progress?: (line: string) => void;
}

/** Each instance's mean ratio of `server` to `baseline`: req/s, CPU a request of all threads and of the main one. */
export interface PairRatios {
  rps: number[];
  cpu: number[];
  main: number[];
}

/** Runs `instances` pairs of fresh processes (see the top); pins them and this process while it does when runs hold things steady. */
export async function comparePair(options: PairOptions): Promise<PairRatios> {
  const { body, instances, pairs, seconds } = options;
  const specs = [options.server, options.baseline];
  const pin = steady() && os.availableParallelism() >= 2;
  if (pin) pinTo(process.pid, '0');
  const ratios: PairRatios = { rps: [], cpu: [], main: [] };
  try {
    for (let instance = 0; instance < instances; instance++) {
      const servers: BenchServer[] = [];
      try {
        // The same seeds for both processes of a pair, other seeds for the next pair.
        const nodeFlags = steady() ? [`--hash-seed=${instance + 1}`, `--random-seed=${instance + 1}`] : [];
        // Which one starts first alternates too.
        for (const k of instance % 2 === 0 ? [0, 1] : [1, 0]) servers[k] = await startServer(specs[k], options.root, k === 0 ? { env: options.env, nodeFlags } : { nodeFlags });
        if (pin) for (const server of servers) pinTo(server.pid, '1');
        for (const server of servers) {
          const answer = await probe(`${server.url}/process`, body.body, body.contentType);
          if (answer.status !== 200) throw new Error(`${server.name} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
          await load({ url: `${server.url}/process`, body: body.body, contentType: body.contentType, connections: 10, seconds: 3 }); // warm-up (JIT)
        }
        const mine: PairRatios = { rps: [], cpu: [], main: [] };
        for (let i = 0; i < pairs; i++) {
          const slices: Slice[] = [];
          for (const k of (instance + i) % 2 === 0 ? [0, 1] : [1, 0]) slices[k] = await slice(servers[k], body, seconds);
          mine.rps.push(slices[0].rps / slices[1].rps);
          mine.cpu.push(slices[0].cpuUs / slices[1].cpuUs);
          mine.main.push(slices[0].mainUs / slices[1].mainUs);
        }
        for (const key of ['rps', 'cpu', 'main'] as const) ratios[key].push(mean(mine[key]));
        options.progress?.(`instance ${instance + 1}/${instances}: req/s ${fixed(ratios.rps.at(-1)!, 3)}×, CPU a request ${fixed(ratios.cpu.at(-1)!, 3)}×`);
      } finally {
        for (const server of servers) await server?.stop();
      }
    }
  } finally {
    if (pin) pinTo(process.pid, `0-${os.availableParallelism() - 1}`);
  }
  return ratios;
}

/** Seconds `comparePair` takes at most, for a run's time limit: starts, warm-ups and slices. */
export function pairSeconds(instances: number, pairs: number, seconds: number): number {
  return instances * (pairs * 2 * (seconds + 1) + 60);
}

async function main(): Promise<void> {
  const rerun = rerunUnderSetarch();
  if (rerun !== undefined) {
    process.exitCode = rerun;
    return;
  }
  // `--env K=V` (repeatable): more environment for the first server, a runner (what a setting costs against the same server without it).
  const args = process.argv.slice(2);
  const extraEnv: Record<string, string> = {};
  for (let at = args.indexOf('--env'); at !== -1; at = args.indexOf('--env')) {
    const [, setting] = args.splice(at, 2);
    const eq = setting?.indexOf('=') ?? -1;
    if (eq < 1) throw new Error('--env takes NAME=value');
    extraEnv[setting.slice(0, eq)] = setting.slice(eq + 1);
  }
  const [a, b, sizeText = '1024', instancesText = '8', pairsText = '6', secondsText = '1.5'] = args;
  const specs = [a, b].map((key) => SERVERS.find((s) => s.key === key));
  const [size, instances, pairs, seconds] = [sizeText, instancesText, pairsText, secondsText].map(Number);
  if (specs.some((spec) => !spec) || !Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(instances) || instances < 3 || !Number.isSafeInteger(pairs) || pairs < 1 || !(seconds > 0)) {
    throw new Error(
      `usage: node dist/bench/pair.js [--env NAME=value ...] <server> <baseline server> [chunk bytes] [instances ≥ 3] [pairs an instance] [seconds a slice]; servers: ${SERVERS.map((s) => s.key).join(', ')}`,
    );
  }
  installCleanup((pairSeconds(instances, pairs, seconds) + 60) * 1000);
  const root = tempDir('aiware-pair-');
  const ratios = await comparePair({
    server: specs[0]!,
    baseline: specs[1]!,
    root,
    body: chunkBody(etFields(root), size),
    instances,
    pairs,
    seconds,
    env: extraEnv,
    progress: (line) => console.error(line),
  });
  const withEnv =
    Object.keys(extraEnv).length > 0
      ? ` with ${Object.entries(extraEnv)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`
      : '';
  console.log(
    `# ${specs[0]!.label}${withEnv} ÷ ${specs[1]!.label}, ${sizeLabel(size)} chunk: ${instances} pairs of fresh processes${steady() ? ' (held steady)' : ''}, each loaded in ${pairs} pairs of ${seconds} s slices, 10 connections, Node ${process.version}\n`,
  );
  console.log(
    table(
      ['ratio', 'mean', '95 % interval of the mean', 'instances, lowest–highest'],
      [
        ['req/s', ...summaryCells(summarize(ratios.rps))],
        ['CPU a request, all threads', ...summaryCells(summarize(ratios.cpu))],
        ['CPU a request, main thread', ...summaryCells(summarize(ratios.main))],
      ],
    ),
  );
}

if (require.main === module) runMain('pair', main);
