// RunnerProcess as an engine author's own tests use it: ready whatever RUNNER_LOG_LEVEL lets the
// runner log, a failed start-up said at once, and no runner left running when the test process
// that started it dies.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { startRunner, type RunnerProcess } from './support/runner';

const EXAMPLE = path.join(PACK_DIR, 'examples', 'chunk-text-to-transcript.json');
const example = () => JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as unknown;

/** Whether the process `pid` has ended: gone, or a zombie nobody reaps (an orphan's parent here may not). */
function ended(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Resolves once `pid` has ended; rejects after `timeoutMs`. */
async function untilEnded(pid: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ended(pid)) {
    if (Date.now() > end) throw new Error(`process ${pid} still runs after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

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

  it('a runner whose starting process is SIGKILLed stops by itself', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-orphan-'));
    // A test process of an engine author's: starts a runner, says its pid once it is ready, then waits.
    const script = `
      const { RunnerProcess } = require('@aiware-nodered/aiware-sim');
      const runner = RunnerProcess.start({ runtimeFile: ${JSON.stringify(EXAMPLE)}, workDir: ${JSON.stringify(path.join(dir, 'work'))} });
      runner.ready().then(() => console.log(JSON.stringify({ pid: runner.pid })), (err) => { console.error(err); process.exit(1); });`;
    const parent = spawn(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    let runnerPid: number | undefined;
    try {
      let output = '';
      parent.stdout.on('data', (data: Buffer) => (output += data.toString()));
      const [code] = (await Promise.race([once(parent.stdout, 'data').then(() => ['ready']), once(parent, 'exit')])) as [unknown];
      assert.equal(code, 'ready', `the parent exited first (${String(code)}): ${output}`);
      runnerPid = (JSON.parse(output) as { pid: number }).pid;
      assert.ok(!ended(runnerPid), 'the runner runs');

      parent.kill('SIGKILL');
      await once(parent, 'exit');
      await untilEnded(runnerPid, 30_000);
    } finally {
      parent.kill('SIGKILL');
      if (runnerPid !== undefined && !ended(runnerPid)) process.kill(runnerPid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
