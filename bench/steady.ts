// recycleChunks under steady load: the pack in a stock Node-RED and the runner, each with and
// without the setting, at 4 MiB chunks, each window measured right after its own warm-up (no idle time before
// it). The throughput part lets servers idle between their turns; after ~10 s idle V8's memory
// reducer shrinks the heap's growth limit and runs incremental full collections for a while after
// the load comes back, which hides most of what recycling saves. An engine fed a job's chunks back
// to back sees this steady state.
import { fixed, load, table, type BenchServer } from './lib';
import { SERVERS, startServer, type ServerKey } from './setup';

const PAIRS: [ServerKey, ServerKey][] = [
  ['aiware', 'aiwareRecycle'],
  ['runner', 'runnerRecycle'],
];

export interface SteadyRow {
  key: ServerKey;
  label: string;
  rps: number[];
  cpuUs: number[];
}

export interface SteadyBody {
  size: number;
  body: Buffer;
  contentType: string;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
};

export async function steadyLoad(root: string, body: SteadyBody, options: { seconds: number; warmup: number; rounds: number; connections: number }, log: (line: string) => void): Promise<SteadyRow[]> {
  const keys = PAIRS.flat();
  const servers: { key: ServerKey; label: string; server: BenchServer }[] = [];
  try {
    for (const key of keys) {
      const spec = SERVERS.find((s) => s.key === key)!;
      servers.push({ key, label: spec.label, server: await startServer(spec, root) });
    }
    const rows: SteadyRow[] = servers.map(({ key, label }) => ({ key, label, rps: [], cpuUs: [] }));
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < servers.length; i++) {
        const at = (i + round) % servers.length;
        const { server } = servers[at];
        const request = { url: `${server.url}/process`, body: body.body, contentType: body.contentType, connections: options.connections };
        await load({ ...request, seconds: options.warmup });
        const { value, stats } = await server.measure(() => load({ ...request, seconds: options.seconds }), { gc: false });
        rows[at].rps.push(value.rps);
        rows[at].cpuUs.push((stats.userUs + stats.systemUs) / Math.max(1, value.completed));
        log(`  steady ${servers[at].key.padEnd(13)} round ${round + 1}: ${fixed(value.rps, 0)} req/s, ${fixed(rows[at].cpuUs[round], 0)} µs CPU/req`);
      }
    }
    return rows;
  } finally {
    for (const { server } of servers) await server.stop();
  }
}

export function steadySection(rows: SteadyRow[], size: string, options: { seconds: number; warmup: number; rounds: number }): string[] {
  if (rows.length === 0) return ['## recycleChunks under steady load', '', '(not run: BENCH_PARTS)'];
  const find = (key: ServerKey) => rows.find((row) => row.key === key);
  const body = PAIRS.map(([plain, recycled]) => {
    const a = find(plain)!;
    const b = find(recycled)!;
    const perRound = b.rps.map((rps, i) => rps / a.rps[i]);
    return [
      size,
      a.label,
      fixed(median(a.rps), 0),
      fixed(median(b.rps), 0),
      `${fixed(median(b.rps) / median(a.rps), 2)}×`,
      `${fixed(Math.min(...perRound), 2)}–${fixed(Math.max(...perRound), 2)}×`,
      fixed(median(a.cpuUs), 0),
      fixed(median(b.cpuUs), 0),
    ];
  });
  return [
    '## recycleChunks under steady load',
    '',
    `Each server warmed ${options.warmup} s and measured ${options.seconds} s right after (no idle between), ${options.rounds} rounds taking turns; medians of the rounds.`,
    "The throughput part above lets each server idle while the others run: after ~10 s idle V8's memory reducer slows the heap's growth and full collections",
    'come back for a while under the next load, which hides most of what recycling saves there. A job whose chunks come back to back runs in this steady state.',
    '',
    table(['chunk', 'server', 'req/s without', 'req/s recycleChunks', 'with ÷ without', 'per round', 'CPU µs/req without', 'CPU µs/req with'], body),
  ];
}
