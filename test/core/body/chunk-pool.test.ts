// The chunk pool (core/body/chunk-pool.ts) on its own, on a fake clock: how much memory it keeps and for how long.
// How it serves chunks over real HTTP is test/recycle-chunks.test.ts's story.
import * as assert from 'node:assert/strict';
import { install, type Clock } from '@sinonjs/fake-timers';
import { ChunkPool } from '../../../core';

const MiB = 1024 * 1024;

describe('the chunk pool (core/body/chunk-pool.ts)', function () {
  let clock: Clock;
  beforeEach(function () {
    clock = install({ toFake: ['Date', 'setInterval', 'clearInterval'] });
  });
  afterEach(function () {
    clock.uninstall();
  });

  it('keeps at most maxIdleBytes free, and lets memory unused for idleMs go', function () {
    const pool = new ChunkPool({ maxIdleBytes: 3 * MiB, idleMs: 30_000 });
    const lent = [pool.take(MiB), pool.take(MiB), pool.take(MiB), pool.take(MiB)];
    for (const buffer of lent) pool.reclaim(buffer);
    assert.equal(pool.idleBytes, 3 * MiB, 'the fourth memory went to the garbage collector');
    clock.tick(20_000);
    pool.reclaim(pool.take(MiB)); // one used again: fresh
    clock.tick(15_000);
    assert.equal(pool.idleBytes, MiB, 'only the memory used in the last 30 s is kept');
    clock.tick(30_000);
    assert.equal(pool.idleBytes, 0);
  });
});
