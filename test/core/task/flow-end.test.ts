// The count of messages in flight on its own (core/task/flow-end.ts, no Node-RED): the orders in which
// Node-RED reports a message's life, played by hand, with fake timers for the grace. The stories of
// flows that forget their task are test/flow-end.test.ts.
import * as assert from 'node:assert/strict';
import { install } from '@sinonjs/fake-timers';
import { FlowEndWatch, type Idle, TaskRegistry, type FlowNode, type Task, parseProcessFields } from '../../../core';

describe('the count of messages in flight, on its own', function () {
  const GRACE = 1000;
  let registry: TaskRegistry;
  let watch: FlowEndWatch;
  let clock: ReturnType<typeof install>;
  let replies: [number, unknown][];
  let idles: Idle[];
  let busy: FlowNode[];
  const node = (id: string, type = 'function'): FlowNode => ({ id, type, name: id });
  const [source, fnNode, linkOut, linkIn, catcher, out] = [
    node('in', 'aiware-process-in'),
    node('fn'),
    node('lo', 'link out'),
    node('li', 'link in'),
    node('catch', 'catch'),
    node('out', 'aiware-result-out'),
  ];

  beforeEach(function () {
    clock = install({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate'] });
    registry = new TaskRegistry();
    watch = new FlowEndWatch(registry, GRACE);
    replies = [];
    idles = [];
    busy = [];
    watch.on('idle', (_task: Task, idle: Idle) => idles.push(idle));
    watch.on('busy', (_task: Task, by: FlowNode) => busy.push(by));
  });
  afterEach(function () {
    for (const task of registry.list()) task.fail({ reason: 'other', message: 'the test ended' });
    clock.uninstall();
  });

  const open = (): Task =>
    registry.open({ parsed: parseProcessFields({ chunkContext: 'ctx', maxTTL: '60' }), engineType: 'chunk', respond: 'sync', reply: (status, body) => replies.push([status, body]) });

  it('fails a task once the grace has passed with nothing in flight, naming the node that completed the last message', function () {
    const task = open();
    const msg = { aiware: { taskId: task.id } };
    watch.delivered(msg, task.id, source);
    watch.received(msg, task.id, fnNode);
    watch.completed(msg, fnNode);
    assert.equal(idles.length, 0, 'not in the turn that completed it');
    clock.tick(0);
    assert.equal(idles.length, 1, 'at the end of the turn');
    assert.equal(idles[0].node, fnNode);
    assert.match(idles[0].expects, /^its answer/);
    clock.tick(GRACE - 1);
    assert.equal(replies.length, 0, 'not before the grace has passed');
    clock.tick(1);
    assert.equal(replies.length, 1);
    assert.deepEqual(replies[0], [
      500,
      {
        error: `fn (function fn) finished with the task's last message and nothing ended the task within ${GRACE} ms (aiware.flowEndGraceMs); it expected ${idles[0].expects}`,
        failureReason: 'internal_error',
        node: 'fn (function fn)',
      },
    ]);
  });

  it("counts a Catch node's copy, handed over in the turn its node failed the message, and a link in's, the same object as link out's", function () {
    const task = open();
    const msg = { aiware: { taskId: task.id } };
    watch.delivered(msg, task.id, source);
    watch.received(msg, task.id, linkOut);
    // link out hands the same object to link in, which sends it on before either completes.
    watch.received(msg, task.id, linkIn);
    watch.delivered(msg, task.id, linkIn);
    watch.completed(msg, linkIn);
    watch.completed(msg, linkOut);
    watch.received(msg, task.id, fnNode);
    watch.completed(msg, fnNode);
    const copy = { aiware: { taskId: task.id } };
    watch.received(copy, task.id, catcher);
    clock.tick(0);
    assert.equal(idles.length, 0, 'the Catch node has it');
    watch.completed(copy, catcher);
    clock.tick(0);
    assert.equal(idles[0]?.node, catcher);
  });

  it('withdraws the warning when a message of the task comes back, and fails nothing', function () {
    const task = open();
    const msg = { aiware: { taskId: task.id } };
    watch.delivered(msg, task.id, source);
    watch.received(msg, task.id, fnNode);
    watch.completed(msg, fnNode);
    clock.tick(GRACE / 2);
    assert.equal(idles.length, 1);
    assert.match(task.notice ?? '', /no message of this task left/);
    watch.delivered(msg, task.id, fnNode);
    assert.deepEqual(busy, [fnNode]);
    assert.equal(task.notice, undefined);
    clock.tick(GRACE);
    assert.equal(task.isOpen, true);
  });

  it('leaves a task waiting for a callback alone, and does nothing with the grace off', function () {
    const waiting = registry.open({ parsed: parseProcessFields({ maxTTL: '60' }), engineType: 'batch', respond: 'async' });
    waiting.startWaiting('wait-1', 'waiting', false);
    const msg = { aiware: { taskId: waiting.id } };
    watch.delivered(msg, waiting.id, source);
    watch.received(msg, waiting.id, fnNode);
    watch.completed(msg, fnNode);
    clock.tick(2 * GRACE);
    assert.equal(idles.length, 0);
    assert.equal(waiting.isOpen, true);

    const off = new FlowEndWatch(registry, false);
    const task = open();
    off.handedOver(task, source);
    clock.tick(2 * GRACE);
    assert.equal(task.isOpen, true);
  });

  it('names the node that ended a task, and the one that sent to both, when a result comes after the end; counts it on the task', function () {
    const task = open();
    const msg = { aiware: { taskId: task.id } };
    const copy = { aiware: { taskId: task.id } };
    watch.delivered(msg, task.id, fnNode);
    watch.delivered(copy, task.id, fnNode);
    watch.received(msg, task.id, node('hb', 'aiware-heartbeat'));
    task.complete({}, watch.ender(node('hb', 'aiware-heartbeat'), msg));
    watch.received(copy, task.id, out);
    const text = watch.late(task.id, copy, out);
    assert.equal(
      text,
      `task ${task.id}: hb (aiware-heartbeat hb) ended the task (ignored) before out (aiware-result-out out) got its message: fn (function fn) is wired to both and sends in the order its wires were drawn, the one to hb (aiware-heartbeat hb) first. ` +
        'Delete that wire and draw it again, so that it comes last, or let out (aiware-result-out out) end the task itself (Completes task, or msg.completeTask = true) without the wire to hb (aiware-heartbeat hb)',
    );
    assert.equal(task.flowErrors, 1);
    assert.equal(watch.late('never-opened', copy, out), undefined, 'a task it never saw');
  });

  it('keeps the counts of ended tasks whose messages a node never completes to a bounded number', function () {
    const held = open();
    watch.delivered({ aiware: { taskId: held.id } }, held.id, source);
    held.fail({ reason: 'other', message: 'ended' });
    assert.equal(watch.endedTask(held.id), held);
    for (let i = 0; i < 200; i++) open().fail({ reason: 'other', message: 'ended' });
    assert.equal(watch.endedTask(held.id), undefined, 'forgotten, count and all');
  });
});
