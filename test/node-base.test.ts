// The nodes' one base (nodes/shared/node-base.ts, nodes/shared/task-node.ts) as Node-RED runs it,
// under node-red-node-test-helper: a Node-RED whose node API has no message hooks (RED.hooks), as
// some hosts give. Each of the five task nodes that fails a message ends the message's task at once,
// with its reason, not when maxTTL passes; each node with a bad setting shows a red ring, logs one
// error line naming the setting, its value and the allowed ones, and fails every message it gets.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeMessage, NodeStatus } from 'node-red';
import { parseProcessFields, RuntimeHandle, type Task, type TaskRegistry } from '../core';
import { describeTask } from '../nodes/shared/message';
import { NODE_TYPES } from '../nodes/shared/types';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { stopEngine, TEST_AIWARE } from './support/engine';
import { Conditions } from './support/conditions';

/** What this file uses of node-red-node-test-helper (it ships no types). */
interface TestHelper {
  settings(settings: Record<string, unknown>): Record<string, unknown>;
  request(): { post(url: string): PromiseLike<{ status: number }> };
  load(nodes: ((RED: NodeAPI) => void)[], flow: Record<string, unknown>[]): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): Node;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper') as TestHelper;

/** A sinon spy on Node.prototype, as the helper installs one for each of the node's methods. */
interface Spied {
  getCalls(): { thisValue: unknown; args: unknown[] }[];
}

const TYPES = Object.values(NODE_TYPES);
const NODES_DIR = path.join(__dirname, '..', 'nodes');

/**
 * The node modules loaded anew, so that they make a pack runtime of their own in the helper's
 * Node-RED, which has no message hooks (the shared embedded Node-RED of other suites installed the
 * first copy's hooks, which would fail the tasks for the nodes).
 */
function freshNodeModules(): ((RED: NodeAPI) => void)[] {
  for (const file of Object.keys(require.cache)) if (file.startsWith(NODES_DIR + path.sep)) delete require.cache[file];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return TYPES.map((type) => require(path.join(NODES_DIR, type, `${type}.js`)) as (RED: NodeAPI) => void);
}

/** The en-US texts Node-RED would show, from the nodes' own locale files (the helper's RED._ gives back the key). */
function englishMessages(RED: NodeAPI): void {
  const catalog: Record<string, unknown> = {};
  for (const type of TYPES) Object.assign(catalog, JSON.parse(fs.readFileSync(path.join(NODES_DIR, type, 'locales', 'en-US', `${type}.json`), 'utf8')));
  (RED as unknown as { _: (key: string, subs?: Record<string, unknown>) => string })._ = (key, subs = {}) => {
    const text = key.split('.').reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], catalog);
    return typeof text === 'string' ? text.replace(/__(\w+)__/g, (_match, name: string) => String(subs[name])) : key;
  };
}

/** Loaded with the nodes: this Node-RED gives them no message hooks. */
function withoutHooks(RED: NodeAPI): void {
  assert.equal((RED as unknown as { hooks?: unknown }).hooks, undefined);
}

/** The messages that reach a helper node wired after the Catch or the Complete node. */
class Arrivals {
  readonly messages: (NodeMessage & { error?: { message: string } })[] = [];
  private readonly conditions = new Conditions();

  constructor(node: Node) {
    node.on('input', (msg: NodeMessage) => {
      this.messages.push(msg);
      this.conditions.check();
    });
  }

  async count(n: number): Promise<void> {
    await this.conditions.when(() => this.messages.length >= n);
  }
}

/** The node under test on a tab, with a Catch and a Complete node scoped to it. */
function watched(node: Record<string, unknown>): Record<string, unknown>[] {
  const onTab = (n: Record<string, unknown>, i: number) => ({ z: 'tab', x: 100 + 150 * i, y: 100, wires: [[]], ...n });
  return [
    { id: 'tab', type: 'tab', label: 'node under test' },
    ...[
      node,
      { id: 'catch', type: 'catch', scope: [node.id], uncaught: false, wires: [['errors']] },
      { id: 'complete', type: 'complete', scope: [node.id], uncaught: false, wires: [['completions']] },
      { id: 'errors', type: 'helper', wires: [] },
      { id: 'completions', type: 'helper', wires: [] },
    ].map(onTab),
  ];
}

/** A message that would loop forever as JSON: pause-for-callback cannot save it. */
function loop(): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  value.self = value;
  return value;
}

