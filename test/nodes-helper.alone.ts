// aiware-result-out, aiware-heartbeat, aiware-pause-for-callback and aiware-process-in's try-it route
// under node-red-node-test-helper, with a Catch and a Complete node scoped to the node under test (as
// core's 89-delay_spec.js does). The helper drives this process's Node-RED runtime modules, and the
// pack keeps one runtime per process (nodes/shared/runtime.ts): so this suite runs in a Node of its
// own, started by test/nodes.test.ts (or alone: `npx mocha dist/test/nodes-helper.alone.js`), never
// beside the shared embedded Node-RED of test/support/engine.ts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import type { Node, NodeAPI, NodeMessage, NodeStatus } from 'node-red';
import { parseProcessFields, type Task, type TaskRegistry, RuntimeHandle } from '../core';
import { describeTask } from '../nodes/shared/message';
import { ToolkitEmulator, type TaskRecord } from '@aiware-nodered/aiware-sim';
import { TEST_AIWARE } from './support/engine';
import resultOutNode = require('../nodes/aiware-result-out/aiware-result-out');
import heartbeatNode = require('../nodes/aiware-heartbeat/aiware-heartbeat');
import pauseNode = require('../nodes/aiware-pause-for-callback/aiware-pause-for-callback');
import processInNode = require('../nodes/aiware-process-in/aiware-process-in');
import { Conditions } from './support/conditions';

/** What this file uses of node-red-node-test-helper (it ships no types). */
interface TestHelper {
  settings(settings: Record<string, unknown>): Record<string, unknown>;
  request(): { post(url: string): { set(name: string, value: string): PromiseLike<{ status: number; body: unknown }> } & PromiseLike<{ status: number; body: unknown }> };
  load(nodes: ((RED: NodeAPI) => void)[], flow: Record<string, unknown>[]): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): Node;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper') as TestHelper;

/** The messages that reach a helper node (wired after a Catch or a Complete node). */
class Arrivals {
  readonly messages: (NodeMessage & { error?: { message: string; source?: { id: string } } })[] = [];
  onArrival?: () => void;
  private readonly conditions = new Conditions();

  constructor(node: Node) {
    node.on('input', (msg: NodeMessage) => {
      this.messages.push(msg);
      this.conditions.check();
      this.onArrival?.();
    });
  }

  async count(n: number): Promise<void> {
    await this.conditions.when(() => this.messages.length >= n);
  }
}

/**
 * The helper's `RED._` gives back the key; this gives the nodes the en-US text Node-RED would
 * show, from their own locale files. Loaded first, it sets `_` on the API object the nodes get.
 */
function englishMessages(RED: NodeAPI): void {
  const catalog: Record<string, unknown> = {};
  for (const type of ['aiware-result-out', 'aiware-heartbeat', 'aiware-pause-for-callback', 'aiware-process-in']) {
    Object.assign(catalog, JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'nodes', type, 'locales', 'en-US', `${type}.json`), 'utf8')));
  }
  (RED as unknown as { _: (key: string, subs?: Record<string, unknown>) => string })._ = (key, subs = {}) => {
    const text = key.split('.').reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], catalog);
    return typeof text === 'string' ? text.replace(/__(\w+)__/g, (_match, name: string) => String(subs[name])) : key;
  };
}

const OUTPUT = (word: string) => ({ validationContracts: ['transcript'], series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word, confidence: 1 }] }] });

/**
 * The nodes under test on a tab, with one Catch and one Complete node scoped to them, each wired to
 * a helper node (the helper loads a core node's module once per node of its type: one of each per
 * flow). Every node has x and y: Node-RED takes a node without them for a config node.
 */
function watched(...nodes: Record<string, unknown>[]): Record<string, unknown>[] {
  const scope = nodes.map((node) => node.id);
  const onTab = (node: Record<string, unknown>, i: number) => ({ z: 'tab', x: 100 + 150 * i, y: 100, wires: [[]], ...node });
  return [
    { id: 'tab', type: 'tab', label: 'nodes under test' },
    ...[
      ...nodes,
      { id: 'catch', type: 'catch', scope, uncaught: false, wires: [['errors']] },
      { id: 'complete', type: 'complete', scope, uncaught: false, wires: [['completions']] },
      { id: 'errors', type: 'helper', wires: [] },
      { id: 'completions', type: 'helper', wires: [] },
    ].map(onTab),
  ];
}

