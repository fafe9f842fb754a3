// Every example in examples/ has a test file, samples/<example>/aiware-test.yaml, with its expected
// outputs beside the inputs (samples/<example>/expected/): each is run here as an engine author runs
// it, `aiware-sim test`, against a runner of its own. The examples run at once (one runner each) in
// `before`, and each gets its test, which shows that run's output when it fails.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';

const CLI = path.join(path.dirname(require.resolve('@aiware-nodered/aiware-sim/package.json')), 'bin', 'aiware-sim');
const EXAMPLES = fs
  .readdirSync(path.join(PACK_DIR, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

interface SimRun {
  code: number | null;
  output: string;
}

function simTest(folder: string): Promise<SimRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'test', folder], { cwd: PACK_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (text: string) => (output += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('every example passes its own aiware-sim test file', function () {
  this.timeout(120_000);
  const runs = new Map<string, Promise<SimRun>>();

  before(function () {
    for (const example of EXAMPLES) runs.set(example, simTest(path.join('samples', example)));
  });
  after(async function () {
    await Promise.allSettled(runs.values());
  });

  for (const example of EXAMPLES) {
    it(example, async function () {
      assert.ok(fs.existsSync(path.join(PACK_DIR, 'samples', example, 'aiware-test.yaml')), `samples/${example}/aiware-test.yaml`);
      const run = await runs.get(example)!;
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /\n\d+ passed, 0 failed\n/);
    });
  }
});
