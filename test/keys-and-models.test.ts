// Engine stories for what else Engine Toolkit gives an engine: keys shared by the chunks of a job
// through ET's key proxy, library models fetched once and stored by training, and outputs
// forwarded to sendOutputToUris with the chunk's x-aiware- metadata. Real Node-RED flows with the
// pack's nodes, driven over loopback by the toolkit emulator.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { captured, captureHooks, deploy, fn, heartbeat, keyNode, logged, modelNode, processIn, resultOut } from './support/engine';
import { Conditions } from './support/conditions';
import type { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { parentOf, useMemoryTracing } from './support/otel-memory';
import { serve } from './support/loopback';

/** The transcript's words and its wordCount tag, from a function node in the flows below. */
const COUNT_TO_VTN = `
msg.payload = {
  validationContracts: ['transcript'],
  tags: [{ key: 'wordCount', value: String(msg.count) }],
  series: msg.words.map((word, i) => ({ startTimeMs: i * 100, stopTimeMs: (i + 1) * 100, words: [{ word, confidence: 1 }] })),
};
return msg;`;

/** get → add the chunk's words → set → answer: the running word count of the job. */
function wordCountFlow(keyProps: Record<string, unknown> = {}): Record<string, unknown>[] {
  return [
    processIn({ engineType: 'chunk', respond: 'sync' }, ['split']),
    fn('split', `msg.words = String(msg.payload).split(/\\s+/).filter(Boolean); return msg;`, [['get']]),
    keyNode('get', keyProps, [['add'], ['add']]),
    fn('add', `msg.count = (typeof msg.count === 'number' ? msg.count : 0) + msg.words.length; return msg;`, [['set']]),
    keyNode('set', { action: 'set', ...keyProps }, [['vtn'], []]),
    fn('vtn', COUNT_TO_VTN, [['out']]),
    resultOut('out'),
  ];
}

function wordCount(body: unknown): number {
  const tags = (body as { tags?: { key: string; value: string }[] }).tags ?? [];
  return Number(tags.find((t) => t.key === 'wordCount')?.value);
}

async function chunk(toolkit: ToolkitEmulator, processUrl: string, text: string, fields: Partial<Record<string, string>> = {}): Promise<{ status: number; body: unknown; taskId: string }> {
  const item = toolkit.workItem(fields);
  const answer = await toolkit.process(processUrl, item, { data: text, mimeType: 'text/plain' });
  return { status: answer.status, body: answer.body, taskId: item.taskId };
}

describe('shared keys through the key proxy (aiware-keys)', function () {
  it('keeps a running word count across the chunks of one job; another job counts from zero', async function () {
    const { toolkit, processUrl } = await deploy(wordCountFlow());
    const job = { internalJobId: 'job-count-1' };
    const counts: number[] = [];
    for (const text of ['the quick brown fox', 'jumps over', 'the lazy dog']) {
      const answer = await chunk(toolkit, processUrl, text, job);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      counts.push(wordCount(answer.body));
    }
    assert.deepEqual(counts, [4, 6, 9]);
    const other = await chunk(toolkit, processUrl, 'a new job', { internalJobId: 'job-count-2' });
    assert.equal(wordCount(other.body), 3, "another job's chunk does not see this job's count");
    assert.equal(toolkit.keyValue('job', 'job-count-1', 'wordCount'), '9');
    assert.deepEqual(
      toolkit.keys('job-count-1').map((k) => [k.scope, k.key, k.ttlInSeconds]),
      [
        ['job', 'wordCount', 86400],
        ['job', 'wordCount', 86400],
        ['job', 'wordCount', 86400],
      ],
      "each set recorded against its job, with ET's default TTL",
    );
    assert.equal(toolkit.keys('job-count-2').length, 1);
  });

  it("refuses a task's call for another job's or task's key with 404, as ET does", async function () {
    const { toolkit } = await deploy([]);
    const mine = toolkit.workItem({ internalJobId: 'job-owner' });
    const theirs = toolkit.workItem({ internalJobId: 'job-other' });
    const own = `${mine.fields.redisETUrl}/keys/jjob-owner/secret`;
    assert.equal((await fetch(own, { method: 'POST', body: '"s3cret"' })).status, 200);
    assert.equal(await (await fetch(own)).text(), '"s3cret"');
    // The other task asks for the first job's key, or writes it, through its own redisETUrl.
    const foreign = `${theirs.fields.redisETUrl}/keys/jjob-owner/secret`;
    assert.equal((await fetch(foreign)).status, 404);
    assert.equal((await fetch(foreign, { method: 'POST', body: '"overwritten"' })).status, 404);
    assert.equal((await fetch(`${theirs.fields.redisETUrl}/keys/t${mine.taskId}/secret`)).status, 404);
    assert.equal(toolkit.keyValue('job', 'job-owner', 'secret'), '"s3cret"', 'the refused POST changed nothing');
    assert.equal((await fetch(`${theirs.fields.redisETUrl}/keys/jjob-other/k`, { method: 'POST' })).status, 400, 'a POST without a body is a 400');
    assert.equal((await fetch(`${theirs.fields.redisETUrl}/keys/jjob-other/k?ttlInSeconds=soon`, { method: 'POST', body: '1' })).status, 400);
  });

  it('shares a task key between the chunks of one task only, with the TTL the flow set', async function () {
    const { toolkit, processUrl } = await deploy(wordCountFlow({ scope: 'task', ttl: '120' }));
    const task = { internalTaskId: 'task-shared-1', internalJobId: 'job-t' };
    assert.equal(wordCount((await chunk(toolkit, processUrl, 'one two', task)).body), 2);
    assert.equal(wordCount((await chunk(toolkit, processUrl, 'three', task)).body), 3);
    assert.equal(wordCount((await chunk(toolkit, processUrl, 'four', { internalTaskId: 'task-shared-2', internalJobId: 'job-t' })).body), 1, 'another task of the same job');
    assert.deepEqual(
      toolkit.keys('job-t').map((k) => [k.scope, k.id, k.ttlInSeconds]),
      [
        ['task', 'task-shared-1', 120],
        ['task', 'task-shared-1', 120],
        ['task', 'task-shared-2', 120],
      ],
    );
  });

  it('sends a missing key out of the second output, not as an error', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync' }, ['get']),
      keyNode('get', { key: 'never-set', property: 'payload' }, [['found'], ['missing']]),
      fn('found', `msg.ignoreChunk = true; msg.which = 'found'; global.get('capture')(msg); return msg;`, [['out']]),
      fn('missing', `msg.ignoreChunk = true; msg.which = 'missing'; global.get('capture')(msg); return msg;`, [['out']]),
      resultOut('out'),
    ]);
    const answer = await chunk(toolkit, processUrl, 'x');
    assert.equal(answer.status, 204);
    assert.equal(captured.length, 1);
    assert.equal(captured[0].which, 'missing');
    assert.deepEqual(captured[0].aiwareKey, { key: 'never-set', scope: 'job', found: false, store: 'proxy' });
    assert.equal(captured[0].payload, 'x', 'the message is otherwise unchanged');
  });

  it('fails the task with system_dependency_missing when the task has no redisETUrl', async function () {
    const { toolkit, processUrl } = await deploy(wordCountFlow());
    const answer = await chunk(toolkit, processUrl, 'no redis here', { redisETUrl: undefined });
    assert.equal(answer.status, 400);
    const body = answer.body as { failureReason: string; error: string };
    assert.equal(body.failureReason, 'system_dependency_missing');
    assert.match(body.error, /the task has no redisETUrl/);
  });

  it('uses a local store, labelled as such, when the node is told to and the task has no redisETUrl', async function () {
    const { toolkit, processUrl } = await deploy(wordCountFlow({ localStore: true }));
    const job = { redisETUrl: undefined, internalJobId: 'job-laptop' };
    assert.equal(wordCount((await chunk(toolkit, processUrl, 'on a laptop', job)).body), 3);
    assert.equal(wordCount((await chunk(toolkit, processUrl, 'still here', job)).body), 5);
    assert.equal(toolkit.keys('job-laptop').length, 0, 'nothing went to the proxy');
    const warnings = logged.filter((e) => e.level === 30 && String(e.msg).includes('local store'));
    assert.equal(warnings.length, 2, `one warning from each keys node, once: ${JSON.stringify(logged)}`);
  });

  it('refuses a value over 1 MiB before it is sent, failing the task with invalid_data', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync' }, ['big']),
      fn('big', `msg.payload = 'x'.repeat(1024 * 1024); return msg;`, [['set']]),
      keyNode('set', { action: 'set', key: 'big', property: 'payload' }, [['out'], []]),
      resultOut('out'),
    ]);
    const answer = await chunk(toolkit, processUrl, 'x', { internalJobId: 'job-big' });
    assert.equal(answer.status, 422);
    const body = answer.body as { failureReason: string; error: string };
    assert.equal(body.failureReason, 'invalid_data');
    assert.match(body.error, /over the 1048576-byte limit/);
    assert.equal(toolkit.keys('job-big').length, 0);
  });
});

