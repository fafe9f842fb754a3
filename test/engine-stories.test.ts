// Engine stories: real Node-RED flows with the pack's nodes, driven over loopback by the
// toolkit emulator exactly as Engine Toolkit drives an engine.
import * as assert from 'node:assert/strict';
import { captured, deploy, fn, heartbeat, processIn, resultOut, STREAM_SPLIT, TRANSCRIPT_FROM_TEXT } from './support/engine';
import type { TaskRecord } from '@aiware-nodered/aiware-sim';

function transcriptWords(output: unknown): string[] {
  const series = (output as { series: { words: { word: string }[] }[] }).series;
  return series.flatMap((s) => s.words.map((w) => w.word));
}

function assertNoViolations(record: TaskRecord): void {
  assert.deepEqual(record.violations, [], `protocol violations: ${record.violations.join('; ')}`);
}

describe('engine stories', function () {
  it('answers a chunk synchronously with its VTN output', async function () {
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'sync' }, ['words']), fn('words', TRANSCRIPT_FROM_TEXT, [['out']]), resultOut('out')]);
    const item = toolkit.workItem();
    const answer = await toolkit.process(processUrl, item, { data: 'hello', mimeType: 'text/plain' });
    assert.equal(answer.status, 200);
    assert.deepEqual(transcriptWords(answer.body), ['hello']);
    const record = toolkit.task(item.taskId);
    assert.equal(record.status, 'answered');
    assert.equal(record.heartbeats.length, 0, 'a synchronous chunk needs no heartbeats');
    assertNoViolations(record);
  });

  it('answers a chunk asynchronously and posts its result with chunkContext, offsets and index 1', async function () {
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'async' }, ['words']), fn('words', TRANSCRIPT_FROM_TEXT, [['out']]), resultOut('out')]);
    const item = toolkit.workItem({ startOffsetMS: '5000', endOffsetMS: '7500', maxTTL: '30' });
    const answer = await toolkit.process(processUrl, item, { data: 'async words', mimeType: 'text/plain' });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { estimatedProcessingTimeInSeconds: 30 });
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.equal(record.results.length, 1);
    const [result] = record.results;
    assert.equal(result.index, 1);
    assert.equal(result.chunkContext, item.fields.chunkContext);
    assert.equal(result.startOffsetMs, 5000);
    assert.equal(result.endOffsetMs, 7500);
    assert.deepEqual(transcriptWords(result.output), ['async words']);
    const final = record.heartbeats.at(-1);
    assert.equal(final?.status, 'complete');
    assert.equal(final?.messagesWritten, 1);
    assert.ok(final.at >= result.at, 'complete comes after the result');
    assertNoViolations(record);
  });

  it('runs a stream engine that reads cacheURI and sends several results', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'stream' }, ['fetch']),
      { id: 'fetch', type: 'change', rules: [{ t: 'set', p: 'url', pt: 'msg', to: 'aiware.cacheURI', tot: 'msg' }], wires: [['get']] },
      { id: 'get', type: 'http request', method: 'GET', ret: 'txt', url: '', wires: [['split']] },
      fn('split', STREAM_SPLIT, [['out']]),
      resultOut('out'),
    ]);
    const item = toolkit.workItem();
    toolkit.setCache(item.taskId, { data: 'one\ntwo\nthree\n', mimeType: 'text/plain' });
    const answer = await toolkit.process(processUrl, item);
    assert.equal(answer.status, 200);
    assert.ok(typeof (answer.body as { estimatedProcessingTimeInSeconds: number }).estimatedProcessingTimeInSeconds === 'number');
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.deepEqual(
      record.results.map((r) => r.index),
      [1, 2, 3],
    );
    assert.deepEqual(
      record.results.map((r) => transcriptWords(r.output)[0]),
      ['one', 'two', 'three'],
    );
    assert.deepEqual(
      record.results.map((r) => r.startOffsetMs),
      [0, 1000, 2000],
    );
    assert.equal(record.heartbeats.at(-1)?.messagesWritten, 3);
    assertNoViolations(record);
  });

  it('runs a batch engine that only heartbeats: running on its own, then complete', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'batch' }, ['progress']),
      heartbeat('progress', { status: 'running', infoMsg: 'halfway' }, ['wait']),
      { id: 'wait', type: 'delay', pauseType: 'delay', timeout: '350', timeoutUnits: 'milliseconds', wires: [['done']] },
      heartbeat('done', { status: 'complete' }),
    ]);
    const item = toolkit.workItem();
    const answer = await toolkit.process(processUrl, item);
    assert.equal(answer.status, 200);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.equal(record.results.length, 0);
    const running = record.heartbeats.filter((h) => h.status === 'running');
    assert.ok(running.length >= 2, `expected the node's running heartbeat and the automatic ones, got ${running.length}`);
    assert.ok(running.some((h) => h.infoMsg === 'halfway'));
    assert.equal(record.heartbeats.at(-1)?.status, 'complete');
    assertNoViolations(record);
  });

  it('runs a chunk engine in library-train mode as a batch task, and passes library-run through', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync' }, ['capture']),
      fn('capture', `global.get('capture')(msg); return msg.aiware.mode === 'library-train' ? [null, msg] : [msg, null];`, [['words'], ['trained']]),
      fn('words', TRANSCRIPT_FROM_TEXT, [['out']]),
      resultOut('out'),
      heartbeat('trained', { status: 'complete', infoMsg: 'model trained' }),
    ]);
    const train = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-train', libraryId: 'lib-1' }) });
    const trainAnswer = await toolkit.process(processUrl, train);
    assert.equal(trainAnswer.status, 200);
    assert.ok('estimatedProcessingTimeInSeconds' in (trainAnswer.body as object), 'training answers asynchronously');
    const trained = await toolkit.waitForTask(train.taskId);
    assert.equal(trained.status, 'complete');
    assert.equal(trained.heartbeats.at(-1)?.infoMsg, 'model trained');
    assert.equal((captured[0].aiware as { engineType: string }).engineType, 'batch');

    const run = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-run', libraryEngineModelId: 'm-1' }) });
    const runAnswer = await toolkit.process(processUrl, run, { data: 'matched', mimeType: 'text/plain' });
    assert.equal(runAnswer.status, 200);
    assert.deepEqual(transcriptWords(runAnswer.body), ['matched']);
    const runTask = captured[1].aiware as { mode: string; payload: Record<string, unknown>; engineType: string };
    assert.equal(runTask.mode, 'library-run');
    assert.equal(runTask.engineType, 'chunk');
    assert.equal(runTask.payload.libraryEngineModelId, 'm-1');
    assertNoViolations(trained);
  });

  it('fails the task with internal_error naming the function node that threw', async function () {
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'async' }, ['boom']), fn('boom', `throw new Error('model exploded');`, [['out']]), resultOut('out')]);
    const item = toolkit.workItem();
    await toolkit.process(processUrl, item, { data: 'x', mimeType: 'text/plain' });
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'failed');
    assert.equal(record.failureReason, 'internal_error');
    assert.match(record.failureMsg ?? '', /model exploded/);
    assert.match(record.failureMsg ?? '', /boom/);
    assertNoViolations(record);
  });

  it('answers a synchronous chunk 500 with JSON naming the node that threw', async function () {
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'sync' }, ['boom']), fn('boom', `throw new Error('model exploded');`, [['out']]), resultOut('out')]);
    const answer = await toolkit.process(processUrl, toolkit.workItem(), { data: 'x', mimeType: 'text/plain' });
    assert.equal(answer.status, 500);
    const body = answer.body as { error: string; failureReason: string; node: string };
    assert.equal(body.failureReason, 'internal_error');
    assert.match(body.error, /model exploded/);
    assert.match(body.node, /boom/);
  });

  it('fails a task whose message the flow still holds once maxTTL passes', async function () {
    // Held in a delay, the message is still in flight: the task is the flow's until maxTTL (a dropped one fails sooner: flow-end.test).
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'batch' }, ['hold']),
      { id: 'hold', type: 'delay', pauseType: 'delay', timeout: '60', timeoutUnits: 'seconds', wires: [['done']] },
      heartbeat('done', { status: 'complete' }),
    ]);
    const item = toolkit.workItem({ maxTTL: '1' });
    const answer = await toolkit.process(processUrl, item);
    assert.deepEqual(answer.body, { estimatedProcessingTimeInSeconds: 1 });
    const record = await toolkit.waitForTask(item.taskId, { timeoutMs: 5000 });
    assert.equal(record.status, 'failed');
    assert.equal(record.failureReason, 'internal_error');
    assert.match(record.failureMsg ?? '', /maxTTL \(1 s\)/);
    assert.ok(
      record.heartbeats.some((h) => h.status === 'running'),
      'it heartbeated while it waited',
    );
    assertNoViolations(record);
  });

  it('retries a result the toolkit refused with 503 twice, and delivers it once', async function () {
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'async' }, ['words']), fn('words', TRANSCRIPT_FROM_TEXT, [['out']]), resultOut('out')]);
    const item = toolkit.workItem();
    toolkit.refuse(item.taskId, 'result', [503, 503]);
    await toolkit.process(processUrl, item, { data: 'persistent', mimeType: 'text/plain' });
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.equal(record.attempts.result, 3);
    assert.equal(record.results.length, 1);
    assert.equal(record.results[0].index, 1);
    assert.deepEqual(transcriptWords(record.results[0].output), ['persistent']);
    assertNoViolations(record);
  });

  it('fails a task whose result the toolkit refuses with 400, without retrying', async function () {
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'async' }, ['words']), fn('words', TRANSCRIPT_FROM_TEXT, [['out']]), resultOut('out')]);
    const item = toolkit.workItem();
    toolkit.refuse(item.taskId, 'result', [400]);
    await toolkit.process(processUrl, item, { data: 'refused', mimeType: 'text/plain' });
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'failed');
    assert.equal(record.failureReason, 'invalid_data');
    assert.equal(record.attempts.result, 1);
    assert.match(record.failureMsg ?? '', /result 1 was not delivered.*400/);
  });

  it('fails a task with invalid_data naming the bad path of an invalid VTN output', async function () {
    const bad = `msg.payload = { validationContracts: ['transcript'], series: [{ startTimeMs: 0, stopTimeMs: 10, words: [{ word: 42 }] }] }; return msg;`;
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'async' }, ['bad']), fn('bad', bad, [['out']]), resultOut('out')]);
    const item = toolkit.workItem();
    await toolkit.process(processUrl, item, { data: 'x', mimeType: 'text/plain' });
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'failed');
    assert.equal(record.failureReason, 'invalid_data');
    assert.match(record.failureMsg ?? '', /series\[0\]\.words\[0\]\.word/);
    assert.equal(record.results.length, 0, 'an invalid output never leaves');
  });

  it('answers 422 to a synchronous chunk with an invalid output, and passes it through when validation is off', async function () {
    const bad = `msg.payload = { validationContracts: ['transcript'], series: 'not a list' }; return msg;`;
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'sync' }, ['bad']), fn('bad', bad, [['out']]), resultOut('out')]);
    const answer = await toolkit.process(processUrl, toolkit.workItem(), { data: 'x', mimeType: 'text/plain' });
    assert.equal(answer.status, 422);
    assert.equal((answer.body as { failureReason: string }).failureReason, 'invalid_data');
    assert.match((answer.body as { error: string }).error, /series/);

    const loose = await deploy([processIn({ engineType: 'chunk', respond: 'sync' }, ['bad']), fn('bad', bad, [['out']]), resultOut('out', { validate: false })]);
    const passed = await loose.toolkit.process(loose.processUrl, loose.toolkit.workItem(), { data: 'x', mimeType: 'text/plain' });
    assert.equal(passed.status, 200);
    assert.equal((passed.body as { series: string }).series, 'not a list');
  });

  it('answers 204 when the flow ignores a chunk', async function () {
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'sync' }, ['skip']), fn('skip', 'msg.ignoreChunk = true; return msg;', [['out']]), resultOut('out')]);
    const item = toolkit.workItem();
    const answer = await toolkit.process(processUrl, item, { data: 'silence', mimeType: 'text/plain' });
    assert.equal(answer.status, 204);
    assert.equal(toolkit.task(item.taskId).status, 'ignored');
  });

  it('keeps two tasks at once apart: each gets its own results', async function () {
    // The first chunk waits longer than the second, so their work overlaps and finishes out of order.
    const slow = `
const text = msg.payload;
setTimeout(() => {
  msg.payload = { validationContracts: ['transcript'], series: [{ startTimeMs: 0, stopTimeMs: 1, words: [{ word: text }] }] };
  node.send(msg);
  node.done();
}, text === 'first' ? 300 : 10);`;
    const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'async' }, ['slow']), fn('slow', slow, [['out']]), resultOut('out')]);
    const first = toolkit.workItem();
    const second = toolkit.workItem();
    await Promise.all([toolkit.process(processUrl, first, { data: 'first', mimeType: 'text/plain' }), toolkit.process(processUrl, second, { data: 'second', mimeType: 'text/plain' })]);
    const [a, b] = await Promise.all([toolkit.waitForTask(first.taskId), toolkit.waitForTask(second.taskId)]);
    assert.deepEqual(
      a.results.map((r) => transcriptWords(r.output)),
      [['first']],
    );
    assert.deepEqual(
      b.results.map((r) => transcriptWords(r.output)),
      [['second']],
    );
    assert.equal(a.results[0].chunkContext, first.fields.chunkContext);
    assert.equal(b.results[0].chunkContext, second.fields.chunkContext);
    assert.ok(b.closedAt! < a.closedAt!, 'the second finished first');
    assertNoViolations(a);
    assertNoViolations(b);
  });

  it('gives the flow every /process field typed, the chunk metadata, and unknown fields kept', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync' }, ['capture']),
      fn('capture', `global.get('capture')(msg); msg.ignoreChunk = true; return msg;`, [['out']]),
      resultOut('out'),
    ]);
    const item = toolkit.workItem({ startOffsetMS: '1000', endOffsetMS: '2000', width: '640', height: '480', 'chunk-metadata-x-aiware-chunk-timestamp': '1700000000000', futureField: 'kept' });
    const answer = await toolkit.process(processUrl, item, { data: Buffer.from([1, 2, 3]), mimeType: 'application/octet-stream' });
    assert.equal(answer.status, 204);
    const msg = captured[0] as { payload: Buffer; aiware: Record<string, unknown> };
    assert.ok(Buffer.isBuffer(msg.payload));
    assert.deepEqual([...msg.payload], [1, 2, 3]);
    const task = msg.aiware;
    assert.equal(task.startOffsetMS, 1000);
    assert.equal(task.endOffsetMS, 2000);
    assert.equal(task.width, 640);
    assert.equal(task.chunkContext, item.fields.chunkContext);
    assert.equal(task.cacheURI, item.fields.cacheURI);
    assert.equal(task.maxTTL, Number(item.fields.maxTTL));
    assert.equal((task.chunkMetadata as Record<string, string>)['x-aiware-chunk-timestamp'], '1700000000000');
    assert.equal((task.extra as Record<string, string>).futureField, 'kept');
    assert.deepEqual(task.payload, JSON.parse(item.fields.payload));
    assert.equal((task.chunk as { size: number }).size, 3);
  });
});
