// "Try it" on aiware-process-in, over real HTTP: the admin route of the shared Node-RED (editor at
// /admin) sends the node's sample to its own /process through the pack's toolkit, and the answer,
// heartbeats, results and outcome reach the editor through comms (debug sidebar, node status).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { ADMIN_ROOT, deploy, engine, fn, heartbeat, processIn, resultOut, TRANSCRIPT_FROM_TEXT } from './support/engine';
import { CommsClient, type CommsMessage } from './support/comms';

const example = (file: string) => JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'examples', file), 'utf8')) as FlowConfig;
const processInOf = (flow: FlowConfig) => flow.find((n) => n.type === 'aiware-process-in')!;

describe('try it: the aiware-process-in button', function () {
  let comms: CommsClient;
  let admin: string;

  before(async function () {
    const { red } = await engine();
    admin = `${red.url}${ADMIN_ROOT}`;
    comms = await CommsClient.connect(admin, ['debug', 'status/#']);
  });
  after(function () {
    comms?.close();
  });

  const press = (id: string) => fetch(`${admin}/aiware-process-in/${id}/try`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  const debugFrom = (id: string, topic: string | RegExp) => (m: CommsMessage) =>
    m.topic === 'debug' && m.data.id === id && (typeof topic === 'string' ? m.data.topic === topic : topic.test(String(m.data.topic)));
  const statusOf = (id: string, text: string | RegExp) => (m: CommsMessage) => m.topic === `status/${id}` && (typeof text === 'string' ? m.data.text === text : text.test(String(m.data.text)));

  it("sends a synchronous chunk engine's sample and shows the answer and the outcome in the debug sidebar and the node's status", async function () {
    const flow = example('chunk-text-to-transcript.json');
    const id = String(processInOf(flow).id);
    await deploy(flow);
    const answer = await press(id);
    assert.equal(answer.status, 200, await answer.text());
    const debug = await comms.waitFor(debugFrom(id, 'try it: /process answered 200'), 20_000, 'the answer in the debug sidebar');
    const transcript = JSON.parse(String(debug.data.msg)) as { series: { words: { word: string }[] }[] };
    assert.deepEqual(
      transcript.series.map((s) => s.words[0].word),
      'The quick brown fox jumps over the lazy dog'.split(' '),
    );
    const times = await comms.waitFor(debugFrom(id, 'try it: where the time went'), 20_000, "the run's per-node times");
    const shown = JSON.parse(String(times.data.msg)) as { taskMs: number; nodes: { node: string; messages: number; ms: number }[] };
    assert.ok(shown.nodes.length > 0 && shown.nodes.every((n) => n.messages >= 1 && n.ms <= shown.taskMs + 1), JSON.stringify(shown));
    assert.ok(
      shown.nodes.some((n) => n.node.includes('aiware-result-out')),
      JSON.stringify(shown),
    );
    await comms.waitFor(debugFrom(id, 'try it: complete'), 20_000, 'the outcome');
    await comms.waitFor(statusOf(id, /^try it: complete, 1 result\(s\)/), 20_000, 'the status');
  });

  it('an asynchronous image engine: heartbeats and the result as they come, from a data: URL sample', async function () {
    const flow = example('chunk-image-objects.json');
    const id = String(processInOf(flow).id);
    await deploy(flow);
    assert.equal((await press(id)).status, 200);
    const result = await comms.waitFor(debugFrom(id, 'try it: result 1'), 20_000, 'the result');
    assert.match(String(result.data.msg), /landscape image 4x3/);
    await comms.waitFor(debugFrom(id, 'try it: heartbeat complete'), 20_000, 'the final heartbeat');
    await comms.waitFor(statusOf(id, /^try it: complete, 1 result/), 20_000, 'the status');
  });

  it('a stream engine reads the sample from its cacheURI; a batch engine gets the payload', async function () {
    const stream = example('stream-lines-from-cache.json');
    const streamId = String(processInOf(stream).id);
    await deploy(stream);
    await press(streamId);
    await comms.waitFor(debugFrom(streamId, 'try it: result 3'), 20_000, 'the third line');
    await comms.waitFor(debugFrom(streamId, 'try it: complete'), 20_000, 'the outcome');

    const batch = example('batch-progress-and-failure.json');
    const batchId = String(processInOf(batch).id);
    await deploy(batch);
    await press(batchId);
    const end = await comms.waitFor(debugFrom(batchId, 'try it: complete'), 20_000, 'the outcome');
    assert.match(String(end.data.msg), /"heartbeats":\d+/);
  });

  it('shows a failure as one, with its reason, in red', async function () {
    const node = processIn({ url: '/try-fails/process', trySample: 'data:image/png;base64,AAAA' }, ['f']);
    await deploy([
      node,
      fn('f', `msg.heartbeat = { failureMsg: 'not text' }; return msg;`, [['hb']]),
      { id: 'hb', type: 'aiware-heartbeat', status: 'failed', failureReason: 'invalid_data', wires: [[]] },
    ]);
    await press(String(node.id));
    const end = await comms.waitFor(debugFrom(String(node.id), 'try it: failed'), 20_000, 'the failure');
    assert.match(String(end.data.msg), /invalid_data/);
    const shown = await comms.waitFor(statusOf(String(node.id), /^try it: failed/), 20_000, 'the status');
    assert.deepEqual([shown.data.fill, shown.data.shape], ['red', 'ring']);
  });

  it('shows a result that came after the end as a flow error, counted in the outcome, the status red', async function () {
    const node = processIn({ url: '/try-late/process', engineType: 'chunk', respond: 'async', trySample: 'late words' }, ['both']);
    await deploy([
      node,
      // Wired to the complete heartbeat first: the result comes too late.
      fn('both', TRANSCRIPT_FROM_TEXT, [['done', 'out']], { name: 'make words' }),
      heartbeat('done', { status: 'complete', name: 'finished' }),
      resultOut('out', { name: 'send words' }),
    ]);
    await press(String(node.id));
    const error = await comms.waitFor(debugFrom(String(node.id), 'try it: flow error'), 20_000, 'the flow error');
    assert.match(
      String(error.data.msg),
      /finished \(aiware-heartbeat done\) ended the task \(complete\) before send words \(aiware-result-out out\) got its message: make words \(function both\) is wired to both/,
    );
    const end = await comms.waitFor(debugFrom(String(node.id), 'try it: complete'), 20_000, 'the outcome');
    assert.match(String(end.data.msg), /"flowErrors":1/);
    const shown = await comms.waitFor(statusOf(String(node.id), /^try it: complete, 0 result\(s\), 1 flow error\(s\)/), 20_000, 'the status');
    assert.deepEqual([shown.data.fill, shown.data.shape], ['red', 'ring']);
  });

  it('shows the warning of a task the flow forgot, then its failure', async function () {
    const node = processIn({ url: '/try-forgot/process', engineType: 'batch' }, ['nothing']);
    await deploy([node, fn('nothing', 'return null;', [[]], { name: 'forgets' })]);
    await press(String(node.id));
    const warning = await comms.waitFor(debugFrom(String(node.id), 'try it: warning'), 20_000, 'the warning');
    assert.match(String(warning.data.msg), /forgets \(function nothing\) finished with the last one and nothing ended the task/);
    const end = await comms.waitFor(debugFrom(String(node.id), 'try it: failed'), 20_000, 'the failure');
    assert.match(String(end.data.msg), /forgets \(function nothing\) finished with the task's last message/);
  });

  it('sends a file from the user directory, with the payload, offsets and chunk metadata set on the node', async function () {
    const { userDir } = await engine();
    fs.mkdirSync(path.join(userDir, 'samples'), { recursive: true });
    fs.writeFileSync(path.join(userDir, 'samples', 'note.txt'), 'from a file');
    const node = processIn(
      {
        url: '/try-file/process',
        tryFile: 'samples/note.txt',
        tryPayload: '{"hint": 1}',
        tryStart: '2000',
        tryEnd: '4000',
        tryMetadata: '{"camera": "front"}',
      },
      ['echo'],
    );
    const echo = `msg.payload = { text: msg.payload, mime: msg.aiware.chunk.mimeType, start: msg.aiware.startOffsetMS, end: msg.aiware.endOffsetMS, hint: msg.aiware.payload.hint, camera: msg.aiware.chunkMetadata.camera }; return msg;`;
    await deploy([node, fn('echo', echo, [['out']]), resultOut('out', { validate: false })]);
    await press(String(node.id));
    const debug = await comms.waitFor(debugFrom(String(node.id), 'try it: /process answered 200'), 20_000, 'the answer');
    assert.deepEqual(JSON.parse(String(debug.data.msg)), { text: 'from a file', mime: 'text/plain', start: 2000, end: 4000, hint: 1, camera: 'front' });
  });

  it('refuses what it cannot send with 400 and a reason, and an id that is not a deployed process-in with 404', async function () {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ tryPayload: '{bad' }, /the try-it payload is not JSON/],
      [{ tryFile: '../outside.txt' }, /(must be inside the user directory|does not exist)/],
      [{ tryFile: 'missing.txt' }, /does not exist in the user directory/],
      [{ tryStart: 'soon' }, /tryStart must be a whole number/],
      [{ tryMetadata: '[1]' }, /must be a JSON object/],
    ];
    for (const [props, reason] of cases) {
      const node = processIn({ url: '/try-bad/process', ...props });
      await deploy([node]);
      const answer = await press(String(node.id));
      assert.equal(answer.status, 400);
      assert.match(((await answer.json()) as { error: string }).error, reason);
    }
    const missing = await press('no-such-node');
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /not deployed/);
  });
});