const suite = describe('the nodes on their one base, in a Node-RED without message hooks', function () {
  let toolkit: ToolkitEmulator;
  let registry: TaskRegistry;
  let nodeModules: ((RED: NodeAPI) => void)[];
  const handle = new RuntimeHandle();

  before(async function () {
    await stopEngine();
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
    helper.settings({ aiware: { ...TEST_AIWARE, host: handle, stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-node-base-waits-')), callbackBaseUrl: 'http://127.0.0.1:9' } });
    nodeModules = freshNodeModules();
  });

  after(async function () {
    await toolkit.stop();
  });

  afterEach(async function () {
    for (const task of registry?.list() ?? []) task.fail({ reason: 'other', message: 'the test ended' });
    await helper.unload();
  });

  async function load(node: Record<string, unknown>): Promise<{ node: Node; errors: Arrivals; completions: Arrivals }> {
    await helper.load([englishMessages, withoutHooks, ...nodeModules], watched(node));
    registry = handle.runtime!.registry;
    return { node: helper.getNode(String(node.id)), errors: new Arrivals(helper.getNode('errors')), completions: new Arrivals(helper.getNode('completions')) };
  }

  /** An asynchronous stream task with ET's own maxTTL (an hour), reporting to the toolkit emulator. */
  function streamTask(overrides: Record<string, string> = {}): { task: Task; taskId: string } {
    const item = toolkit.workItem(overrides);
    const task = registry.open({ parsed: parseProcessFields(item.fields), engineType: 'stream', respond: 'async', owner: 'node-base-test' });
    return { task, taskId: item.taskId };
  }

  /** What the node has shown, and the error lines it has logged (the helper spies on Node.prototype). */
  function shown(node: Node): NodeStatus[] {
    return (node.status as unknown as Spied)
      .getCalls()
      .filter((call) => call.thisValue === node)
      .map((call) => call.args[0] as NodeStatus);
  }
  /** Error lines the node logged on its own: done(err) logs one with the message too (for Catch nodes). */
  function errorLines(node: Node): string[] {
    return (node.error as unknown as Spied)
      .getCalls()
      .filter((call) => call.thisValue === node && call.args[1] === undefined)
      .map((call) => String(call.args[0]));
  }

  describe('a node that fails a message ends its task at once, with its reason', function () {
    const cases: { type: string; config: Record<string, unknown>; fields?: Record<string, string>; message: (task: Task) => NodeMessage; reason: string; failureMsg: RegExp }[] = [
      {
        type: NODE_TYPES.resultOut,
        config: { property: 'payload', completes: 'default', validate: true },
        message: (task) => ({ aiware: describeTask(task) }),
        reason: 'invalid_data',
        failureMsg: /^aiware-result-out node: msg\.payload is empty: set it to the VTN-standard output/,
      },
      {
        type: NODE_TYPES.heartbeat,
        config: { status: 'running' },
        message: (task) => ({ aiware: describeTask(task), heartbeat: { status: 'paused' } }),
        reason: 'invalid_data',
        failureMsg: /^aiware-heartbeat node: heartbeat status must be running, complete or failed, got "paused"$/,
      },
      {
        type: NODE_TYPES.pauseForCallback,
        config: { mode: 'local', timeout: '60', wires: [[], [], []] },
        message: (task) => ({ aiware: describeTask(task), loop: loop() }),
        reason: 'internal_error',
        failureMsg: /^aiware-pause-for-callback node: msg\.loop cannot be saved for the callback/,
      },
      {
        type: NODE_TYPES.keys,
        config: { action: 'get', scope: 'job', property: 'payload', wires: [[], []] },
        message: (task) => ({ aiware: describeTask(task) }),
        reason: 'invalid_data',
        failureMsg: /^aiware-keys node: no key: set one on the node or send msg\.key$/,
      },
      {
        type: NODE_TYPES.libraryModel,
        config: { action: 'store', property: 'payload', wires: [[], []] },
        fields: { libraryEngineModelId: 'model-1' },
        message: (task) => ({ aiware: describeTask(task) }),
        reason: 'invalid_data',
        failureMsg: /^aiware-library-model node: msg\.payload is empty: set it to the model/,
      },
    ];
    for (const c of cases) {
      it(`${c.type}: fails the task with ${c.reason} before its input ends, and ET hears it`, async function () {
        const { node, errors, completions } = await load({ id: 'node', type: c.type, ...c.config });
        const { task, taskId } = streamTask(c.fields);
        node.receive({ _msgid: 'bad', ...c.message(task) });
        await errors.count(1);
        // done(err) came after the task's failure: nothing waits for maxTTL (an hour).
        assert.equal(task.state, 'failed');
        const record = await toolkit.waitForTask(taskId);
        const final = record.heartbeats.at(-1)!;
        assert.deepEqual([record.status, final.failureReason], ['failed', c.reason]);
        assert.match(final.failureMsg!, c.failureMsg);
        assert.equal(errors.messages[0]._msgid, 'bad');
        assert.equal(completions.messages.length, 0);
        assert.deepEqual(shown(node).at(-1)!.fill, 'red');
      });
    }
  });

  describe('a synchronous task a node fails answers 500, a node error (ET tries again)', function () {
    const cases: { type: string; config: Record<string, unknown>; message: (task: Task) => NodeMessage; reason: string }[] = [
      { type: NODE_TYPES.heartbeat, config: { status: 'running' }, message: (task) => ({ aiware: describeTask(task), heartbeat: { bytesRead: -1 } }), reason: 'invalid_data' },
      { type: NODE_TYPES.pauseForCallback, config: { mode: 'local', wires: [[], [], []] }, message: (task) => ({ aiware: describeTask(task) }), reason: 'internal_error' },
    ];
    for (const c of cases) {
      it(`${c.type}: 500 with ${c.reason}`, async function () {
        const { node, errors } = await load({ id: 'node', type: c.type, ...c.config });
        const replies: [number, unknown][] = [];
        const task = registry.open({
          parsed: parseProcessFields({ chunkContext: 'ctx', maxTTL: '3600' }),
          engineType: 'chunk',
          respond: 'sync',
          owner: 'node-base-test',
          reply: (code, body) => replies.push([code, body]),
        });
        node.receive({ _msgid: 'bad', ...c.message(task) });
        await errors.count(1);
        assert.deepEqual(
          replies.map(([code, body]) => [code, (body as { failureReason: string }).failureReason]),
          [[500, c.reason]],
        );
      });
    }
  });

  describe('a bad setting: a red ring, one error line, and every message fails', function () {
    const cases: { type: string; config: Record<string, unknown>; property: string; line: RegExp }[] = [
      { type: NODE_TYPES.resultOut, config: { completes: 'sometimes' }, property: 'completes', line: /^completes "sometimes" is not one of default, yes, no: / },
      { type: NODE_TYPES.resultOut, config: { property: 'output..vtn' }, property: 'property', line: /^property "output\.\.vtn" is not a message property \(such as payload or data\.output\): / },
      { type: NODE_TYPES.heartbeat, config: { status: 'paused' }, property: 'status', line: /^status "paused" is not one of running, complete, failed, msg: / },
      {
        type: NODE_TYPES.heartbeat,
        config: { status: 'failed', failureReason: 'it broke' },
        property: 'failureReason',
        line: /^failureReason "it broke" is not one of internal_error, external_error, .*, other: /,
      },
      { type: NODE_TYPES.pauseForCallback, config: { mode: 'later', wires: [[], [], []] }, property: 'mode', line: /^mode "later" is not one of auto, platform, local: / },
      { type: NODE_TYPES.pauseForCallback, config: { mode: 'local', timeout: 'soon', wires: [[], [], []] }, property: 'timeout', line: /^timeout "soon" is not a number of seconds, 0 or more: / },
      { type: NODE_TYPES.keys, config: { action: 'delete', wires: [[], []] }, property: 'action', line: /^action "delete" is not one of get, set: / },
      { type: NODE_TYPES.keys, config: { action: 'get', scope: 'cluster', wires: [[], []] }, property: 'scope', line: /^scope "cluster" is not one of job, task: / },
      { type: NODE_TYPES.libraryModel, config: { action: 'train', wires: [[], []] }, property: 'action', line: /^action "train" is not one of fetch, store: / },
      { type: NODE_TYPES.libraryModel, config: { action: 'fetch', source: 'ftp', wires: [[], []] }, property: 'source', line: /^source "ftp" is not one of url, flow: / },
    ];
    for (const c of cases) {
      it(`${c.type} with ${c.property} ${JSON.stringify(c.config[c.property])}`, async function () {
        const { node, errors, completions } = await load({ id: 'node', type: c.type, ...c.config });
        const ring = { fill: 'red', shape: 'ring', text: `invalid: ${c.property}` };
        assert.deepEqual(shown(node), [ring]);
        const lines = errorLines(node);
        assert.equal(lines.length, 1, JSON.stringify(lines));
        assert.match(lines[0], c.line);
        assert.match(lines[0], /: this node handles no message until it is fixed$/);

        const { task, taskId } = streamTask();
        node.receive({ _msgid: 'refused', aiware: describeTask(task), payload: 'x' });
        node.receive({ _msgid: 'no task', payload: 'x' });
        await errors.count(2);
        assert.deepEqual(
          errors.messages.map((msg) => [msg._msgid, msg.error!.message.replace(/^ProtocolError: /, '')]),
          [
            ['refused', lines[0]],
            ['no task', lines[0]],
          ],
        );
        assert.equal(task.state, 'failed', 'the task fails at once');
        const final = (await toolkit.waitForTask(taskId)).heartbeats.at(-1)!;
        assert.deepEqual([final.failureReason, final.failureMsg], ['internal_error', `${c.type} node: ${lines[0]}`]);
        assert.equal(completions.messages.length, 0);
        assert.deepEqual(shown(node).at(-1), ring, 'the ring still names the setting');
        assert.equal(errorLines(node).length, 1, 'the line is logged once, at start');
      });
    }

    it('aiware-process-in with chunkFile "sometimes": serves nothing', async function () {
      const { node } = await load({ id: 'node', type: NODE_TYPES.processIn, url: '/node-base/process', chunkFile: 'sometimes', wires: [[]] });
      assert.deepEqual(shown(node), [{ fill: 'red', shape: 'ring', text: 'invalid: chunkFile' }]);
      assert.deepEqual(errorLines(node), ['chunk file "sometimes" is not one of large, always: this node serves nothing until it is fixed']);
      assert.equal((await helper.request().post('/node-base/process')).status, 404);
    });
  });
});

// node-red-node-test-helper drives the runtime modules the shared embedded Node-RED of other suites
// uses, which cannot start again once stopped: this suite runs after every other (as nodes.test.ts's).
before(function () {
  const root = suite.parent!;
  root.suites.splice(root.suites.indexOf(suite), 1);
  root.suites.push(suite);
});
