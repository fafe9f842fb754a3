// A suite that cannot share the test process (test/*.alone.ts): run by mocha in a Node of its own,
// started as the runner's image starts Node (RUNNER_NODE_FLAGS), its report kept for the parent test.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { RUNNER_NODE_FLAGS } from '@aiware-nodered/node-red-runner';

export interface AloneRun {
  code: number;
  /** The suite's spec report and its stderr. */
  output: string;
  passing: number;
  failing: number;
}

/** Runs dist/test/`file` with mocha in a child Node; resolves when it exits. */
export function runAlone(file: string): Promise<AloneRun> {
  const mocha = require.resolve('mocha/bin/mocha.js');
  const args = [...RUNNER_NODE_FLAGS, mocha, '--no-config', '--timeout', '30000', '--reporter', 'spec', '--no-color', path.join(__dirname, '..', file)];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: 110_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const count = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(stdout)?.[1] ?? 0);
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output, passing: count('passing'), failing: count('failing') });
    });
  });
}
