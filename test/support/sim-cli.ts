// The aiware-sim CLI as an engine author runs it: the compiled bin in a child Node, to its end.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';

/** The simulator's bin, as npm links it. */
export const SIM_CLI = path.join(path.dirname(require.resolve('@aiware-nodered/aiware-sim/package.json')), 'bin', 'aiware-sim');

export interface SimRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface SimOptions {
  /** Where it runs: the repository unless said otherwise. */
  cwd?: string;
  /** Another entry than the bin (a test of how the CLI starts). */
  entry?: string;
  /** A backstop: the child is killed (SIGKILL) after this long. */
  timeoutMs?: number;
  /** Sees the child as it starts, and its output so far whenever asked. */
  started?: (child: ChildProcess, output: () => string) => void;
}

/** Runs `aiware-sim args` to its end. */
export function sim(args: string[], options: SimOptions = {}): Promise<SimRun> {
  return new Promise((resolve, reject) => {
    const began = Date.now();
    const child = spawn(process.execPath, [options.entry ?? SIM_CLI, ...args], { cwd: options.cwd ?? PACK_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - began });
    });
    options.started?.(child, () => stdout);
  });
}

/** A run's exit and output, for an assertion's message. */
export function explain(run: SimRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}
