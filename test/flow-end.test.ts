// A flow that forgets to end its task, and a result that comes after the end: a real Node-RED (the
// shared test engine, whose flowEndGraceMs is 300 ms) driven by the toolkit emulator, and a runner
// child for the setting turned off. Each story names the node the engine author has to look at.
import * as assert from 'node:assert/strict';
import type { FlowConfig } from '@aiware-nodered/node-red-runner';
import type { ToolkitEmulator, TaskRecord } from '@aiware-nodered/aiware-sim';
import { ADMIN_ROOT, captured, deploy, engine, fn, FLOW_END_GRACE_MS, heartbeat, logged, loggedWhen, onTestTab, processIn, resultOut, TRANSCRIPT_FROM_TEXT } from './support/engine';
import { CommsClient, type CommsMessage } from './support/comms';
import { ReviewService, post, reviewFlow } from './support/review';
import { startRunner } from './support/runner';
import type { PackRuntime } from '../core';

const WARN = 30;
const ERROR = 20;

/** What Node-RED logged at `level` about the toolkit's task `taskId` (its internalTaskId is in every line). */
function linesAbout(taskId: string, level: number): { id?: string; text: string }[] {
  return logged
    .filter((entry) => entry.level === level)
    .map((entry) => ({ id: entry.id, text: entry.msg instanceof Error ? entry.msg.message : String(entry.msg) }))
    .filter((line) => line.text.includes(taskId));
}

const NOTICE = 'the flow has no message of this task left';
const withNotice = (record: TaskRecord) => record.heartbeats.filter((hb) => hb.status === 'running' && (hb.infoMsg ?? '').includes(NOTICE));

