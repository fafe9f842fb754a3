// The toolkit emulator library: the multipart body ET posts, the webhooks it hosts and what it
// records, refusals, timeouts, and /process against a small engine, all over real HTTP.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import axios from 'axios';
import { PROCESS_FIELDS, CHUNK_METADATA_PREFIX } from '../core';
import { ToolkitEmulator, encodeMultipart, multipartStream, type WorkItem } from '@aiware-nodered/aiware-sim';
import { parseMultipart, type ParsedMultipart } from './support/multipart';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const data of stream) chunks.push(data as Buffer);
  return Buffer.concat(chunks);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What the little engine saw of one /process request. */
interface Received extends ParsedMultipart {
  contentLength: number;
  bodyBytes: number;
}

/** A tiny engine: parses /process with busboy, keeps what it saw, answers as `answer` says. */
async function startEngine(answer: (received: Received) => { status: number; body?: unknown }) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (data: Buffer) => (bodyBytes += data.length));
    parseMultipart(req, req.headers['content-type'] ?? '').then(
      (parsed) => {
        const seen = { ...parsed, contentLength: Number(req.headers['content-length']), bodyBytes };
        received.push(seen);
        const { status, body } = answer(seen);
        if (body === undefined) res.writeHead(status).end();
        else res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      },
      (err: Error) => res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: err.message })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/process`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const post = (url: string, body: unknown, headers?: Record<string, string>) =>
  axios.post(url, body, { validateStatus: () => true, headers, transformRequest: headers ? [(data: unknown) => data] : undefined });

const VTN = { series: [{ startTimeMs: 0, stopTimeMs: 500, words: [{ word: 'hello' }] }] };

describe('the multipart body Engine Toolkit posts to /process', function () {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'multipart-test-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fields = {
    chunkMimeType: 'image/png',
    payload: JSON.stringify({ mode: 'chunk', quote: 'say "hi"\r\n' }),
    'name with "quotes" and \\': 'ünïcödé ✓',
    empty: '',
    [`${CHUNK_METADATA_PREFIX}x-aiware-chunk-timestamp`]: '1700000000000',
  };

  it('encodeMultipart: busboy reads back every field and the exact chunk bytes', async function () {
    const data = randomBytes(200_000);
    const { body, contentType } = encodeMultipart(fields, { data, filename: 'frame "1".png', mimeType: 'image/png' });
    assert.match(contentType, /^multipart\/form-data; boundary=[0-9a-f]{60}$/);
    const parsed = await parseMultipart(body, contentType);
    assert.deepEqual(parsed.fields, fields);
    assert.equal(parsed.files.length, 1);
    const [file] = parsed.files;
    assert.equal(file.name, 'chunk');
    assert.equal(file.filename, 'frame "1".png');
    assert.equal(file.mimeType, 'image/png');
    assert.ok(file.data.equals(data));
  });

  it("encodeMultipart without a chunk carries only the fields (a stream engine's request)", async function () {
    const { body, contentType } = encodeMultipart(fields);
    const parsed = await parseMultipart(body, contentType);
    assert.deepEqual(parsed.fields, fields);
    assert.equal(parsed.files.length, 0);
  });

  it('multipartStream: a file on disk is streamed, with a Content-Length that matches the bytes', async function () {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = path.join(dir, 'big.bin');
    writeFileSync(file, data);
    const { stream, contentType, length } = multipartStream(fields, { path: file, mimeType: 'application/octet-stream' });
    const body = await collect(stream);
    assert.equal(length, body.length);
    const parsed = await parseMultipart(body, contentType);
    assert.deepEqual(parsed.fields, fields);
    assert.equal(parsed.files[0].filename, 'big.bin');
    assert.equal(parsed.files[0].mimeType, 'application/octet-stream');
    assert.equal(sha256(parsed.files[0].data), sha256(data));
  });

  it('multipartStream of an empty file still makes a well-formed body', async function () {
    const file = path.join(dir, 'empty.txt');
    writeFileSync(file, '');
    const { stream, contentType, length } = multipartStream({ a: '1' }, { path: file, filename: 'x.txt', mimeType: 'text/plain' });
    const body = await collect(stream);
    assert.equal(length, body.length);
    const parsed = await parseMultipart(body, contentType);
    assert.deepEqual(parsed.fields, { a: '1' });
    assert.equal(parsed.files[0].data.length, 0);
  });

  it('refuses a field name with a line break, and a missing file, at once', function () {
    assert.throws(() => encodeMultipart({ 'bad\r\nname': 'x' }), /line break/);
    assert.throws(() => multipartStream({}, { path: path.join(dir, 'missing') }), /ENOENT/);
  });
});

describe('ToolkitEmulator', function () {
  let emulator: ToolkitEmulator;
  const engines: { close: () => Promise<void> }[] = [];

  beforeEach(async function () {
    emulator = await ToolkitEmulator.start();
  });

  afterEach(async function () {
    await emulator.stop();
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
  });

  async function engine(answer: (received: Received) => { status: number; body?: unknown }) {
    const started = await startEngine(answer);
    engines.push(started);
    return started;
  }

  describe('work items', function () {
    it('sets every /process field as ET would, with fresh ids and a real taskTmpDir', async function () {
      const item = emulator.workItem();
      for (const name of Object.keys(PROCESS_FIELDS)) {
        assert.equal(typeof item.fields[name], 'string', `${name} is set`);
        assert.notEqual(item.fields[name], '', `${name} is not empty`);
      }
      assert.equal(item.fields.heartbeatWebhook, `${emulator.url}/heartbeat/${item.taskId}`);
      assert.equal(item.fields.resultWebhook, `${emulator.url}/result/${item.taskId}`);
      assert.equal(typeof JSON.parse(item.fields.payload), 'object');
      assert.ok(Object.keys(item.fields).some((name) => name.startsWith(CHUNK_METADATA_PREFIX)));
      assert.ok(statSync(item.fields.taskTmpDir).isDirectory());
      assert.ok(statSync(item.fields.engineDir).isDirectory());

      const other = emulator.workItem();
      for (const name of ['chunkUUID', 'chunkContext', 'internalJobId', 'internalTaskId', 'taskTmpDir', 'token'] as const) {
        assert.notEqual(other.fields[name], item.fields[name], `${name} differs between items`);
      }
      assert.notEqual(other.taskId, item.taskId);
      assert.equal(emulator.task(item.taskId).status, 'pending');

      await emulator.stop();
      assert.equal(existsSync(item.fields.taskTmpDir), false, 'stop() removes the task dirs');
      await emulator.stop(); // idempotent
    });

    it('lets overrides replace, add and remove fields', function () {
      const item = emulator.workItem({ maxTTL: '60', cacheURI: undefined, 'chunk-metadata-extra': 'x' });
      assert.equal(item.fields.maxTTL, '60');
      assert.equal('cacheURI' in item.fields, false);
      assert.equal(item.fields['chunk-metadata-extra'], 'x');
    });
  });

  describe('webhooks', function () {
    it('records the heartbeats and results an engine posts, in order, answering 204', async function () {
      const item = emulator.workItem();
      const { heartbeatWebhook, resultWebhook, chunkContext } = item.fields;
      const answers = [
        await post(heartbeatWebhook, { status: 'running', bytesRead: 10 }),
        await post(resultWebhook, { index: 1, chunkContext, startOffsetMs: 0, endOffsetMs: 500, output: VTN }),
        await post(resultWebhook, { index: 2, chunkContext, output: VTN }),
        await post(heartbeatWebhook, { status: 'complete', messagesWritten: 2, infoMsg: 'done' }),
      ];
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [204, 204, 204, 204],
      );

      const rec = await emulator.waitForTask(item.taskId, { timeoutMs: 2000 });
      assert.equal(rec.status, 'complete');
      assert.deepEqual(
        rec.heartbeats.map((hb) => hb.status),
        ['running', 'complete'],
      );
      assert.equal(rec.heartbeats[0].bytesRead, 10);
      assert.deepEqual(
        rec.results.map((result) => result.index),
        [1, 2],
      );
      assert.deepEqual(rec.results[0].output, VTN);
      const arrivals = [rec.heartbeats[0].at, rec.results[0].at, rec.results[1].at, rec.heartbeats[1].at];
      assert.deepEqual(
        arrivals,
        [...arrivals].sort((x, y) => x - y),
        'receive times follow arrival order',
      );
      assert.deepEqual(rec.attempts, { heartbeat: 2, result: 2, process: 0 });
      assert.deepEqual(rec.violations, []);
    });

    it('records a failed heartbeat with its reason and message', async function () {
      const item = emulator.workItem();
      const answer = await post(item.fields.heartbeatWebhook, { status: 'failed', failureReason: 'url_timeout', failureMsg: 'slow' });
      assert.equal(answer.status, 204);
      const rec = await emulator.waitForTask(item.taskId, { timeoutMs: 2000 });
      assert.equal(rec.status, 'failed');
      assert.equal(rec.failureReason, 'url_timeout');
      assert.equal(rec.failureMsg, 'slow');
      assert.deepEqual(rec.violations, []);
    });

    it('waitFor resolves when the second result arrives', async function () {
      const item = emulator.workItem();
      const second = emulator.waitFor((rec) => rec.results.length >= 2, item.taskId, { timeoutMs: 2000 });
      const { resultWebhook, chunkContext } = item.fields;
      await post(resultWebhook, { index: 1, chunkContext, output: VTN });
      assert.equal(emulator.task(item.taskId).results.length, 1);
      await post(resultWebhook, { index: 2, chunkContext, output: VTN });
      const rec = await second;
      assert.deepEqual(
        rec.results.map((result) => result.index),
        [1, 2],
      );
      assert.equal(rec.status, 'running');
    });

    it('refuse() answers a result 503 once, then 204, and counts both attempts', async function () {
      const item = emulator.workItem();
      emulator.refuse(item.taskId, 'result', [503]);
      const body = { index: 1, chunkContext: item.fields.chunkContext, output: VTN };
      assert.equal((await post(item.fields.resultWebhook, body)).status, 503);
      assert.equal((await post(item.fields.resultWebhook, body)).status, 204);
      const rec = emulator.task(item.taskId);
      assert.equal(rec.attempts.result, 2);
      assert.equal(rec.results.length, 1);
      assert.deepEqual(
        rec.refused.map(({ kind, status }) => ({ kind, status })),
        [{ kind: 'result', status: 503 }],
      );
      assert.deepEqual(rec.violations, []);
    });

    it("refuse('*') applies to any task's next posts", async function () {
      const first = emulator.workItem();
      const second = emulator.workItem();
      emulator.refuse('*', 'heartbeat', [500, 429]);
      assert.equal((await post(first.fields.heartbeatWebhook, { status: 'running' })).status, 500);
      assert.equal((await post(second.fields.heartbeatWebhook, { status: 'running' })).status, 429);
      assert.equal((await post(second.fields.heartbeatWebhook, { status: 'running' })).status, 204);
      assert.equal(emulator.task(first.taskId).refused.length, 1);
      assert.equal(emulator.task(second.taskId).attempts.heartbeat, 2);
    });

    const malformed: { story: string; kind: 'heartbeat' | 'result'; body: unknown; headers?: Record<string, string>; says: RegExp }[] = [
      { story: 'a failed heartbeat without failureReason', kind: 'heartbeat', body: { status: 'failed' }, says: /failureReason is required/ },
      { story: 'a heartbeat with an unknown status', kind: 'heartbeat', body: { status: 'done' }, says: /status must be one of/ },
      { story: 'a heartbeat with an unknown failureReason', kind: 'heartbeat', body: { status: 'failed', failureReason: 'oops' }, says: /failureReason must be one of the failure reasons/ },
      { story: 'a heartbeat with a negative counter', kind: 'heartbeat', body: { status: 'running', bytesRead: -1 }, says: /bytesRead/ },
      { story: 'a result without output', kind: 'result', body: { index: 1 }, says: /output is required/ },
      { story: 'a result with index 0', kind: 'result', body: { index: 0, output: VTN }, says: /index must be an integer from 1/ },
      { story: 'a result with a string index', kind: 'result', body: { index: '1', output: VTN }, says: /index must be an integer/ },
      { story: 'a body that is not JSON', kind: 'heartbeat', body: '{"status": ', headers: { 'Content-Type': 'application/json' }, says: /not JSON/ },
      { story: 'a body sent as text/plain', kind: 'result', body: '{}', headers: { 'Content-Type': 'text/plain' }, says: /Content-Type must be application\/json/ },
    ];
    for (const { story, kind, body, headers, says } of malformed) {
      it(`answers 400 and records a violation for ${story}`, async function () {
        const item = emulator.workItem();
        const url = kind === 'heartbeat' ? item.fields.heartbeatWebhook : item.fields.resultWebhook;
        const answer = await post(url, body, headers);
        assert.equal(answer.status, 400);
        const rec = emulator.task(item.taskId);
        assert.equal(rec.violations.length, 1, rec.violations.join('\n'));
        assert.match(rec.violations[0], says);
        assert.deepEqual([rec.heartbeats.length, rec.results.length], [0, 0]);
        assert.equal(rec.status, 'pending');
      });
    }

    it('flags a result with the wrong chunkContext, and a heartbeat after complete, though it takes them', async function () {
      const item = emulator.workItem();
      assert.equal((await post(item.fields.resultWebhook, { index: 1, chunkContext: 'other', output: VTN })).status, 204);
      assert.equal((await post(item.fields.heartbeatWebhook, { status: 'complete' })).status, 204);
      assert.equal((await post(item.fields.heartbeatWebhook, { status: 'running' })).status, 204);
      const rec = emulator.task(item.taskId);
      assert.equal(rec.status, 'complete');
      assert.equal(rec.violations.length, 2, rec.violations.join('\n'));
      assert.match(rec.violations[0], /chunkContext "other" is not the task's/);
      assert.match(rec.violations[1], /after the task was closed by a complete heartbeat/);
    });

    it('flags a complete task whose result indexes are not 1..N', async function () {
      const item = emulator.workItem();
      const { resultWebhook, heartbeatWebhook, chunkContext } = item.fields;
      await post(resultWebhook, { index: 1, chunkContext, output: VTN });
      await post(resultWebhook, { index: 3, chunkContext, output: VTN });
      await post(heartbeatWebhook, { status: 'complete' });
      assert.match(emulator.task(item.taskId).violations.join('\n'), /result indexes are not 1\.\.2: got 1, 3/);
    });

    it('answers 413 to a post past maxBodyBytes once it has read it all, and keeps the connection', async function () {
      await emulator.stop();
      emulator = await ToolkitEmulator.start({ maxBodyBytes: 1024 });
      const item = emulator.workItem();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const big = await axios.post<{ error: string }>(item.fields.heartbeatWebhook, { status: 'running', infoMsg: 'x'.repeat(64 * 1024) }, { validateStatus: () => true, httpAgent: agent });
        assert.equal(big.status, 413);
        assert.match(big.data.error, /body is larger than 1024 bytes/);
        const next = await axios.post(item.fields.heartbeatWebhook, { status: 'running' }, { validateStatus: () => true, httpAgent: agent });
        assert.equal(next.status, 204);
        assert.equal((next.request as http.ClientRequest).reusedSocket, true, 'the same connection carries the next post');
      } finally {
        agent.destroy();
      }
      const rec = emulator.task(item.taskId);
      assert.deepEqual([rec.attempts.heartbeat, rec.heartbeats.length], [2, 1]);
      assert.deepEqual(rec.violations, ['heartbeat post 1: body is larger than 1024 bytes']);
    });

    it("waitForTask rejects with the task's state when nothing ends it in time", async function () {
      const item = emulator.workItem();
      await post(item.fields.heartbeatWebhook, { status: 'running' });
      await assert.rejects(emulator.waitForTask(item.taskId, { timeoutMs: 50 }), (err: Error) => {
        assert.match(err.message, new RegExp(`task ${item.taskId}: timed out after 50 ms`));
        assert.match(err.message, /status running, 1 heartbeat\(s\) \(last: running\)/);
        return true;
      });
    });

    it('waitForTask rejects when the emulator stops', async function () {
      const item = emulator.workItem();
      const rejected = assert.rejects(emulator.waitForTask(item.taskId, { timeoutMs: 5000 }), /stopped/);
      await emulator.stop();
      await rejected;
    });
  });

  describe('process()', function () {
    it('posts every /process field and the chunk as multipart, and an async answer marks the task running', async function () {
      const target = await engine(() => ({ status: 200, body: { estimatedProcessingTimeInSeconds: 3600 } }));
      const item = emulator.workItem();
      const data = randomBytes(50_000);
      const answer = await emulator.process(target.url, item, { data, mimeType: 'image/jpeg', filename: 'frame.jpg' });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { estimatedProcessingTimeInSeconds: 3600 });
      assert.match(answer.headers['content-type'], /application\/json/);

      const [seen] = target.received;
      for (const name of Object.keys(PROCESS_FIELDS)) {
        const expected = name === 'chunkMimeType' ? 'image/jpeg' : item.fields[name];
        assert.equal(seen.fields[name], expected, `field ${name}`);
      }
      for (const name of Object.keys(item.fields).filter((key) => key.startsWith(CHUNK_METADATA_PREFIX))) {
        assert.equal(seen.fields[name], item.fields[name], `field ${name}`);
      }
      assert.equal(seen.files.length, 1);
      assert.deepEqual([seen.files[0].name, seen.files[0].filename, seen.files[0].mimeType], ['chunk', 'frame.jpg', 'image/jpeg']);
      assert.ok(seen.files[0].data.equals(data));
      assert.equal(seen.contentLength, seen.bodyBytes);

      const rec = emulator.task(item.taskId);
      assert.equal(rec.status, 'running');
      assert.equal(rec.estimatedProcessingTimeInSeconds, 3600);
      assert.equal(rec.attempts.process, 1);
    });

    it('streams a chunk from disk', async function () {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'emulator-test-'));
      try {
        const data = randomBytes(4 * 1024 * 1024);
        const file = path.join(dir, 'input.wav');
        writeFileSync(file, data);
        const target = await engine(() => ({ status: 200, body: VTN }));
        const item = emulator.workItem({ chunkMimeType: 'audio/wav' });
        await emulator.process(target.url, item, { path: file });
        const [seen] = target.received;
        assert.equal(seen.files[0].filename, 'input.wav');
        assert.equal(seen.files[0].mimeType, 'audio/wav');
        assert.equal(sha256(seen.files[0].data), sha256(data));
        assert.equal(seen.contentLength, seen.bodyBytes);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a synchronous VTN answer ends the task as answered', async function () {
      const target = await engine(() => ({ status: 200, body: VTN }));
      const item = emulator.workItem();
      const waiting = emulator.waitForTask(item.taskId, { timeoutMs: 2000 });
      await emulator.process(target.url, item, { data: 'hello', mimeType: 'text/plain' });
      const rec = await waiting;
      assert.equal(rec.status, 'answered');
      assert.deepEqual(rec.syncAnswer, VTN);
      assert.deepEqual(rec.violations, []);
    });

    it('204 marks the task ignored', async function () {
      const target = await engine(() => ({ status: 204 }));
      const item = emulator.workItem();
      const answer = await emulator.process(target.url, item, { data: 'skip me' });
      assert.deepEqual([answer.status, answer.body], [204, null]);
      assert.equal((await emulator.waitForTask(item.taskId, { timeoutMs: 2000 })).status, 'ignored');
    });

    it('an error status fails the task without throwing, and a retried /process reopens it', async function () {
      let calls = 0;
      const target = await engine(() => (++calls === 1 ? { status: 503, body: { error: 'busy' } } : { status: 200, body: VTN }));
      const item = emulator.workItem();
      const first = await emulator.process(target.url, item, { data: 'x' });
      assert.deepEqual([first.status, first.body], [503, { error: 'busy' }]);
      let rec = emulator.task(item.taskId);
      assert.deepEqual([rec.status, rec.failureReason, rec.failureMsg], ['failed', 'internal_error', '/process answered 503: {"error":"busy"}']);
      await emulator.process(target.url, item, { data: 'x' });
      rec = emulator.task(item.taskId);
      assert.equal(rec.status, 'answered');
      assert.equal(rec.failureReason, undefined);
      assert.deepEqual(
        rec.processAnswers.map((answer) => answer.status),
        [503, 200],
      );
    });

    it('a stream engine gets no chunk part and reads its input from cacheURI', async function () {
      const target = await engine(() => ({ status: 200, body: { estimatedProcessingTimeInSeconds: 5 } }));
      const item = emulator.workItem({ chunkMimeType: 'video/mp4' });
      const input = randomBytes(10_000);
      emulator.setCache(item.taskId, { data: input });
      await emulator.process(target.url, item);
      assert.equal(target.received[0].files.length, 0);
      const cached = await axios.get(item.fields.cacheURI, { responseType: 'arraybuffer' });
      assert.equal(cached.headers['content-type'], 'video/mp4');
      assert.ok(Buffer.from(cached.data as ArrayBuffer).equals(input));
    });

    it('throws for a network error', async function () {
      const item = emulator.workItem();
      const closed = await startEngine(() => ({ status: 204 }));
      await closed.close();
      await assert.rejects(emulator.process(closed.url, item, { data: 'x' }), /ECONNREFUSED/);
    });
  });

  describe('timeouts', function () {
    async function asyncEngine() {
      return engine(() => ({ status: 200, body: { estimatedProcessingTimeInSeconds: 1 } }));
    }

    async function startTimed(options: Parameters<typeof ToolkitEmulator.start>[0]): Promise<ToolkitEmulator> {
      await emulator.stop();
      emulator = await ToolkitEmulator.start(options);
      return emulator;
    }

    it('fails an async task that sends no heartbeat within heartbeatTimeoutMs', async function () {
      await startTimed({ heartbeatTimeoutMs: 100 });
      const target = await asyncEngine();
      const item: WorkItem = emulator.workItem();
      await emulator.process(target.url, item, { data: 'x' });
      const rec = await emulator.waitForTask(item.taskId, { timeoutMs: 5000 });
      assert.deepEqual([rec.status, rec.failureReason, rec.timedOut, rec.timeout], ['failed', 'heartbeat_timeout', true, 'heartbeat']);
      assert.match(rec.failureMsg ?? '', /no heartbeat for 100 ms/);
    });

    it('heartbeats keep a task alive; a complete heartbeat ends it before any timeout', async function () {
      await startTimed({ heartbeatTimeoutMs: 300 });
      const target = await asyncEngine();
      const item = emulator.workItem();
      await emulator.process(target.url, item, { data: 'x' });
      await post(item.fields.heartbeatWebhook, { status: 'running' });
      await post(item.fields.heartbeatWebhook, { status: 'complete' });
      const rec = await emulator.waitForTask(item.taskId, { timeoutMs: 2000 });
      assert.equal(rec.status, 'complete');
      assert.equal(rec.timedOut, undefined);
    });

    it('fails a task still open past maxTTL', async function () {
      await startTimed({ maxTTLGraceMs: 0 });
      const target = await asyncEngine();
      const item = emulator.workItem({ maxTTL: '1' });
      await emulator.process(target.url, item, { data: 'x' });
      assert.equal(emulator.task(item.taskId).status, 'running');
      const rec = await emulator.waitForTask(item.taskId, { timeoutMs: 5000 });
      assert.deepEqual([rec.status, rec.failureReason, rec.timedOut, rec.timeout], ['failed', 'heartbeat_timeout', true, 'maxTTL']);
      assert.match(rec.failureMsg ?? '', /maxTTL \(1 s\)/);
      // A late heartbeat is recorded, not counted against the engine: the task is already over.
      assert.equal((await post(item.fields.heartbeatWebhook, { status: 'complete' })).status, 204);
      const after = emulator.task(item.taskId);
      assert.equal(after.status, 'failed');
      assert.deepEqual(after.violations, []);
    });
  });
});
