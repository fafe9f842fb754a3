// The pause service (core/pause/service.ts) without Node-RED: a task paused in the local mode, its
// wait saved before any URL exists, resumed once through its callback URL, failed through /fail,
// timed out (a fake clock), and waits that outlive their node's stop. The node is a recorder of
// what the service asks of it; the webhooks go to the toolkit emulator.
import * as assert from 'node:assert/strict';
import { install } from '@sinonjs/fake-timers';
import { CALLBACK_PATH, saveMessage } from '../../../core';
import { call, RecordingNode, startPause, type PauseHarness } from '../../support/pause';

describe('the pause service (core/pause/service.ts)', function () {
  let h: PauseHarness;
  let node: RecordingNode;

  beforeEach(async function () {
    h = await startPause();
    node = new RecordingNode();
    await h.service.register(node);
  });

  afterEach(async function () {
    await h.stop();
  });

  const pause = (timeoutSeconds = 600, fields: Record<string, string> = {}) =>
    h.service.pauseLocal(h.openTask({ maxTTL: '3600', ...fields }), node, { baseUrl: `${h.base}/`, timeoutSeconds, message: saveMessage({ payload: 'kept' }), files: [] });

  it('saves the wait before it gives the URLs, on the base it was given, and resumes the node once with what the service sent', async function () {
    const paused = await pause();
    assert.ok(await h.service.store.load(paused.waitId), 'saved');
    assert.ok(paused.callbackUrl.startsWith(`${h.base}${CALLBACK_PATH}`), paused.callbackUrl);
    assert.deepEqual([paused.progressUrl, paused.failUrl], [`${paused.callbackUrl}/progress`, `${paused.callbackUrl}/fail`]);
    assert.equal(h.service.waiting(node.id), 1);

    assert.deepEqual((await call(paused.callbackUrl, { approved: true })).json, { wait: paused.waitId, state: 'resumed' });
    assert.equal(node.resumed.length, 1);
    assert.deepEqual(node.resumed[0].callback, { approved: true });
    assert.deepEqual(node.resumed[0].wait.message, { payload: 'kept' });
    assert.equal((await call(paused.callbackUrl, { approved: false })).status, 409, 'a second call hears it was claimed');
    assert.equal(node.resumed.length, 1);
    assert.equal(h.service.waiting(), 0);
  });

  it("fails through the node's output 3 when the service calls /fail, with what it said", async function () {
    const paused = await pause();
    assert.equal((await call(paused.failUrl, { error: 'the reviewer gave up' })).status, 200);
    await node.until(() => node.failures.length === 1);
    assert.deepEqual(node.failures[0], { kind: 'failed', message: 'the reviewer gave up', body: { error: 'the reviewer gave up' } });
    assert.equal(node.resumed.length, 0);
  });

  it("caps the node's timeout by what is left of the task's maxTTL, less a margin to end the task", async function () {
    const before = Date.now();
    const paused = await pause(3600, { maxTTL: '100' });
    assert.equal(paused.capped, true);
    assert.ok(paused.expiresAt <= before + 100_000 - 1000 && paused.expiresAt >= before + 100_000 - 10_000 - 1000, `expires ${paused.expiresAt - before} ms on`);
    assert.equal((await pause(60)).capped, false);
  });

  it('times out when its time has passed: output 3 says so, and a late call hears 409 (fake clock)', async function () {
    const clock = install({ now: Date.now(), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let callbackUrl: string;
    try {
      callbackUrl = (await pause(30)).callbackUrl;
      await clock.tickAsync(29_999);
      assert.equal(node.failures.length, 0);
      await clock.tickAsync(1);
      await node.until(() => node.failures.length === 1);
      assert.equal(node.failures[0].kind, 'timeout');
    } finally {
      clock.uninstall();
    }
    assert.equal((await call(callbackUrl, {})).status, 409);
  });

  it('keeps the waits of a node that stops, answers 503 for them meanwhile, and gives them back when it starts again', async function () {
    const paused = await pause();
    h.service.unregister(node);
    assert.equal(h.service.waiting(), 0);
    const meanwhile = await call(paused.callbackUrl, {});
    assert.equal(meanwhile.status, 503);
    assert.equal(meanwhile.headers.get('retry-after'), '5');
    const again = new RecordingNode(node.id);
    assert.equal(await h.service.register(again), 1, 'one wait restored');
    assert.equal((await call(paused.callbackUrl, { late: 'but fine' })).status, 200);
    assert.deepEqual(again.resumed[0].callback, { late: 'but fine' });
  });
});
