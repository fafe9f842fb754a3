// Steady load: `http in` and the pack in a stock Node-RED, and the pack and the runner each with
// and without recycleChunks, at 64 KiB and 4 MiB chunks, each server warmed up and then measured
// in back-to-back rounds (no idle time before or between them). The throughput part lets servers
// idle between their turns: after ~10 s idle V8's memory reducer shrinks the heap's growth limit,
// and in a Node-RED started without --initial-old-space-size full collections then come back under
// load (at 64 KiB chunks: 25 mark-compacts in 9 s of load after 12 s idles, one without the idles;
// a 2 s warm-up does not undo it). That costs the Node-RED rows more than the runner and hides most
// of what recycling saves. An engine fed a job's chunks back to back sees this steady state; a
// Node-RED that has idled since its start stays in the other.
import { fixed, load, median, sizeLabel, table, type BenchServer, type ChunkBody } from './lib';
import { specOf, startServer, type ServerKey } from './setup';

/** `http in` first: the pack's rows are compared with it. */
const KEYS: ServerKey[] = ['httpin', 'aiware', 'aiwareRecycle', 'runner', 'runnerRecycle'];
/** Each recycling row and the row it is compared with. */
const RECYCLED: Partial<Record<ServerKey, ServerKey>> = { aiwareRecycle: 'aiware', runnerRecycle: 'runner' };

export interface SteadyRow {
  key: ServerKey;
  label: string;
  size: number;
  rps: number[];
  cpuUs: number[];
}

export async function steadyLoad(
  root: string,
  bodies: ChunkBody[],
  options: { seconds: number; warmup: number; rounds: number; connections: number },
  log: (line: string) => void,
): Promise<SteadyRow[]> {
  const servers: { key: ServerKey; label: string; server: BenchServer }[] = [];
  const rows: SteadyRow[] = [];
  try {
    for (const key of KEYS) {
      const spec = specOf(key);
      servers.push({ key, label: spec.label, server: await startServer(spec, root) });
    }
    for (const body of bodies) {
      const of = servers.map(({ key, label }) => ({ key, label, size: body.size, rps: [] as number[], cpuUs: [] as number[] }));
      // A server's rounds back to back after its warm-up: rounds taking turns would leave each
      // idle while the others run, and bring back what this part leaves out.
      for (const [at, { key, server }] of servers.entries()) {
        const request = { url: `${server.url}/process`, body: body.body, contentType: body.contentType, connections: options.connections };
        await load({ ...request, seconds: options.warmup });
        for (let round = 0; round < options.rounds; round++) {
          const { value, stats } = await server.measure(() => load({ ...request, seconds: options.seconds }), { gc: false });
          of[at].rps.push(value.rps);
          of[at].cpuUs.push((stats.userUs + stats.systemUs) / Math.max(1, value.completed));
          log(`  steady ${key.padEnd(13)} ${sizeLabel(body.size).padStart(6)} round ${round + 1}: ${fixed(value.rps, 0)} req/s, ${fixed(of[at].cpuUs[round], 0)} µs CPU/req`);
        }
      }
      rows.push(...of);
    }
    return rows;
  } finally {
    for (const { server } of servers) await server.stop();
  }
}

export function steadySection(rows: SteadyRow[], options: { seconds: number; warmup: number; rounds: number }): string[] {
  if (rows.length === 0) return ['## Steady load', '', '(not run: BENCH_PARTS)'];
  const find = (key: ServerKey, size: number) => rows.find((row) => row.key === key && row.size === size)!;
  /** `a` over `b` by the medians of their rounds, and the range of the same rounds' ratios. */
  const versus = (a: SteadyRow, b: SteadyRow | undefined): [string, string] => {
    if (!b) return ['', ''];
    const perRound = a.rps.map((rps, i) => rps / b.rps[i]);
    return [`${fixed(median(a.rps) / median(b.rps), 2)}×`, `${fixed(Math.min(...perRound), 2)}–${fixed(Math.max(...perRound), 2)}×`];
  };
  const body = rows.map((row) => {
    const httpin = row.key === 'httpin' ? undefined : find('httpin', row.size);
    const without = RECYCLED[row.key];
    return [sizeLabel(row.size), row.label, fixed(median(row.rps), 0), fixed(median(row.cpuUs), 0), ...versus(row, httpin), ...versus(row, without ? find(without, row.size) : undefined)];
  });
  return [
    '## Steady load',
    '',
    `Each server warmed ${options.warmup} s, then measured in ${options.rounds} back-to-back rounds of ${options.seconds} s (no idle before or between them), one server after the other; medians of the rounds, "per round" the ratio of the same round.`,
    "The throughput part above lets each server idle while the others run: after ~10 s idle V8's memory reducer slows the heap's growth and full collections",
    'come back for a while under the next load (most in the Node-RED processes started without --initial-old-space-size), which also hides most of what recycling saves there.',
    'A job whose chunks come back to back runs in this steady state.',
    '',
    table(['chunk', 'server', 'req/s', 'CPU µs/req', '÷ http in', 'per round', 'recycling ÷ without', 'per round'], body),
  ];
}
