// `npm run bench`: aiware-process-in against Node-RED's own `http in` and a bare node:http +
// busboy server, measured side by side in one run (STYLE habit 12), each server in its own
// process. Prints markdown tables and writes them to bench/RESULTS.md.
//
// Env: BENCH_SECONDS (measured seconds per case, default 5), BENCH_WARMUP (default 2).
// Where the CPU goes in one server: bench/profile.ts.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeMultipart } from '../simulator/multipart';
import type { WindowStats } from './protocol';
import { CHUNK_MIME, SERVERS, etFields, startServer, type ServerKey, type ServerSpec } from './setup';
import {
  MiB,
  cleanup,
  fixed,
  installCleanup,
  load,
  mib,
  probe,
  sizeLabel,
  sparseFile,
  table,
  tempDir,
  upload,
  type LoadResult,
} from './lib';

const SECONDS = envNumber('BENCH_SECONDS', 5);
const WARMUP = envNumber('BENCH_WARMUP', 2); // Node-RED's handlers need a couple of seconds of JIT before they settle
const CONNECTIONS = 10;
const SIZES = [1024, 64 * 1024, 4 * MiB];
const BIG_CHUNK = 1024 * MiB;
const MEDIUM_CHUNK = 200 * MiB;
const UPLOAD_TIMEOUT_MS = 180_000;

// The targets.
const TARGET_VS_HTTPIN = 2; // aiware req/s >= 2x http in, at 1 KiB and 64 KiB
const TARGET_VS_BARE = 0.8; // aiware req/s on the way to 0.8x the bare server
const TARGET_RSS_GROWTH = 32 * MiB; // while a 1 GiB chunk streams in

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of seconds, got ${JSON.stringify(text)}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// part 1: throughput

interface LoadRow {
  server: ServerSpec;
  size: number;
  result: LoadResult;
  stats: WindowStats;
}