describe('aiware-keys traced (the SDK in this process)', function () {
  const memory = useMemoryTracing();

  it("makes a span of each get and set under the node's, the call to the key proxy under it, and no key name or token in any", async function () {
    const { toolkit, processUrl } = await deploy(wordCountFlow());
    const item = toolkit.workItem({ internalJobId: 'job-traced' });
    const answer = await toolkit.process(processUrl, item, { data: 'two words', mimeType: 'text/plain' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const spans = memory.spans();
    const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
    const parentName = (span: (typeof spans)[number]) => byId.get(parentOf(span))?.name;
    const get = spans.find((span) => span.name === 'aiware keys get')!;
    const set = spans.find((span) => span.name === 'aiware keys set')!;
    assert.equal(parentName(get), 'node aiware-keys');
    assert.equal(parentName(set), 'node aiware-keys');
    assert.equal(get.attributes['aiware.key.found'], false);
    assert.equal(get.attributes['aiware.key.scope'], 'job');
    assert.equal(spans.find((span) => span.name === 'GET keys' && parentOf(span) === get.spanContext().spanId)?.attributes['http.response.status_code'], 404);
    assert.ok(spans.some((span) => span.name === 'POST keys' && parentOf(span) === set.spanContext().spanId));
    const task = spans.find((span) => span.name === 'aiware task' && span.attributes['aiware.task.internal_id'] === item.taskId)!;
    assert.equal(parentName(byId.get(parentOf(get))!), 'aiware task');
    assert.equal(task.attributes['aiware.task.outcome'], 'complete');
    const text = JSON.stringify(spans.map((span) => [span.name, span.attributes]));
    for (const secret of ['wordCount', String(item.fields.token)]) assert.ok(!text.includes(secret), secret);
  });
});

describe('every message through aiware-keys and aiware-library-model ends once', function () {
  it('a Complete node sees each message that went through, a Catch node each failure, and nothing twice', async function () {
    const seen = new Conditions();
    captureHooks.onCapture = () => seen.check();
    const capture = (tag: string) => `msg.tag = '${tag}'; global.get('capture')(msg); return null;`;
    const { toolkit, processUrl } = await deploy([
      ...wordCountFlow(),
      { id: 'complete', type: 'complete', scope: ['get', 'set', 'model'], uncaught: false, wires: [['completed']] },
      fn('completed', capture('complete')),
      { id: 'catch', type: 'catch', scope: ['get', 'set', 'model'], uncaught: false, wires: [['caught']] },
      fn('caught', capture('catch')),
      processIn({ url: '/model', readyUrl: '/model-ready' }, ['model']),
      modelNode('model', {}, [['ignore'], []]),
      fn('ignore', 'msg.ignoreChunk = true; return msg;', [['out2']]),
      resultOut('out2'),
    ]);
    const job = { internalJobId: 'job-done-once' };
    await chunk(toolkit, processUrl, 'one two', job);
    await chunk(toolkit, processUrl, 'three', job);
    await chunk(toolkit, processUrl, 'no proxy', { redisETUrl: undefined });
    toolkit.serveModel('lib-once', 'model-once', { data: 'w' });
    await chunk(toolkit, processUrl.replace(/\/process$/, '/model'), 'x', { libraryId: 'lib-once', libraryEngineModelId: 'model-once' });
    await chunk(toolkit, processUrl.replace(/\/process$/, '/model'), 'x', { libraryId: 'lib-once', libraryEngineModelId: 'missing' });
    const count = (tag: string) => captured.filter((m) => m.tag === tag).length;
    await seen.when(() => count('complete') >= 5 && count('catch') >= 2);
    // Both conditions met; a message ended twice would show up by the time the next task has run.
    await chunk(toolkit, processUrl, 'four', job);
    await seen.when(() => count('complete') >= 7);
    assert.equal(count('complete'), 7, 'get and set for three chunks, and one model');
    assert.equal(count('catch'), 2, 'the chunk without redisETUrl, and the model that is not served');
  });
});

describe('library models (aiware-library-model)', function () {
  const tmp: string[] = [];
  after(function () {
    for (const dir of tmp) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A library-run flow: make sure the model is there, then answer its size and where it is. */
  function runFlow(props: Record<string, unknown> = {}): Record<string, unknown>[] {
    return [
      processIn({ engineType: 'chunk', respond: 'sync' }, ['model']),
      modelNode('model', props, [['use'], []]),
      fn('use', `global.get('capture')(msg); msg.ignoreChunk = true; return msg;`, [['out']]),
      resultOut('out'),
    ];
  }

  const ids = (n: number) => ({ libraryId: `lib-${n}`, libraryEngineModelId: `model-${n}` });

  it('stores a trained model and a library-run task uses it without a download', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync' }, ['mode']),
      fn('mode', `return msg.aiware.mode === 'library-train' ? [msg, null] : [null, msg];`, [['train'], ['model']]),
      fn('train', `msg.payload = { vocabulary: msg.aiware.payload.vocabulary }; return msg;`, [['store']]),
      modelNode('store', { action: 'store' }, [['trained'], []]),
      heartbeat('trained', { status: 'complete' }),
      modelNode('model', {}, [['use'], []]),
      fn('use', `global.get('capture')(msg); msg.ignoreChunk = true; return msg;`, [['out']]),
      resultOut('out'),
    ]);
    const { libraryId, libraryEngineModelId } = ids(1);
    const train = toolkit.workItem({ libraryId: undefined, libraryEngineModelId: undefined, payload: JSON.stringify({ mode: 'library-train', libraryId, libraryEngineModelId, vocabulary: ['fox'] }) });
    await toolkit.process(processUrl, train);
    const trained = await toolkit.waitForTask(train.taskId);
    assert.equal(trained.status, 'complete', trained.failureMsg);
    const directory = path.join(toolkit.libraryModelDirectory, libraryId, libraryEngineModelId);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(directory, 'model'), 'utf8')), { vocabulary: ['fox'] });
    assert.ok(
      trained.heartbeats.some((h) => h.infoMsg?.includes(`library engine model ${libraryEngineModelId} stored`)),
      'the training task reports the stored model on a heartbeat',
    );
    assert.deepEqual(trained.violations, []);

    const run = await chunk(toolkit, processUrl, 'x', { libraryId, libraryEngineModelId, payload: JSON.stringify({ mode: 'library-run' }) });
    assert.equal(run.status, 204, JSON.stringify(run.body));
    const model = (captured.at(-1)!.aiware as { model: Record<string, unknown> }).model;
    assert.equal(model.path, path.join(directory, 'model'));
    assert.equal(model.fetched, false);
    assert.equal(model.source, 'training');
    assert.equal(toolkit.modelDownloads(libraryId, libraryEngineModelId), 0);
    assert.deepEqual(fs.readdirSync(path.join(toolkit.libraryModelDirectory, libraryId)), [libraryEngineModelId], 'no staging folder or lock is left behind');
  });

  it('fetches a model once for tasks starting together, publishes it whole, and reuses it', async function () {
    const { toolkit, processUrl } = await deploy(runFlow());
    const { libraryId, libraryEngineModelId } = ids(2);
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    toolkit.serveModel(libraryId, libraryEngineModelId, { data });
    const answers = await Promise.all([1, 2, 3, 4].map(() => chunk(toolkit, processUrl, 'x', { libraryId, libraryEngineModelId })));
    assert.deepEqual(
      answers.map((a) => a.status),
      [204, 204, 204, 204],
    );
    assert.equal(toolkit.modelDownloads(libraryId, libraryEngineModelId), 1);
    const models = captured.map((m) => (m.aiware as { model: { fetched: boolean; size: number } }).model);
    assert.equal(models.filter((m) => m.fetched).length, 1);
    assert.ok(models.every((m) => m.size === data.length));
    toolkit.serveModel(libraryId, libraryEngineModelId, undefined);
    assert.equal((await chunk(toolkit, processUrl, 'x', { libraryId, libraryEngineModelId })).status, 204, 'offline: the model on disk is enough');
  });

  it('fails a task without a library id with invalid_data', async function () {
    const { toolkit, processUrl } = await deploy(runFlow());
    const answer = await chunk(toolkit, processUrl, 'x', { libraryId: undefined, payload: JSON.stringify({ mode: 'library-run' }) });
    assert.equal(answer.status, 400);
    assert.equal((answer.body as { failureReason: string }).failureReason, 'invalid_data');
    assert.match((answer.body as { error: string }).error, /the task has no libraryId/);
  });

  it('fails a task whose model is not found with url_not_found, leaving nothing on disk', async function () {
    const { toolkit, processUrl } = await deploy(runFlow());
    const answer = await chunk(toolkit, processUrl, 'x', ids(3));
    assert.equal((answer.body as { failureReason: string }).failureReason, 'url_not_found');
    assert.ok(!fs.existsSync(path.join(toolkit.libraryModelDirectory, 'lib-3', 'model-3')));
    assert.deepEqual(fs.readdirSync(path.join(toolkit.libraryModelDirectory, 'lib-3')), [], 'no staging folder or lock left behind');
  });

  it('fails a task whose download is cut short with stream_read_error, after trying again', async function () {
    let requests = 0;
    const server = await serve((_req, res) => {
      requests++;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 100_000 });
      res.write(Buffer.alloc(1000));
      setImmediate(() => res.destroy());
    });
    try {
      const { toolkit, processUrl } = await deploy(runFlow({ url: `${server.url}/models/{libraryId}` }));
      const answer = await chunk(toolkit, processUrl, 'x', ids(4));
      const body = answer.body as { failureReason: string; error: string };
      assert.equal(body.failureReason, 'stream_read_error', body.error);
      assert.match(body.error, /cut short: 1000 of 100000 bytes arrived/);
      assert.equal(requests, 3);
      assert.deepEqual(fs.readdirSync(path.join(toolkit.libraryModelDirectory, 'lib-4')), []);
    } finally {
      await server.close();
    }
  });

  it('fails a task whose model URL refuses connections with url_connection_refused', async function () {
    const server = await serve(() => undefined);
    const url = server.url;
    await server.close();
    const { toolkit, processUrl } = await deploy(runFlow({ url: `${url}/model` }));
    const answer = await chunk(toolkit, processUrl, 'x', ids(5));
    assert.equal((answer.body as { failureReason: string }).failureReason, 'url_connection_refused');
  });

  it('fails a task with no libraryModelDirectory with invalid_data, unless the node names a folder', async function () {
    const { toolkit, processUrl } = await deploy(runFlow());
    const answer = await chunk(toolkit, processUrl, 'x', { ...ids(6), libraryModelDirectory: undefined });
    assert.equal((answer.body as { failureReason: string }).failureReason, 'invalid_data');
    assert.match((answer.body as { error: string }).error, /no libraryModelDirectory/);

    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-models-'));
    tmp.push(folder);
    const again = await deploy(runFlow({ directory: folder }));
    again.toolkit.serveModel('lib-6', 'model-6', { data: 'weights' });
    const ok = await chunk(again.toolkit, again.processUrl, 'x', { ...ids(6), libraryModelDirectory: undefined });
    assert.equal(ok.status, 204, JSON.stringify(ok.body));
    assert.equal(fs.readFileSync(path.join(folder, 'lib-6', 'model-6', 'model'), 'utf8'), 'weights');
  });

  it('lets the flow download a missing model itself (second output), then publishes what it brings', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync' }, ['model']),
      modelNode('model', { source: 'flow', url: '' }, [['use'], ['where']]),
      fn('where', `msg.url = msg.aiware.veritoneApiBaseUrl + '/models/' + msg.aiware.libraryId + '/' + msg.aiware.libraryEngineModelId; return msg;`, [['get']]),
      { id: 'get', type: 'http request', method: 'GET', ret: 'bin', url: '', wires: [['model']] },
      fn('use', `global.get('capture')(msg); msg.ignoreChunk = true; return msg;`, [['out']]),
      resultOut('out'),
    ]);
    toolkit.serveModel('lib-7', 'model-7', { data: 'flow weights' });
    const answers = await Promise.all([1, 2].map(() => chunk(toolkit, processUrl, 'x', ids(7))));
    assert.deepEqual(
      answers.map((a) => a.status),
      [204, 204],
      JSON.stringify(answers.map((a) => a.body)),
    );
    assert.equal(toolkit.modelDownloads('lib-7', 'model-7'), 1, 'the second task waited for the first one to publish');
    const model = (captured.find((m) => (m.aiware as { model: { fetched: boolean } }).model.fetched)!.aiware as { model: { source: string; path: string } }).model;
    assert.equal(model.source, 'flow');
    assert.equal(fs.readFileSync(model.path, 'utf8'), 'flow weights');
  });
});

