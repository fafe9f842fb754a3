// The runner as Engine Toolkit starts it: a child process with a runtime file, driven by the
// toolkit emulator over loopback. Each engine type end to end, each start-up failure, the drain.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { ToolkitEmulator, type LogLine } from '@aiware-nodered/aiware-sim';
import { startRunner, pollStatus, type RunnerProcess } from './support/runner';

const run = promisify(execFile);
const example = (name: string) => JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'examples', name), 'utf8')) as Record<string, unknown>[];

/** A batch engine that completes after `ms`, or never when `ms` is 0. */
function slowBatch(ms: number): Record<string, unknown>[] {
  return [
    { id: 'tab', type: 'tab', label: 'slow' },
    { id: 'in', z: 'tab', type: 'aiware-process-in', engineType: 'batch', url: '/process', readyUrl: '/readyz', x: 100, y: 100, wires: [[ms ? 'wait' : 'sink']] },
    { id: 'wait', z: 'tab', type: 'delay', pauseType: 'delay', timeout: String(ms), timeoutUnits: 'milliseconds', x: 300, y: 100, wires: [['done']] },
    { id: 'done', z: 'tab', type: 'aiware-heartbeat', status: 'complete', x: 500, y: 100, wires: [[]] },
    { id: 'sink', z: 'tab', type: 'function', func: 'node.warn(msg.aiware); return null;', outputs: 1, x: 300, y: 200, wires: [[]] },
  ];
}

