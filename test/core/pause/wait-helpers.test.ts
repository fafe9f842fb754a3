// The small pure helpers of pause-for-callback (core/pause/wait-helpers.ts): what a wait keeps of
// its task, a wake-up's fields merged with the paused task's, where callback URLs can be reached,
// and the texts of progress and fail calls.
import * as assert from 'node:assert/strict';
import { parseProcessFields, TaskRegistry } from '../../../core';
import { failureText, hashOf, mergeFields, progressText, savedTask, stringOf, unreachableBase, wakeupAddress } from '../../../core/pause/wait-helpers';

describe('the helpers of pause-for-callback (core/pause/wait-helpers.ts)', function () {
  it('saves a task with its tokens for the wait folder, and without them for a URL', function () {
    const registry = new TaskRegistry();
    const task = registry.open({
      parsed: parseProcessFields({ token: 'secret-token', chunkContext: 'ctx', 'chunk-metadata-camera': 'north' }),
      engineType: 'chunk',
      respond: 'sync',
      reply: () => undefined,
      owner: 'in-1',
    });
    try {
      const kept = savedTask(task, true);
      assert.deepEqual(
        [kept.parsed.fields.token, kept.parsed.chunkMetadata, kept.engineType, kept.respond, kept.owner, kept.id],
        ['secret-token', { camera: 'north' }, 'chunk', 'sync', 'in-1', task.id],
      );
      const travelling = savedTask(task, false);
      assert.equal(travelling.parsed.fields.token, undefined);
      assert.equal(travelling.parsed.fields.chunkContext, 'ctx');
      assert.equal(task.fields.token, 'secret-token', 'the task itself keeps it');
    } finally {
      task.fail({ reason: 'other', message: 'the test ended' });
    }
  });

  it("merges a wake-up's fields over the paused task's: its own win, what it lacks comes from the task", function () {
    const registry = new TaskRegistry();
    const task = registry.open({
      parsed: parseProcessFields({ chunkContext: 'old', heartbeatWebhook: 'http://127.0.0.1:1/hb', maxTTL: '60', 'chunk-metadata-a': '1', extraOld: 'x' }),
      engineType: 'stream',
      respond: 'async',
    });
    try {
      const merged = mergeFields(parseProcessFields({ maxTTL: '30', extraNew: 'y' }), savedTask(task, true));
      assert.deepEqual([merged.fields.chunkContext, merged.fields.heartbeatWebhook, merged.fields.maxTTL], ['old', 'http://127.0.0.1:1/hb', 30]);
      assert.deepEqual(merged.chunkMetadata, { a: '1' });
      assert.deepEqual(merged.extra, { extraOld: 'x', extraNew: 'y' });
    } finally {
      task.fail({ reason: 'other', message: 'the test ended' });
    }
  });

  const bases: [string, string | undefined, boolean][] = [
    ['http://127.0.0.1:8000', 'http://10.0.0.5:9000/hb', true],
    ['http://localhost:8000', 'http://toolkit.internal/hb', true],
    ['http://[::1]:8000', 'http://10.0.0.5/hb', true],
    ['http://127.0.0.1:8000', 'http://127.0.0.1:9000/hb', false],
    ['http://127.0.0.1:8000', undefined, false],
    ['http://engine.internal:8000', 'http://10.0.0.5/hb', false],
  ];
  for (const [base, heartbeatWebhook, unreachable] of bases) {
    it(`takes callback URLs on ${base} for ${unreachable ? 'unreachable' : 'reachable'} from a toolkit at ${heartbeatWebhook ?? 'no address'}`, function () {
      assert.equal(unreachableBase(base, { heartbeatWebhook }), unreachable);
    });
  }

  const addresses: [string | undefined, string | undefined][] = [
    ['http://127.0.0.1:9', 'http://127.0.0.1:9/callback'],
    ['http://127.0.0.1:9/', 'http://127.0.0.1:9/callback'],
    ['http://127.0.0.1:9/callback?x=1#y', 'http://127.0.0.1:9/callback'],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [base, address] of addresses) {
    it(`wakes through ${String(address)} for ${JSON.stringify(base)}`, function () {
      assert.equal(wakeupAddress(base), address);
    });
  }

  const progress: [unknown, string][] = [
    [{ progress: 'half way', infoMsg: 'ignored' }, 'half way'],
    [{ message: 'queued' }, 'queued'],
    [{ percent: 50 }, '{"percent":50}'],
    [Buffer.from('abc'), '3 bytes'],
    [undefined, 'progress'],
    ['x'.repeat(2000), 'x'.repeat(1000)],
  ];
  for (const [body, text] of progress) {
    it(`shows the progress ${JSON.stringify(body)?.slice(0, 30) ?? 'undefined'} as ${JSON.stringify(text.slice(0, 30))}`, function () {
      assert.equal(progressText(body), text);
    });
  }

  const failures: [unknown, string][] = [
    [{ error: 'rejected', message: 'ignored' }, 'rejected'],
    [{ failureMsg: 'gave up' }, 'gave up'],
    [{ code: 7 }, '{"code":7}'],
    ['plain words', 'plain words'],
    ['', 'the service gave no reason'],
    [undefined, 'the service gave no reason'],
  ];
  for (const [body, text] of failures) {
    it(`says a fail call with ${JSON.stringify(body) ?? 'no body'} failed because ${JSON.stringify(text)}`, function () {
      assert.equal(failureText(body), text);
    });
  }

  it('hashes a state the same way each time, and another state otherwise; keeps only strings and numbers as text', function () {
    assert.equal(hashOf({ a: 1 }), hashOf({ a: 1 }));
    assert.notEqual(hashOf({ a: 1 }), hashOf({ a: 2 }));
    assert.deepEqual([stringOf('x'), stringOf(7), stringOf(''), stringOf(null), stringOf({})], ['x', '7', undefined, undefined, undefined]);
  });
});
