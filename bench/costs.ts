// Issue 22's cost targets, measured so that a run can resolve them: what per-node timing costs (the
// runner ÷ the same runner with `aiware.nodeTiming: false`) and what tracing every task costs (the
// traced runner ÷ the runner with neither, as it was before both), at 1 KiB and 64 KiB, plus one task
// in ten sampled at 1 KiB for the README's advice. A bench row compares one process of each server, and
// two processes of one server differ by ~±8 % by themselves; so each comparison here runs fresh pairs
// of processes held steady (./pair.ts) and gives the mean ratio with its 95 % interval. A target is met
// only when the whole interval clears it, missed when all of it falls short, and not resolved otherwise.
//
//   npm run build && npm exec -- node dist/bench/costs.js      (or BENCH_PARTS=costs in npm run bench)
//
// Env: BENCH_PAIR_INSTANCES (pairs of processes a comparison, default 8), BENCH_PAIR_SLICES (pairs of
// load slices an instance, default 4), BENCH_PAIR_SECONDS (seconds a slice, default 1.5).
import { KiB, chunkBody, envNumber, fixed, installCleanup, runMain, sizeLabel, table, tempDir, type ChunkBody } from './lib';
import { comparePair, pairSeconds, rerunUnderSetarch, steady, summarize, summaryCells, type PairRatios } from './pair';
import { etFields, specOf, type ServerKey } from './setup';

export const TARGET_TIMING_COST = 0.95; // per-node timing on: the runner keeps >= 95 % of its req/s without it (issue 22)
export const TARGET_TRACING_COST = 0.85; // traces on: the runner keeps >= 85 % of its req/s without timing or traces (issue 22)

const INSTANCES = Math.round(envNumber('BENCH_PAIR_INSTANCES', 8, 'pairs of processes'));
const SLICES = Math.round(envNumber('BENCH_PAIR_SLICES', 4, 'pairs of slices'));
const SECONDS = envNumber('BENCH_PAIR_SECONDS', 1.5, 'seconds');

interface Comparison {
  what: string;
  server: ServerKey;
  baseline: ServerKey;
  size: number;
  target?: number;
}

const COMPARISONS: Comparison[] = [
  { what: 'per-node timing', server: 'runner', baseline: 'runnerUntimed', size: KiB, target: TARGET_TIMING_COST },
  { what: 'per-node timing', server: 'runner', baseline: 'runnerUntimed', size: 64 * KiB, target: TARGET_TIMING_COST },
  { what: 'tracing every task', server: 'runnerTraced', baseline: 'runnerUntimed', size: KiB, target: TARGET_TRACING_COST },
  { what: 'tracing every task', server: 'runnerTraced', baseline: 'runnerUntimed', size: 64 * KiB, target: TARGET_TRACING_COST },
  { what: 'tracing one task in ten', server: 'runnerSampled', baseline: 'runnerUntimed', size: KiB },
];

export interface CostRow extends Comparison {
  ratios: PairRatios;
}

/** Seconds the costs part takes at most. */
export function costSeconds(): number {
  return COMPARISONS.length * pairSeconds(INSTANCES, SLICES, SECONDS);
}

/** Runs every comparison; `bodyOf(size)` gives a chunk's request. */
export async function costs(root: string, bodyOf: (size: number) => ChunkBody, progress: (line: string) => void = () => undefined): Promise<CostRow[]> {
  const rows: CostRow[] = [];
  for (const comparison of COMPARISONS) {
    const [server, baseline] = [comparison.server, comparison.baseline].map(specOf);
    progress(`costs: ${comparison.what}, ${sizeLabel(comparison.size)}: ${server.key} ÷ ${baseline.key}, ${INSTANCES} pairs of processes`);
    const ratios = await comparePair({ server, baseline, root, body: bodyOf(comparison.size), instances: INSTANCES, pairs: SLICES, seconds: SECONDS, progress });
    rows.push({ ...comparison, ratios });
  }
  return rows;
}

/** Met when the whole interval clears `target`, missed when all of it is below, else not resolved. */
function verdict(low: number, high: number, target: number | undefined): string {
  if (target === undefined) return '';
  if (low >= target) return 'met';
  if (high < target) return '**missed**';
  return 'not resolved';
}

export function costSection(rows: CostRow[]): string[] {
  if (rows.length === 0) return ['## Costs of timing and tracing (issue 22)', '', '(not run: BENCH_PARTS)'];
  return [
    '## Costs of timing and tracing (issue 22)',
    '',
    `Each row: ${INSTANCES} pairs of fresh processes (the server and its baseline), each pair loaded in ${SLICES} pairs of alternating ${SECONDS} s slices after 3 s of warm-up, 10 connections;` +
      ` the mean of the pairs' ratios with its 95 % interval (bench/pair.ts). ${steady() ? 'Held steady: address randomisation off, the same V8 seeds for both processes of a pair, the load on CPU 0 and the servers on CPU 1.' : 'Not held steady (BENCH_PAIR_STEADY=0, or no setarch/taskset).'}` +
      ' A target is met only when the whole interval clears it.',
    '',
    `Baseline of every row: ${specOf('runnerUntimed').label} (the runner as it was before per-node timing and traces). Tracing: ${specOf('runnerTraced').label}; one in ten: ${specOf('runnerSampled').label}.`,
    '',
    table(
      ['cost of', 'chunk', 'req/s ÷ baseline', '95 % interval', 'pairs, lowest–highest', 'CPU a request ÷ baseline', 'target', 'verdict'],
      rows.map((row) => {
        const rps = summarize(row.ratios.rps);
        return [
          row.what,
          sizeLabel(row.size),
          ...summaryCells(rps),
          `${fixed(summarize(row.ratios.cpu).mean, 2)}×`,
          row.target === undefined ? '' : `≥ ${row.target}×`,
          verdict(rps.low, rps.high, row.target),
        ];
      }),
    ),
  ];
}

if (require.main === module) {
  runMain('bench costs', async () => {
    const rerun = rerunUnderSetarch();
    if (rerun !== undefined) {
      process.exitCode = rerun;
      return;
    }
    installCleanup((costSeconds() + 60) * 1000);
    const root = tempDir('aiware-costs-');
    const fields = etFields(root);
    console.log(
      costSection(
        await costs(
          root,
          (size) => chunkBody(fields, size),
          (line) => console.error(line),
        ),
      ).join('\n'),
    );
  });
}