describe('aiware-result-out and aiware-heartbeat under node-red-node-test-helper', function () {
  let toolkit: ToolkitEmulator;
  let registry: TaskRegistry;
  // The pack's runtime comes back through the handle, as it does for the runner.
  const handle = new RuntimeHandle();

  before(async function () {
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
    // Settings of its own, so the helper never touches the runtime's settings object.
    helper.settings({ aiware: { ...TEST_AIWARE, host: handle, stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-nodes-waits-')), callbackBaseUrl: 'http://127.0.0.1:9' } });
  });

  after(async function () {
    await toolkit.stop();
  });

  afterEach(async function () {
    for (const task of registry?.list() ?? []) task.fail({ reason: 'other', message: 'the test ended' });
    await helper.unload();
  });

  describe("aiware-process-in's try-it route", function () {
    const permissions: string[] = [];
    /** Loaded first: an admin API that records the permissions asked and grants only the one in x-permission. */
    function recordPermissions(RED: NodeAPI): void {
      (RED as unknown as { auth: unknown }).auth = {
        needsPermission: (permission: string) => {
          permissions.push(permission);
          return (req: http.IncomingMessage, res: http.ServerResponse & { status(code: number): { end(): void } }, next: () => void) =>
            req.headers['x-permission'] === permission ? next() : res.status(401).end();
        },
      };
    }
    const flow = [
      { id: 'tab', type: 'tab' },
      { id: 'pin', z: 'tab', type: 'aiware-process-in', url: '/try-helper/process', x: 100, y: 100, wires: [[]] },
    ];
    afterEach(function () {
      helper.settings({ aiware: { ...TEST_AIWARE, host: handle } });
    });

    it('is an admin route that asks aiware-process-in.write (as inject asks inject.write)', async function () {
      await helper.load([englishMessages, recordPermissions, processInNode], flow);
      assert.deepEqual(permissions, ['aiware-process-in.write']);
      assert.equal((await helper.request().post('/aiware-process-in/pin/try')).status, 401, 'refused without the permission');
      const unknown = await helper.request().post('/aiware-process-in/nothing-here/try').set('x-permission', 'aiware-process-in.write');
      assert.equal(unknown.status, 404);
      assert.match((unknown.body as { error: string }).error, /not deployed/);
    });

    it('is not there where the editor is off (httpAdminRoot false)', async function () {
      permissions.length = 0;
      helper.settings({ aiware: { ...TEST_AIWARE, host: handle }, httpAdminRoot: false });
      await helper.load([englishMessages, recordPermissions, processInNode], flow);
      assert.deepEqual(permissions, []);
      const answer = await helper.request().post('/aiware-process-in/pin/try').set('x-permission', 'aiware-process-in.write');
      assert.equal(answer.status, 404);
      assert.deepEqual(answer.body, {}, "express's own 404: no route");
    });
  });

  async function load(flow: Record<string, unknown>[]): Promise<void> {
    await helper.load([englishMessages, resultOutNode, heartbeatNode, pauseNode], flow);
    registry = handle.runtime!.registry;
  }

  /** A synchronous chunk task; `replies` records its /process answer. */
  function syncTask(replies: [number, unknown][]): Task {
    const parsed = parseProcessFields({ chunkContext: 'ctx', maxTTL: '60' });
    return registry.open({ parsed, engineType: 'chunk', respond: 'sync', owner: 'nodes-test', reply: (status, body) => replies.push([status, body]) });
  }

  /** An asynchronous stream task, reporting to the toolkit emulator. */
  function streamTask(): { task: Task; taskId: string } {
    const item = toolkit.workItem();
    const task = registry.open({ parsed: parseProcessFields(item.fields), engineType: 'stream', respond: 'async', owner: 'nodes-test' });
    return { task, taskId: item.taskId };
  }

  /** What the Catch and the Complete node of the flow pass on. */
  function arrivals(): { errors: Arrivals; completions: Arrivals } {
    return { errors: new Arrivals(helper.getNode('errors')), completions: new Arrivals(helper.getNode('completions')) };
  }

  /**
   * Sends `bad`, then a good message for a fresh task, and waits for the good one's completion and
   * one more arrival: by then the bad one has had every chance to call done twice, or to complete.
   * Resolves with the one error the Catch node saw, as a person reads it.
   */
  async function oneErrorThenOneCompletion(node: Node, bad: NodeMessage, good: NodeMessage): Promise<string> {
    const { errors, completions } = arrivals();
    const both = new Conditions();
    for (const seen of [errors, completions]) seen.onArrival = () => both.check();
    node.receive(bad);
    node.receive(good);
    await both.when(() => completions.messages.some((msg) => msg._msgid === good._msgid) && errors.messages.length + completions.messages.length >= 2);
    assert.equal(errors.messages.length, 1, 'the bad message failed once');
    assert.equal(completions.messages.length, 1, 'only the good message completed');
    assert.equal(completions.messages[0]._msgid, good._msgid);
    assert.equal(errors.messages[0]._msgid, bad._msgid);
    assert.equal(errors.messages[0].error!.source!.id, node.id);
    // Node-RED gives a caught error as `String(err)`: "<name>: <message>".
    return errors.messages[0].error!.message.replace(/^ProtocolError: /, '');
  }

  describe('aiware-result-out given a bad message', function () {
    const cases: { name: string; error: RegExp; message: (task: Task, ended: Task) => Record<string, unknown>; reply?: [number, string] }[] = [
      { name: 'no msg.aiware', error: /^msg\.aiware\.taskId is missing: the message must come from aiware-process-in/, message: () => ({ payload: OUTPUT('a') }) },
      {
        name: 'a task already ended (a flow error)',
        error: /^task [0-9a-f-]+: the task had already ended \(ignored\) before aiware-result-out out got its message$/,
        message: (_task, ended) => ({ payload: OUTPUT('a'), aiware: describeTask(ended) }),
      },
      {
        name: 'a startOffsetMs that is not an integer',
        error: /^msg\.startOffsetMs must be an integer, got 1\.5$/,
        message: (task) => ({ payload: OUTPUT('a'), aiware: describeTask(task), startOffsetMs: 1.5 }),
        reply: [400, 'invalid_data'],
      },
      {
        name: 'an endOffsetMs that is not a number',
        error: /^msg\.endOffsetMs must be an integer, got "ten"$/,
        message: (task) => ({ payload: OUTPUT('a'), aiware: describeTask(task), endOffsetMs: 'ten' }),
        reply: [400, 'invalid_data'],
      },
      {
        name: 'no output',
        error: /^msg\.payload is empty: set it to the VTN-standard output, or set msg\.ignoreChunk/,
        message: (task) => ({ aiware: describeTask(task) }),
        reply: [400, 'invalid_data'],
      },
      {
        name: 'an output that is not VTN-standard',
        error: /^the output is not VTN-standard: output\.series\[0\]\.words\[0\]\.word: must be string/,
        message: (task) => ({ payload: { validationContracts: ['transcript'], series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word: 5 }] }] }, aiware: describeTask(task) }),
        reply: [422, 'invalid_data'],
      },
    ];
    for (const c of cases) {
      it(`answers ${c.name} with one clear error, and completes the next message once`, async function () {
        await load(watched({ id: 'out', type: 'aiware-result-out', property: 'payload', completes: 'default', validate: true }));
        const replies: [number, unknown][] = [];
        const task = syncTask(replies);
        const ended = syncTask([]);
        ended.ignore();
        const goodReplies: [number, unknown][] = [];
        const good = syncTask(goodReplies);
        const error = await oneErrorThenOneCompletion(helper.getNode('out'), { _msgid: 'bad', ...c.message(task, ended) }, { _msgid: 'good', payload: OUTPUT('fine'), aiware: describeTask(good) });
        assert.match(error, c.error);
        assert.deepEqual(goodReplies, [[200, OUTPUT('fine')]]);
        if (c.reply) {
          // The task of the bad message fails with the node's reason: ET hears why.
          assert.equal(replies.length, 1);
          const [status, body] = replies[0] as [number, { error: string; failureReason: string; node: string }];
          assert.deepEqual([status, body.failureReason, body.node], [...c.reply, 'aiware-result-out out']);
          assert.match(body.error, /^aiware-result-out out: /);
        }
      });
    }
  });

  describe('aiware-heartbeat given a bad message', function () {
    const cases: { name: string; error: RegExp; message: (task: Task, ended: Task) => Record<string, unknown> }[] = [
      { name: 'no msg.aiware', error: /^msg\.aiware\.taskId is missing/, message: () => ({ heartbeat: { status: 'running' } }) },
      {
        name: 'a task already ended (a flow error)',
        error: /^task [0-9a-f-]+: the task had already ended \(ignored\) before aiware-heartbeat beat got its message$/,
        message: (_task, ended) => ({ aiware: describeTask(ended) }),
      },
      {
        name: 'an unknown status',
        error: /^heartbeat status must be running, complete or failed, got "paused"$/,
        message: (task) => ({ aiware: describeTask(task), heartbeat: { status: 'paused' } }),
      },
      {
        name: 'an unknown failure reason',
        error: /^"it broke" is not a failureReason aiWARE knows; use one of: internal_error, external_error, unknown, url_not_found, .*, heartbeat_timeout, other$/,
        message: (task) => ({ aiware: describeTask(task), heartbeat: { status: 'failed', failureReason: 'it broke' } }),
      },
      {
        name: 'a counter that is not a whole number',
        error: /^msg\.heartbeat\.bytesRead must be a whole number, got 1\.5$/,
        message: (task) => ({ aiware: describeTask(task), heartbeat: { bytesRead: 1.5 } }),
      },
      {
        name: 'a counter sent as a string',
        error: /^msg\.heartbeat\.messagesWritten must be a whole number, got "3"$/,
        message: (task) => ({ aiware: describeTask(task), heartbeat: { messagesWritten: '3' } }),
      },
      { name: 'a negative counter', error: /^msg\.heartbeat\.bytesWritten must be a whole number, got -1$/, message: (task) => ({ aiware: describeTask(task), heartbeat: { bytesWritten: -1 } }) },
    ];
    for (const c of cases) {
      it(`answers ${c.name} with one clear error, and completes the next message once`, async function () {
        await load(watched({ id: 'beat', type: 'aiware-heartbeat', status: 'running', failureReason: 'internal_error' }));
        const task = syncTask([]);
        const ended = syncTask([]);
        ended.ignore();
        const good = syncTask([]);
        const error = await oneErrorThenOneCompletion(
          helper.getNode('beat'),
          { _msgid: 'bad', ...c.message(task, ended) },
          { _msgid: 'good', aiware: describeTask(good), heartbeat: { infoMsg: 'fine' } },
        );
        assert.match(error, c.error);
        assert.equal(good.infoMsg, 'fine');
      });
    }
  });

  describe('aiware-pause-for-callback given a bad message', function () {
    const PAUSE = { id: 'pause', type: 'aiware-pause-for-callback', mode: 'local', timeout: '60', wires: [[], [], []] };
    const cases: { name: string; error: RegExp; message: (task: Task, ended: Task) => NodeMessage }[] = [
      { name: 'no task', error: /^msg\.aiware\.taskId is missing/, message: () => ({ payload: 'x' }) },
      { name: 'a task already ended', error: /is not open: it has already ended/, message: (_task, ended) => ({ aiware: describeTask(ended) }) },
      { name: 'a synchronous task', error: /^a synchronous task cannot pause/, message: () => ({ aiware: describeTask(syncTask([])) }) },
      { name: 'a message that cannot be saved', error: /^msg\.loop cannot be saved for the callback/, message: (task) => ({ aiware: describeTask(task), loop: loop() }) },
    ];
    function loop(): Record<string, unknown> {
      const value: Record<string, unknown> = {};
      value.self = value;
      return value;
    }
    for (const c of cases) {
      it(`answers ${c.name} with one clear error, and completes the next message once`, async function () {
        await load(watched(PAUSE));
        const { task } = streamTask();
        const ended = streamTask().task;
        ended.complete();
        const good = streamTask().task;
        const error = await oneErrorThenOneCompletion(helper.getNode('pause'), { _msgid: 'bad', ...c.message(task, ended) }, { _msgid: 'good', aiware: describeTask(good) });
        assert.match(error.replace(/^\w*Error: /, ''), c.error);
        assert.equal(good.waiting !== undefined, true, 'the good one waits');
      });
    }

    it('refuses a second pause of a task already waiting, once', async function () {
      await load(watched(PAUSE));
      const { errors, completions } = arrivals();
      const { task } = streamTask();
      const node = helper.getNode('pause');
      node.receive({ _msgid: 'first', aiware: describeTask(task) });
      await completions.count(1);
      node.receive({ _msgid: 'second', aiware: describeTask(task) });
      await errors.count(1);
      assert.match(errors.messages[0].error!.message, /the task is already waiting for a callback \(wait [0-9a-f-]{36}\)/);
      assert.deepEqual(
        completions.messages.map((m) => m._msgid),
        ['first'],
      );
    });
  });

  it('completes each message once: three results and the complete heartbeat that follows them at once', async function () {
    await load(
      watched(
        { id: 'out', type: 'aiware-result-out', property: 'payload', completes: 'default', validate: true },
        { id: 'beat', type: 'aiware-heartbeat', status: 'complete', infoMsg: 'three words' },
      ),
    );
    const { errors, completions } = arrivals();
    const { task, taskId } = streamTask();
    const aiware = describeTask(task);
    for (const [i, word] of ['one', 'two', 'three'].entries()) {
      helper.getNode('out').receive({ _msgid: `r${i}`, payload: OUTPUT(word), aiware, startOffsetMs: i * 1000, endOffsetMs: (i + 1) * 1000 });
    }
    // Sent before ET has answered any result: the pack holds it back until ET has all three.
    helper.getNode('beat').receive({ _msgid: 'end', aiware });

    const record: TaskRecord = await toolkit.waitForTask(taskId);
    await completions.count(4);
    assert.deepEqual(completions.messages.map((msg) => msg._msgid).sort(), ['end', 'r0', 'r1', 'r2'], 'one completion per message');
    assert.equal(errors.messages.length, 0);
    assert.equal(record.status, 'complete');
    assert.deepEqual(
      record.results.map((result) => [result.index, result.startOffsetMs]),
      [
        [1, 0],
        [2, 1000],
        [3, 2000],
      ],
    );
    const final = record.heartbeats.at(-1)!;
    assert.deepEqual([final.status, final.messagesWritten, final.infoMsg], ['complete', 3, 'three words'], 'the complete heartbeat counts the results it came after');
    assert.equal(record.heartbeats.filter((heartbeat) => heartbeat.status !== 'running').length, 1);
    assert.deepEqual(record.violations, []);
  });

  it('fails the task with the reason, message, info and counters a failed heartbeat gives', async function () {
    await load(watched({ id: 'beat', type: 'aiware-heartbeat', status: 'msg' }));
    const { errors, completions } = arrivals();
    const { task, taskId } = streamTask();
    helper.getNode('beat').receive({
      _msgid: 'failed',
      aiware: describeTask(task),
      heartbeat: { status: 'failed', failureReason: 'api_error', failureMsg: 'the API said no', infoMsg: 'at step 2', bytesRead: 10 },
    });
    const record = await toolkit.waitForTask(taskId);
    await completions.count(1);
    assert.equal(errors.messages.length, 0);
    assert.deepEqual([task.state, task.infoMsg, task.counters.bytesRead], ['failed', 'at step 2', 10]);
    const final = record.heartbeats.at(-1)!;
    assert.deepEqual([final.status, final.failureReason, final.failureMsg, final.infoMsg, final.bytesRead], ['failed', 'api_error', 'the API said no', 'at step 2', 10]);
  });

  it("shows a Catch node's copy of a task the error hook already failed as a failure (red), not as done", async function () {
    await load(watched({ id: 'hb', type: 'aiware-heartbeat', status: 'failed', failureReason: 'internal_error' }));
    const hb = { node: helper.getNode('hb'), ...arrivals() };
    const shown: NodeStatus[] = [];
    (hb.node as unknown as NodeJS.EventEmitter).on('call:status', (call: { args: [NodeStatus] }) => shown.push(call.args[0]));
    const { task } = streamTask();
    task.fail({ reason: 'internal_error', message: 'the model file is missing' });
    const showing = once(hb.node as unknown as NodeJS.EventEmitter, 'call:status');
    hb.node.receive({ _msgid: 'caught', aiware: describeTask(task), error: { message: 'the model file is missing' } });
    await showing;
    await hb.completions.count(1);
    assert.deepEqual(shown, [{ fill: 'red', shape: 'ring', text: 'task failed: the model file is missing' }]);
  });

  it('shows no status once closed, also for a result ET answers after the close', async function () {
    await load(watched({ id: 'out', type: 'aiware-result-out', property: 'payload', completes: 'no', validate: true }));
    const out = { node: helper.getNode('out'), ...arrivals() };
    const shown: NodeStatus[] = [];
    // The helper spies on Node.prototype.status and emits each call on the node.
    (out.node as unknown as NodeJS.EventEmitter).on('call:status', (call: { args: [NodeStatus] }) => shown.push(call.args[0]));
    const { task, taskId } = streamTask();
    const sending = once(out.node as unknown as NodeJS.EventEmitter, 'call:status');
    out.node.receive({ _msgid: 'late', payload: OUTPUT('late'), aiware: describeTask(task) });
    await sending;
    // Closed before ET can have answered the post (it has not left this turn of the event loop).
    await out.node.close(false);
    await toolkit.waitFor((rec) => rec.results.length === 1, taskId);
    await out.completions.count(1);
    assert.deepEqual(shown, [{ fill: 'yellow', shape: 'dot', text: 'sending result 1' }, {}], 'after the clear, nothing');
  });
});
