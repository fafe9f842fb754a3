// Saved waits coming back (core/pause/saved-waits.ts): the folder read once, each node's waits handed
// over once, a callback for a wait still coming back held until it is back (or its bound), and what
// waits for the flows to start run when they have.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WaitStore, type WaitRecord } from '../../../core';
import { SavedWaits } from '../../../core/pause/saved-waits';

function wait(id: string, node: string, mode: 'local' | 'platform' = 'local'): WaitRecord {
  return {
    version: 1,
    id,
    mode,
    node,
    createdAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    capped: false,
    task: {
      id: `task-${id}`,
      startedAt: Date.now(),
      resultsSent: 0,
      counters: { bytesRead: 0, bytesWritten: 0, messagesWritten: 0 },
      parsed: { fields: {}, chunkMetadata: {}, extra: {} },
      engineType: 'chunk',
      respond: 'async',
    },
    message: {},
    files: [],
  };
}

describe('saved waits coming back (core/pause/saved-waits.ts)', function () {
  let dir: string;
  let store: WaitStore;
  const warnings: string[] = [];
  beforeEach(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-saved-waits-'));
    store = new WaitStore(dir);
    await store.save(wait('a1', 'nodeA'));
    await store.save(wait('a2', 'nodeA'));
    await store.save(wait('b1', 'nodeB'));
    await store.save(wait('p1', 'nodeA', 'platform'));
    await store.claim('a2', { outcome: 'resumed', at: Date.now(), keepUntil: Date.now() + 60_000, callback: { body: 'ok' } });
    warnings.length = 0;
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('hands each node its local waits once, with whether each was claimed; platform waits stay on disk', async function () {
    const saved = new SavedWaits(store, (t) => warnings.push(t));
    const a = await saved.take('nodeA');
    assert.deepEqual(a.map((s) => [s.wait.id, s.claimed]).sort(), [
      ['a1', false],
      ['a2', true],
    ]);
    assert.deepEqual(await saved.take('nodeA'), [], 'once');
    assert.deepEqual(
      (await saved.take('nodeB')).map((s) => s.wait.id),
      ['b1'],
    );
    saved.putBack('nodeB', [{ wait: wait('b1', 'nodeB'), claimed: false }]);
    assert.deepEqual(
      (await saved.take('nodeB')).map((s) => s.wait.id),
      ['b1'],
      'a redeploy finds the waits put back',
    );
    assert.deepEqual(warnings, []);
  });

  it('holds a callback for a wait read and not back yet until it is back', async function () {
    const saved = new SavedWaits(store, () => undefined);
    await saved.take('nodeB');
    let settled = false;
    const held = saved.settled('a1', true, Date.now() + 60_000).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'a1 was read, its node has not restored it');
    saved.back('a1');
    await held;
    assert.equal(settled, true);
  });

  it('lets a held callback go at its bound, and does not hold one for a wait it never read', async function () {
    const saved = new SavedWaits(store, () => undefined);
    await saved.take('nodeB');
    const started = Date.now();
    await saved.settled('a1', true, Date.now() + 100);
    assert.ok(Date.now() - started >= 90);
    const quick = Date.now();
    await saved.settled('unknown', true, Date.now() + 10_000);
    assert.ok(Date.now() - quick < 1000);
  });

  it('runs what waits for the flows when they start, and at once when they have', async function () {
    const saved = new SavedWaits(store, () => undefined);
    const ran: string[] = [];
    saved.afterStart(() => ran.push('before'), false);
    let settled = false;
    const held = saved.settled('a1', false, Date.now() + 60_000).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ran.length, 0);
    assert.equal(settled, false, 'no pause node has read the folder, the flows have not started');
    saved.started();
    assert.deepEqual(ran, ['before']);
    await held;
    saved.afterStart(() => ran.push('after'), true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(ran, ['before', 'after']);
  });
});
