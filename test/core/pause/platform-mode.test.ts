// The platform mode (core/pause/platform-mode.ts) through the pause service, against the toolkit
// emulator's aiWARE API: a pause signs the state into the wake-up URL's data (or keeps it in the
// wait folder when it is too large for a URL), marks the task paused, and a wake-up with that data
// is checked and claimed once.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseProcessFields, ProtocolError, saveMessage } from '../../../core';
import { RecordingNode, startPause, type PauseHarness } from '../../support/pause';

const dataOf = (url: string): string => new URL(url).searchParams.get('data')!;

describe('the platform mode (core/pause/platform-mode.ts)', function () {
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

  /** A wake-up's own fields: a new work item that knows nothing of the paused task's webhooks. */
  const wakeFields = () => parseProcessFields({ payload: '{"isCallback":true}', maxTTL: '60' });

  it('pauses: a wake-up URL at the task’s externalCallbackWebhook with a JWT from aiWARE, and the task paused there', async function () {
    const task = h.openTask();
    const paused = await h.service.pausePlatform(task, node, { engineId: 'engine-1', timeoutSeconds: 600, message: saveMessage({ payload: 'kept' }) });
    const url = new URL(paused.callbackUrl);
    assert.equal(`${url.origin}${url.pathname}`, `${h.toolkit.url}/callback`);
    assert.equal(url.searchParams.get('engineId'), 'engine-1');
    assert.ok(url.searchParams.get('jwt'));
    assert.equal(paused.stateIn, 'data');
    assert.equal(h.toolkit.task(String(task.fields.internalTaskId)).status, 'paused');
    assert.deepEqual(
      fs.readdirSync(h.stateDir).filter((name) => name.endsWith('.wait.json')),
      [],
      'nothing saved: the state is in the URL',
    );
  });

  it('wakes once: the wake-up’s fields merged with the paused task’s, the node resumed with what came, a second wake-up 409', async function () {
    const task = h.openTask();
    const paused = await h.service.pausePlatform(task, node, { engineId: 'engine-1', timeoutSeconds: 600, message: saveMessage({ payload: 'kept' }) });
    const wake = await h.service.prepareWake(dataOf(paused.callbackUrl), wakeFields());
    assert.equal(wake.waitId, paused.waitId);
    assert.equal(wake.parsed.fields.heartbeatWebhook, task.fields.heartbeatWebhook, 'the webhooks come from the paused task');
    assert.equal(wake.parsed.fields.maxTTL, 60, 'the wake-up’s own fields win');
    assert.equal(wake.parsed.fields.token, undefined, 'the tokens never travelled in the URL');
    wake.resume(h.openTask(), { approved: true });
    assert.deepEqual([node.resumed[0].callback, node.resumed[0].wait.message], [{ approved: true }, { payload: 'kept' }]);
    await assert.rejects(h.service.prepareWake(dataOf(paused.callbackUrl), wakeFields()), (err: ProtocolError) => err.status === 409);
  });

  it('keeps a state too large for a URL in the wait folder, and refuses a wake-up whose saved state was altered', async function () {
    const big = saveMessage({ payload: 'x'.repeat(5000) });
    const first = await h.service.pausePlatform(h.openTask(), node, { engineId: 'engine-1', timeoutSeconds: 600, message: big });
    assert.equal(first.stateIn, 'folder');
    assert.ok(dataOf(first.callbackUrl).length < 3000);
    const wake = await h.service.prepareWake(dataOf(first.callbackUrl), wakeFields());
    wake.resume(h.openTask(), 'ok');
    assert.deepEqual(node.resumed[0].wait.message, big);

    const second = await h.service.pausePlatform(h.openTask(), node, { engineId: 'engine-1', timeoutSeconds: 600, message: big });
    const file = path.join(h.stateDir, `${second.waitId}.wait.json`);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('xxxx', 'yyyy'));
    await assert.rejects(h.service.prepareWake(dataOf(second.callbackUrl), wakeFields()), { status: 401, message: `the saved state of wait ${second.waitId} does not match its wake-up` });
  });

  it('fails through output 3 when woken through its fail URL', async function () {
    const paused = await h.service.pausePlatform(h.openTask(), node, { engineId: 'engine-1', timeoutSeconds: 600, message: {} });
    (await h.service.prepareWake(dataOf(paused.failUrl), wakeFields())).resume(h.openTask(), { error: 'rejected' });
    assert.deepEqual(node.failures, [{ kind: 'failed', message: 'rejected', body: { error: 'rejected' } }]);
  });

  const refusedPauses: [string, Record<string, string | undefined>, { engineId?: string }, RegExp][] = [
    ['no wake-up address', { externalCallbackWebhook: undefined }, { engineId: 'engine-1' }, /needs a wake-up address/],
    ['no aiWARE API to call', { veritoneApiBaseUrl: undefined }, { engineId: 'engine-1' }, /needs the task’s veritoneApiBaseUrl and token/],
    ['no engine id', {}, {}, /needs the engine id/],
  ];
  for (const [story, fields, options, message] of refusedPauses) {
    it(`refuses a pause with ${story}: 400, and nothing is asked of aiWARE`, async function () {
      const task = h.openTask(fields as Record<string, string>);
      await assert.rejects(h.service.pausePlatform(task, node, { ...options, timeoutSeconds: 600, message: {} }), (err: ProtocolError) => err.status === 400 && message.test(err.message));
      assert.notEqual(h.toolkit.task(String(task.fields.internalTaskId)).status, 'paused');
    });
  }

  const refusedWakes: [string, () => unknown, number][] = [
    ['no data', () => undefined, 400],
    ['data this engine never signed', () => 'eyJhbGciOiJIUzI1NiJ9.e30.forged', 401],
  ];
  for (const [story, data, status] of refusedWakes) {
    it(`refuses a wake-up with ${story} (${status}), resuming nothing`, async function () {
      await assert.rejects(h.service.prepareWake(data(), wakeFields()), (err: ProtocolError) => err.status === status);
      assert.equal(node.resumed.length, 0);
    });
  }
});
