// The pack's nodes as Node-RED runs them: aiware-process-in closing while a request body is still
// arriving, over a real socket to the shared embedded Node-RED; the status board's closed state; and
// the nodes under node-red-node-test-helper (test/nodes-helper.alone.ts), in a Node of their own.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Node, NodeStatus } from 'node-red';
import { install } from '@sinonjs/fake-timers';
import { StatusBoard } from '../nodes/shared/status';
import { encodeMultipart } from '@aiware-nodered/aiware-sim';
import { captured, deploy, engine, fn, processIn, resultOut, TEST_AIWARE, TRANSCRIPT_FROM_TEXT } from './support/engine';
import { Conditions } from './support/conditions';
import { runAlone } from './support/alone';

describe('aiware-process-in closing while a request body is still arriving', function () {
  it('answers the request 503 at once, opens no task, and serves again after the redeploy', async function () {
    const flow = [
      processIn({ engineType: 'chunk', respond: 'async' }, ['capture']),
      fn('capture', `global.get('capture')(msg); return msg;`, [['words']]),
      fn('words', TRANSCRIPT_FROM_TEXT, [['out']]),
      resultOut('out'),
    ];
    const { toolkit, processUrl } = await deploy(flow);
    const registry = (await engine()).red.handle.runtime!.registry;
    const item = toolkit.workItem();
    const tmpDir = item.fields.taskTmpDir;
    // Past memoryChunkBytes: the engine writes the chunk to taskTmpDir from its first byte.
    const { body, contentType } = encodeMultipart(item.fields, { data: Buffer.alloc(TEST_AIWARE.memoryChunkBytes * 4, 7), mimeType: 'application/octet-stream' });
    const files = () => (fs.existsSync(tmpDir) ? fs.readdirSync(tmpDir) : []);
    const watcher = fs.watch(tmpDir);
    const dirChanges = new Conditions();
    watcher.on('change', () => dirChanges.check());
    try {
      const req = http.request(processUrl, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': body.length } });
      let answeredYet = false;
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        req.on('response', (res) => {
          answeredYet = true;
          const parts: Buffer[] = [];
          res.on('data', (data: Buffer) => parts.push(data));
          res.on('close', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        });
        // The engine drops the connection after its answer, on a body it will not read: not an error then.
        req.on('error', (err) => {
          if (!answeredYet) reject(err);
        });
      });
      req.write(body.subarray(0, body.length / 2));
      await dirChanges.when(() => files().length > 0);

      // A full deploy closes the aiware-process-in while half the body is still to come.
      await deploy(flow);
      // Had it not answered, the rest of the body would let it go on (and show what it does then).
      if (!answeredYet) req.end(body.subarray(body.length / 2));
      const answered = await answer;
      assert.equal(answered.status, 503, answered.body);
      assert.match((JSON.parse(answered.body) as { error: string }).error, /the flow was stopped \(redeployed or shut down\) while the request was read: send it again/);
      assert.deepEqual(
        registry.list().map((task) => task.fields.internalTaskId),
        [],
        'no task was opened for it',
      );
      assert.equal(captured.length, 0, 'nothing reached the flow');
      await dirChanges.when(() => files().length === 0);
    } finally {
      watcher.close();
    }

    // ET sends it again (503 is "try again"): the new flow serves it end to end.
    const again = await toolkit.process(processUrl, item, { data: 'second try', mimeType: 'text/plain' });
    assert.equal(again.status, 200);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.equal(record.results.length, 1);
  });
});

describe('the status board (nodes/shared/status.ts)', function () {
  it('shows nothing once closed, and leaves no timer behind', function () {
    const clock = install({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const shown: NodeStatus[] = [];
      const board = new StatusBoard({ status: (next: NodeStatus) => shown.push(next) } as unknown as Node, 250);
      board.set({ text: 'first' });
      board.set({ text: 'coalesced' });
      assert.equal(clock.countTimers(), 1, 'the next update waits for the interval');
      board.close();
      assert.equal(clock.countTimers(), 0, 'close clears it');
      board.set({ text: 'after close' });
      board.now({ text: 'an error after close' });
      clock.tick(1000);
      assert.deepEqual(shown, [{ text: 'first' }, {}]);
      assert.equal(clock.countTimers(), 0);
    } finally {
      clock.uninstall();
    }
  });
});

describe('the nodes under node-red-node-test-helper, in a Node of their own (test/nodes-helper.alone.ts)', function () {
  it('passes every test of that suite', async function () {
    this.timeout(120_000);
    const run = await runAlone('nodes-helper.alone.js');
    assert.equal(run.code, 0, run.output);
    assert.equal(run.failing, 0, run.output);
    assert.ok(run.passing >= 20, `only ${run.passing} tests ran:\n${run.output}`);
  });
});
