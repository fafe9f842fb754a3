// Where an engine's time goes: a flow with a node that holds each message 300 ms (a function with a
// timer) names that node as the slowest in the runner's /metrics and task log lines, in the
// simulator's summary and task files. Which node is slowest is asserted, not how fast the others are.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type TaskEnd, type TaskTimes } from '@aiware-nodered/node-red-aiware';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { startRunner, type RunnerProcess } from './support/runner';
import { ReviewRunners, post, reviewFlow } from './support/review';
import { deploy, engine, onTestTab, processIn, resultOut } from './support/engine';

const SLEEP_MS = 300;

/** An engine: a fast function, one that holds each message SLEEP_MS, a result that completes the task. */
function slowFlow(engineType: 'batch' | 'chunk'): Record<string, unknown>[] {
  return [
    { id: 'tab', type: 'tab', label: 'timing' },
    { id: 'in', z: 'tab', type: 'aiware-process-in', engineType, respond: 'sync', url: '/process', wires: [['fast']] },
    { id: 'fast', z: 'tab', type: 'function', name: 'fast', func: 'msg.payload = { object: [] }; return msg;', outputs: 1, wires: [['sleeper']] },
    { id: 'sleeper', z: 'tab', type: 'function', name: 'sleeper', func: `setTimeout(() => { node.send(msg); node.done(); }, ${SLEEP_MS});`, outputs: 1, wires: [['out']] },
    { id: 'out', z: 'tab', type: 'aiware-result-out', validate: false, completes: 'yes', wires: [] },
  ];
}