describe('the end of a flow: a task the flow forgets, a result after the end', function () {
  let toolkit: ToolkitEmulator;
  let processUrl: string;
  let pack: PackRuntime;
  let comms: CommsClient;

  before(async function () {
    const h = await engine();
    toolkit = h.toolkit;
    processUrl = h.processUrl;
    pack = h.red.handle.runtime!;
    comms = await CommsClient.connect(`${h.red.url}${ADMIN_ROOT}`, ['debug', 'status/#']);
  });
  after(function () {
    comms?.close();
  });

  /** A status of node `id` shown after the comms message number `since`. */
  const statusOf =
    (id: string, match: (m: CommsMessage) => boolean, since = 0) =>
    (m: CommsMessage) =>
      m.topic === `status/${id}` && match(m) && comms.messages.indexOf(m) >= since;
  const isWarning = (m: CommsMessage) => m.data.fill === 'yellow' && m.data.shape === 'ring';
  const urlOf = (path: string) => processUrl.replace(/\/process$/, path);

  it('fails an asynchronous chunk whose flow never sends its complete heartbeat, naming the node that had the last message, within the grace', async function () {
    const inNode = processIn({ url: '/flow-end/forgot', engineType: 'chunk', respond: 'async' }, ['words']);
    await deploy([inNode, fn('words', TRANSCRIPT_FROM_TEXT, [['out']]), resultOut('out', { name: 'send words', completes: 'no' })]);
    const item = toolkit.workItem({ maxTTL: '60' });
    await toolkit.process(urlOf('/flow-end/forgot'), item, { data: 'forgotten', mimeType: 'text/plain' });
    const record = await toolkit.waitForTask(item.taskId, { timeoutMs: 10_000 });
    assert.equal(record.status, 'failed');
    assert.equal(record.failureReason, 'internal_error');
    assert.match(record.failureMsg ?? '', /^send words \(aiware-result-out out\) finished with the task's last message and nothing ended the task within 300 ms/);
    assert.match(record.failureMsg ?? '', /expected a complete heartbeat \(aiware-heartbeat with status complete\) or a last result with msg\.completeTask = true/);
    assert.equal(record.results.length, 1, 'the result went out before');
    assert.ok(record.heartbeats.at(-1)!.at - record.results[0].at >= FLOW_END_GRACE_MS, 'the grace ran from the last message');

    // Said at once, by the node that had the last message: the task's id and what it still expects.
    const [warning] = linesAbout(item.taskId, WARN);
    assert.ok(warning, `a warning about ${item.taskId}; logged: ${JSON.stringify(logged)}`);
    assert.equal(warning.id, 'out');
    assert.match(warning.text, /send words \(aiware-result-out out\) finished with the last one and nothing ended the task/);
    assert.match(warning.text, /still expects a complete heartbeat/);
    assert.match(warning.text, /fails in 300 ms/);
    // The task's heartbeats said it while the grace ran, before the failure.
    const noticed = withNotice(record);
    assert.ok(noticed.length > 0, `a running heartbeat said so: ${JSON.stringify(record.heartbeats)}`);
    assert.ok(noticed[0].at <= record.heartbeats.at(-1)!.at);
    assert.match(noticed[0].infoMsg ?? '', /send words \(aiware-result-out out\)/);
    // And so did the process-in's status, as a warning, until the failure.
    await comms.waitFor(
      statusOf(String(inNode.id), (m) => isWarning(m) && String(m.data.text).includes('last at send words')),
      5000,
      'the warning status',
    );
    await comms.waitFor(
      statusOf(String(inNode.id), (m) => m.data.fill === 'red' && String(m.data.text).includes('send words')),
      5000,
      'the failed status',
    );
  });

  it('answers a synchronous chunk whose message a switch drops with 500 naming the switch, instead of holding the request until maxTTL', async function () {
    await deploy([
      processIn({ url: '/flow-end/switch', engineType: 'chunk', respond: 'sync' }, ['route']),
      // Only English goes on; the rest is dropped, and nothing answers /process.
      {
        id: 'route',
        type: 'switch',
        name: 'english only',
        property: 'aiware.chunkMetadata.lang',
        propertyType: 'msg',
        rules: [{ t: 'eq', v: 'en', vt: 'str' }],
        checkall: 'true',
        outputs: 1,
        wires: [['words']],
      },
      fn('words', TRANSCRIPT_FROM_TEXT, [['out']]),
      resultOut('out'),
    ]);
    const url = urlOf('/flow-end/switch');
    const english = await toolkit.process(url, toolkit.workItem({ 'chunk-metadata-lang': 'en' }), { data: 'hello', mimeType: 'text/plain' });
    assert.equal(english.status, 200, 'the flow answers what it does not drop');
    const item = toolkit.workItem({ 'chunk-metadata-lang': 'fr', maxTTL: '60' });
    const answer = await toolkit.process(url, item, { data: 'bonjour', mimeType: 'text/plain' });
    assert.equal(answer.status, 500);
    const body = answer.body as { error: string; failureReason: string; node: string };
    assert.equal(body.failureReason, 'internal_error');
    assert.equal(body.node, 'english only (switch route)');
    assert.match(body.error, /its answer, the output of an aiware-result-out/);
  });

  it('a function wired to the complete heartbeat first and to aiware-result-out second: the task completes, and the late result is a flow error naming both nodes and the wire order', async function () {
    const errors: string[] = [];
    const onFlowError = (_task: unknown, text: string) => errors.push(text);
    pack.registry.on('flowError', onFlowError);
    try {
      await deploy([
        processIn({ url: '/flow-end/order', engineType: 'chunk', respond: 'async' }, ['both']),
        // The heartbeat's wire was drawn first: Node-RED delivers in that order.
        fn('both', `global.get('capture')(msg); ${TRANSCRIPT_FROM_TEXT}`, [['done', 'out']], { name: 'make words' }),
        heartbeat('done', { status: 'complete', name: 'finished' }),
        resultOut('out', { name: 'send words' }),
      ]);
      const item = toolkit.workItem();
      await toolkit.process(urlOf('/flow-end/order'), item, { data: 'lost', mimeType: 'text/plain' });
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete');
      assert.equal(record.results.length, 0, 'the result never reached the toolkit');

      await loggedWhen(() => linesAbout(item.taskId, ERROR).length > 0);
      const [error] = linesAbout(item.taskId, ERROR);
      assert.equal(error.id, 'out', 'logged by the node that came too late');
      assert.match(
        error.text,
        /finished \(aiware-heartbeat done\) ended the task \(complete\) before send words \(aiware-result-out out\) got its message: make words \(function both\) is wired to both and sends in the order its wires were drawn, the one to finished \(aiware-heartbeat done\) first/,
      );
      assert.match(error.text, /Delete that wire and draw it again, so that it comes last, or let send words \(aiware-result-out out\) end the task itself/);
      assert.equal(errors.length, 1, 'one flow error');
      assert.ok(error.text.includes(errors[0]), 'the one logged');
      const taskId = (captured[0].aiware as { taskId: string }).taskId;
      const task = pack.flowEnd.endedTask(taskId);
      assert.equal(task?.flowErrors, 1, 'counted on the task');
      assert.deepEqual(task?.endedBy, { node: { id: 'done', type: 'aiware-heartbeat', name: 'finished' }, from: { id: 'both', type: 'function', name: 'make words' } });
    } finally {
      pack.registry.off('flowError', onFlowError);
    }
  });

  it('does not fail a task whose messages wait in a delay and a join past the grace; fails the one whose joined message the flow then drops', async function () {
    await deploy([
      processIn({ url: '/flow-end/held', engineType: 'chunk', respond: 'async' }, ['split']),
      { id: 'split', type: 'split', splt: '\\n', spltType: 'str', arraySplt: 1, arraySpltType: 'len', stream: false, addname: '', wires: [['hold']] },
      { id: 'hold', type: 'delay', pauseType: 'delay', timeout: String(3 * FLOW_END_GRACE_MS), timeoutUnits: 'milliseconds', wires: [['join']] },
      { id: 'join', type: 'join', mode: 'auto', build: 'string', joiner: '\\n', joinerType: 'str', wires: [['check']] },
      fn('check', `if (msg.payload.includes('drop')) return null; ${TRANSCRIPT_FROM_TEXT}`, [['out']], { name: 'keep or drop' }),
      resultOut('out'),
    ]);
    const url = urlOf('/flow-end/held');
    const kept = toolkit.workItem({ maxTTL: '60' });
    const dropped = toolkit.workItem({ maxTTL: '60' });
    await Promise.all([toolkit.process(url, kept, { data: 'held\nand joined', mimeType: 'text/plain' }), toolkit.process(url, dropped, { data: 'drop\nthis', mimeType: 'text/plain' })]);
    const [keptRecord, droppedRecord] = await Promise.all([toolkit.waitForTask(kept.taskId), toolkit.waitForTask(dropped.taskId)]);

    assert.equal(keptRecord.status, 'complete', JSON.stringify(keptRecord));
    assert.equal(keptRecord.results.length, 1);
    assert.ok(keptRecord.closedAt! - keptRecord.createdAt >= 3 * FLOW_END_GRACE_MS, 'held longer than the grace');
    assert.deepEqual(linesAbout(kept.taskId, WARN), [], 'no warning: its messages were in the delay and the join');
    assert.deepEqual(withNotice(keptRecord), []);

    assert.equal(droppedRecord.status, 'failed');
    assert.match(droppedRecord.failureMsg ?? '', /^keep or drop \(function check\) finished with the task's last message/);
  });

  it('does not fail a task paused for a callback while it waits; fails it when the resumed message is then dropped', async function () {
    const service = await ReviewService.start();
    try {
      const { nodes } = reviewFlow();
      // The resumed branch forgets the task.
      const apply = nodes.find((n) => n.id === 'apply') as { func: string; name: string };
      apply.func = 'return null;';
      apply.name = 'apply review';
      await deploy(nodes);
      const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '120' });
      assert.equal((await toolkit.process(processUrl, item, { data: 'the cat sat', mimeType: 'text/plain' })).status, 200);
      const review = await service.request(0);
      // Nothing of the task is in flight while it waits: it keeps waiting well past the grace.
      const waiting = (hb: TaskRecord['heartbeats'][number]) => hb.status === 'running' && (hb.infoMsg ?? '').includes('waiting for a callback');
      const waited = await toolkit.waitFor((rec) => {
        const beats = rec.heartbeats.filter(waiting);
        return beats.length > 1 && beats.at(-1)!.at - beats[0].at > 2 * FLOW_END_GRACE_MS;
      }, item.taskId);
      assert.equal(waited.status, 'running');
      assert.deepEqual(linesAbout(item.taskId, WARN), []);
      assert.deepEqual(withNotice(waited), []);

      assert.equal((await post(String(review.callbackUrl), 'approved', 'text/plain')).status, 200);
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'failed');
      assert.match(record.failureMsg ?? '', /^apply review \(function apply\) finished with the task's last message/);
    } finally {
      await service.stop();
    }
  });

  describe('a flow that keeps a task in context and ends it with a later message', function () {
    // The first work item's message waits in flow context; the next one ends both tasks.
    const parking = (): FlowConfig => [
      processIn({ engineType: 'batch' }, ['park']),
      fn('park', `const parked = flow.get('parked'); if (parked) { flow.set('parked', undefined); return [[parked, msg]]; } flow.set('parked', msg); return null;`, [['done']], { name: 'park' }),
      heartbeat('done', { status: 'complete' }),
    ];

    it('fails it after the grace', async function () {
      await deploy(parking());
      const item = toolkit.workItem({ maxTTL: '60' });
      await toolkit.process(processUrl, item);
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'failed');
      assert.match(record.failureMsg ?? '', /^park \(function park\) finished with the task's last message/);
    });

    it('leaves it to the flow with flowEndGraceMs false (a runner, the setting in its runtime file)', async function () {
      const runner = startRunner({ flows: onTestTab(parking()), settings: { aiware: { flowEndGraceMs: false, heartbeatIntervalMs: 100 } } });
      try {
        const url = `${await runner.ready()}/process`;
        const first = toolkit.workItem({ maxTTL: '60' });
        await toolkit.process(url, first);
        // Parked: heartbeats go on, and nothing is said of it.
        await toolkit.waitFor((rec) => rec.heartbeats.filter((hb) => hb.status === 'running').length >= 3, first.taskId);
        const second = toolkit.workItem({ maxTTL: '60' });
        await toolkit.process(url, second);
        const [one, two] = await Promise.all([toolkit.waitForTask(first.taskId), toolkit.waitForTask(second.taskId)]);
        assert.equal(one.status, 'complete', JSON.stringify(one));
        assert.equal(two.status, 'complete');
        assert.deepEqual(withNotice(one), []);
        assert.deepEqual(
          runner.lines.filter((line) => line.msg.includes(first.taskId)),
          [],
          'no line about it',
        );
      } finally {
        await runner.kill();
      }
    });
  });

  it('withdraws the warning when a message of the task comes back within the grace', async function () {
    const inNode = processIn({ url: '/flow-end/back', engineType: 'batch' }, ['later']);
    await deploy([
      inNode,
      // Sends the message on from a timer, after the function has completed it: nothing is in flight meanwhile.
      fn('later', `setTimeout(() => node.send(msg), ${FLOW_END_GRACE_MS / 3}); return null;`, [['done']], { name: 'later' }),
      heartbeat('done', { status: 'complete' }),
    ]);
    const item = toolkit.workItem({ maxTTL: '60' });
    const since = comms.messages.length;
    await toolkit.process(urlOf('/flow-end/back'), item);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.equal(linesAbout(item.taskId, WARN).length, 1, 'warned when the function completed it');
    const warning = await comms.waitFor(statusOf(String(inNode.id), isWarning, since), 5000, 'the warning status');
    const after = await comms.waitFor(
      statusOf(String(inNode.id), (m) => !isWarning(m), comms.messages.indexOf(warning) + 1),
      5000,
      'the warning withdrawn',
    );
    assert.match(String(after.data.text), /^(1 open|listening on)/);
  });
});
