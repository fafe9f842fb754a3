// RunnerProcess as an engine author's own tests use it: ready whatever RUNNER_LOG_LEVEL lets the
// runner log, and a failed start-up said at once.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { startRunner, type RunnerProcess } from './support/runner';

const EXAMPLE = path.join(PACK_DIR, 'examples', 'chunk-text-to-transcript.json');
const example = () => JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as unknown;

describe('RunnerProcess', function () {
  this.timeout(60_000);
  const runners: RunnerProcess[] = [];
  afterEach(async function () {
    await Promise.all(runners.splice(0).map((r) => r.kill()));
  });

  for (const level of ['warn', 'error']) {
    it(`is ready with RUNNER_LOG_LEVEL=${level}, when the runner logs neither its port nor its readiness`, async function () {
      const runner = startRunner(example(), { RUNNER_LOG_LEVEL: level });
      runners.push(runner);
      const url = await runner.ready();
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      assert.ok(!runner.lines.some((l) => l.msg === 'ready' || l.msg === 'listening'), runner.output);
      runner.signal('SIGTERM');
      assert.equal(await runner.waitExit(), 0);
    });
  }

  it('rejects ready() as soon as the start-up has failed, with why, not when the runner gives up', async function () {
    // startRunner keeps a failed runner answering /readyz 500 for 30 s, as ET would see it.
    const runner = startRunner([{ id: 'magic', type: 'aiware-magic', wires: [] }], { RUNNER_LOG_LEVEL: 'error' });
    runners.push(runner);
    const started = Date.now();
    await assert.rejects(runner.ready(), /the runner failed to start: .*node types no installed module provides: aiware-magic/);
    assert.ok(Date.now() - started < 20_000, `it took ${Date.now() - started} ms`);
    assert.equal(runner.exitStatus, undefined, 'the runner still lingers');
  });
});
