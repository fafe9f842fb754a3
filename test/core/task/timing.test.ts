// Per-node timing of a task (core/task/timing.ts) on a fake clock: a node's hold from delivery to
// completion, its queue wait, a send after it let go counted as held, overlapping messages counted
// once, and the clocks reused from task to task.
import * as assert from 'node:assert/strict';
import { install } from '@sinonjs/fake-timers';
import { NodeTiming, TaskRegistry, parseProcessFields, type FlowNode } from '../../../core';

describe('per-node timing of a task (core/task/timing.ts)', function () {
  let clock: ReturnType<typeof install>;
  beforeEach(function () {
    clock = install({ toFake: ['performance', 'Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(function () {
    clock.uninstall();
  });

  const node = (id: string): FlowNode => ({ id, type: 'function', name: id });
  const open = (registry: TaskRegistry) => registry.open({ parsed: parseProcessFields({ internalTaskId: 't' }), engineType: 'chunk', respond: 'sync', reply: () => undefined });

  it("counts a node's hold from delivery to completion, its queue wait, and a send after it let go as held", function () {
    const registry = new TaskRegistry();
    const timing = new NodeTiming(registry);
    const task = open(registry);
    const [a, b] = [node('a'), node('b')];
    timing.delivered(task.id, a);
    clock.tick(2);
    timing.received(task.id, a);
    clock.tick(10);
    timing.completed(task.id, a);
    // a completed at once but sends 50 ms later (a timer, no node.done()): those 50 ms are its.
    clock.tick(50);
    timing.sent(task.id, a);
    timing.delivered(task.id, b);
    timing.received(task.id, b);
    clock.tick(5);
    // b still holds its message when the task ends: held until the end.
    task.ignore();
    const times = timing.timesOf(task)!;
    assert.deepEqual(
      times.nodes.map((n) => [n.id, n.count, n.ms, n.queueMs]),
      [
        ['a', 1, 60, 2],
        ['b', 1, 5, 0],
      ],
    );
    assert.equal(times.totalMs, 67);
    assert.deepEqual(
      timing.totals().map((n) => [n.id, n.tasks, n.ms]),
      [
        ['a', 1, 60],
        ['b', 1, 5],
      ],
    );
    // The next task gets the first one's clock again, counting from nothing.
    const next = open(registry);
    timing.received(next.id, b);
    clock.tick(3);
    timing.completed(next.id, b);
    next.ignore();
    assert.deepEqual(
      timing.timesOf(next)!.nodes.map((n) => [n.id, n.count, n.ms, n.queueMs]),
      [['b', 1, 3, 0]],
    );
    assert.equal(timing.timesOf(task), times, 'the first task is still remembered');
    assert.equal(task.times, times, 'on the task itself');
    assert.notEqual(next.times, times);
  });

  it('counts overlapping messages at one node once, and a delivery never received as waiting until the end', function () {
    const registry = new TaskRegistry();
    const timing = new NodeTiming(registry);
    const task = open(registry);
    const a = node('a');
    timing.received(task.id, a);
    clock.tick(10);
    timing.received(task.id, a);
    clock.tick(10);
    timing.completed(task.id, a);
    clock.tick(10);
    timing.completed(task.id, a);
    timing.delivered(task.id, a);
    clock.tick(4);
    task.ignore();
    assert.deepEqual(
      timing.timesOf(task)!.nodes.map((n) => [n.id, n.count, n.ms, n.queueMs]),
      [['a', 2, 30, 4]],
    );
    // A message of an ended task is not counted.
    timing.received(task.id, a);
    assert.equal(timing.sofar(task.id), undefined);
  });
});
