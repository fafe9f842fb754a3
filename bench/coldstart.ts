// Cold start: from spawn() to the first 200 on /readyz, for the runner (`node runner/main.js`)
// and for a stock Node-RED (the `node-red` command, ./stock-nodered: the pack installed from its
// tarball into a fresh user directory, Node-RED's default settings) starting the same flows.
// Every start gets a fresh user / work directory and a fresh port (the install is not timed); the
// two kinds take turns (runner first on odd rounds, stock Node-RED first on even ones), after one
// untimed start of each that warms the file cache.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR, onOneTab, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { freePort } from '@aiware-nodered/aiware-sim';
import { CHILD_FLAGS, kill, outputTail, terminate } from './lib';
import { untilOk } from './poll';
import { startRunner } from './runner-child';
import { spawnStock, stockUserDir } from './stock-nodered';

/** The flows both start: the synchronous chunk example, put on one tab as the runner does. */
export const COLD_FLOWS = path.join(PACK_DIR, 'examples', 'chunk-text-to-transcript.json');
/** How often /readyz is polled while a server starts: the resolution of the numbers. */
export const POLL_MS = 10;
const START_TIMEOUT_MS = 60_000;

export type StartKind = 'runner' | 'stock';

export interface StartSample {
  kind: StartKind;
  round: number;
  /** spawn() → the first answer of any status on /readyz (the server listens). */
  firstAnswerMs: number;
  /** spawn() → the first 200 on /readyz. */
  readyMs: number;
  /** Statuses answered before the 200 (the runner answers 503 while Node-RED starts). */
  notReady: number;
  exit: number | string | null;
  killed: boolean;
}

/** One start of `kind` in a fresh folder under `root`, timed from just before spawn(). */
async function startOnce(kind: StartKind, root: string, round: number): Promise<StartSample> {
  const dir = fs.mkdtempSync(path.join(root, `cold-${kind}-`));
  const userDir = kind === 'stock' ? await stockUserDir(dir, 'user-', onOneTab(JSON.parse(fs.readFileSync(COLD_FLOWS, 'utf8')) as FlowConfig)) : '';
  const port = await freePort();
  const started = process.hrtime.bigint();
  const child = kind === 'runner' ? startRunner({ runtimeFile: COLD_FLOWS, workDir: path.join(dir, 'work'), port }).child : spawnStock(userDir, port, { execArgv: CHILD_FLAGS });
  const output = outputTail(child);
  const since = (): number => Number(process.hrtime.bigint() - started) / 1e6;
  let firstAnswerMs = NaN;
  let notReady = 0;
  try {
    await untilOk(`http://127.0.0.1:${port}/readyz`, child, output, START_TIMEOUT_MS, POLL_MS, (status) => {
      if (Number.isNaN(firstAnswerMs)) firstAnswerMs = since();
      if (status !== 200) notReady++;
    });
    const readyMs = since();
    const { code, killed } = await terminate(child);
    return { kind, round, firstAnswerMs, readyMs, notReady, exit: code, killed };
  } catch (err) {
    kill(child);
    throw new Error(`${kind} cold start ${round}: ${(err as Error).message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `rounds` timed starts of each kind, interleaved, after one untimed warm-up start of each. */
export async function coldStarts(root: string, rounds: number, log: (text: string) => void): Promise<StartSample[]> {
  await startOnce('runner', root, 0);
  await startOnce('stock', root, 0);
  const samples: StartSample[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order: StartKind[] = round % 2 === 1 ? ['runner', 'stock'] : ['stock', 'runner'];
    for (const kind of order) {
      const sample = await startOnce(kind, root, round);
      samples.push(sample);
      log(`  ${kind.padEnd(6)} start ${round}: ready in ${sample.readyMs.toFixed(0)} ms (first answer ${sample.firstAnswerMs.toFixed(0)} ms), exit ${sample.exit}${sample.killed ? ' (killed)' : ''}`);
    }
  }
  return samples;
}
