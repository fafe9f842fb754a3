// The folder lock between processes (core/services/dir-lock.ts): a stale lock taken over, a held one waited for.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tryLock, lockUnlessReady } from '../../../core';

describe('the folder lock (core/services/dir-lock.ts)', function () {
  let root: string;
  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-model-core-'));
  });
  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('takes over a lock left by a process that died (stale), and never one still held', async function () {
    const target = path.join(root, 'model');
    const held = await tryLock(target, { staleMs: 60_000 });
    assert.ok(held);
    assert.equal(await tryLock(target, { staleMs: 60_000 }), undefined);
    await held.release();
    // A lock nobody touches any more: its mtime is old.
    fs.mkdirSync(`${target}.lock`);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(`${target}.lock`, old, old);
    const taken = await lockUnlessReady(target, () => Promise.resolve(false), Date.now() + 2000, { staleMs: 60_000 });
    assert.ok(taken, 'the stale lock was taken over');
    await taken.release();
    assert.ok(!fs.existsSync(`${target}.lock`));
  });

  it('gives up waiting for a lock held past the deadline', async function () {
    const target = path.join(root, 'model');
    const held = await tryLock(target);
    try {
      await assert.rejects(
        lockUnlessReady(target, () => Promise.resolve(false), Date.now() + 100, { pollMs: 10 }),
        /was not released in time/,
      );
    } finally {
      await held?.release();
    }
  });
});
