// aiware-pause-for-callback in the platform mode, against the toolkit emulator's aiWARE side:
// getEngineJWT, the task set `paused`, the wake-up `/callback` that re-dispatches the task to
// /process with `isCallback`, and a runner woken from PAYLOAD_JSON.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as jwt from 'jsonwebtoken';
import type { ToolkitEmulator as Toolkit, WorkItem } from '@aiware-nodered/aiware-sim';
import { captured, deploy, engine } from './support/engine';
import { ReviewRunners, ReviewService, dataOf, post, reviewFlow, words } from './support/review';

describe('aiware-pause-for-callback, platform mode', function () {
  let service: ReviewService;
  let toolkit: Toolkit;
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

  async function pauseOne(text: string, props: Record<string, unknown> = {}, failureWired = true): Promise<{ item: WorkItem; review: Record<string, unknown> }> {
    await deploy(reviewFlow({ mode: 'platform', ...props }, { failureWired }).nodes);
    const seen = service.requests.length;
    const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url, engineId: 'engine-review' }), maxTTL: '120' });
    const answer = await toolkit.process(processUrl, item, { data: text, mimeType: 'text/plain' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return { item, review: await service.request(seen) };
  }

  it('pauses through aiWARE (getEngineJWT, task paused), lets the task go, and resumes it from the wake-up /process', async function () {
    const { item, review } = await pauseOne('the cat sat');
    const url = new URL(String(review.callbackUrl));
    assert.equal(`${url.origin}${url.pathname}`, `${toolkit.url}/callback`, 'externalCallbackWebhook is the base');
    assert.equal(url.searchParams.get('engineId'), 'engine-review');
    const claims = jwt.decode(url.searchParams.get('jwt')!) as { taskId: string };
    assert.equal(claims.taskId, item.taskId, 'the JWT came from getEngineJWT for this task');
    assert.equal(review.progressUrl, undefined, 'no progress while the engine is idle');
    const paused = await toolkit.waitFor((rec) => rec.status === 'paused', item.taskId);
    assert.equal(paused.paused, 1);
    assert.equal(paused.heartbeats.at(-1)?.status, 'running', 'no final heartbeat: the task is not over');

    const woken = await post(String(review.callbackUrl), {
      words: [
        { word: 'the', confidence: 1 },
        { word: 'hat', confidence: 1 },
      ],
    });
    assert.equal(woken.status, 202);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete', record.failureMsg);
    assert.deepEqual(words(record), ['the', 'hat']);
    assert.equal(record.wakeUps.length, 1);
    assert.equal(record.wakeUps[0].status, 200);
    assert.equal(record.results[0].chunkContext, item.fields.chunkContext);
    assert.deepEqual(record.violations, []);
    const resumed = captured.find((m) => m.callback !== undefined);
    assert.deepEqual((resumed?.aiware as { payload: { isCallback: boolean } }).payload.isCallback, true);
    assert.deepEqual(resumed?.words, [
      { word: 'the', confidence: 0.3 },
      { word: 'cat', confidence: 0.3 },
      { word: 'sat', confidence: 0.3 },
    ]);
    assert.equal((await post(String(review.callbackUrl), {})).status, 409, 'aiWARE refuses the replay');
  });

  it('refuses a wake-up whose data was altered, names no pause of this engine, or was already used, and resumes nothing', async function () {
    const { item, review } = await pauseOne('go on');
    const data = dataOf(String(review.callbackUrl));
    const wake = (payloadData: string) => post(processUrl, { ...item.fields, payload: JSON.stringify({ isCallback: true, data: payloadData }), chunk: undefined });
    const [head, body, signature] = data.split('.');
    const altered = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    altered.n = 'some-other-node';
    assert.equal((await wake(`${head}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${signature}`)).status, 401, 'altered');
    assert.equal((await wake('not-a-token')).status, 401, 'not a token');
    const secret = fs.readFileSync(path.join(stateDir, 'callback-secret'), 'utf8').trim();
    const noSuchNode = jwt.sign({ w: '00000000-0000-4000-8000-000000000000', n: 'no-such-node', s: { task: {}, message: {} } }, secret, { algorithm: 'HS256', expiresIn: 60 });
    assert.equal((await wake(noSuchNode)).status, 404, 'names no pause node of this engine');
    const missing = await post(processUrl, { ...item.fields, payload: JSON.stringify({ isCallback: true }) });
    assert.equal(missing.status, 400);
    assert.equal(toolkit.task(item.taskId).results.length, 0, 'nothing resumed');

    assert.equal((await post(String(review.callbackUrl), { words: [{ word: 'fine', confidence: 1 }] })).status, 202);
    assert.deepEqual(words(await toolkit.waitForTask(item.taskId)), ['fine']);
    const replay = await wake(data);
    assert.equal(replay.status, 409, 'a second wake-up of the same wait');
  });

  it('keeps a state too large for a URL in the wait folder, and wakes it by its hash', async function () {
    const { nodes } = reviewFlow({ mode: 'platform' });
    const score = nodes.find((n) => n.id === 'score') as { func: string };
    score.func = `msg.notes = 'x'.repeat(20000); ${score.func}`;
    await deploy(nodes);
    const seen = service.requests.length;
    const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url, engineId: 'engine-review' }) });
    await toolkit.process(processUrl, item, { data: 'big one', mimeType: 'text/plain' });
    const review = await service.request(seen);
    assert.ok(String(review.callbackUrl).length < 4000, 'the URL stays short');
    const sent = captured.length;
    assert.equal((await post(String(review.callbackUrl), { words: [{ word: 'big', confidence: 1 }] })).status, 202);
    assert.deepEqual(words(await toolkit.waitForTask(item.taskId)), ['big']);
    const resumed = captured.slice(sent).find((m) => m.callback !== undefined);
    assert.equal((resumed?.notes as string).length, 20000, 'the state came back whole');
    assert.equal((resumed?.pause as { mode: string }).mode, 'platform');
  });

  it('wakes through output 3 from the fail URL; unwired, the task fails with external_error', async function () {
    const { item, review } = await pauseOne('no no');
    assert.match(String(review.failUrl), /\/callback\?jwt=/);
    assert.equal((await post(String(review.failUrl), { error: 'the reviewer gave up' })).status, 202);
    const failed = await toolkit.waitForTask(item.taskId);
    assert.deepEqual([failed.status, failed.failureReason], ['failed', 'external_error']);
    assert.match(failed.failureMsg ?? '', /the reviewer gave up/);
    const out3 = captured.find((m) => m.error !== undefined);
    assert.equal((out3?.error as { kind: string }).kind, 'failed', 'output 3 had it');

    const unwired = await pauseOne('no no', {}, false);
    assert.equal((await post(String(unwired.review.failUrl), 'service down', 'text/plain')).status, 202);
    const record = await toolkit.waitForTask(unwired.item.taskId);
    assert.deepEqual([record.status, record.failureReason], ['failed', 'external_error']);
    assert.match(record.failureMsg ?? '', /the outside service reported a failure: service down/);
  });

  it('fails the task with a clear reason when the aiWARE API cannot give a wake-up token', async function () {
    await deploy(reviewFlow({ mode: 'platform' }).nodes);
    // An API address with no GraphQL behind it.
    const item = toolkit.workItem({ veritoneApiBaseUrl: `${toolkit.url}/no-api`, payload: JSON.stringify({ callbackServiceUrl: service.url, engineId: 'engine-review' }) });
    await toolkit.process(processUrl, item, { data: 'no way', mimeType: 'text/plain' });
    const record = await toolkit.waitForTask(item.taskId);
    assert.deepEqual([record.status, record.failureReason, record.paused], ['failed', 'api_not_found', 0]);
    assert.match(record.failureMsg ?? '', /the aiWARE API at .*\/no-api\/v3\/graphql answered 404/);
  });
});

describe('a runner woken from PAYLOAD_JSON', function () {
  this.timeout(60_000);
  const stage = new ReviewRunners('aiware-payload-json-');

  it('pauses in one engine, exits, and a new engine started with isCallback in PAYLOAD_JSON finishes the task', async function () {
    const { toolkit } = stage;
    const { nodes } = reviewFlow({ mode: 'platform' });
    const env = { ENGINE_ID: 'engine-review' };
    // The engine is idle once the task paused: it goes (SIGTERM), and nothing fails the paused task.
    const { item, payloadJson } = await stage.pausedOnPlatform(nodes, env);
    assert.equal(toolkit.task(item.taskId).status, 'paused');

    // aiWARE starts the engine again with the task in PAYLOAD_JSON (docs/pause-for-callback.md, platform mode).
    const second = await stage.wokenFrom(payloadJson, nodes, env);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete', record.failureMsg);
    assert.equal(record.results.length, 1);
    assert.equal(record.results[0].chunkContext, item.fields.chunkContext, 'the webhooks and chunkContext came from the saved task');
    assert.ok(!second.output.includes(String(item.fields.token)), 'the token is not logged');
  });
});
