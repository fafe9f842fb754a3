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
//   npm run build && node dist/bench/pair.js [--env NAME=value ...] <server> <baseline server> [chunk bytes, default 1024] [instances, default 8] [pairs an instance, default 6] [seconds a slice, default 1.5]
//
// e.g. `node dist/bench/pair.js runner runnerUntimed 1024` for what per-node timing costs. `--env` gives the
// first server (a runner) more environment: `pair.js --env RUNNER_RECYCLE_CHUNKS=1 runner runner`.
import { execFileSync, spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { chunkBody, fixed, installCleanup, load, mean, probe, runMain, sizeLabel, table, tempDir, type BenchServer } from './lib';
import { cpuByThread, cpuByThreadSince } from './procstat';
import { SERVERS, etFields, startServer } from './setup';

interface Slice {
  rps: number;
  /** CPU a request, µs: all threads, the main thread. */
  cpuUs: number;
  mainUs: number;
}

/** One slice of load on `server`. */
async function slice(server: BenchServer, body: Buffer, contentType: string, seconds: number): Promise<Slice> {
  const before = cpuByThread(server.pid);
  const result = await load({ url: `${server.url}/process`, body, contentType, connections: 10, seconds });
  const used = cpuByThreadSince(server.pid, before);
  return { rps: result.rps, cpuUs: used.totalUs / result.completed, mainUs: (used.byKind.get('main') ?? 0) / result.completed };
}

/** Student's t for a two-sided 95 % interval, by degrees of freedom (1–30; beyond, 1.96 is near enough). */
const T95 = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04];

/** The mean of `values`, its 95 % interval, and the lowest and highest. */
function summary(values: number[]): string[] {
  const n = values.length;
  const m = mean(values);
  const sd = Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (n - 1));
  const half = ((T95[n - 2] ?? 1.96) * sd) / Math.sqrt(n);
  return [`${fixed(m, 3)}×`, `${fixed(m - half, 3)}–${fixed(m + half, 3)}`, `${fixed(Math.min(...values), 2)}–${fixed(Math.max(...values), 2)}`];
}

/** Whether this run holds things steady (see the top): on Linux with setarch and taskset, unless BENCH_PAIR_STEADY=0. */
let steadyRun: boolean | undefined;
function steady(): boolean {
  return (steadyRun ??=
    process.platform === 'linux' && process.env.BENCH_PAIR_STEADY !== '0' && ['setarch', 'taskset'].every((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0));
}

/** `pid` and all its threads on CPU `cpu`. */
function pinTo(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

/** This run again under `setarch -R` (address randomisation off, for it and its children); its exit status. */
function underSetarch(): number {
  const run = spawnSync('setarch', [os.machine(), '-R', process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, BENCH_PAIR_SETARCH: '1' } });
  return run.status ?? 1;
}

async function main(): Promise<void> {
  if (steady() && process.env.BENCH_PAIR_SETARCH !== '1') {
    process.exitCode = underSetarch();
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
  const pin = steady() && os.availableParallelism() >= 2;
  if (pin) pinTo(process.pid, 0);
  installCleanup((instances * (pairs * 2 * (seconds + 1) + 60) + 60) * 1000);
  const root = tempDir('aiware-pair-');
  const { body, contentType } = chunkBody(etFields(root), size);
  // One mean ratio per pair of fresh processes: two processes of the same server differ by up to ~10 % (an
  // A/A run, `pair.js runner runner`, showed it), so the interval is over fresh pairs, not over slices.
  const ratios = { rps: [] as number[], cpu: [] as number[], main: [] as number[] };
  for (let instance = 0; instance < instances; instance++) {
    const servers: BenchServer[] = [];
    try {
      // Which one starts first alternates too.
      // The same seeds for both processes of a pair, other seeds for the next pair.
      const nodeFlags = steady() ? [`--hash-seed=${instance + 1}`, `--random-seed=${instance + 1}`] : [];
      for (const k of instance % 2 === 0 ? [0, 1] : [1, 0]) servers[k] = await startServer(specs[k]!, root, k === 0 ? { env: extraEnv, nodeFlags } : { nodeFlags });
      if (pin) for (const server of servers) pinTo(server.pid, 1);
      for (const server of servers) {
        const answer = await probe(`${server.url}/process`, body, contentType);
        if (answer.status !== 200) throw new Error(`${server.name} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        await load({ url: `${server.url}/process`, body, contentType, connections: 10, seconds: 3 }); // warm-up (JIT)
      }
      const mine = { rps: [] as number[], cpu: [] as number[], main: [] as number[] };
      for (let i = 0; i < pairs; i++) {
        const slices: Slice[] = [];
        for (const k of (instance + i) % 2 === 0 ? [0, 1] : [1, 0]) slices[k] = await slice(servers[k], body, contentType, seconds);
        mine.rps.push(slices[0].rps / slices[1].rps);
        mine.cpu.push(slices[0].cpuUs / slices[1].cpuUs);
        mine.main.push(slices[0].mainUs / slices[1].mainUs);
      }
      for (const key of ['rps', 'cpu', 'main'] as const) ratios[key].push(mean(mine[key]));
      console.error(`instance ${instance + 1}/${instances}: req/s ${fixed(ratios.rps.at(-1)!, 3)}×, CPU a request ${fixed(ratios.cpu.at(-1)!, 3)}×`);
    } finally {
      for (const server of servers) await server?.stop();
    }
  }
  const withEnv =
    Object.keys(extraEnv).length > 0
      ? ` with ${Object.entries(extraEnv)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`
      : '';
  console.log(
    `# ${specs[0]!.label}${withEnv} ÷ ${specs[1]!.label}, ${sizeLabel(size)} chunk: ${instances} pairs of fresh processes, each loaded in ${pairs} pairs of ${seconds} s slices, 10 connections\n`,
  );
  console.log(
    table(
      ['ratio', 'mean', '95 % interval of the mean', 'instances, lowest–highest'],
      [
        ['req/s', ...summary(ratios.rps)],
        ['CPU a request, all threads', ...summary(ratios.cpu)],
        ['CPU a request, main thread', ...summary(ratios.main)],
      ],
    ),
  );
}

runMain('pair', main);
