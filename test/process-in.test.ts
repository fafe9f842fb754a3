// aiware-process-in at the edge: readiness, one owner per path, big chunks on disk, and every
// bad input answered 4xx JSON naming the problem, each followed by a good request that works.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { captured, captureHooks, deploy, fn, logged, processIn, resultOut, TEST_AIWARE, TRANSCRIPT_FROM_TEXT } from './support/engine';
import { encodeMultipart } from '@aiware-nodered/aiware-sim';
import type { ToolkitEmulator, WorkItem } from '@aiware-nodered/aiware-sim';

interface RawAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** One POST with a body we control byte for byte. */
function post(url: string, body: Buffer | string, headers: http.OutgoingHttpHeaders): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'Content-Length': Buffer.byteLength(body), ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A deployed chunk engine answering synchronously with the chunk's text as one word. */
async function echoEngine(props: Record<string, unknown> = {}) {
  return deploy([
    processIn({ engineType: 'chunk', respond: 'sync', ...props }, ['capture']),
    fn('capture', `global.get('capture')(msg); return msg;`, [['words']]),
    fn('words', TRANSCRIPT_FROM_TEXT, [['out']]),
    resultOut('out'),
  ]);
}

/** The good request that must work after each bad one. */
async function assertStillServes(toolkit: ToolkitEmulator, processUrl: string): Promise<void> {
  const answer = await toolkit.process(processUrl, toolkit.workItem(), { data: 'still here', mimeType: 'text/plain' });
  assert.equal(answer.status, 200, `the good request after a bad one: ${JSON.stringify(answer.body)}`);
  assert.equal((answer.body as { series: { words: { word: string }[] }[] }).series[0].words[0].word, 'still here');
}

function multipart(item: WorkItem, chunk = 'hello') {
  return encodeMultipart(item.fields, { data: Buffer.from(chunk), mimeType: 'text/plain' });
}

