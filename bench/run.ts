// `npm run bench`: ten servers, each in its own process (SERVERS in ./setup), measured side by
// side in one run (STYLE habit 12): the pack in a stock Node-RED (the `node-red` command, the pack
// installed from its tarball: ./stock-nodered) against `http in` in the same stock Node-RED and a
// bare node:http + busboy server; the runner (runner/main.js) and the runner's embedded Node-RED
// serving the same flow; and the stock pack and the runner again with recycleChunks on. Eight parts,
// in this order: throughput (all ten), the costs of timing and tracing (fresh pairs of runners held
// steady: ./costs, which re-runs the bench under `setarch -R`), steady load (five: ./steady), the runner's cold start
// against a stock Node-RED's (./coldstart), the memory of big chunks (four), shared keys through
// the key proxy (./keys), what the OpenTelemetry SDK alone costs a traced task (./spans) and pause
// for callback (./pause). Prints markdown tables and writes them to bench/RESULTS.md.
//
// Env: BENCH_SECONDS (measured seconds per case, default 5), BENCH_WARMUP (default 2),
// BENCH_ROUNDS (the measured seconds of a case are split into this many turns, default 3),
// BENCH_STARTS (timed cold starts of each kind, default 5), BENCH_KEY_CALLS (key sets and gets
// through the key proxy, default 2000 of each; bench/keys.ts), BENCH_PAUSES and BENCH_RESTORE_WAITS
// (bench/pause.ts), BENCH_SPAN_TASKS (bench/spans.ts), BENCH_PAIR_INSTANCES, BENCH_PAIR_SLICES and
// BENCH_PAIR_SECONDS (bench/costs.ts). To measure one step quickly:
// BENCH_PARTS (a comma list of throughput, costs, steady, coldstart, memory, keys, spans, pause; default all) and BENCH_SIZES
// (chunk sizes in bytes for the throughput part, default 1024,65536,4194304). A run of only some
// parts or sizes prints its tables and leaves bench/RESULTS.md alone. BENCH_CHILD_FLAGS: Node flags for
// every server but the runner (bench/lib.ts), e.g. `--initial-old-space-size=128` to see what the
// runner's heap flag does for a stock Node-RED; such a run leaves bench/RESULTS.md alone too.
// Where the CPU goes in one server: bench/profile.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeMultipart } from '@aiware-nodered/aiware-sim';
import { RSS_SAMPLE_MS, type WindowStats } from './protocol';
import { COLD_FLOWS, POLL_MS, coldStarts, type StartKind, type StartSample } from './coldstart';
import { measureOutside } from './procstat';
import { RunnerChild } from './runner-child';
import { STOCK_COMMAND, StockNodeRed } from './stock-nodered';
import { FREES_EARLY } from '../core';
import { keyProxyCost, keySection, type KeyCostRow } from './keys';
import { spanCost, spanSection, type SpanCostRow } from './spans';
import { TARGET_TRACING_COST, costSection, costSeconds, costs, type CostRow } from './costs';
import { rerunUnderSetarch } from './pair';
import { steadyLoad, steadySection, type SteadyRow } from './steady';
import { pauseCost, pauseSection, type PauseCost } from './pause';
import { SERVERS, etFields, startServer, type ServerKey, type ServerSpec } from './setup';
import {
  CHILD_FLAGS,
  CHUNK_MIME,
  GiB,
  IPC_CHILD_FLAGS,
  KiB,
  LOAD_AT_START,
  MiB,
  RUNNER_COMMAND,
  chunkBody,
  commandLine,
  envNumber,
  fixed,
  installCleanup,
  load,
  median,
  mergeLoads,
  mib,
  probe,
  reportHead,
  runMain,
  sizeLabel,
  sparseFile,
  table,
  tempDir,
  upload,
  type BenchServer,
  type ChunkBody,
  type LoadResult,
} from './lib';

const SECONDS = envNumber('BENCH_SECONDS', 5, 'seconds');
const WARMUP = envNumber('BENCH_WARMUP', 2, 'seconds'); // Node-RED's handlers need a couple of seconds of JIT before they settle
const STARTS = Math.round(envNumber('BENCH_STARTS', 5, 'starts'));
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3, 'rounds'));
const CONNECTIONS = 10;
const PARTS = ['throughput', 'costs', 'steady', 'coldstart', 'memory', 'keys', 'pause', 'spans'] as const;
type Part = (typeof PARTS)[number];
const RUN_PARTS = listEnv('BENCH_PARTS', PARTS, (text) => ((PARTS as readonly string[]).includes(text) ? (text as Part) : undefined));
const ALL_SIZES = [KiB, 64 * KiB, 4 * MiB];
const SIZES = listEnv('BENCH_SIZES', ALL_SIZES, (text) => (/^\d+$/.test(text) ? Number(text) : undefined));
/** Only a full run writes bench/RESULTS.md. */
const FULL_RUN = RUN_PARTS.length === PARTS.length && ALL_SIZES.every((size) => SIZES.includes(size));
const BIG_CHUNK = GiB;
const MEDIUM_CHUNK = 200 * MiB;
const UPLOAD_TIMEOUT_MS = 180_000;

/** A comma list from the environment, each item checked by `parse`; `fallback` when unset. */
function listEnv<T>(name: string, fallback: readonly T[], parse: (text: string) => T | undefined): T[] {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return [...fallback];
  return text.split(',').map((item) => {
    const value = parse(item.trim());
    if (value === undefined) throw new Error(`${name}: ${JSON.stringify(item)} is not one of ${fallback.join(', ')}`);
    return value;
  });
}

