// One task (core/task/task.ts) on its own, as a synchronous chunk engine's: how each way of ending
// it answers /process, that the first end wins, that a failure never carries the task's tokens out,
// and what a task keeps to carry on in another process. Heartbeats, results and their timing across
// tasks are test/core/task/registry.test.ts.
import * as assert from 'node:assert/strict';
import { IDEMPOTENCY_HEADER, nodeLabel, parseProcessFields, TaskRegistry, type Task } from '../../../core';

describe('a task (core/task/task.ts)', function () {
  let registry: TaskRegistry;
  let replies: [number, unknown][];

  beforeEach(function () {
    registry = new TaskRegistry();
    replies = [];
  });

  afterEach(function () {
    for (const task of registry.list()) task.fail({ reason: 'other', message: 'the test ended' });
  });

  const open = (fields: Record<string, string> = {}): Task =>
    registry.open({ parsed: parseProcessFields({ chunkContext: 'ctx', maxTTL: '60', ...fields }), engineType: 'chunk', respond: 'sync', reply: (status, body) => replies.push([status, body]) });

  const ends: [string, (task: Task) => unknown, string, [number, unknown]][] = [
    ['a result', (task) => task.result({ words: ['hi'] }), 'complete', [200, { words: ['hi'] }]],
    ['an ignore', (task) => task.ignore(), 'ignored', [204, undefined]],
    ['a complete with no result', (task) => task.complete(), 'ignored', [204, undefined]],
    ['a failure', (task) => task.fail({ reason: 'invalid_data', message: 'not audio' }), 'failed', [500, { error: 'not audio', failureReason: 'invalid_data' }]],
    ['a failure with a status of its own', (task) => task.fail({ reason: 'invalid_data', message: 'bad', status: 400 }), 'failed', [400, { error: 'bad', failureReason: 'invalid_data' }]],
  ];
  for (const [story, end, state, reply] of ends) {
    it(`answers ${story} ${reply[0]}, once, and is ${state} after it`, async function () {
      const task = open();
      await end(task);
      task.fail({ reason: 'other', message: 'too late' });
      task.complete();
      assert.equal(task.state, state);
      assert.equal(task.isOpen, false);
      assert.deepEqual(replies, [reply]);
    });
  }

  it('refuses a result once it has ended', function () {
    const task = open();
    task.ignore();
    assert.throws(() => void task.result({}));
    assert.equal(replies.length, 1);
  });

  it("never lets the task's tokens out in a failure's message", function () {
    const task = open({ token: 'api-token-123456', controllerToken: 'controller-abcdef' });
    task.fail({ reason: 'api_error', message: 'the API refused api-token-123456 (controller-abcdef)' });
    const [, body] = replies[0] as [number, { error: string }];
    assert.ok(!body.error.includes('api-token-123456') && !body.error.includes('controller-abcdef'), body.error);
  });

  it('keeps what it needs to carry on in another process, and is opened again from it with the same id and progress', function () {
    const task = open();
    task.update({ infoMsg: 'half way' });
    const saved = task.saved();
    assert.deepEqual(saved, { id: task.id, startedAt: task.startedAt, resultsSent: 0, counters: { bytesRead: 0, bytesWritten: 0, messagesWritten: 0 }, infoMsg: 'half way' });
    task.pause();
    assert.equal(task.state, 'paused');
    const again = registry.open({ parsed: parseProcessFields({ chunkContext: 'ctx', maxTTL: '60' }), engineType: 'stream', respond: 'async', restore: saved });
    assert.deepEqual([again.id, again.startedAt, again.infoMsg], [task.id, task.startedAt, 'half way']);
  });

  const labels: [Parameters<typeof nodeLabel>[0], string][] = [
    [{ id: 'n1', type: 'function', name: 'score' }, 'score (function n1)'],
    [{ id: 'n2', type: 'aiware-result-out' }, 'aiware-result-out n2'],
    [{ id: 'n3', type: 'function', name: '' }, 'function n3'],
  ];
  for (const [node, label] of labels) {
    it(`names a node ${JSON.stringify(label)} in what it says`, function () {
      assert.equal(nodeLabel(node), label);
    });
  }

  it('sends results again under the Idempotency-Key header', function () {
    assert.equal(IDEMPOTENCY_HEADER, 'Idempotency-Key');
  });
});
