// Timers (core/util/timers.ts): sleep on a fake clock, cut short by its signal, and the longest
// wait a Node timer takes.
import * as assert from 'node:assert/strict';
import { install, type Clock } from '@sinonjs/fake-timers';
import { MAX_TIMER_MS, sleep } from '../../../core';

describe('timers (core/util/timers.ts)', function () {
  let clock: Clock;
  beforeEach(function () {
    clock = install({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(function () {
    clock.uninstall();
  });

  /** Whether `promise` has settled once pending callbacks have run. */
  async function settled(promise: Promise<void>): Promise<boolean> {
    let done = false;
    void promise.then(() => (done = true));
    await Promise.resolve();
    await Promise.resolve();
    return done;
  }

  it('resolves after its time and not a millisecond before', async function () {
    const sleeping = sleep(1000);
    await clock.tickAsync(999);
    assert.equal(await settled(sleeping), false);
    await clock.tickAsync(1);
    assert.equal(await settled(sleeping), true);
  });

  it('resolves at once when its signal aborts, or was aborted already, and leaves no timer', async function () {
    const controller = new AbortController();
    const sleeping = sleep(60_000, controller.signal);
    controller.abort();
    assert.equal(await settled(sleeping), true);
    assert.equal(clock.countTimers(), 0);
    assert.equal(await settled(sleep(60_000, controller.signal)), true);
    assert.equal(clock.countTimers(), 0);
  });

  it('knows the longest wait a Node timer takes: one millisecond more and Node waits 1 ms', function () {
    assert.equal(MAX_TIMER_MS, 2_147_483_647);
  });
});