// The issue's targets (issues 12 and 19).
const TARGET_VS_HTTPIN = 2; // the pack in a stock Node-RED: req/s >= 2x http in's, at every size
const TARGET_RSS_GROWTH = 32 * MiB; // while a 1 GiB chunk streams in
/** Runner req/s ÷ the bare server's, by chunk size. */
const TARGET_RUNNER_VS_BARE: Record<number, number> = { [64 * KiB]: 0.8, [4 * MiB]: 0.7 };
const TARGET_COLD_START_MS = 0; // runner cold start no later than a stock Node-RED's (medians)

// ---------------------------------------------------------------------------------------------
// throughput

interface LoadRow {
  server: ServerSpec;
  size: number;
  result: LoadResult;
  /** Read from /proc by the bench, the same way for every server. */
  stats: WindowStats;
  /** What an IPC child reported about the same windows itself: a cross-check of the /proc numbers. */
  ipcStats?: WindowStats;
  /** req/s of each round, in round order (the same rounds for every server of a size). */
  roundRps: number[];
}

function errorText(r: LoadResult): string {
  const parts: string[] = [];
  if (r.non2xx > 0) {
    const codes = Object.entries(r.statuses)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => `${n}×${code}`);
    parts.push(`non-2xx ${codes.join(' ')}`);
  }
  if (r.errors > 0) parts.push(`${r.errors} conn/timeouts`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

/** Checks one answer before the load: a benchmark of 4xx answers would measure the wrong thing. */
async function check(url: string, body: ChunkBody, notes: string[], label: string): Promise<void> {
  const answer = await probe(url, body.body, body.contentType);
  const expected = `bytes-${body.size}`;
  if (answer.status !== 200 || !answer.text.includes(expected)) {
    notes.push(`${label} at ${sizeLabel(body.size)}: the check request got ${answer.status} ${answer.text.slice(0, 200)} (expected 200 with "${expected}")`);
  }
}

/** Several windows of one server as one: CPU added, RSS from the first before to the highest peak. */
function mergeStats(windows: WindowStats[]): WindowStats {
  return {
    userUs: windows.reduce((n, w) => n + w.userUs, 0),
    systemUs: windows.reduce((n, w) => n + w.systemUs, 0),
    rssBefore: windows[0].rssBefore,
    rssPeak: Math.max(...windows.map((w) => w.rssPeak)),
    rssAfter: windows[windows.length - 1].rssAfter,
    samples: windows.reduce((n, w) => n + w.samples, 0),
  };
}

/**
 * All ten servers run at once (idle ones cost next to nothing). Size by size, each is checked
 * and warmed up, then the measured seconds are split into ROUNDS turns, the servers taking turns
 * (each round starting with the next one): what else happens on this shared machine meanwhile
 * then hits every server of a size alike, and the ratios compare windows seconds apart.
 */
async function throughput(root: string, bodies: ChunkBody[], notes: string[]): Promise<LoadRow[]> {
  const rows: LoadRow[] = [];
  const servers: { spec: ServerSpec; server: BenchServer }[] = [];
  const rotate = <T>(list: T[], by: number): T[] => [...list.slice(by % list.length), ...list.slice(0, by % list.length)];
  try {
    for (const spec of SERVERS) servers.push({ spec, server: await startServer(spec, root) });
    for (const [sizeIndex, body] of bodies.entries()) {
      const options = (server: BenchServer) => ({ url: `${server.url}/process`, body: body.body, contentType: body.contentType, connections: CONNECTIONS });
      for (const { spec, server } of rotate(servers, sizeIndex)) {
        await check(`${server.url}/process`, body, notes, spec.label);
        const warm = await load({ ...options(server), seconds: WARMUP });
        if (warm.non2xx + warm.errors > 0) notes.push(`${spec.label} at ${sizeLabel(body.size)}: warm-up had errors: ${errorText(warm)}`);
      }
      const runs = new Map<ServerSpec, { results: LoadResult[]; stats: WindowStats[]; ipcStats: WindowStats[] }>(servers.map(({ spec }) => [spec, { results: [], stats: [], ipcStats: [] }]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const { spec, server } of rotate(servers, sizeIndex + round)) {
          const measured = () => load({ ...options(server), seconds: SECONDS / ROUNDS });
          const run = runs.get(spec)!;
          if (spec.reports === 'ipc') {
            // The child's own window holds the /proc window, which holds the load. No gc() first:
            // the runner cannot be made to collect, and a forced collection slows a Node-RED child
            // for the whole window (bench/protocol.ts).
            const inside = await server.measure(() => measureOutside(server.pid, measured), { gc: false });
            run.results.push(inside.value.value);
            run.stats.push(inside.value.stats);
            run.ipcStats.push(inside.stats);
          } else {
            const { value, stats } = await server.measure(measured, { gc: false });
            run.results.push(value);
            run.stats.push(stats);
          }
        }
      }
      for (const { spec } of servers) {
        const run = runs.get(spec)!;
        const result = mergeLoads(run.results);
        const stats = mergeStats(run.stats);
        rows.push({ server: spec, size: body.size, result, stats, ipcStats: run.ipcStats.length > 0 ? mergeStats(run.ipcStats) : undefined, roundRps: run.results.map((r) => r.rps) });
        console.error(
          `  ${spec.key.padEnd(13)} ${sizeLabel(body.size).padStart(7)}: ${fixed(result.rps, 0)} req/s (rounds ${run.results.map((r) => fixed(r.rps, 0)).join(' · ')}), ${fixed((stats.userUs + stats.systemUs) / result.completed, 0)} µs CPU/req, p50 ${fixed(result.p50, 2)} ms, p99 ${fixed(result.p99, 2)} ms, errors ${errorText(result)}`,
        );
      }
    }
  } finally {
    for (const { spec, server } of servers) await stopNoting(server, spec.label, notes);
  }
  // By chunk size, then server: the rows to compare sit together.
  const order = (row: LoadRow) => SIZES.indexOf(row.size) * SERVERS.length + SERVERS.indexOf(row.server);
  return rows.sort((a, b) => order(a) - order(b));
}

/** Stops `server`; how a process that speaks no bench protocol exited, and what it printed while measured, go to the notes. */
async function stopNoting(server: BenchServer, label: string, notes: string[]): Promise<void> {
  await server.stop();
  if (server instanceof RunnerChild) {
    if (server.exitCode !== 0) notes.push(`the runner exited with ${server.exitCode} after SIGTERM (expected 0 after a drain)`);
    notes.push(`the runner wrote ${server.linesInWindows} log lines (stdout, pino, info level: its default) inside the measured windows`);
  }
  if (server instanceof StockNodeRed) {
    if (server.exitCode !== 0) notes.push(`${label} exited with ${server.exitCode} after SIGTERM (expected 0)`);
    if (server.linesInWindows > 0) notes.push(`${label} printed ${server.linesInWindows} log lines inside the measured windows`);
  }
}

// ---------------------------------------------------------------------------------------------
// memory while one big chunk streams in: four servers (MEMORY_RUNS), each in a fresh process

interface MemoryRun {
  server: ServerKey;
  /** Route: /ignore answers 204 from aiware (msg.ignoreChunk); /process runs the transcript flow. */
  route: string;
  size: number;
  target?: number;
  note: string;
}

const MEMORY_RUNS: MemoryRun[] = [
  { server: 'aiware', route: '/ignore', size: BIG_CHUNK, target: TARGET_RSS_GROWTH, note: 'spills to taskTmpDir; flow sets msg.ignoreChunk (204)' },
  { server: 'aiware', route: '/process', size: MEDIUM_CHUNK, note: 'spills; transcript flow (msg.payload is the path)' },
  { server: 'runner', route: '/ignore', size: BIG_CHUNK, target: TARGET_RSS_GROWTH, note: 'the same flow in the runner, started as the image starts it' },
  { server: 'httpin', route: '/process', size: MEDIUM_CHUNK, note: 'multer memoryStorage: whole file in memory' },
  { server: 'bare', route: '/process', size: MEDIUM_CHUNK, note: 'buffers the chunk by design (capped at 200 MiB)' },
];

interface MemoryRow {
  run: MemoryRun;
  /** RSS growth after ¼, ½ and ¾ of the body: flat means bounded, rising means it buffers. */
  partGrowth: number[];
  label: string;
  status: number;
  answer: string;
  seconds: number;
  stats: WindowStats;
  clientRssGrowth: number;
}

async function memory(root: string, warmBody: ChunkBody, notes: string[]): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  const files = new Map<number, string>();
  const fileFor = (size: number): string => {
    let file = files.get(size);
    if (!file) files.set(size, (file = sparseFile(root, `chunk-${size}.bin`, size)));
    return file;
  };
  const taskTmpDir = path.join(root, 'task');
  for (const spec of SERVERS) {
    const runs = MEMORY_RUNS.filter((run) => run.server === spec.key);
    if (runs.length === 0) continue;
    // A fresh process, so "before" is a server that has not yet grown its heap on part 1's load.
    const server = await startServer(spec, root);
    try {
      // One small request first: lazy start-up work (the VTN schemas compile on first use) is not growth.
      await check(`${server.url}/process`, warmBody, notes, `${spec.label} (memory run warm-up)`);
      for (const run of runs) {
        const peeks: Promise<{ rssBefore: number; rssPeak: number }>[] = [];
        const onProgress = (sent: number, total: number): void => {
          if (peeks.length < 3 && sent >= ((peeks.length + 1) * total) / 4) peeks.push(server.peek());
        };
        const { value, stats } = await server.measure(() => upload(`${server.url}${run.route}`, etFields(taskTmpDir), fileFor(run.size), UPLOAD_TIMEOUT_MS, onProgress));
        const partGrowth = (await Promise.all(peeks)).map((peek) => peek.rssPeak - peek.rssBefore);
        const expected = run.route === '/ignore' ? 204 : 200;
        if (value.status !== expected) notes.push(`${spec.label} ${sizeLabel(run.size)} upload: got ${value.status} ${value.text.slice(0, 200)}, expected ${expected}`);
        rows.push({ run, partGrowth, label: spec.label, status: value.status, answer: value.text, seconds: value.seconds, stats, clientRssGrowth: value.clientRssGrowth });
        console.error(`  ${spec.key.padEnd(6)} ${sizeLabel(run.size).padStart(7)} upload: ${value.status}, RSS +${mib(stats.rssPeak - stats.rssBefore)} MiB, ${fixed(value.seconds, 1)} s`);
      }
    } finally {
      await stopNoting(server, `${spec.label} (memory run)`, notes);
    }
  }
  const leftover = fs.existsSync(taskTmpDir) ? fs.readdirSync(taskTmpDir) : [];
  if (leftover.length > 0) notes.push(`spilled chunk files still in taskTmpDir after the server processes exited: ${leftover.join(', ')}`);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// report

function find(rows: LoadRow[], key: ServerKey, size: number): LoadRow | undefined {
  return rows.find((row) => row.server.key === key && row.size === size);
}

function ratio(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined || b === 0 ? NaN : a / b;
}

function signed(value: number, digits: number): string {
  return Number.isFinite(value) && value >= 0 ? `+${fixed(value, digits)}` : fixed(value, digits);
}

function coldStartSection(samples: StartSample[]): string[] {
  const of = (kind: StartKind) => samples.filter((s) => s.kind === kind);
  const how: Record<StartKind, [string, string, string]> = {
    runner: [
      'runner',
      `\`${RUNNER_COMMAND}\` (as the image), AIWARE_BUILD_RUNTIME = the example file, fresh RUNNER_WORKDIR`,
      "off (RUNNER_EDITOR unset: the runner's default); /readyz is the runner's own",
    ],
    stock: [
      'stock Node-RED',
      `\`${STOCK_COMMAND}\`${CHILD_FLAGS.length > 0 ? ` (with ${CHILD_FLAGS.join(' ')})` : ''}, the pack installed from its tarball`,
      "on at `/` (Node-RED's default settings); /readyz is the pack's route on Node-RED's HTTP node server",
    ],
  };
  const rows = (['runner', 'stock'] as const).map((kind) => {
    const ready = of(kind).map((s) => s.readyMs);
    return [
      how[kind][0],
      String(ready.length),
      fixed(Math.min(...ready), 0),
      fixed(median(ready), 0),
      fixed(Math.max(...ready), 0),
      fixed(median(of(kind).map((s) => s.firstAnswerMs)), 0),
      how[kind][1],
      how[kind][2],
    ];
  });
  const difference = median(of('runner').map((s) => s.readyMs)) - median(of('stock').map((s) => s.readyMs));
  const paired = of('runner')
    .map((r) => {
      const p = of('stock').find((s) => s.round === r.round);
      return p ? r.readyMs - p.readyMs : NaN;
    })
    .filter(Number.isFinite);
  const verdict = Number.isFinite(difference) ? (difference <= TARGET_COLD_START_MS ? 'met' : 'missed') : 'n/a';
  if (samples.length === 0) return ['## Cold start: spawn → first 200 on /readyz', '', '(not run: BENCH_PARTS)'];
  return [
    '## Cold start: spawn → first 200 on /readyz',
    '',
    `Both start the same flows (${path.relative(path.resolve(__dirname, '..', '..'), COLD_FLOWS)}: process-in → function → result-out, put on one tab as runner/embedded.ts onOneTab does),`,
    `each time in a fresh user / work directory on a fresh loopback port; the stock Node-RED's has the pack installed from its tarball (\`npm install --omit=dev\`, before the clock starts). The bench polls /readyz every ${POLL_MS} ms on a new connection (so the times are ${POLL_MS} ms coarse),`,
    `from just before spawn() until the first 200. ${STARTS} timed starts of each, interleaved (runner first in odd rounds, stock Node-RED first in even ones), after one untimed start of each to warm the file cache.`,
    'The stock Node-RED runs on the default settings.js it copies into a fresh user directory; the command line sets only the port and `uiHost` (loopback).',
    '"First answer" is the first response of any status: the runner listens before Node-RED loads (503 until ready), a stock Node-RED once its flows are starting.',
    '',
    table(['server', 'starts', 'min ms', 'median ms', 'max ms', 'first answer median ms', 'command', 'editor'], rows),
    '',
    `Runner − stock Node-RED (medians): **${signed(difference, 0)} ms**; target ≤ ${signed(TARGET_COLD_START_MS, 0)} ms: ${verdict}.` +
      (paired.length > 0 ? ` Per round (same round, back to back): median ${signed(median(paired), 0)} ms, from ${signed(Math.min(...paired), 0)} to ${signed(Math.max(...paired), 0)} ms.` : ''),
  ];
}

function report(
  loadRows: LoadRow[],
  memoryRows: MemoryRow[],
  startSamples: StartSample[],
  keyRows: KeyCostRow[],
  spanRows: SpanCostRow[],
  pause: PauseCost | undefined,
  notes: string[],
  fieldCount: number,
  fieldBytes: number,
  elapsed: number,
  steady: string[],
  costRows: CostRow[],
): string {
  const cpus = os.cpus();
  const command = commandLine(['BENCH_SECONDS', 'BENCH_WARMUP', 'BENCH_STARTS'], 'bench');

  /** `a` over `b` as the tables show a ratio: `1.23×`. */
  const times = (a: number | undefined, b: number | undefined): string => `${fixed(ratio(a, b), 2)}×`;
  const cpuPerRequest = (row?: LoadRow) => (row ? (row.stats.userUs + row.stats.systemUs) / row.result.completed : undefined);
  const throughputTable = table(
    ['chunk', 'server', 'req/s', '÷ bare', '÷ http in', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'server peak RSS MiB', 'errors'],
    loadRows.map((row) => [
      sizeLabel(row.size),
      row.server.label,
      fixed(row.result.rps, 0),
      times(row.result.rps, find(loadRows, 'bare', row.size)?.result.rps),
      times(row.result.rps, find(loadRows, 'httpin', row.size)?.result.rps),
      fixed(row.result.p50, 2),
      fixed(row.result.p99, 2),
      fixed(cpuPerRequest(row) ?? NaN, 0),
      mib(row.stats.rssPeak),
      errorText(row.result),
    ]),
  );

  const verdict = (value: number, target: number): string => (Number.isFinite(value) ? (value >= target ? 'met' : 'not yet') : 'n/a');
  /** The ratio round by round (both rows ran the same rounds, seconds apart): median (min–max). */
  const perRound = (a?: LoadRow, b?: LoadRow): string => {
    if (!a || !b) return 'n/a';
    const ratios = a.roundRps.map((rps, i) => ratio(rps, b.roundRps[i])).filter(Number.isFinite);
    if (ratios.length === 0) return 'n/a';
    return `${fixed(median(ratios), 2)}× (${fixed(Math.min(...ratios), 2)}–${fixed(Math.max(...ratios), 2)})`;
  };
  /** The runner ÷ bare target of this size and whether `vsBare` meets it. */
  const runnerTarget = (vsBare: number, size: number): string => {
    const target = TARGET_RUNNER_VS_BARE[size];
    return target === undefined ? '(not a target)' : `≥ ${target}×: ${verdict(vsBare, target)}`;
  };
  const ratioTable = table(
    [
      'chunk',
      'stock pack ÷ http in (req/s)',
      'per round',
      `target ≥ ${TARGET_VS_HTTPIN}×`,
      'stock pack ÷ bare (req/s)',
      'embedded ÷ http in (req/s)',
      'embedded ÷ stock pack (req/s)',
      'CPU/req stock pack ÷ http in',
      'CPU/req embedded ÷ stock pack',
    ],
    SIZES.map((size) => {
      const [aiware, embedded, httpin, bare] = (['aiware', 'embedded', 'httpin', 'bare'] as const).map((key) => find(loadRows, key, size));
      const cpu = cpuPerRequest;
      const vsHttpin = ratio(aiware?.result.rps, httpin?.result.rps);
      return [
        sizeLabel(size),
        `${fixed(vsHttpin, 2)}×`,
        perRound(aiware, httpin),
        verdict(vsHttpin, TARGET_VS_HTTPIN),
        times(aiware?.result.rps, bare?.result.rps),
        times(embedded?.result.rps, httpin?.result.rps),
        times(embedded?.result.rps, aiware?.result.rps),
        times(cpu(aiware), cpu(httpin)),
        times(cpu(embedded), cpu(aiware)),
      ];
    }),
  );

  const runnerTable = table(
    ['chunk', 'runner ÷ bare (req/s)', 'per round', 'target', 'runner ÷ http in (req/s)', 'runner ÷ stock pack (req/s)', 'per round', 'CPU/req runner ÷ bare', 'CPU/req runner ÷ stock pack'],
    SIZES.map((size) => {
      const [runner, aiware, httpin, bare] = (['runner', 'aiware', 'httpin', 'bare'] as const).map((key) => find(loadRows, key, size));
      const vsBare = ratio(runner?.result.rps, bare?.result.rps);
      return [
        sizeLabel(size),
        `${fixed(vsBare, 2)}×`,
        perRound(runner, bare),
        runnerTarget(vsBare, size),
        times(runner?.result.rps, httpin?.result.rps),
        times(runner?.result.rps, aiware?.result.rps),
        perRound(runner, aiware),
        times(cpuPerRequest(runner), cpuPerRequest(bare)),
        times(cpuPerRequest(runner), cpuPerRequest(aiware)),
      ];
    }),
  );

  const recycleTable = table(
    [
      'chunk',
      'stock pack, recycleChunks ÷ http in (req/s)',
      `target ≥ ${TARGET_VS_HTTPIN}×`,
      'runner, recycling ÷ bare (req/s)',
      'per round',
      'target',
      'CPU/req recycling ÷ not (stock pack · runner)',
    ],
    SIZES.map((size) => {
      const [aiwareR, runnerR, aiware, runner, httpin, bare] = (['aiwareRecycle', 'runnerRecycle', 'aiware', 'runner', 'httpin', 'bare'] as const).map((key) => find(loadRows, key, size));
      const vsHttpin = ratio(aiwareR?.result.rps, httpin?.result.rps);
      const vsBare = ratio(runnerR?.result.rps, bare?.result.rps);
      return [
        sizeLabel(size),
        `${fixed(vsHttpin, 2)}×`,
        verdict(vsHttpin, TARGET_VS_HTTPIN),
        `${fixed(vsBare, 2)}×`,
        perRound(runnerR, bare),
        runnerTarget(vsBare, size),
        `${times(cpuPerRequest(aiwareR), cpuPerRequest(aiware))} · ${times(cpuPerRequest(runnerR), cpuPerRequest(runner))}`,
      ];
    }),
  );

  // What per-node timing (core/task/timing, on by default) costs the runner: the same runner without it, in the same rounds.
  const timingTable = table(
    ['chunk', 'runner ÷ runner, nodeTiming false (req/s)', 'per round', 'CPU/req runner ÷ nodeTiming false'],
    SIZES.map((size) => {
      const [runner, untimed] = (['runner', 'runnerUntimed'] as const).map((key) => find(loadRows, key, size));
      const timed = ratio(runner?.result.rps, untimed?.result.rps);
      return [sizeLabel(size), `${fixed(timed, 2)}×`, perRound(runner, untimed), times(cpuPerRequest(runner), cpuPerRequest(untimed))];
    }),
  );

  // What traces cost (every task traced and exported), against the runner with neither timing nor traces, and against the default runner.
  const tracingTable = table(
    ['chunk', 'traced ÷ nodeTiming false (req/s)', 'per round', 'traced ÷ runner (req/s)', 'CPU/req traced ÷ runner', '1 in 10 sampled ÷ runner (req/s)', 'CPU/req 1 in 10 ÷ runner'],
    SIZES.map((size) => {
      const [traced, untimed, runner, sampled] = (['runnerTraced', 'runnerUntimed', 'runner', 'runnerSampled'] as const).map((key) => find(loadRows, key, size));
      const cost = ratio(traced?.result.rps, untimed?.result.rps);
      return [
        sizeLabel(size),
        `${fixed(cost, 2)}×`,
        perRound(traced, untimed),
        `${fixed(ratio(traced?.result.rps, runner?.result.rps), 2)}×`,
        times(cpuPerRequest(traced), cpuPerRequest(runner)),
        `${fixed(ratio(sampled?.result.rps, runner?.result.rps), 2)}×`,
        times(cpuPerRequest(sampled), cpuPerRequest(runner)),
      ];
    }),
  );

  // How far the IPC children's own numbers are from the /proc ones, over the same windows.
  const crossCheck = loadRows.filter((row) => row.ipcStats).map((row) => ratio(row.stats.userUs + row.stats.systemUs, row.ipcStats!.userUs + row.ipcStats!.systemUs) - 1);

  const memoryTable = table(
    ['server', 'chunk', 'route → status', 'RSS before MiB', 'peak MiB', 'growth MiB', 'growth at ¼ · ½ · ¾', 'target', 'upload s', 'MiB/s', 'client RSS growth MiB', 'how'],
    memoryRows.map((row) => {
      const growth = row.stats.rssPeak - row.stats.rssBefore;
      return [
        row.label,
        sizeLabel(row.run.size),
        `${row.run.route} → ${row.status}`,
        mib(row.stats.rssBefore),
        mib(row.stats.rssPeak),
        mib(growth),
        row.partGrowth.map(mib).join(' · '),
        row.run.target === undefined ? '' : `≤ ${mib(row.run.target)}: ${growth <= row.run.target ? 'met' : 'missed'}`,
        fixed(row.seconds, 1),
        fixed(row.run.size / MiB / row.seconds, 0),
        mib(row.clientRssGrowth),
        row.run.note,
      ];
    }),
  );

  const lines = [
    '# aiware-process-in benchmark',
    '',
    ...reportHead(),
    `- CPU: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length}; memory ${mib(os.totalmem())} MiB; load average ${LOAD_AT_START} when the bench started`,
    `- Command: \`${command}\` (took ${fixed(elapsed, 0)} s)`,
    `- Load: autocannon in the bench process, ${CONNECTIONS} keep-alive connections, loopback (127.0.0.1); per server and size ${WARMUP} s warm-up, then ${SECONDS} s measured in ${ROUNDS} rounds of ${fixed(SECONDS / ROUNDS, 2)} s.`,
    `  The client shares the machine's ${cpus.length} CPUs with the server under test, so absolute req/s are low; compare rows, not machines.`,
    `- Body: multipart/form-data as Engine Toolkit sends it (simulator/multipart encodeMultipart): ${fieldCount} ET fields (${fieldBytes} bytes of parts) + the \`chunk\` file part (${CHUNK_MIME}, random bytes), built once per size.`,
    `- Servers, each in its own process, all ${SERVERS.length} running through part 1. Size by size, each is checked and warmed up, then they take turns round by round (each round starting with the next server),`,
    '  so whatever else runs on this shared machine hits the servers of one size alike; a row adds up its rounds ("per round" columns: the ratio of the same round, median and range):',
    '  - bare: node:http + busboy, all fields and the chunk into memory, answers the transcript JSON;',
    `  - http in, stock Node-RED: \`http in\` (POST, upload on → multer memoryStorage) → function → \`http response\` in a stock Node-RED: \`${STOCK_COMMAND}\`${CHILD_FLAGS.length > 0 ? ` with ${CHILD_FLAGS.join(' ')} before red.js` : ''},`,
    "    a fresh user directory with the pack installed from its packed tarball (`npm install --omit=dev`, as a palette install) and Node-RED's default settings.js (it copies it there): editor and admin API at `/`;",
    '  - the pack in a stock Node-RED: `aiware-process-in` (chunk, sync) → function → `aiware-result-out` (validates against the VTN schemas), default `aiware` settings, in the same kind of stock Node-RED: what a palette user runs (express: the admin app at `/`, then the HTTP node routes);',
    "  - the pack in the runner's embedded Node-RED: the same flow in runner/embedded.ts's Node-RED (EmbeddedNodeRed, editor at /admin) in a bench child, whose server hands the pack's routes over before express: what the runner and the tests run;",
    `  - runner: the production entry point as the image starts it, \`${RUNNER_COMMAND}\` (RUNNER_NODE_FLAGS; spawned with only its environment: AIWARE_BUILD_RUNTIME, VERITONE_WEBHOOK_PROCESS/READY on 127.0.0.1, RUNNER_WORKDIR, ENGINE_ID, BUILD_ID; log level info, its default) on a runtime file holding the same flow (bench/servers/flows.ts);`,
    '  - the pack in a stock Node-RED, recycleChunks (`-D aiware.recycleChunks=true` on the command line) and runner, RUNNER_RECYCLE_CHUNKS=1: chunk memory used again (an opt-in setting: a chunk is valid until its task ends).',
    "  - runner, aiware.nodeTiming false: the runner on the same flow with per-node timing off in its build's settings, the baseline of timing's cost;",
    '  - runner, traces on: the runner with OTEL_EXPORTER_OTLP_ENDPOINT naming a collector on loopback in the bench process, every task traced; and the same with one task in ten sampled (OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.1).',
    '  All build the same one-word VTN transcript naming the chunk size (bench/servers/work.ts); each size is checked once to answer 200 with it before the load.',
    '- CPU and RSS in the throughput table are read by the bench from /proc for every server (bench/procstat.ts): CPU = utime + stime of /proc/<pid>/stat over the measured run ÷ answered requests,',
    `  RSS = the highest VmRSS of /proc/<pid>/status sampled every ${RSS_SAMPLE_MS} ms. bare and the embedded Node-RED are bench children (started with ${IPC_CHILD_FLAGS.join(' ')}) that also measure themselves over IPC`,
    `  (process.cpuUsage()); their /proc CPU differs from that by ${crossCheck.length > 0 ? `${signed(100 * Math.min(...crossCheck), 1)} % to ${signed(100 * Math.max(...crossCheck), 1)} %` : 'n/a'} over the same windows.`,
    '  No server is made to collect garbage before a throughput window: the runner and the stock Node-REDs (no IPC) cannot be, and after a forced gc() a Node-RED child',
    '  went on to run a major collection every few hundred ms for the whole window (bench/protocol.ts).',
    '',
    '## Throughput',
    '',
    '"÷ bare" and "÷ http in" are this row\'s req/s over theirs at the same chunk size. On this shared 2-CPU virtual machine, separate runs moved single rows by up to ±30 %',
    "(before the rounds were interleaved); the ratios between rows of one size hold better than absolute numbers. Where one server's CPU goes: `node dist/bench/profile.js <bare|httpin|aiware|embedded|runner> <chunk bytes>`.",
    '',
    throughputTable,
    '',
    '## Ratios against the targets',
    '',
    ratioTable,
    '',
    'The runner (the same flow, its own HTTP server: /readyz and /metrics its own, /process straight to the pack, the rest to Node-RED):',
    '',
    runnerTable,
    '',
    "With `recycleChunks` on (the same two servers, the pack's setting / RUNNER_RECYCLE_CHUNKS=1: chunk memory used again from task to task, valid until the task ends; core/body/chunk-pool.ts):",
    '',
    recycleTable,
    '',
    "What per-node timing costs the runner (on by default: each node's time per task in /metrics and the task's last line; docs/runner.md): the runner against the same runner with `aiware.nodeTiming: false` in its build's settings, round by round (one process of each: too few to resolve 5 %; the target's verdict is in the costs section below):",
    '',
    timingTable,
    '',
    "What traces cost the runner (docs/runner.md, Traces): the runner with OTEL_EXPORTER_OTLP_ENDPOINT set, every task sampled, its spans (the task's, one per node per message) batched and sent by OTLP/HTTP protobuf to a collector on loopback in the bench process (bench/otlp-sink.ts), against the runner with neither timing nor traces (before either existed) and against the default runner, round by round; and with one task in ten sampled (OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.1); one process of each, the target's verdict in the costs section below:",
    '',
    tracingTable,
    '',
    ...costSection(costRows),
    '',
    ...(spanRows.length > 0 ? [...spanSection(spanRows, cpuPerRequest(find(loadRows, 'runnerUntimed', KiB)), TARGET_TRACING_COST), ''] : []),
    ...steady,
    '',
    ...coldStartSection(startSamples),
    '',
    `## Memory while one big chunk streams in`,
    '',
    'Streamed by the bench from a sparse file (simulator/multipart multipartStream, Content-Length set), one request, in a fresh server process warmed with one 1 KiB request.',
    'aiware keeps a chunk up to memoryChunkBytes (default 8 MiB) in memory and then spills it to a temp file in taskTmpDir; the default maxBodyBytes is 4 GiB, so 1 GiB needs no setting.',
    `RSS before is read right after a forced gc() for the bare server, and right after the warm-up request for the runner and the stock Node-REDs, which cannot be made to collect; growth is the highest ${RSS_SAMPLE_MS} ms RSS sample minus that. "Growth at ¼ · ½ · ¾" is the same peak read part-way through: a bounded server shows flat numbers, a buffering one numbers that rise with the bytes sent.`,
    "What a bounded server still grows by is what it holds before the chunk spills (a body declared bigger than memoryChunkBytes spills from its first byte) plus the request's pieces not yet collected: where they cannot be freed early, they wait for V8's next young collection, which starts once 32 MiB of them have piled up.",
    `The pack frees each piece as soon as it has read it (core/body/early-free.ts: ArrayBuffer.prototype.transfer, native from V8 11.4, Node 20 only with --harmony-rab-gsab-transfer): on this Node ${process.version} the stock Node-RED, ${CHILD_FLAGS.length > 0 ? `started with ${CHILD_FLAGS.join(' ')} (BENCH_CHILD_FLAGS)` : 'started without flags'}, ${FREES_EARLY ? 'does' : 'does not'}, the runner does.`,
    '',
    memoryTable,
    '',
    ...keySection(keyRows),
    '',
    ...(pause ? [...pauseSection(pause), ''] : []),
    '## Notes',
    '',
    ...(notes.length === 0 ? ['- Every request answered 2xx.'] : notes.map((note) => `- ${note}`)),
    '',
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  // The costs part holds the memory layout steady (./pair): the whole run goes on under `setarch -R`.
  const rerun = RUN_PARTS.includes('costs') ? rerunUnderSetarch() : undefined;
  if (rerun !== undefined) {
    process.exitCode = rerun;
    return;
  }
  const started = Date.now();
  // Generous: the throughput part takes sizes × servers × (warm-up + measured) plus start-ups; the
  // costs part its pairs of processes (./costs); the steady part 2 sizes × 5 servers × (2 s warm-up +
  // 3 rounds of 3 s) plus start-ups (150 s); the cold starts 2 × (STARTS + 1) starts of about 2 s
  // (15 s each); the rest a few uploads and calls (300 s).
  const costsSeconds = RUN_PARTS.includes('costs') ? costSeconds() : 0;
  installCleanup((SIZES.length * SERVERS.length * (SECONDS + WARMUP) + costsSeconds + 150 + 2 * (STARTS + 1) * 15 + 300) * 1000);
  const root = tempDir('aiware-bench-');
  const taskTmpDir = path.join(root, 'task');
  fs.mkdirSync(taskTmpDir);
  const fields = etFields(taskTmpDir);
  const fieldBytes = encodeMultipart(fields).body.length;
  const bodyOf = (size: number): ChunkBody => chunkBody(fields, size);
  const bodies = SIZES.map(bodyOf);
  /** The throughput part's body of `size` when it made one, else a new one. */
  const bodyFor = (size: number): ChunkBody => bodies.find((b) => b.size === size) ?? bodyOf(size);
  const notes: string[] = [];

  const runs = (part: Part) => RUN_PARTS.includes(part);
  let loadRows: LoadRow[] = [];
  if (runs('throughput')) {
    console.error(`bench: throughput, ${SIZES.length} sizes × ${SERVERS.length} servers, ${WARMUP} s + ${SECONDS} s each`);
    loadRows = await throughput(root, bodies, notes);
  }
  let costRows: CostRow[] = [];
  if (runs('costs')) {
    console.error('bench: costs of timing and tracing, fresh pairs of processes');
    costRows = await costs(root, bodyFor, (line) => console.error(line));
  }
  let steadyRows: SteadyRow[] = [];
  const steadyOptions = { seconds: 3, warmup: 2, rounds: 3 };
  if (runs('steady')) {
    console.error('bench: steady load, 64 KiB and 4 MiB');
    const steadyBodies = [64 * KiB, 4 * MiB].map(bodyFor);
    steadyRows = await steadyLoad(root, steadyBodies, { ...steadyOptions, connections: CONNECTIONS }, (line) => console.error(line));
  }
  let startSamples: StartSample[] = [];
  if (runs('coldstart')) {
    console.error(`bench: cold start, runner and stock Node-RED, ${STARTS} timed starts each (+1 untimed)`);
    startSamples = await coldStarts(root, STARTS, (line) => console.error(line));
    for (const sample of startSamples) {
      if (sample.exit !== 0 || sample.killed) notes.push(`${sample.kind} cold start ${sample.round}: exited ${sample.exit}${sample.killed ? ' after SIGKILL' : ''} on SIGTERM`);
    }
  }
  let memoryRows: MemoryRow[] = [];
  if (runs('memory')) {
    console.error('bench: memory while big chunks stream in');
    memoryRows = await memory(root, bodyFor(KiB), notes);
  }
  let keyRows: KeyCostRow[] = [];
  if (runs('keys')) {
    console.error('bench: shared keys through the key proxy');
    keyRows = await keyProxyCost();
  }
  let spanRows: SpanCostRow[] = [];
  if (runs('spans')) {
    console.error('bench: what the OpenTelemetry SDK alone costs a traced task');
    spanRows = await spanCost();
  }
  let pause: PauseCost | undefined;
  if (runs('pause')) {
    console.error('bench: pause for callback, resume latency and restore');
    pause = await pauseCost();
  }

  const text = report(
    loadRows,
    memoryRows,
    startSamples,
    keyRows,
    spanRows,
    pause,
    notes,
    Object.keys(fields).length,
    fieldBytes,
    (Date.now() - started) / 1000,
    steadySection(steadyRows, steadyOptions),
    costRows,
  );
  console.log(text);
  if (!FULL_RUN || CHILD_FLAGS.length > 0) {
    console.error(`bench: ${CHILD_FLAGS.length > 0 ? 'BENCH_CHILD_FLAGS gave the children flags' : 'BENCH_PARTS or BENCH_SIZES chose part of the bench'}: bench/RESULTS.md left as it was`);
    return;
  }
  const out = path.resolve(__dirname, '..', '..', 'bench', 'RESULTS.md');
  fs.writeFileSync(out, text);
  console.error(`bench: written to ${path.relative(process.cwd(), out)}`);
}

runMain('bench', main);