/** The value of a metric's series whose labels include all of `labels`. */
function sample(metrics: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const text = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([key, value]) => text.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('where the time goes', function () {
  this.timeout(60_000);

  describe('in the runner', function () {
    let toolkit: ToolkitEmulator;
    let runner: RunnerProcess | undefined;
    before(async function () {
      toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
    });
    afterEach(async function () {
      await runner?.kill();
      runner = undefined;
    });
    after(async function () {
      await toolkit.stop();
    });

    it("names the node that sleeps as each task's slowest, in its last log line and in /metrics, with task, webhook and retry times", async function () {
      runner = startRunner(slowFlow('batch'), { RUNNER_LOG_NODE_TIMES: '1' });
      const url = await runner.ready();
      const items = [toolkit.workItem(), toolkit.workItem()];
      // The first result post is refused once: a retry, counted by kind.
      toolkit.refuse(items[0].taskId, 'result', [503]);
      for (const item of items) assert.equal((await toolkit.process(`${url}/process`, item, { data: 'x', mimeType: 'text/plain' })).status, 200);
      for (const item of items) {
        const record = await toolkit.waitForTask(item.taskId);
        assert.equal(record.status, 'complete', JSON.stringify(record));
      }

      for (const item of items) {
        const line = await runner.waitForLog((l) => l.msg === 'task ended' && l.internalTaskId === item.taskId);
        assert.equal(line.slowestNodeId, 'sleeper', JSON.stringify(line));
        assert.equal(line.slowestNodeName, 'sleeper');
        assert.equal(line.slowestNodeType, 'function');
        assert.ok((line.slowestNodeMs as number) >= SLEEP_MS - 1, `held at least the sleep: ${JSON.stringify(line)}`);
        const nodes = line.nodes as { id: string; count: number }[];
        assert.deepEqual(nodes.map((n) => n.id).sort(), ['fast', 'out', 'sleeper']);
        assert.ok(nodes.every((n) => n.count === 1));
      }

      const metrics = await (await fetch(`${url}/metrics`)).text();
      const sums = Object.fromEntries(['fast', 'sleeper', 'out'].map((id) => [id, sample(metrics, 'aiware_node_duration_seconds_sum', { node_id: id })]));
      const slowest = Object.entries(sums).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))[0];
      assert.equal(slowest[0], 'sleeper', metrics);
      assert.ok((sums.sleeper ?? 0) >= (2 * (SLEEP_MS - 1)) / 1000);
      assert.equal(sample(metrics, 'aiware_node_duration_seconds_count', { node_id: 'sleeper', node_type: 'function', node_name: 'sleeper' }), 2);
      // A histogram Prometheus reads: cumulative buckets, none of the sleeper's tasks under its sleep.
      assert.equal(sample(metrics, 'aiware_node_duration_seconds_bucket', { node_id: 'sleeper', le: '+Inf' }), 2);
      assert.equal(sample(metrics, 'aiware_node_duration_seconds_bucket', { node_id: 'sleeper', le: '0.25' }), 0);
      assert.match(metrics, /# TYPE aiware_node_duration_seconds histogram/);
      assert.equal(sample(metrics, 'aiware_node_messages_total', { node_id: 'sleeper' }), 2);
      assert.equal(sample(metrics, 'aiware_task_duration_seconds_count', { engine_type: 'batch', state: 'complete' }), 2);
      assert.ok((sample(metrics, 'aiware_task_duration_seconds_sum', { engine_type: 'batch', state: 'complete' }) ?? 0) >= (2 * (SLEEP_MS - 1)) / 1000);
      assert.equal(sample(metrics, 'aiware_webhook_duration_seconds_count', { kind: 'result', method: 'POST', status: '503' }), 1);
      assert.equal(sample(metrics, 'aiware_webhook_duration_seconds_count', { kind: 'result', method: 'POST', status: '204' }), 2);
      assert.ok((sample(metrics, 'aiware_webhook_duration_seconds_count', { kind: 'heartbeat', method: 'POST', status: '204' }) ?? 0) >= 2);
      assert.equal(sample(metrics, 'aiware_webhook_retries_total', { kind: 'result' }), 1);
      for (const name of ['aiware_pauses_total', 'aiware_wakeups_total', 'aiware_pauses_waiting', 'aiware_node_queue_seconds_total']) assert.match(metrics, new RegExp(`# TYPE ${name} `));
    });

    it("counts how far each automatic running heartbeat was sent from one interval after its task's last, in /metrics", async function () {
      // An asynchronous task held 1 s, heartbeats every 200 ms: about four periods.
      const flow = [
        { id: 'tab', type: 'tab', label: 'heartbeats' },
        { id: 'in', z: 'tab', type: 'aiware-process-in', engineType: 'stream', respond: 'async', url: '/process', wires: [['hold']] },
        { id: 'hold', z: 'tab', type: 'function', func: 'setTimeout(() => { msg.payload = { object: [] }; node.send(msg); node.done(); }, 1000);', outputs: 1, wires: [['out']] },
        { id: 'out', z: 'tab', type: 'aiware-result-out', validate: false, completes: 'yes', wires: [] },
      ];
      runner = startRunner({ flows: flow, settings: { aiware: { heartbeatIntervalMs: 200 } } });
      const url = await runner.ready();
      const before = await (await fetch(`${url}/metrics`)).text();
      assert.equal(sample(before, 'aiware_heartbeat_period_deviation_seconds_count', {}), 0);
      assert.match(before, /# TYPE aiware_heartbeat_period_deviation_seconds histogram/);
      const item = toolkit.workItem();
      assert.equal((await toolkit.process(`${url}/process`, item)).status, 200);
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete', JSON.stringify(record));
      const running = record.heartbeats.filter((hb) => hb.status === 'running').length;
      const metrics = await (await fetch(`${url}/metrics`)).text();
      // One period between each two running heartbeats the wheel sent.
      assert.equal(sample(metrics, 'aiware_heartbeat_period_deviation_seconds_count', {}), running - 1, metrics);
      assert.ok(running >= 3, `${running} running heartbeats`);
      assert.equal(sample(metrics, 'aiware_heartbeat_period_deviation_seconds_bucket', { le: '+Inf' }), running - 1);
    });
  });

  describe('in Node-RED, through its message hooks', function () {
    it('times a switch, a link out and in (handed over directly), a delay and the result node, the delay slowest', async function () {
      const inNode = processIn({ url: '/timing/kinds' }, ['route']);
      await deploy(
        onTestTab([
          inNode,
          { id: 'route', type: 'switch', name: 'route', property: 'payload', propertyType: 'msg', rules: [{ t: 'nnull' }], checkall: 'true', outputs: 1, wires: [['hop']] },
          { id: 'hop', type: 'link out', mode: 'link', links: ['land'], wires: [] },
          { id: 'land', type: 'link in', links: ['hop'], wires: [['wait']] },
          { id: 'wait', type: 'delay', name: 'wait', pauseType: 'delay', timeout: String(SLEEP_MS), timeoutUnits: 'milliseconds', wires: [['out']] },
          resultOut('out', { validate: false }),
        ]),
      );
      const h = await engine();
      const timing = h.red.handle.runtime!.timing!;
      const item = h.toolkit.workItem();
      const ended = new Promise<TaskTimes>((resolve) => {
        const onTimes = (end: TaskEnd, times: TaskTimes) => {
          if (end.task.fields.internalTaskId !== item.taskId) return;
          timing.off('times', onTimes);
          resolve(times);
        };
        timing.on('times', onTimes);
      });
      const answer = await h.toolkit.process(h.processUrl.replace(/\/process$/, '/timing/kinds'), item, { data: 'timed', mimeType: 'text/plain' });
      assert.equal(answer.status, 200);
      const times = await ended;
      assert.deepEqual(times.nodes.map((n) => n.id).sort(), ['hop', 'land', 'out', 'route', 'wait']);
      assert.equal(times.nodes[0].id, 'wait', JSON.stringify(times));
      assert.ok(times.nodes[0].ms >= SLEEP_MS - 1);
      assert.ok(
        times.nodes.every((n) => n.count === 1 && n.queueMs >= 0 && n.ms <= times.totalMs),
        JSON.stringify(times),
      );
      // The nodes' parts, summed since the deploy.
      assert.ok(timing.totals().some((n) => n.id === 'wait' && n.tasks >= 1));
    });
  });

  describe('a pause and its wake-up', function () {
    const stage = new ReviewRunners('aiware-timing-pause-');

    it("counts the pause open while it waits and its wake-up once resumed, and the wait as the pause node's time", async function () {
      const { toolkit, service } = stage;
      const { nodes, pauseId } = reviewFlow();
      const runner = stage.start(nodes);
      const url = await runner.ready();
      const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '3600' });
      assert.equal((await toolkit.process(`${url}/process`, item, { data: 'uh wait', mimeType: 'text/plain' })).status, 200);
      const callbackUrl = String((await service.request(0, 30_000)).callbackUrl);
      const waiting = await (await fetch(`${url}/metrics`)).text();
      assert.equal(sample(waiting, 'aiware_pauses_total', { mode: 'local' }), 1, waiting);
      assert.equal(sample(waiting, 'aiware_pauses_waiting', {}), 1);

      // Called back after at least SLEEP_MS: the pause node held the task's message that long.
      await new Promise((resolve) => setTimeout(resolve, SLEEP_MS));
      assert.equal((await post(callbackUrl, { words: [{ word: 'fine', confidence: 1 }] })).status, 200);
      assert.equal((await toolkit.waitForTask(item.taskId, { timeoutMs: 30_000 })).status, 'complete');
      const line = await runner.waitForLog((l) => l.msg === 'task ended' && l.internalTaskId === item.taskId);
      assert.equal(line.slowestNodeId, pauseId, JSON.stringify(line));
      assert.equal(line.nodes, undefined, "every node's part only with RUNNER_LOG_NODE_TIMES");
      assert.ok((line.slowestNodeMs as number) >= SLEEP_MS - 1);
      const woken = await (await fetch(`${url}/metrics`)).text();
      assert.equal(sample(woken, 'aiware_wakeups_total', { mode: 'local', outcome: 'resumed' }), 1, woken);
      assert.equal(sample(woken, 'aiware_pauses_waiting', {}), 0);
    });
  });

  describe('in the simulator', function () {
    it('shows the node that sleeps first in "where the time went", and each task file keeps its per-node times', async function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-timing-'));
      try {
        fs.writeFileSync(path.join(dir, 'flow.json'), JSON.stringify(slowFlow('chunk')));
        for (const name of ['a.txt', 'b.txt']) fs.writeFileSync(path.join(dir, name), name);
        const out = path.join(dir, 'out');
        const cli = path.join(path.dirname(require.resolve('@aiware-nodered/aiware-sim/package.json')), 'bin', 'aiware-sim');
        const child = spawn(process.execPath, [cli, 'run', '--runtime', path.join(dir, 'flow.json'), '--out', out, path.join(dir, 'a.txt'), path.join(dir, 'b.txt')], {
          cwd: PACK_DIR,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
        child.stderr.resume();
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        assert.equal(code, 0, stdout);

        const table = stdout.slice(stdout.indexOf('where the time went'));
        assert.ok(table.startsWith('where the time went'), stdout);
        const [, header, first] = table.split('\n');
        assert.match(header, /^node\s+tasks\s+messages\s+p50\s+p95\s+max\s+share$/);
        assert.match(first, /^sleeper \(function sleeper\)\s+2\s+2\s/, table);
        // The task table comes first.
        assert.ok(stdout.indexOf('failureReason') < stdout.indexOf('where the time went'));

        const task = JSON.parse(fs.readFileSync(path.join(out, 'task-1.json'), 'utf8')) as { nodeTimes: { slowest: string; taskMs: number; nodes: { id: string; ms: number }[] } };
        assert.equal(task.nodeTimes.slowest, 'sleeper (function sleeper)');
        assert.equal(task.nodeTimes.nodes[0].id, 'sleeper');
        assert.ok(task.nodeTimes.nodes[0].ms >= SLEEP_MS - 1);
        const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { tasks: { slowestNode?: string }[] };
        assert.deepEqual(
          summary.tasks.map((t) => t.slowestNode),
          ['sleeper (function sleeper)', 'sleeper (function sleeper)'],
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
