// Cold start: from spawn() to the first 200 on /readyz, for the runner (`node runner/main.js`)
// and for plain Node-RED (the `node-red` command: node_modules/node-red/red.js) starting the
// same flows file with this pack loaded through `nodesDir`. Every start gets a fresh user / work
// directory and a fresh port; the two kinds take turns (runner first on even rounds, plain
// Node-RED first on odd ones), after one untimed start of each that warms the file cache.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR, onOneTab, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { freePort } from '@aiware-nodered/aiware-sim';
import { track, untrack } from './lib';
import { outputTail, startRunner, terminate, untilOk } from './runner-child';

/** The flows both start: the synchronous chunk example, put on one tab as the runner does. */
export const COLD_FLOWS = path.join(PACK_DIR, 'examples', 'chunk-text-to-transcript.json');
const NODE_RED_MAIN = require.resolve('node-red/red.js');

/** How often /readyz is polled while a server starts: the resolution of the numbers. */
export const POLL_MS = 10;
const START_TIMEOUT_MS = 60_000;

export type StartKind = 'runner' | 'plain';

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

/** settings.js for plain Node-RED: only what the comparison needs; everything else its default (editor on at /). */
function settingsFile(port: number): string {
  return `module.exports = ${JSON.stringify(
    {
      uiPort: port,
      // Loopback, as the runner is started here (the command's default is 0.0.0.0).
      uiHost: '127.0.0.1',
      flowFile: 'flows.json',
      nodesDir: [PACK_DIR],
    },
    null,
    2,
  )};\n`;
}

function spawnPlain(userDir: string, port: number): ChildProcess {
  fs.mkdirSync(userDir, { recursive: true });
  const flows = JSON.parse(fs.readFileSync(COLD_FLOWS, 'utf8')) as FlowConfig;
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(onOneTab(flows)));
  const settings = path.join(userDir, 'settings.js');
  fs.writeFileSync(settings, settingsFile(port));
  const child = spawn(process.execPath, [NODE_RED_MAIN, '--userDir', userDir, '--settings', settings], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? userDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  return child;
}

/** One start of `kind` in a fresh folder under `root`, timed from just before spawn(). */
async function startOnce(kind: StartKind, root: string, round: number): Promise<StartSample> {
  const dir = fs.mkdtempSync(path.join(root, `cold-${kind}-`));
  const port = await freePort();
  const started = process.hrtime.bigint();
  const child = kind === 'runner' ? startRunner({ runtimeFile: COLD_FLOWS, workDir: path.join(dir, 'work'), port }).child : spawnPlain(path.join(dir, 'user'), port);
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
    child.kill('SIGKILL');
    untrack(child);
    throw new Error(`${kind} cold start ${round}: ${(err as Error).message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `rounds` timed starts of each kind, interleaved, after one untimed warm-up start of each. */
export async function coldStarts(root: string, rounds: number, log: (text: string) => void): Promise<StartSample[]> {
  await startOnce('runner', root, 0);
  await startOnce('plain', root, 0);
  const samples: StartSample[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order: StartKind[] = round % 2 === 1 ? ['runner', 'plain'] : ['plain', 'runner'];
    for (const kind of order) {
      const sample = await startOnce(kind, root, round);
      samples.push(sample);
      log(`  ${kind.padEnd(6)} start ${round}: ready in ${sample.readyMs.toFixed(0)} ms (first answer ${sample.firstAnswerMs.toFixed(0)} ms), exit ${sample.exit}${sample.killed ? ' (killed)' : ''}`);
    }
  }
  return samples;
}