interface Body {
  size: number;
  body: Buffer;
  contentType: string;
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
async function check(url: string, body: Body, notes: string[], label: string): Promise<void> {
  const answer = await probe(url, body.body, body.contentType);
  const expected = `bytes-${body.size}`;
  if (answer.status !== 200 || !answer.text.includes(expected)) {
    notes.push(`${label} at ${sizeLabel(body.size)}: the check request got ${answer.status} ${answer.text.slice(0, 200)} (expected 200 with "${expected}")`);
  }
}

async function throughput(root: string, bodies: Body[], notes: string[]): Promise<LoadRow[]> {
  const rows: LoadRow[] = [];
  for (const spec of SERVERS) {
    const server = await startServer(spec, root);
    try {
      const url = `${server.url}/process`;
      for (const body of bodies) {
        await check(url, body, notes, spec.label);
        const options = { url, body: body.body, contentType: body.contentType, connections: CONNECTIONS };
        const warm = await load({ ...options, seconds: WARMUP });
        const { value: result, stats } = await server.measure(() => load({ ...options, seconds: SECONDS }));
        if (warm.non2xx + warm.errors > 0) notes.push(`${spec.label} at ${sizeLabel(body.size)}: warm-up had errors: ${errorText(warm)}`);
        rows.push({ server: spec, size: body.size, result, stats });
        console.error(
          `  ${spec.key.padEnd(6)} ${sizeLabel(body.size).padStart(7)}: ${fixed(result.rps, 0)} req/s, p50 ${fixed(result.p50, 2)} ms, p99 ${fixed(result.p99, 2)} ms, errors ${errorText(result)}`,
        );
      }
    } finally {
      await server.stop();
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// part 2: memory while one big chunk streams in

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

async function memory(root: string, warmBody: Body, notes: string[]): Promise<MemoryRow[]> {
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
        const { value, stats } = await server.measure(() =>
          upload(`${server.url}${run.route}`, etFields(taskTmpDir), fileFor(run.size), CHUNK_MIME, UPLOAD_TIMEOUT_MS, onProgress),
        );
        const partGrowth = (await Promise.all(peeks)).map((peek) => peek.rssPeak - peek.rssBefore);
        const expected = run.route === '/ignore' ? 204 : 200;
        if (value.status !== expected) notes.push(`${spec.label} ${sizeLabel(run.size)} upload: got ${value.status} ${value.text.slice(0, 200)}, expected ${expected}`);
        rows.push({ run, partGrowth, label: spec.label, status: value.status, answer: value.text, seconds: value.seconds, stats, clientRssGrowth: value.clientRssGrowth });
        console.error(`  ${spec.key.padEnd(6)} ${sizeLabel(run.size).padStart(7)} upload: ${value.status}, RSS +${mib(stats.rssPeak - stats.rssBefore)} MiB, ${fixed(value.seconds, 1)} s`);
      }
    } finally {
      await server.stop();
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

function report(loadRows: LoadRow[], memoryRows: MemoryRow[], notes: string[], fieldCount: number, fieldBytes: number, elapsed: number): string {
  const cpus = os.cpus();
  const command =
    (process.env.BENCH_SECONDS ? `BENCH_SECONDS=${process.env.BENCH_SECONDS} ` : '') +
    (process.env.BENCH_WARMUP ? `BENCH_WARMUP=${process.env.BENCH_WARMUP} ` : '') +
    (process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : `node ${path.relative(process.cwd(), process.argv[1])}`);

  const throughputTable = table(
    ['chunk', 'server', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'server peak RSS MiB', 'errors'],
    loadRows.map((row) => [
      sizeLabel(row.size),
      row.server.label,
      fixed(row.result.rps, 0),
      fixed(row.result.p50, 2),
      fixed(row.result.p99, 2),
      fixed((row.stats.userUs + row.stats.systemUs) / row.result.completed, 0),
      mib(row.stats.rssPeak),
      errorText(row.result),
    ]),
  );

  const verdict = (value: number, target: number): string => (Number.isFinite(value) ? (value >= target ? 'met' : 'not yet') : 'n/a');
  const ratioTable = table(
    ['chunk', 'aiware ÷ http in (req/s)', `target ≥ ${TARGET_VS_HTTPIN}×`, 'aiware ÷ bare (req/s)', `target → ${TARGET_VS_BARE}×`, 'CPU/req aiware ÷ http in', 'CPU/req aiware ÷ bare'],
    SIZES.map((size) => {
      const [aiware, httpin, bare] = (['aiware', 'httpin', 'bare'] as const).map((key) => find(loadRows, key, size));
      const cpu = (row?: LoadRow) => (row ? (row.stats.userUs + row.stats.systemUs) / row.result.completed : undefined);
      const vsHttpin = ratio(aiware?.result.rps, httpin?.result.rps);
      const vsBare = ratio(aiware?.result.rps, bare?.result.rps);
      return [
        sizeLabel(size),
        `${fixed(vsHttpin, 2)}×`,
        size <= 64 * 1024 ? verdict(vsHttpin, TARGET_VS_HTTPIN) : '(not a target)',
        `${fixed(vsBare, 2)}×`,
        verdict(vsBare, TARGET_VS_BARE),
        `${fixed(ratio(cpu(aiware), cpu(httpin)), 2)}×`,
        `${fixed(ratio(cpu(aiware), cpu(bare)), 2)}×`,
      ];
    }),
  );

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
        row.run.target === undefined ? '' : `< ${mib(row.run.target)}: ${growth < row.run.target ? 'met' : 'missed'}`,
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
    `- Date: ${new Date().toISOString()}`,
    `- Node.js ${process.version} on ${os.platform()} ${os.release()} (${os.arch()})`,
    `- CPU: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length}; memory ${mib(os.totalmem())} MiB`,
    `- Command: \`${command}\` (took ${fixed(elapsed, 0)} s)`,
    `- Load: autocannon in the bench process, ${CONNECTIONS} keep-alive connections, ${WARMUP} s warm-up then ${SECONDS} s measured, loopback (127.0.0.1).`,
    `  The client shares the machine's ${cpus.length} CPUs with the server under test, so absolute req/s are low; compare rows, not machines.`,
    `- Body: multipart/form-data as Engine Toolkit sends it (simulator/multipart encodeMultipart): ${fieldCount} ET fields (${fieldBytes} bytes of parts) + the \`chunk\` file part (${CHUNK_MIME}, random bytes), built once per size.`,
    '- Servers, each in its own child process started with --expose-gc (CPU = the child\'s process.cpuUsage() over the measured run ÷ answered requests; RSS = its highest 50 ms sample; a gc() runs just before each measured window):',
    '  - bare: node:http + busboy, all fields and the chunk into memory, answers the transcript JSON;',
    '  - http in: Node-RED `http in` (POST, upload on → multer memoryStorage) → function → `http response`;',
    '  - aiware: `aiware-process-in` (chunk, sync) → function → `aiware-result-out` (validates against the VTN schemas), default `aiware` settings.',
    '  All three build the same one-word VTN transcript naming the chunk size (bench/servers/work.ts); each size is checked once to answer 200 with it before the load.',
    '',
    '## Throughput',
    '',
    throughputTable,
    '',
    '## Ratios against the targets',
    '',
    ratioTable,
    '',
    `## Memory while one big chunk streams in`,
    '',
    'Streamed by the bench from a sparse file (simulator/multipart multipartStream, Content-Length set), one request, in a fresh server process warmed with one 1 KiB request.',
    'aiware keeps a chunk up to memoryChunkBytes (default 8 MiB) in memory and then spills it to a temp file in taskTmpDir; the default maxBodyBytes is 4 GiB, so 1 GiB needs no setting.',
    'RSS before is read right after a forced gc(); growth is the highest 50 ms RSS sample minus that. "Growth at ¼ · ½ · ¾" is the same peak read part-way through: a bounded server shows flat numbers, a buffering one numbers that rise with the bytes sent.',
    'What a bounded server still grows by is the chunk held in memory before it spills (memoryChunkBytes) plus read buffers that wait for V8\'s next collection; it does not grow with the chunk.',
    '',
    memoryTable,
    '',
    '## Notes',
    '',
    ...(notes.length === 0 ? ['- Every request answered 2xx.'] : notes.map((note) => `- ${note}`)),
    '',
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  // Generous: part 1 takes 9 × (warm-up + measured) plus start-ups; part 2 a few uploads.
  installCleanup((9 * (SECONDS + WARMUP) + 300) * 1000);
  const root = tempDir('aiware-bench-');
  const taskTmpDir = path.join(root, 'task');
  fs.mkdirSync(taskTmpDir);
  const fields = etFields(taskTmpDir);
  const fieldBytes = encodeMultipart(fields).body.length;
  const bodies: Body[] = SIZES.map((size) => {
    const { body, contentType } = encodeMultipart(fields, { data: randomBytes(size), filename: 'chunk.wav', mimeType: CHUNK_MIME });
    return { size, body, contentType };
  });
  const notes: string[] = [];

  console.error(`bench: throughput, ${SIZES.length} sizes × ${SERVERS.length} servers, ${WARMUP} s + ${SECONDS} s each`);
  const loadRows = await throughput(root, bodies, notes);
  console.error('bench: memory while big chunks stream in');
  const memoryRows = await memory(root, bodies[0], notes);

  const text = report(loadRows, memoryRows, notes, Object.keys(fields).length, fieldBytes, (Date.now() - started) / 1000);
  console.log(text);
  const out = path.resolve(__dirname, '..', '..', 'bench', 'RESULTS.md');
  fs.writeFileSync(out, text);
  console.error(`bench: written to ${path.relative(process.cwd(), out)}`);
}

main()
  .catch((err: unknown) => {
    console.error('bench failed:', err);
    process.exitCode = 1;
  })
  .finally(cleanup);
