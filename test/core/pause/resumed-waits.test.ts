// Resumed waits (core/pause/resumed-waits.ts): a claimed wait's file stays while its task runs on,
// goes once the task has ended and its posts are out, or when the task waits again.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TaskRegistry, WaitStore, parseProcessFields, type Task, type WaitRecord } from '../../../core';
import { ResumedWaits } from '../../../core/pause/resumed-waits';

describe('resumed waits (core/pause/resumed-waits.ts)', function () {
  let dir: string;
  let store: WaitStore;
  let registry: TaskRegistry;
  let resumed: ResumedWaits;

  beforeEach(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-resumed-'));
    store = new WaitStore(dir);
    registry = new TaskRegistry();
    resumed = new ResumedWaits(store, (t) => assert.fail(t));
    for (const id of ['w1', 'w2', 'w3'])
      await store.save({ version: 1, id, mode: 'local', node: 'n', createdAt: 0, expiresAt: 0, capped: false, files: [], message: {}, task: {} as WaitRecord['task'] });
  });
  afterEach(function () {
    // No task left open: its registry's heartbeat wheel would tick on in real time, and a later
    // test that fakes the clock would find that tick among its own timers.
    for (const task of registry.list()) task.fail({ reason: 'other', message: 'the test ended' });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function open(): Task {
    return registry.open({ parsed: parseProcessFields({ maxTTL: '60' }), engineType: 'stream', respond: 'async' });
  }
  const left = async (): Promise<string[]> => (await store.list()).map((s) => s.wait.id).sort();

  it('keeps the wait while its task is open, and removes it once the task has ended', async function () {
    const task = open();
    resumed.add(task, 'w1');
    assert.deepEqual(await left(), ['w1', 'w2', 'w3']);
    task.complete();
    resumed.ended(task);
    await task.flushed();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(await left(), ['w2', 'w3']);
  });

  it('removes the task’s earlier waits when it waits again, and at once for a task already ended', async function () {
    const task = open();
    resumed.add(task, 'w1');
    resumed.add(task, 'w2');
    resumed.superseded(task);
    const ended = open();
    ended.complete();
    resumed.add(ended, 'w3');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await left(), []);
    resumed.ended(task); // nothing left for it: no error
  });
});
