// The runner's lines about a task carry the task's ids (taskId, internalTaskId) as fields, and a
// flow error says which (`flowError`: late, forgotten), so the simulator attaches them to the task
// without reading their text: stories of a keyword-spotting engine with the mistakes an author makes.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { startRunner, type LogLine, type RunnerProcess } from './support/runner';

const ENGINE = path.join(__dirname, '..', '..', 'test', 'fixtures', 'keyword-spotting', 'engine.json');

interface Runtime {
  flows: Record<string, unknown>[];
  settings: Record<string, unknown>;
}

/** The keyword-spotting engine, changed by `edit`. */
function engine(edit: (flows: Record<string, unknown>[]) => void = () => undefined): Runtime {
  const runtime = JSON.parse(fs.readFileSync(ENGINE, 'utf8')) as Runtime;
  edit(runtime.flows);
  return runtime;
}

const node = (flows: Record<string, unknown>[], id: string) => flows.find((n) => n.id === id)!;

describe("the runner's lines about a task", function () {
  this.timeout(30_000);
  let toolkit: ToolkitEmulator;
  let runner: RunnerProcess | undefined;

  before(async function () {
    toolkit = await ToolkitEmulator.start();
  });
  afterEach(async function () {
    await runner?.stop();
    runner = undefined;
  });
  after(async function () {
    await toolkit.stop();
  });

  /** Runs one chunk through `runtime`; the runner's lines once it has stopped (every line written). */
  async function oneTask(runtime: Runtime): Promise<{ internalTaskId: string; lines: LogLine[] }> {
    runner = startRunner(runtime);
    const url = await runner.ready();
    const item = toolkit.workItem();
    await toolkit.process(`${url}/process`, item, { data: 'the fox and the dog', mimeType: 'text/plain' });
    await toolkit.waitForTask(item.taskId);
    await runner.stop();
    return { internalTaskId: item.taskId, lines: runner.lines };
  }

  it('names the task and the node on the error of a result that came after the complete heartbeat (wire order), said once', async function () {
    const { internalTaskId, lines } = await oneTask(engine((flows) => (node(flows, 'ks-spot').wires = [['ks-done', 'ks-send'], ['ks-fail']])));
    const late = lines.filter((l) => l.flowError !== undefined);
    assert.equal(late.length, 1, JSON.stringify(late));
    assert.equal(late[0].level, 'error');
    assert.equal(late[0].flowError, 'late');
    assert.equal(late[0].internalTaskId, internalTaskId);
    assert.equal(typeof late[0].taskId, 'string');
    assert.deepEqual([late[0].nodeId, late[0].nodeType, late[0].nodeName], ['ks-send', 'aiware-result-out', 'send keywords']);
    assert.match(late[0].msg, /finished \(aiware-heartbeat ks-done\) ended the task \(complete\) before send keywords/);
  });

  it('says a task the flow forgot: the warning at once with flowEnd idle, then its failure marked flowError forgotten', async function () {
    const { internalTaskId, lines } = await oneTask(engine((flows) => (node(flows, 'ks-spot').wires = [['ks-send'], ['ks-fail']])));
    const mine = lines.filter((l) => l.internalTaskId === internalTaskId);
    const idle = mine.find((l) => l.flowEnd === 'idle');
    assert.ok(idle, JSON.stringify(mine));
    assert.deepEqual([idle.level, idle.nodeId, idle.graceMs], ['warn', 'ks-send', 1000]);
    const failed = mine.find((l) => l.msg === 'task failed');
    assert.deepEqual([failed?.flowError, failed?.failureReason], ['forgotten', 'internal_error']);
    assert.match(String(failed?.failureMsg), /send keywords \(aiware-result-out ks-send\) finished with the task's last message/);
  });

  it("gives a late result a line of its own when a Catch node took its error, and puts the ids on another node's warning that names the task", async function () {
    const runtime = engine((flows) => {
      node(flows, 'ks-spot').wires = [['ks-done', 'ks-send', 'ks-warn'], ['ks-fail']];
      flows.push(
        { id: 'ks-catch', type: 'catch', z: 'ks-tab', name: '', scope: ['ks-send'], uncaught: false, x: 100, y: 300, wires: [[]] },
        { id: 'ks-warn', type: 'function', z: 'ks-tab', name: 'warn', func: "node.warn('slow model for ' + msg.aiware.internalTaskId); return null;", outputs: 1, x: 100, y: 340, wires: [[]] },
      );
    });
    const { internalTaskId, lines } = await oneTask(runtime);
    const late = lines.filter((l) => l.flowError === 'late');
    assert.equal(late.length, 1, JSON.stringify(lines.filter((l) => l.level === 'error')));
    assert.equal(late[0].source, undefined, "the runner's own line: Node-RED logged nothing, the Catch node took it");
    assert.deepEqual([late[0].internalTaskId, late[0].nodeId], [internalTaskId, 'ks-send']);
    const warned = lines.find((l) => l.nodeId === 'ks-warn');
    assert.deepEqual([warned?.level, warned?.internalTaskId], ['warn', internalTaskId]);
  });
});