describe('aiware-process-in', function () {
  describe('bad input', function () {
    const cases: { name: string; status: number; field?: string; error: RegExp; edit: (fields: Record<string, string>) => void; noChunk?: boolean }[] = [
      { name: 'payload that is not JSON', status: 400, field: 'payload', error: /payload is not JSON/, edit: (f) => (f.payload = '{"mode": ') },
      { name: 'startOffsetMS that is not a number', status: 400, field: 'startOffsetMS', error: /startOffsetMS must be an integer/, edit: (f) => (f.startOffsetMS = 'ten') },
      { name: 'maxTTL that is negative', status: 400, field: 'maxTTL', error: /maxTTL must be a positive/, edit: (f) => (f.maxTTL = '-5') },
      { name: 'chunk engine request without a chunk', status: 400, field: 'chunk', error: /no chunk/, edit: () => undefined, noChunk: true },
      // Webhooks that can never work are refused at once, not retried until maxTTL.
      {
        name: 'resultWebhook that is a file URL',
        status: 400,
        field: 'resultWebhook',
        error: /resultWebhook must be an http or https URL, got a "file:" URL/,
        edit: (f) => (f.resultWebhook = 'file:///etc/passwd'),
      },
      { name: 'resultWebhook that is not a URL', status: 400, field: 'resultWebhook', error: /resultWebhook is not a URL/, edit: (f) => (f.resultWebhook = 'not a url') },
      {
        name: 'heartbeatWebhook on ftp',
        status: 400,
        field: 'heartbeatWebhook',
        error: /heartbeatWebhook must be an http or https URL, got a "ftp:" URL/,
        edit: (f) => (f.heartbeatWebhook = 'ftp://127.0.0.1/heartbeat'),
      },
      {
        name: 'externalCallbackWebhook that is not a URL',
        status: 400,
        field: 'externalCallbackWebhook',
        error: /externalCallbackWebhook is not a URL/,
        edit: (f) => (f.externalCallbackWebhook = '/callback'),
      },
    ];
    for (const c of cases) {
      it(`answers ${c.status} naming the field for a ${c.name}, then serves the next request`, async function () {
        const { toolkit, processUrl } = await echoEngine();
        const item = toolkit.workItem();
        c.edit(item.fields);
        const answer = await toolkit.process(processUrl, item, c.noChunk ? undefined : { data: 'x', mimeType: 'text/plain' });
        assert.equal(answer.status, c.status);
        const body = answer.body as { error: string; field?: string };
        assert.equal(body.field, c.field);
        assert.match(body.error, c.error);
        assert.equal(captured.length, 0, 'nothing reached the flow');
        await assertStillServes(toolkit, processUrl);
      });
    }

    it('echoes no more of a bad value than a short safe prefix, and nothing of a token', async function () {
      const { toolkit, processUrl } = await echoEngine();
      const secret = 'tok-ECHO-0123456789abcdef';
      const cases: [string, string, RegExp][] = [
        ['maxTTL', `12${secret}`, /maxTTL must be an integer, got "12tok-ECHO-0…"/],
        ['startOffsetMS', `{"token": "${secret}"}`, /startOffsetMS must be an integer, got a value of \d+ characters/],
        ['payload', `abc ${secret}`, /payload is not JSON: Unexpected token 'a' \(not valid JSON\)/],
        ['resultWebhook', `${secret}://x`, /resultWebhook must be an http or https URL, got a non-http URL/],
      ];
      for (const [field, value, error] of cases) {
        const item = toolkit.workItem({ token: secret });
        item.fields[field] = value;
        const answer = await toolkit.process(processUrl, item, { data: 'x', mimeType: 'text/plain' });
        const body = answer.body as { error: string; field?: string };
        assert.deepEqual([answer.status, body.field], [400, field]);
        assert.match(body.error, error);
        assert.ok(!body.error.includes('0123456789abcdef'), body.error);
      }
      await assertStillServes(toolkit, processUrl);
    });

    it('keeps a maxTTL past the timer range (2147484 s and more) as a deadline, not a failure 1 ms later', async function () {
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on('warning', onWarning);
      try {
        // The flow answers 50 ms later: a deadline fired at once would have failed the task first.
        const { toolkit, processUrl } = await deploy([
          processIn({ engineType: 'chunk', respond: 'sync' }, ['later']),
          fn('later', `setTimeout(() => node.send(msg), 50); return null;`, [['words']]),
          fn('words', TRANSCRIPT_FROM_TEXT, [['out']]),
          resultOut('out'),
        ]);
        for (const maxTTL of ['2147484', '31536000']) {
          const answer = await toolkit.process(processUrl, toolkit.workItem({ maxTTL }), { data: 'long', mimeType: 'text/plain' });
          assert.equal(answer.status, 200, `maxTTL ${maxTTL}: ${JSON.stringify(answer.body)}`);
        }
        assert.ok(!warnings.includes('TimeoutOverflowWarning'), warnings.join(', '));
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('answers 415 to a content type it does not read', async function () {
      const { toolkit, processUrl } = await echoEngine();
      const answer = await post(processUrl, '<chunk/>', { 'Content-Type': 'text/xml' });
      assert.equal(answer.status, 415);
      assert.match(String(answer.body.error), /multipart\/form-data/);
      await assertStillServes(toolkit, processUrl);
    });

    it('answers 400 to a truncated multipart body', async function () {
      const { toolkit, processUrl } = await echoEngine();
      const { body, contentType } = multipart(toolkit.workItem());
      const cut = body.subarray(0, body.length - 40);
      const answer = await post(processUrl, cut, { 'Content-Type': contentType });
      assert.equal(answer.status, 400);
      assert.match(String(answer.body.error), /truncated|unexpected end/i);
      await assertStillServes(toolkit, processUrl);
    });

    it('survives a client that disconnects mid-upload, leaving no temp file', async function () {
      const { toolkit, processUrl } = await echoEngine();
      const item = toolkit.workItem();
      const tmpDir = item.fields.taskTmpDir;
      // Past memoryChunkBytes, so the chunk is streaming to a file in taskTmpDir when the client goes.
      const big = Buffer.alloc(TEST_AIWARE.memoryChunkBytes * 4, 7);
      const { body, contentType } = encodeMultipart(item.fields, { data: big, mimeType: 'application/octet-stream' });
      await new Promise<void>((resolve) => {
        const req = http.request(processUrl, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': body.length } });
        req.on('error', () => resolve());
        req.on('response', () => resolve());
        req.write(body.subarray(0, body.length - TEST_AIWARE.memoryChunkBytes), () => {
          // Written to the socket: wait until the engine has begun a temp file, then hang up.
          const watch = setInterval(() => {
            if (fs.readdirSync(tmpDir).length > 0) {
              clearInterval(watch);
              req.destroy();
            }
          }, 5);
          setTimeout(() => {
            clearInterval(watch);
            req.destroy();
          }, 2000).unref();
        });
      });
      await assertStillServes(toolkit, processUrl);
      // The engine removes its partial file once it sees the socket close; wait on the directory.
      await waitUntil(() => fs.readdirSync(tmpDir).length === 0, 3000, `temp files left in ${tmpDir}: ${fs.readdirSync(tmpDir).join(', ')}`);
    });

    it('answers 413 to a body over the limit, by Content-Length and while it streams in', async function () {
      const { toolkit, processUrl } = await echoEngine();
      const declared = await post(processUrl, 'x', { 'Content-Type': 'multipart/form-data; boundary=b', 'Content-Length': TEST_AIWARE.maxBodyBytes + 1 }).catch((err: Error) => ({
        status: 0,
        body: { error: err.message },
      }));
      assert.equal(declared.status, 413);
      assert.match(String(declared.body.error), /larger than/);

      // Chunked transfer: no Content-Length, so the limit is met while the bytes arrive.
      const item = toolkit.workItem();
      const { body, contentType } = encodeMultipart(item.fields, { data: Buffer.alloc(TEST_AIWARE.maxBodyBytes + 1024, 1) });
      const streamed = await new Promise<RawAnswer>((resolve, reject) => {
        const req = http.request(processUrl, { method: 'POST', headers: { 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' } }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString()) as Record<string, unknown> }));
        });
        req.on('error', reject);
        let offset = 0;
        const step = 256 * 1024;
        const pump = () => {
          while (offset < body.length && !req.destroyed) {
            const piece = body.subarray(offset, offset + step);
            offset += step;
            if (!req.write(piece)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      assert.equal(streamed.status, 413);
      assert.match(String(streamed.body.error), /larger than/);
      assert.deepEqual(fs.readdirSync(item.fields.taskTmpDir), [], 'the partial chunk file is gone');
      await assertStillServes(toolkit, processUrl);
    });

    it('keeps unknown extra fields rather than refusing them', async function () {
      const { toolkit, processUrl } = await echoEngine();
      const item = toolkit.workItem({ shinyNewField: 'v2', anotherOne: '42' });
      const answer = await toolkit.process(processUrl, item, { data: 'extras', mimeType: 'text/plain' });
      assert.equal(answer.status, 200);
      assert.deepEqual((captured[0].aiware as { extra: Record<string, string> }).extra, { shinyNewField: 'v2', anotherOne: '42' });
    });
  });

  it('accepts JSON and urlencoded bodies, with lower-case offset spellings', async function () {
    const { processUrl } = await echoEngine();
    const json = await post(processUrl, JSON.stringify({ chunk: 'from json', startOffsetMs: 10, endOffsetMs: 20, payload: { a: 1 } }), { 'Content-Type': 'application/json' });
    assert.equal(json.status, 200, JSON.stringify(json.body));
    const task = captured[0].aiware as { startOffsetMS: number; endOffsetMS: number; payload: unknown };
    assert.equal(task.startOffsetMS, 10);
    assert.equal(task.endOffsetMS, 20);
    assert.deepEqual(task.payload, { a: 1 });
    const form = await post(processUrl, new URLSearchParams({ chunk: 'from a form', startoffsetms: '5' }).toString(), { 'Content-Type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 200, JSON.stringify(form.body));
    assert.equal((captured[1].aiware as { startOffsetMS: number }).startOffsetMS, 5);
    assert.equal(captured[1].payload, 'from a form');
  });

  it('decodes a text chunk by its charset and keeps a binary one a Buffer', async function () {
    const { toolkit, processUrl } = await echoEngine();
    const latin1 = Buffer.from('café', 'latin1');
    await toolkit.process(processUrl, toolkit.workItem(), { data: latin1, mimeType: 'text/plain; charset=ISO-8859-1' });
    assert.equal(captured[0].payload, 'café');
  });

  it('refuses to serve with an engineType or answer mode it does not know (an imported flow), and logs why', async function () {
    for (const [props, message] of [
      [{ engineType: 'video' }, /engineType "video" is not one of chunk, stream, batch/],
      [{ respond: 'later' }, /respond \(Answer\) "later" is not one of sync, async/],
    ] as const) {
      logged.length = 0;
      const { toolkit, processUrl } = await deploy([processIn(props, ['capture']), fn('capture', `global.get('capture')(msg); return msg;`, [[]])]);
      const answer = await toolkit.process(processUrl, toolkit.workItem(), { data: 'x', mimeType: 'text/plain' });
      assert.equal(answer.status, 404, 'it serves nothing: no chunk engine it was never meant to be');
      assert.equal(captured.length, 0);
      assert.ok(
        logged.some((e) => e.level === 20 && message.test(String(e.msg))),
        JSON.stringify(logged),
      );
    }
  });

  it('streams a chunk past the memory limit to taskTmpDir, gives its path, and removes it when the task ends', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync' }, ['capture']),
      fn('capture', `global.get('capture')(msg); msg.ignoreChunk = true; return msg;`, [['out']]),
      resultOut('out'),
    ]);
    const item = toolkit.workItem();
    const big = Buffer.alloc(TEST_AIWARE.memoryChunkBytes * 3);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    let seen: { path?: string; digest?: string; payload?: unknown } = {};
    captureHooks.onCapture = (msg) => {
      // Runs inside the flow, before the task ends: the file is there to read.
      const chunk = (msg.aiware as { chunk: { path: string; inMemory: boolean } }).chunk;
      seen = { path: chunk.path, digest: sha256(fs.readFileSync(chunk.path)), payload: msg.payload };
      assert.equal(chunk.inMemory, false);
    };
    const answer = await toolkit.process(processUrl, item, { data: big, mimeType: 'application/octet-stream' });
    assert.equal(answer.status, 204);
    assert.equal(path.dirname(seen.path!), item.fields.taskTmpDir);
    assert.equal(seen.digest, sha256(big), 'the file holds the exact bytes');
    assert.equal(seen.payload, seen.path, 'msg.payload is the path when the chunk is not in memory');
    await waitUntil(() => !fs.existsSync(seen.path!), 3000, `${seen.path} was not removed when the task ended`);
  });

  it('writes chunks only under the allowed folders: taskTmpDir /etc, / or a link out of /tmp falls back to the OS temp dir with a warning', async function () {
    const { toolkit, processUrl } = await deploy([
      processIn({ engineType: 'chunk', respond: 'sync', chunkFile: 'always' }, ['capture']),
      fn('capture', `global.get('capture')(msg); msg.ignoreChunk = true; return msg;`, [['out']]),
      resultOut('out'),
    ]);
    const link = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-link-')), 'etc');
    fs.symlinkSync('/etc', link);
    const chunkFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('aiware-chunk-'));
    const before = chunkFiles('/etc').length + chunkFiles('/').length;
    try {
      for (const [taskTmpDir, size] of [
        ['/etc', TEST_AIWARE.memoryChunkBytes * 2],
        ['/', 10],
        [link, TEST_AIWARE.memoryChunkBytes * 2],
      ] as const) {
        let dir: string | undefined;
        captureHooks.onCapture = (msg) => {
          dir = path.dirname((msg.aiware as { chunk: { path: string } }).chunk.path);
        };
        logged.length = 0;
        const answer = await toolkit.process(processUrl, toolkit.workItem({ taskTmpDir }), { data: Buffer.alloc(size, 1), mimeType: 'application/octet-stream' });
        assert.equal(answer.status, 204, `${taskTmpDir}: ${JSON.stringify(answer.body)}`);
        assert.equal(dir, fs.realpathSync(os.tmpdir()), `${taskTmpDir}: the chunk went to the OS temp dir`);
        assert.ok(
          logged.some((e) => e.level === 30 && String(e.msg).includes('is outside the folders a task may write in')),
          `${taskTmpDir}: a warning says why: ${JSON.stringify(logged)}`,
        );
      }
      assert.equal(chunkFiles('/etc').length + chunkFiles('/').length, before, 'nothing was written in /etc or /');
    } finally {
      fs.rmSync(path.dirname(link), { recursive: true, force: true });
    }
  });

  it("gives each task's msg.payload memory of its own: two chunks never share an ArrayBuffer", async function () {
    const { toolkit, processUrl } = await echoEngine();
    // Under and over the size process-in copies into one buffer allocated at the part's bound (128 KiB).
    const chunks = [1024, 1024, 200 * 1024, 200 * 1024].map((size, i) => Buffer.alloc(size, 'abcd'[i]));
    const payloads = new Map<string, Buffer>();
    captureHooks.onCapture = (msg) => {
      const payload = msg.payload as Buffer;
      payloads.set(payload.toString('latin1', 0, 1) + payload.length, payload);
    };
    const answers = await Promise.all(chunks.map((data) => toolkit.process(processUrl, toolkit.workItem(), { data, mimeType: 'application/octet-stream' })));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200],
    );
    const got = chunks.map((data) => payloads.get(data.toString('latin1', 0, 1) + data.length));
    got.forEach((payload, i) => {
      assert.ok(Buffer.isBuffer(payload), `chunk ${i} is not a Buffer`);
      assert.ok(payload.equals(chunks[i]), `chunk ${i} changed`);
    });
    assert.equal(new Set(got.map((payload) => payload!.buffer)).size, 4, 'two tasks share an ArrayBuffer');
    // Nothing else in the memory behind a payload: the small ones have theirs alone, the big ones zeros around them.
    for (const payload of got) {
      const all = Buffer.from(payload!.buffer as ArrayBuffer);
      const rest = Buffer.concat([all.subarray(0, payload!.byteOffset), all.subarray(payload!.byteOffset + payload!.length)]);
      assert.ok(
        rest.every((byte) => byte === 0),
        'bytes of something else behind msg.payload.buffer',
      );
    }
  });

  it('gives a small chunk a file too when chunkFile is "always"', async function () {
    const { toolkit, processUrl } = await echoEngine({ chunkFile: 'always' });
    let content: string | undefined;
    captureHooks.onCapture = (msg) => {
      content = fs.readFileSync((msg.aiware as { chunk: { path: string } }).chunk.path, 'utf8');
    };
    const answer = await toolkit.process(processUrl, toolkit.workItem(), { data: 'on disk', mimeType: 'text/plain' });
    assert.equal(answer.status, 200);
    assert.equal(content, 'on disk');
    assert.equal(captured[0].payload, 'on disk', 'the payload stays in memory too');
  });

  it('answers /readyz 200 once the flows run, and 404 when no process-in is deployed', async function () {
    const { red } = await echoEngine();
    const ready = await fetch(`${red.url}/readyz`);
    assert.equal(ready.status, 200);
    await deploy([fn('alone', 'return msg;')]);
    const gone = await fetch(`${red.url}/readyz`);
    assert.equal(gone.status, 404);
    const processGone = await fetch(`${red.url}/process`, { method: 'POST' });
    assert.equal(processGone.status, 404);
  });

  it('lets only one process-in own a path: the second logs an error saying why and serves nothing', async function () {
    const first = processIn({ engineType: 'chunk', respond: 'sync', name: 'first' }, ['words']);
    const second = processIn({ engineType: 'stream', name: 'second' }, ['words']);
    const { toolkit, processUrl } = await deploy([first, second, fn('words', TRANSCRIPT_FROM_TEXT, [['out']]), resultOut('out')]);
    const answer = await toolkit.process(processUrl, toolkit.workItem(), { data: 'owned', mimeType: 'text/plain' });
    assert.equal(answer.status, 200, 'the first owner answers synchronously');
    const errors = logged.filter((entry) => entry.level === 20);
    assert.equal(errors.length, 1, JSON.stringify(logged));
    assert.equal(errors[0].id, second.id);
    assert.match(String(errors[0].msg), /\/process is already served by aiware-process-in .*only one aiware-process-in may own a path/);
  });
});

async function waitUntil(check: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(message);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