describe('the runner', function () {
  this.timeout(60_000);
  let toolkit: ToolkitEmulator;
  const runners: RunnerProcess[] = [];
  const start = (runtime: unknown, env?: Record<string, string>) => {
    const runner = startRunner(runtime, env);
    runners.push(runner);
    return runner;
  };

  before(async function () {
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  });
  afterEach(async function () {
    await Promise.all(runners.splice(0).map((r) => r.kill()));
  });
  after(async function () {
    await toolkit.stop();
  });

  describe('runs each engine type end to end', function () {
    it('a synchronous chunk engine (a flow export without a tab)', async function () {
      const runner = start(example('chunk-text-to-transcript.json'));
      const url = await runner.ready();
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      const answer = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'runs headless', mimeType: 'text/plain' });
      assert.equal(answer.status, 200);
      assert.deepEqual(
        (answer.body as { series: { words: { word: string }[] }[] }).series.map((s) => s.words[0].word),
        ['runs', 'headless'],
      );
      runner.signal('SIGTERM');
      assert.equal(await runner.waitExit(), 0);
      assert.ok(runner.lines.some((l) => l.msg === 'task ended' && l.engineId === 'engine-1' && l.buildId === 'build-1' && typeof l.taskId === 'string' && typeof l.nodeId === 'string'));
      assert.ok(!runner.lines.some((l) => l.msg === 'task open'), 'no debug line at the default level');
    });

    it("serves ET's /process with the build's only aiware-process-in whatever its path, and with the one on the path when there are several", async function () {
      const only = start([
        { id: 'p', type: 'aiware-process-in', url: '/mine/process', engineType: 'chunk', wires: [['r']] },
        { id: 'r', type: 'aiware-result-out', validate: false, wires: [] },
      ]);
      const url = await only.ready();
      assert.equal(only.lines.find((l) => l.msg === 'ready')?.processIn, '/mine/process');
      for (const path of ['/process', '/mine/process']) {
        const answer = await toolkit.process(`${url}${path}`, toolkit.workItem(), { data: 'via ' + path, mimeType: 'text/plain' });
        assert.deepEqual([answer.status, answer.body], [200, 'via ' + path]);
      }
      const two = start([
        { id: 'a', type: 'aiware-process-in', url: '/process', engineType: 'chunk', wires: [['ra']] },
        { id: 'ra', type: 'aiware-result-out', validate: false, wires: [] },
        { id: 'b', type: 'aiware-process-in', url: '/other/process', engineType: 'chunk', wires: [[]] },
      ]);
      const twoUrl = await two.ready();
      assert.equal(two.lines.find((l) => l.msg === 'ready')?.processIn, '/process');
      assert.equal((await toolkit.process(`${twoUrl}/process`, toolkit.workItem(), { data: 'the one on /process', mimeType: 'text/plain' })).body, 'the one on /process');
    });

    it('a hand-written runtime file whose nodes have no x and y, joined by link nodes: it runs', async function () {
      // Node-RED takes a node without a position for a config node, and two that name each other
      // (a link out and its link in) for a circular dependency that stops the flows (runner/embedded.ts withPositions).
      const runner = start([
        { id: 'p', type: 'aiware-process-in', url: '/process', engineType: 'chunk', wires: [['out']] },
        { id: 'out', type: 'link out', mode: 'link', links: ['in'], wires: [] },
        { id: 'in', type: 'link in', links: ['out'], wires: [['f']] },
        { id: 'f', type: 'function', func: "msg.payload = 'linked: ' + msg.payload; return msg;", outputs: 1, wires: [['r']] },
        { id: 'r', type: 'aiware-result-out', validate: false, wires: [] },
      ]);
      const url = await runner.ready();
      const answer = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'a chunk', mimeType: 'text/plain' });
      assert.deepEqual([answer.status, answer.body], [200, 'linked: a chunk']);
    });

    it('a build with a subflow, a disabled node and a disabled tab: all that should run is found started', async function () {
      const runner = start([
        { id: 't', type: 'tab' },
        { id: 'off', type: 'tab', disabled: true },
        { id: 'sf', type: 'subflow', name: 'upper', in: [{ x: 50, y: 30, wires: [{ id: 'sf-fn' }] }], out: [{ x: 300, y: 30, wires: [{ id: 'sf-fn', port: 0 }] }] },
        { id: 'sf-fn', z: 'sf', type: 'function', func: 'msg.payload = String(msg.payload).toUpperCase(); return msg;', outputs: 1, wires: [[]], x: 150, y: 30 },
        { id: 'p', z: 't', type: 'aiware-process-in', url: '/process', wires: [['inst']], x: 100, y: 40 },
        { id: 'inst', z: 't', type: 'subflow:sf', wires: [['r']], x: 200, y: 40 },
        { id: 'r', z: 't', type: 'aiware-result-out', validate: false, wires: [], x: 300, y: 40 },
        { id: 'skipped', z: 't', type: 'function', func: 'return msg;', d: true, wires: [[]], x: 100, y: 100 },
        { id: 'elsewhere', z: 'off', type: 'function', func: 'return msg;', wires: [[]], x: 100, y: 40 },
      ]);
      const url = await runner.ready();
      const answer = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'through a subflow', mimeType: 'text/plain' });
      assert.deepEqual([answer.status, answer.body], [200, 'THROUGH A SUBFLOW']);
    });

    it('a stream engine, from the object form {flows, settings}', async function () {
      const runner = start({ flows: example('stream-lines-from-cache.json'), settings: { functionTimeout: 5 } });
      const url = await runner.ready();
      const item = toolkit.workItem();
      toolkit.setCache(item.taskId, { data: 'alpha beta\ngamma\n', mimeType: 'text/plain' });
      assert.equal((await toolkit.process(`${url}/process`, item)).status, 200);
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete');
      assert.equal(record.results.length, 2);
      assert.deepEqual(record.violations, []);
    });

    it('a batch engine, with ENGINE_ID and BUILD_ID given to the flow', async function () {
      const flows = example('batch-progress-and-failure.json');
      const step = flows.find((n) => n.name === 'do the steps')!;
      step.func = `msg.aiware.payload.steps = 1; node.send({ aiware: msg.aiware, heartbeat: { status: 'complete', infoMsg: env.get('ENGINE_ID') + '/' + env.get('BUILD_ID') } }); return null;`;
      const runner = start(flows);
      const url = await runner.ready();
      const item = toolkit.workItem();
      await toolkit.process(`${url}/process`, item);
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete');
      assert.equal(record.heartbeats.at(-1)?.infoMsg, 'engine-1/build-1');
    });
  });

  describe('stops start-up with one message naming the file and the problem', function () {
    const failures: { name: string; runtime: unknown; problem: RegExp; types?: string[] }[] = [
      { name: 'a missing file', runtime: undefined, problem: /does not exist/ },
      { name: 'bad JSON', runtime: '[{"id": "a", ', problem: /is not JSON/ },
      { name: 'a schema error', runtime: { flows: [{ id: 'a' }] }, problem: /"flows"\[0\] has no "type" string/ },
      { name: 'an unknown top-level property', runtime: { flows: [], modulez: {} }, problem: /unknown top-level property modulez/ },
      {
        name: 'node types no module provides',
        runtime: [
          { id: 't', type: 'tab' },
          { id: 'a', z: 't', type: 'aiware-process-in', wires: [['b']] },
          { id: 'b', z: 't', type: 'no-such-node', wires: [] },
          { id: 'c', z: 't', type: 'another-missing', wires: [] },
        ],
        problem: /node types no installed module provides: another-missing, no-such-node/,
        types: ['another-missing', 'no-such-node'],
      },
      {
        name: 'flows without an aiware-process-in',
        runtime: [
          { id: 't', type: 'tab' },
          { id: 'f', z: 't', type: 'function', func: 'return msg;', wires: [] },
        ],
        problem: /no aiware-process-in serves POST \/process/,
      },
      {
        name: 'two aiware-process-in, neither on the VERITONE_WEBHOOK_PROCESS path',
        runtime: [
          { id: 't', type: 'tab' },
          { id: 'p1', z: 't', type: 'aiware-process-in', url: '/one/process', wires: [[]] },
          { id: 'p2', z: 't', type: 'aiware-process-in', url: '/two/process', wires: [[]] },
        ],
        problem: /no aiware-process-in serves POST \/process \(VERITONE_WEBHOOK_PROCESS\) and the build has 2 \(\/one\/process, \/two\/process\)/,
      },
      {
        // Node-RED only prints the error of a flow it cannot start, and reports its flows started.
        name: 'a flow Node-RED cannot start (two config nodes that name each other)',
        runtime: [
          { id: 't', type: 'tab' },
          { id: 'p', z: 't', type: 'aiware-process-in', url: '/process', wires: [['r']], x: 100, y: 40 },
          { id: 'r', z: 't', type: 'aiware-result-out', validate: false, wires: [], x: 300, y: 40 },
          { id: 'tls-a', z: 't', type: 'tls-config', name: 'tls-b' },
          { id: 'tls-b', z: 't', type: 'tls-config', name: 'tls-a' },
        ],
        problem: /Node-RED did not start 4 nodes of its flows \(aiware-process-in "p", aiware-result-out "r", tls-config "tls-b", tls-config "tls-a"\): its log above says why/,
      },
      {
        name: 'encrypted credentials without a secret',
        runtime: { flows: example('chunk-text-to-transcript.json'), credentials: { $: 'abcdef0123456789abcdef0123456789AAAA' } },
        problem: /credentials are encrypted and RUNNER_CREDENTIAL_SECRET is not set/,
      },
    ];
    for (const failure of failures) {
      it(`${failure.name}: /readyz answers 500 while it fails, then it exits non-zero`, async function () {
        const runner = start(failure.runtime);
        const url = await runner.url();
        assert.equal(await pollStatus(`${url}/readyz`, (s) => s === 500), 500);
        const body = (await (await fetch(`${url}/readyz`)).json()) as { error: string };
        assert.match(body.error, failure.problem);
        const work = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'x', mimeType: 'text/plain' });
        assert.equal(work.status, 500, 'work sent to a failed engine is a 5xx, never a 4xx');
        runner.signal('SIGTERM');
        const code = await runner.waitExit();
        assert.notEqual(code, 0);
        const fatal = runner.lines.filter((l) => l.level === 'fatal');
        assert.equal(fatal.length, 1, runner.output);
        assert.match(fatal[0].msg, new RegExp(`build runtime ${runner.runtimeFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
        assert.match(fatal[0].msg, failure.problem);
        if (failure.types) assert.deepEqual(fatal[0].missingTypes, failure.types);
      });
    }

    it('exits by itself once the linger time has passed', async function () {
      const runner = start('not json', { RUNNER_FAIL_LINGER_SECONDS: '0.2' });
      assert.equal(await runner.waitExit(), 1);
    });
  });

  describe('extra node modules', function () {
    let fixtures: string;
    let tarball: string;

    before(async function () {
      fixtures = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-modules-'));
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', fixtures, path.join(PACK_DIR, 'test', 'fixtures', 'modules', 'node-red-contrib-fixture-upper')]);
      tarball = path.join(fixtures, (JSON.parse(stdout) as { filename: string }[])[0].filename);
    });
    after(function () {
      fs.rmSync(fixtures, { recursive: true, force: true });
    });

    /** The chunk example with the fixture's node between the function and the result. */
    function upperEngine(): unknown {
      const flows = example('chunk-text-to-transcript.json');
      const words = flows.find((n) => n.type === 'function')!;
      const upper = { id: 'upper', type: 'fixture-upper', x: 200, y: 200, wires: [[words.id as string]] };
      flows.find((n) => n.type === 'aiware-process-in')!.wires = [['upper']];
      return { flows: [...flows, upper], modules: { 'node-red-contrib-fixture-upper': path.basename(tarball) } };
    }

    it('installs them once when two runners start at the same moment, and a third start reuses them offline', async function () {
      const share = path.join(fixtures, 'share');
      const env = { AIWARE_AUTOMATE_SHARE_FOLDER: share };
      const runtime = upperEngine();
      const copy = (dir: string) => {
        fs.mkdirSync(dir);
        fs.copyFileSync(tarball, path.join(dir, path.basename(tarball)));
        return dir;
      };
      const a = startRunner(runtime, env, { dir: copy(path.join(fixtures, 'a')) });
      const b = startRunner(runtime, env, { dir: copy(path.join(fixtures, 'b')) });
      runners.push(a, b);
      const [urlA, urlB] = await Promise.all([a.ready(), b.ready()]);
      const outcomes = [a, b].map((r) => r.lines.find((l) => l.msg === 'modules installed' || l.msg === 'modules reused')!.msg).sort();
      assert.deepEqual(outcomes, ['modules installed', 'modules reused']);
      for (const url of [urlA, urlB]) {
        const answer = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'shout this', mimeType: 'text/plain' });
        assert.deepEqual(
          (answer.body as { series: { words: { word: string }[] }[] }).series.map((s) => s.words[0].word),
          ['SHOUT', 'THIS'],
        );
      }
      // No registry at all: a start that needed npm would fail.
      const c = startRunner(runtime, { ...env, npm_config_registry: 'http://127.0.0.1:9/', npm_config_offline: 'true' }, { dir: copy(path.join(fixtures, 'c')) });
      runners.push(c);
      await c.ready();
      assert.ok(c.lines.some((l) => l.msg === 'modules reused'));
    });

    it('fails loudly when the build brings a second copy of the aiWARE pack (a fork under another name)', async function () {
      this.timeout(180_000);
      // The fork: this pack's compiled nodes under another package name, so Node-RED loads both.
      const fork = path.join(fixtures, 'fork');
      fs.cpSync(path.join(PACK_DIR, 'dist', 'core'), path.join(fork, 'dist', 'core'), { recursive: true });
      fs.cpSync(path.join(PACK_DIR, 'dist', 'nodes'), path.join(fork, 'dist', 'nodes'), { recursive: true });
      const pack = JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      const manifest = {
        name: 'node-red-contrib-aiware-fork',
        version: '1.0.0',
        dependencies: pack.dependencies,
        'node-red': { nodes: { 'aiware-fork-result-out': 'dist/nodes/aiware-result-out/aiware-result-out.js' } },
      };
      fs.writeFileSync(path.join(fork, 'package.json'), JSON.stringify(manifest));
      const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', fixtures, fork]);
      const forkTarball = (JSON.parse(stdout) as { filename: string }[])[0].filename;
      const dir = fs.mkdtempSync(path.join(fixtures, 'forked-'));
      fs.copyFileSync(path.join(fixtures, forkTarball), path.join(dir, forkTarball));
      const runtime = { flows: example('chunk-text-to-transcript.json'), modules: { 'node-red-contrib-aiware-fork': forkTarball } };
      const runner = startRunner(runtime, { AIWARE_AUTOMATE_SHARE_FOLDER: path.join(fixtures, 'fork-share') }, { dir });
      runners.push(runner);
      const url = await runner.url();
      await pollStatus(`${url}/readyz`, (s) => s === 500, 120_000).catch((err: Error) => {
        throw new Error(`${err.message}; the runner said:\n${runner.output}`);
      });
      const fatal = runner.lines.find((l) => l.level === 'fatal');
      assert.match(fatal?.msg ?? '', /two copies of the aiWARE node pack are loaded into one Node-RED/, runner.output);
      assert.ok(fatal?.msg.includes(PACK_DIR) && fatal.msg.includes('node-red-contrib-aiware-fork'), fatal?.msg);
    });

    it('stops with a message when modules are named but there is no share folder', async function () {
      const runner = start(upperEngine());
      const url = await runner.url();
      await pollStatus(`${url}/readyz`, (s) => s === 500);
      assert.match(runner.lines.find((l) => l.level === 'fatal')!.msg, /names modules \(node-red-contrib-fixture-upper\) but AIWARE_AUTOMATE_SHARE_FOLDER is not set/);
    });
  });

  it('starts with credentials encrypted as Node-RED encrypts them, given the secret', async function () {
    const secret = 'build-secret';
    const key = crypto.createHash('sha256').update(secret).digest();
    const iv = crypto.randomBytes(16);
    const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
    const encrypted = iv.toString('hex') + cipher.update(JSON.stringify({ someNode: { password: 'p' } }), 'utf8', 'base64') + cipher.final('base64');
    const runner = start({ flows: example('chunk-text-to-transcript.json'), credentials: { $: encrypted } }, { RUNNER_CREDENTIAL_SECRET: secret });
    await runner.ready();
    assert.ok(!runner.output.includes(secret), 'the secret is never logged');

    const wrong = start({ flows: example('chunk-text-to-transcript.json'), credentials: { $: encrypted } }, { RUNNER_CREDENTIAL_SECRET: 'not-it' });
    const url = await wrong.url();
    await pollStatus(`${url}/readyz`, (s) => s === 500);
    assert.match(wrong.lines.find((l) => l.level === 'fatal')!.msg, /cannot be decrypted/);
  });

  it('drains on SIGTERM: readiness and new work get 503, an open task finishes, exit 0', async function () {
    const runner = start(slowBatch(1500));
    const url = await runner.ready();
    const item = toolkit.workItem();
    await toolkit.process(`${url}/process`, item);
    runner.signal('SIGTERM');
    await runner.waitForLog((l) => l.msg === 'draining');
    assert.equal((await fetch(`${url}/readyz`)).status, 503);
    const refused = await toolkit.process(`${url}/process`, toolkit.workItem());
    assert.equal(refused.status, 503);
    assert.equal(await runner.waitExit(), 0);
    assert.equal(toolkit.task(item.taskId).status, 'complete', 'the open task finished within the grace period');
  });

  it('fails a task still open when the grace period ends, with system_error, then exits 0', async function () {
    const runner = start(slowBatch(0), { RUNNER_GRACE_SECONDS: '0.3' });
    const url = await runner.ready();
    const item = toolkit.workItem();
    await toolkit.process(`${url}/process`, item);
    runner.signal('SIGTERM');
    assert.equal(await runner.waitExit(), 0);
    const record = toolkit.task(item.taskId);
    assert.equal(record.status, 'failed');
    assert.equal(record.failureReason, 'system_error');
    assert.match(record.failureMsg ?? '', /shut down \(SIGTERM\)/);
  });

  it('exits at once on a second signal, sending open tasks their failed heartbeat first (within 1 s)', async function () {
    const runner = start(slowBatch(0), { RUNNER_GRACE_SECONDS: '30' });
    const url = await runner.ready();
    const item = toolkit.workItem();
    await toolkit.process(`${url}/process`, item);
    runner.signal('SIGTERM');
    await runner.waitForLog((l) => l.msg === 'draining');
    runner.signal('SIGINT');
    assert.equal(await runner.waitExit(), 130);
    const record = toolkit.task(item.taskId);
    assert.equal(record.status, 'failed');
    assert.equal(record.failureReason, 'system_error');
    assert.match(record.failureMsg ?? '', /stopped at once \(a second SIGINT\)/);
  });

  it('never logs tokens, even when a flow prints the task', async function () {
    const runner = start(slowBatch(0), { RUNNER_GRACE_SECONDS: '0' });
    const url = await runner.ready();
    await toolkit.process(`${url}/process`, toolkit.workItem({ token: 'tok-SECRET-1234', controllerToken: 'ctl-SECRET-5678' }));
    await runner.waitForLog((l) => l.source === 'node-red' && String(l.msg).includes('chunkContext'));
    runner.signal('SIGTERM');
    await runner.waitExit();
    assert.ok(!runner.output.includes('SECRET'), runner.output);
  });

  it("scrubs the task's tokens from a failure a flow makes of them: the log, the failed heartbeat and the sync answer", async function () {
    // A function node that puts both tokens in its error, for a sync and an async chunk engine.
    const leaky = (respond: string): Record<string, unknown>[] => [
      { id: 'tab', type: 'tab', label: 'leaky' },
      { id: 'in', z: 'tab', type: 'aiware-process-in', url: '/process', readyUrl: '/readyz', engineType: 'chunk', respond, wires: [['boom']] },
      { id: 'boom', z: 'tab', type: 'function', func: "throw new Error('cannot call the API with ' + msg.aiware.token + ' / ' + msg.aiware.controllerToken);", outputs: 1, wires: [[]] },
    ];
    const tokens = { token: 'tok-LEAK-1234', controllerToken: 'ctl-LEAK-5678' };
    for (const respond of ['sync', 'async']) {
      const runner = start(leaky(respond));
      const url = await runner.ready();
      const item = toolkit.workItem(tokens);
      const answer = await toolkit.process(`${url}/process`, item, { data: 'x', mimeType: 'text/plain' });
      const failed = await runner.waitForLog((l) => l.msg === 'task failed');
      assert.match(String(failed.failureMsg), /cannot call the API with \[redacted\] \/ \[redacted\]/);
      if (respond === 'sync') {
        assert.equal(answer.status, 500);
        assert.match(JSON.stringify(answer.body), /\[redacted\]/);
        assert.ok(!JSON.stringify(answer.body).includes('LEAK'), JSON.stringify(answer.body));
      } else {
        const record = await toolkit.waitForTask(item.taskId);
        assert.equal(record.status, 'failed');
        const last = record.heartbeats.at(-1)!;
        assert.ok(!String(last.failureMsg).includes('LEAK') && String(last.failureMsg).includes('[redacted]'), last.failureMsg);
      }
      runner.signal('SIGTERM');
      await runner.waitExit();
      assert.ok(!runner.output.includes('LEAK'), runner.output);
    }
  });

  it('serves /metrics, keeps the editor off by default, and opens it behind a password when asked', async function () {
    const plain = start(example('chunk-text-to-transcript.json'));
    const url = await plain.ready();
    await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'count me', mimeType: 'text/plain' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /aiware_tasks_total\{state="complete",reason="",engine_id="engine-1",build_id="build-1"\} 1/);
    assert.match(metrics, /aiware_tasks_open\{[^}]*\} 0/);
    assert.match(metrics, /aiware_process_duration_seconds_count\{[^}]*status="200"[^}]*\} 1/);
    assert.match(metrics, /aiware_webhook_retries_total/);
    // /metrics on a port of its own, or off.
    const apart = start(example('chunk-text-to-transcript.json'), { RUNNER_METRICS_PORT: '0' });
    const apartUrl = await apart.ready();
    const metricsPort = (await apart.waitForLog((l) => l.msg === 'metrics listening')).port as number;
    assert.match(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), /aiware_tasks_open/);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/process`, { method: 'POST' })).status, 404, 'nothing else is served there');
    assert.equal((await fetch(`${apartUrl}/metrics`)).status, 404, 'not on the /process port then');
    const off = start(example('chunk-text-to-transcript.json'), { RUNNER_METRICS_PORT: 'off' });
    assert.equal((await fetch(`${await off.ready()}/metrics`)).status, 404);
    assert.equal((await fetch(`${url}/editor/`)).status, 404);
    assert.equal((await fetch(`${url}/flows`)).status, 404);

    // bcrypt hash of "password", as `node-red admin hash-pw` makes it.
    const hash = '$2b$08$85G3N/0vRQnh1UHEjsgvreTmv7FZIQ1jFvfv8adhJTX/9A7XIIcCi';
    const editor = start(example('chunk-text-to-transcript.json'), { RUNNER_EDITOR: 'true', RUNNER_EDITOR_PASSWORD_HASH: hash });
    const editorUrl = await editor.ready();
    assert.equal((await fetch(`${editorUrl}/editor/`)).status, 200);
    assert.equal((await fetch(`${editorUrl}/editor/flows`)).status, 401, 'the admin API wants the password');

    // Failed logins are counted per client address, not per user name as Node-RED counts them: a stranger
    // (here from 127.0.0.2) is refused with 429 after 5, and cannot lock `admin` out for its own address.
    const login = (password: string, localAddress = '127.0.0.1') =>
      new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
        const body = new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password }).toString();
        const req = http.request(
          `${editorUrl}/editor/auth/token`,
          { method: 'POST', localAddress, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login('wrong', '127.0.0.2')).status);
    assert.deepEqual(statuses, [403, 403, 403, 403, 403, 429, 429, 429, 429, 429]);
    const locked = await login('password', '127.0.0.2');
    assert.equal(locked.status, 429, 'that address is refused, even with the right password');
    assert.ok(Number(locked.retryAfter) > 590 && Number(locked.retryAfter) <= 600, locked.retryAfter);
    assert.match(locked.body, /Too many failed logins from this address.*RUNNER_EDITOR_LOGIN_ATTEMPTS/);
    const admin = await login('password');
    assert.equal(admin.status, 200, `the admin logs in from another address: ${admin.body}`);
    assert.ok((JSON.parse(admin.body) as { access_token?: string }).access_token);
    for (let i = 0; i < 7; i++) assert.equal((await login('password')).status, 200, 'right passwords never lock the name');
    // Logged at the sixth attempt; read from the runner's pipe, it may come after the answers.
    const lockout = (line: LogLine): boolean => String(line.msg).startsWith('editor login: too many failed logins');
    await editor.waitForLog(lockout);
    const warned = editor.lines.filter(lockout);
    assert.equal(warned.length, 1, 'one line for the address, not one per attempt');
    assert.equal(warned[0].remoteAddress, '127.0.0.2');
  });
});