describe('outputs forwarded to sendOutputToUris', function () {
  it("posts each output on to the task's URIs with the chunk's x-aiware- metadata as headers", async function () {
    const arrived: { url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    const notify = await serve((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        arrived.push({ url: req.url ?? '', headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    try {
      const { toolkit, processUrl } = await deploy(wordCountFlow());
      const item = toolkit.workItem({
        internalJobId: 'job-forward',
        'chunk-metadata-x-aiware-chunk-timestamp': '1700000000000',
        'chunk-metadata-X-Aiware-Trace': 'trace-1',
        'chunk-metadata-other': 'not a header',
      });
      toolkit.sendOutputToUris(item.taskId, [`${notify.url}/notify/`]);
      const answer = await toolkit.process(processUrl, item, { data: 'forward these words', mimeType: 'text/plain' });
      assert.equal(answer.status, 200);
      await toolkit.forwardsSettled();
      assert.equal(arrived.length, 1);
      const [post] = arrived;
      const payload = JSON.parse(item.fields.payload) as { jobId: string; taskId: string };
      assert.equal(
        post.url,
        `/notify/internalJobID=job-forward&internalTaskID=${item.fields.internalTaskId}&jobID=${payload.jobId}&taskID=${payload.taskId}&chunkID=${item.fields.chunkUUID}&timestamp=${item.fields.chunkTimestamp}`,
      );
      assert.equal(post.headers['x-aiware-chunk-timestamp'], '1700000000000');
      assert.equal(post.headers['x-aiware-trace'], 'trace-1');
      assert.equal(post.headers.other, undefined, 'only x-aiware- metadata becomes a header');
      assert.deepEqual(JSON.parse(post.body), answer.body);
      const [record] = toolkit.forwarded(item.taskId);
      assert.equal(record.status, 204);
      assert.deepEqual(record.headers, { 'x-aiware-chunk-timestamp': '1700000000000', 'x-aiware-trace': 'trace-1' });
    } finally {
      await notify.close();
    }
  });

  it('forwards every posted result of an asynchronous task, with its index', async function () {
    const arrived: string[] = [];
    const notify = await serve((req, res) => {
      arrived.push(req.url ?? '');
      req.resume();
      res.writeHead(200).end();
    });
    try {
      const split = `
const lines = msg.payload.split('\\n').filter(Boolean);
return [lines.map((line, i) => ({ aiware: msg.aiware, completeTask: i === lines.length - 1,
  payload: { validationContracts: ['transcript'], series: [{ startTimeMs: i, stopTimeMs: i + 1, words: [{ word: line }] }] } }))];`;
      const { toolkit, processUrl } = await deploy([processIn({ engineType: 'chunk', respond: 'async' }, ['split']), fn('split', split, [['out']]), resultOut('out', { completes: 'no' })]);
      const item = toolkit.workItem({ 'chunk-metadata-x-aiware-chunk-timestamp': '1' });
      toolkit.sendOutputToUris(item.taskId, [`${notify.url}/a`, `${notify.url}/b`]);
      await toolkit.process(processUrl, item, { data: 'one\ntwo', mimeType: 'text/plain' });
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete');
      await toolkit.forwardsSettled();
      const forwarded = toolkit.forwarded(item.taskId);
      assert.deepEqual(forwarded.map((f) => `${f.uri.slice(-1)}${f.index}`).sort(), ['a1', 'a2', 'b1', 'b2']);
      assert.equal(arrived.length, 4);
    } finally {
      await notify.close();
    }
  });
});
