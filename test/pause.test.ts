// aiware-pause-for-callback in the local mode: a real Node-RED (the shared test engine) serves the
// callback URLs; a small loopback "review service" gets them from the flow, and the test plays the
// service's answers, good and bad.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as jwt from 'jsonwebtoken';
import { captured, captureHooks, deploy, engine, onTestTab } from './support/engine';
import { ReviewService, post, reviewFlow, words } from './support/review';
import { unreachableBase } from '../core';
import type { ToolkitEmulator, WorkItem } from '@aiware-nodered/aiware-sim';

describe('aiware-pause-for-callback, local mode', function () {
  let service: ReviewService;
  let toolkit: ToolkitEmulator;
  let processUrl: string;
  let stateDir: string;

  before(async function () {
    service = await ReviewService.start();
    const h = await engine();
    toolkit = h.toolkit;
    processUrl = h.processUrl;
    stateDir = path.join(h.userDir, 'aiware-waits');
  });

  after(async function () {
    await service.stop();
  });

  /** Sends one chunk of `text` and gives the review request the flow made for it. */
  async function pauseOne(text = 'the cat sat', fields: Record<string, string> = {}): Promise<{ item: WorkItem; review: Record<string, unknown> }> {
    const seen = service.requests.length;
    const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '120', ...fields });
    const answer = await toolkit.process(processUrl, item, { data: text, mimeType: 'text/plain' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return { item, review: await service.request(seen) };
  }

  it('pauses a low-confidence chunk, heartbeats while it waits, and sends the corrected transcript when the reviewer answers', async function () {
    await deploy(reviewFlow().nodes);
    const { item, review } = await pauseOne('the cat sat');
    assert.match(String(review.callbackUrl), /^http:\/\/127\.0\.0\.1:\d+\/aiware\/callback\/[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(review.progressUrl, `${String(review.callbackUrl)}/progress`);
    assert.equal(review.failUrl, `${String(review.callbackUrl)}/fail`);
    const waiting = await toolkit.waitFor((rec) => rec.heartbeats.some((hb) => hb.status === 'running' && (hb.infoMsg ?? '').includes('waiting for a callback')), item.taskId);
    assert.equal(waiting.status, 'running');

    const progress = await post(String(review.progressUrl), { progress: 'a reviewer opened it' });
    assert.equal(progress.status, 200);
    await toolkit.waitFor((rec) => rec.heartbeats.some((hb) => hb.infoMsg === 'a reviewer opened it'), item.taskId);
    assert.equal(toolkit.task(item.taskId).results.length, 0, 'progress resumes nothing');

    const answer = await post(String(review.callbackUrl), {
      words: [
        { word: 'the', confidence: 1 },
        { word: 'hat', confidence: 1 },
        { word: 'sat', confidence: 1 },
      ],
    });
    assert.deepEqual(answer, { status: 200, body: { wait: (answer.body as { wait: string }).wait, state: 'resumed' } });
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete', JSON.stringify(record));
    assert.deepEqual(words(record), ['the', 'hat', 'sat']);
    assert.equal(record.results[0].chunkContext, item.fields.chunkContext, 'the task came back with its chunkContext');
    assert.deepEqual(record.violations, []);
    const resumed = captured.find((m) => m.callback !== undefined);
    assert.ok(resumed, 'output 2 sent the message');
    assert.equal((resumed.aiware as { taskId: string }).taskId !== undefined, true);
    assert.deepEqual(resumed.words, [
      { word: 'the', confidence: 0.3 },
      { word: 'cat', confidence: 0.3 },
      { word: 'sat', confidence: 0.3 },
    ]);
  });

  it('brings back the saved message intact: Buffers, nested objects, unicode; never req/res', async function () {
    const { nodes, pauseId } = reviewFlow();
    // Put odd values on the message before the pause.
    const score = nodes.find((n) => n.id === 'score') as { func: string };
    score.func = `msg.blob = Buffer.from([0, 1, 2, 255]); msg.deep = { a: [1, { b: 'ünï ✓' }], n: null }; msg.req = { socket: 'live' }; ${score.func}`;
    await deploy(nodes);
    const { review } = await pauseOne('a b');
    captureHooks.onCapture = undefined;
    assert.equal((await post(String(review.callbackUrl), 'approved', 'text/plain')).status, 200);
    const resumed = await waitForCapture((m) => m.callback !== undefined);
    assert.equal(resumed.callback, 'approved', 'a text body arrives as a string');
    assert.ok(Buffer.isBuffer(resumed.blob));
    assert.deepEqual([...resumed.blob], [0, 1, 2, 255]);
    assert.deepEqual(resumed.deep, { a: [1, { b: 'ünï ✓' }], n: null });
    assert.equal(resumed.req, undefined);
    assert.deepEqual((resumed.pause as { id: string; mode: string }).mode, 'local');
    assert.ok(pauseId);
  });

  it('saves only the properties named in "save" when it is set', async function () {
    const { nodes } = reviewFlow({ save: 'words, aiware' });
    const score = nodes.find((n) => n.id === 'score') as { func: string };
    score.func = `msg.blob = Buffer.from('not kept'); msg.topic = 'not kept'; ${score.func}`;
    await deploy(nodes);
    const { review } = await pauseOne('a b');
    assert.equal((await post(String(review.callbackUrl), { words: [{ word: 'ok', confidence: 1 }] })).status, 200);
    const resumed = await waitForCapture((m) => m.callback !== undefined);
    assert.deepEqual(Object.keys(resumed).sort(), ['_msgid', 'aiware', 'callback', 'pause', 'words']);
  });

  it('warns of a loopback callback base only for a task from a toolkit on another host', function () {
    assert.equal(unreachableBase('http://127.0.0.1:1880', { heartbeatWebhook: 'http://toolkit.cluster.internal:9000/heartbeat/1' }), true);
    assert.equal(unreachableBase('http://localhost:1880/red', { heartbeatWebhook: 'https://et.example/heartbeat' }), true);
    assert.equal(unreachableBase('http://[::1]:8888', { heartbeatWebhook: 'http://10.0.0.5/heartbeat' }), true);
    assert.equal(unreachableBase('http://127.0.0.1:1880', { heartbeatWebhook: 'http://127.0.0.1:9000/heartbeat/1' }), false, 'all on this machine');
    assert.equal(unreachableBase('https://engine.example', { heartbeatWebhook: 'http://10.0.0.5/heartbeat' }), false, 'a public base');
    assert.equal(unreachableBase('http://127.0.0.1:1880', {}), false, 'no toolkit');
  });

  it('resumes once when the same URL is called again (409) and when 100 calls come at once', async function () {
    await deploy(reviewFlow().nodes);
    const { item, review } = await pauseOne('to be');
    const url = String(review.callbackUrl);
    const answers = await Promise.all(Array.from({ length: 100 }, () => post(url, { words: [{ word: 'once', confidence: 1 }] })));
    const statuses = answers.map((a) => a.status).sort();
    if (statuses.filter((s) => s === 409).length !== 99) console.log(answers.filter((a) => a.status !== 409));
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 409).length, 99);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.results.length, 1);
    assert.deepEqual(words(record), ['once']);
    const again = await post(url, { words: [] });
    assert.equal(again.status, 409);
    assert.equal(captured.filter((m) => m.callback !== undefined).length, 1, 'output 2 sent one message');
  });

  it('refuses a forged, a tampered, an expired and an unknown token, and resumes nothing', async function () {
    await deploy(reviewFlow().nodes);
    const { item, review } = await pauseOne('go on');
    const url = String(review.callbackUrl);
    const token = url.slice(url.lastIndexOf('/') + 1);
    const [head, body, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { w: string; n: string; exp: number };
    const base = url.slice(0, url.lastIndexOf('/') + 1);
    const secret = fs.readFileSync(path.join(stateDir, 'callback-secret'), 'utf8').trim();

    const forged = jwt.sign({ w: claims.w, n: claims.n }, 'not the secret', { algorithm: 'HS256', expiresIn: 600 });
    assert.equal((await post(base + forged, {})).status, 401, 'forged');
    const otherBody = Buffer.from(JSON.stringify({ ...claims, w: '00000000-0000-4000-8000-000000000000' })).toString('base64url');
    assert.equal((await post(`${base}${head}.${otherBody}.${signature}`, {})).status, 401, 'tampered');
    const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA');
    assert.equal((await post(`${base}${head}.${body}.${flipped}`, {})).status, 401, 'bad signature');
    assert.equal((await post(`${base}garbage`, {})).status, 401, 'not a token at all');
    const expired = jwt.sign({ w: claims.w, n: claims.n, exp: Math.floor(Date.now() / 1000) - 10 }, secret, { algorithm: 'HS256', noTimestamp: true });
    assert.equal((await post(base + expired, {})).status, 410, 'expired');
    const unknown = jwt.sign({ w: '00000000-0000-4000-8000-000000000000', n: claims.n }, secret, { algorithm: 'HS256', expiresIn: 600 });
    const answer = await post(base + unknown, {});
    assert.equal(answer.status, 404, 'unknown wait');
    assert.deepEqual(answer.body, { error: 'no such wait' });

    assert.equal(toolkit.task(item.taskId).results.length, 0);
    assert.equal(toolkit.task(item.taskId).status, 'running', 'the task still waits');
    assert.equal((await post(url, { words: [{ word: 'fine', confidence: 1 }] })).status, 200, 'the real token still works');
    assert.deepEqual(words(await toolkit.waitForTask(item.taskId)), ['fine']);
  });

  it('keeps the wait open after a body that is not JSON (400) or too large (413), and after a GET', async function () {
    await deploy(reviewFlow().nodes);
    const { item, review } = await pauseOne('on it');
    const url = String(review.callbackUrl);
    const bad = await post(url, '{"words": [', 'application/json');
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /declared JSON and is not: .*the wait stays open/);
    const big = await post(url, Buffer.alloc(1024 * 1024 + 1, 0x61), 'application/octet-stream');
    assert.equal(big.status, 413);
    const shown = await fetch(url);
    assert.equal(shown.status, 200);
    const state = (await shown.json()) as Record<string, unknown>;
    assert.equal(state.state, 'waiting');
    assert.match(String(state.infoMsg), /waiting for a callback/);
    const put = await fetch(url, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.equal(toolkit.task(item.taskId).results.length, 0, 'nothing resumed');
    assert.equal((await post(url, { words: [{ word: 'later', confidence: 1 }] })).status, 200);
    assert.deepEqual(words(await toolkit.waitForTask(item.taskId)), ['later']);
    const after = (await (await fetch(url)).json()) as Record<string, unknown>;
    assert.equal(after.state, 'resumed', 'GET tells what became of it');
  });

  it('sends a reported failure out of output 3 with msg.error, and fails the task with external_error when output 3 is not wired', async function () {
    await deploy(reviewFlow().nodes);
    const first = await pauseOne('no no');
    assert.equal((await post(String(first.review.failUrl), { error: 'the reviewer rejected it' })).status, 200);
    const failed = await waitForCapture((m) => m.error !== undefined);
    assert.deepEqual((failed.error as { kind: string; message: string }).kind, 'failed');
    assert.equal((failed.error as { message: string }).message, 'the reviewer rejected it');
    const record = await toolkit.waitForTask(first.item.taskId);
    assert.equal(record.status, 'failed');

    await deploy(reviewFlow({}, { failureWired: false }).nodes);
    const second = await pauseOne('no no');
    assert.equal((await post(String(second.review.failUrl), { error: 'service broke' })).status, 200);
    const rec = await toolkit.waitForTask(second.item.taskId);
    assert.equal(rec.status, 'failed');
    assert.equal(rec.failureReason, 'external_error');
    assert.match(String(rec.failureMsg), /the outside service reported a failure: service broke/);
  });

  it('times out: output 3 says so, or the task fails with heartbeat_timeout; a timeout past maxTTL is capped', async function () {
    await deploy(reviewFlow({ timeout: '1' }, { failureWired: false }).nodes);
    const { item, review } = await pauseOne('wait up');
    const rec = await toolkit.waitForTask(item.taskId);
    assert.equal(rec.failureReason, 'heartbeat_timeout');
    assert.match(String(rec.failureMsg), /no callback came within 1 s/);
    // Refused as ended (409) until its token's expiry, the wait's own rounded up to the second, then as expired (410).
    assert.ok([409, 410].includes((await post(String(review.callbackUrl), {})).status), 'a late callback is refused');

    await deploy(reviewFlow({ timeout: '3600' }).nodes);
    const capped = await pauseOne('cut short', { maxTTL: '3' });
    assert.equal(capped.review.capped, true, 'msg.pause.capped says the timeout was cut to fit maxTTL');
    const timedOut = await waitForCapture((m) => m.error !== undefined, 10_000);
    assert.equal((timedOut.error as { kind: string }).kind, 'timeout');
    assert.match((timedOut.error as { message: string }).message, /capped by the task’s maxTTL/);
    assert.equal((await toolkit.waitForTask(capped.item.taskId)).status, 'failed');
  });

  it('refuses to pause a synchronous task and fails it with a message that says why', async function () {
    await deploy(reviewFlow({}, { respond: 'sync' }).nodes);
    const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }) });
    const answer = await toolkit.process(processUrl, item, { data: 'no way', mimeType: 'text/plain' });
    assert.equal(answer.status, 500);
    assert.match(JSON.stringify(answer.body), /a synchronous task cannot pause/);
  });

  it('keeps waiting through a redeploy: the same URL resumes the task afterwards', async function () {
    const { nodes, pauseId } = reviewFlow();
    await deploy(nodes);
    const { item, review } = await pauseOne('redeploy me');
    const h = await engine();
    // The same flow again (a full deploy stops and starts every node).
    await h.red.deploy(onTestTab(nodes));
    assert.ok(pauseId);
    assert.equal((await post(String(review.callbackUrl), { words: [{ word: 'still', confidence: 1 }] })).status, 200);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.deepEqual(words(record), ['still']);
    assert.deepEqual(record.violations, []);
  });
});

/** The first captured message (from now on or already there) that `match` accepts. */
async function waitForCapture(match: (msg: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const found = captured.find(match);
  if (found) return found;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no such message was captured in time')), timeoutMs);
    captureHooks.onCapture = (msg) => {
      if (!match(msg)) return;
      clearTimeout(timer);
      captureHooks.onCapture = undefined;
      resolve(msg);
    };
  });
}
