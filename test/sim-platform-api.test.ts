// Pause-for-callback on the toolkit emulator (platform mode, docs/pause-for-callback.md): an engine gets a JWT
// with getEngineJWT, pauses its task with updateTask, and an outside service wakes it through
// /callback, which re-dispatches the task to /process once. All over real HTTP on loopback.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import busboy from 'busboy';
import jwt from 'jsonwebtoken';
import { OutsideService, ToolkitEmulator, type ServiceRequest, type WorkItem } from '@aiware-nodered/aiware-sim';

const ENGINE_ID = 'engine-under-test';

/** What the fake engine saw of one /process post. */
interface Seen {
  fields: Record<string, string>;
  files: string[];
}

interface Answer {
  status: number;
  body?: unknown;
}

/** A tiny engine: records each /process post (parsed with busboy) and answers as `behave` says. */
async function startEngine(behave: (seen: Seen) => Answer | Promise<Answer> = () => ({ status: 200, body: { estimatedProcessingTimeInSeconds: 1 } })) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const one: Seen = { fields: {}, files: [] };
    const parser = busboy({ headers: req.headers });
    parser.on('field', (name, value) => (one.fields[name] = value));
    parser.on('file', (name, stream) => {
      one.files.push(name);
      stream.resume();
    });
    parser.on('close', () => {
      seen.push(one);
      void Promise.resolve(behave(one)).then(({ status, body }) => {
        if (body === undefined) res.writeHead(status).end();
        else res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    req.pipe(parser);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/process`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A receiver for the outside service's calls: records each POST, answers `status`. */
async function startReceiver(status = 200) {
  const received: { path: string; body: unknown; at: number }[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (data: string) => (text += data));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(text) as unknown, at: Date.now() });
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: status < 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const post = (url: string, body?: unknown, headers?: Record<string, string>) =>
  // A string goes as it is (with the headers given); anything else as axios's JSON.
  axios.post(url, body, { validateStatus: () => true, headers, transformRequest: typeof body === 'string' ? [(data: unknown) => data] : undefined });

const GET_ENGINE_JWT = `mutation getWakeupToken($engineId: ID!, $tdoId: ID!, $jobId: ID!, $taskId: ID!) {
  getEngineJWT(input: { engineId: $engineId, resource: { tdoId: $tdoId, jobId: $jobId, taskId: $taskId } }) {
    engineId token resource { applicationId tdoId jobId taskId }
  }
}`;
const UPDATE_TASK = 'mutation pause($taskId: ID!, $status: String!) { updateTask(input: { id: $taskId, status: $status }) { id status } }';

function graphql(toolkit: ToolkitEmulator, token: string | undefined, query: string, variables: Record<string, unknown>) {
  return post(`${toolkit.url}/v3/graphql`, { query, variables }, token === undefined ? undefined : { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });
}

function payloadOf(item: WorkItem): { jobId: string; taskId: string } {
  return JSON.parse(item.fields.payload) as { jobId: string; taskId: string };
}

async function engineJWT(toolkit: ToolkitEmulator, item: WorkItem): Promise<string> {
  const { jobId, taskId } = payloadOf(item);
  const answer = await graphql(toolkit, item.fields.token, GET_ENGINE_JWT, { engineId: ENGINE_ID, tdoId: 'tdo-1', jobId, taskId });
  assert.equal(answer.status, 200, JSON.stringify(answer.data));
  return (answer.data as { data: { getEngineJWT: { token: string } } }).data.getEngineJWT.token;
}

/** What the engine does to pause (seed steps 2, 6, 8): a JWT, the wake-up URL, the task paused. */
async function pause(toolkit: ToolkitEmulator, item: WorkItem, data = '{"pauseId":"p-1"}'): Promise<string> {
  const token = await engineJWT(toolkit, item);
  const answer = await graphql(toolkit, item.fields.token, UPDATE_TASK, { taskId: item.taskId, status: 'paused' });
  assert.deepEqual(answer.data, { data: { updateTask: { id: item.taskId, status: 'paused' } } });
  return wakeUpUrl(item.fields.externalCallbackWebhook, token, ENGINE_ID, data);
}

function wakeUpUrl(base: string, token: string, engineId: string | undefined, data: string | undefined): string {
  const url = new URL('/callback', base);
  url.searchParams.set('jwt', token);
  if (engineId !== undefined) url.searchParams.set('engineId', engineId);
  if (data !== undefined) url.searchParams.set('data', data);
  return url.href;
}

describe('pause-for-callback on the toolkit emulator (platform mode)', function () {
  let toolkit: ToolkitEmulator;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(async function () {
    toolkit = await ToolkitEmulator.start();
  });

  afterEach(async function () {
    await toolkit.stop();
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  async function engine(behave?: (seen: Seen) => Answer | Promise<Answer>) {
    const started = await startEngine(behave);
    closers.push(started.close);
    return started;
  }

  /** A task posted to the engine and paused by it: the wake-up URL. */
  async function pausedTask(data?: string) {
    const fake = await engine();
    const item = toolkit.workItem();
    await toolkit.process(fake.url, item, { data: 'the chunk', mimeType: 'text/plain' });
    const url = await pause(toolkit, item, data);
    return { fake, item, url };
  }

  describe('getEngineJWT', function () {
    it("signs a JWT for the token's task whose claims name the engine, the task and the job, for 24 h", async function () {
      const item = toolkit.workItem();
      const { jobId, taskId } = payloadOf(item);
      const answer = await graphql(toolkit, item.fields.token, GET_ENGINE_JWT, { engineId: ENGINE_ID, tdoId: 'tdo-7', jobId, taskId });
      assert.equal(answer.status, 200);
      const { engineId, token, resource } = (answer.data as { data: { getEngineJWT: { engineId: string; token: string; resource: Record<string, unknown> } } }).data.getEngineJWT;
      assert.equal(engineId, ENGINE_ID);
      assert.deepEqual(resource, { applicationId: null, tdoId: 'tdo-7', jobId, taskId: item.taskId });
      const decoded = jwt.decode(token, { complete: true });
      assert.ok(decoded && typeof decoded.payload === 'object');
      assert.equal(decoded.header.alg, 'HS256');
      const claims = decoded.payload;
      assert.equal(claims.engineId, ENGINE_ID);
      assert.equal(claims.taskId, item.taskId);
      assert.equal(claims.jobId, jobId);
      assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
      assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 24 * 60 * 60);
      const again = jwt.decode(await engineJWT(toolkit, item)) as jwt.JwtPayload;
      assert.notEqual(again.jti, claims.jti, 'each token has its own jti');
    });

    const unauthorised: [string, Record<string, string> | undefined][] = [
      ['no Authorization header', { 'Content-Type': 'application/json' }],
      ['a token no task has', { Authorization: 'Bearer token-of-nobody', 'Content-Type': 'application/json' }],
      ['a header that is not Bearer', { Authorization: 'Basic dXNlcjpwYXNz', 'Content-Type': 'application/json' }],
    ];
    for (const [what, headers] of unauthorised) {
      it(`answers 401 with GraphQL errors for ${what}`, async function () {
        const item = toolkit.workItem();
        const { jobId, taskId } = payloadOf(item);
        const answer = await post(`${toolkit.url}/v3/graphql`, JSON.stringify({ query: GET_ENGINE_JWT, variables: { engineId: ENGINE_ID, jobId, taskId } }), headers);
        assert.equal(answer.status, 401);
        const { errors } = answer.data as { errors: { message: string }[] };
        assert.equal(errors.length, 1);
        assert.match(errors[0].message, /Bearer|token/);
      });
    }

    it("answers a taskId or jobId that is not the token's task with GraphQL errors and no token", async function () {
      const item = toolkit.workItem();
      const other = toolkit.workItem();
      const { jobId, taskId } = payloadOf(item);
      const cases = [
        { variables: { engineId: ENGINE_ID, jobId, taskId: other.taskId }, says: /taskId .* is not the task of this token/ },
        { variables: { engineId: ENGINE_ID, jobId: payloadOf(other).jobId, taskId }, says: /jobId .* is not the job/ },
        { variables: { jobId, taskId }, says: /\$engineId of type ID! is required/ },
      ];
      for (const { variables, says } of cases) {
        const answer = await graphql(toolkit, item.fields.token, GET_ENGINE_JWT, variables);
        assert.equal(answer.status, 200);
        const body = answer.data as { data: { getEngineJWT: null }; errors: { message: string; path: string[] }[] };
        assert.equal(body.data.getEngineJWT, null);
        assert.match(body.errors.map((e) => e.message).join('\n'), says);
        assert.deepEqual(body.errors[0].path, ['getEngineJWT']);
      }
    });

    it('answers 400 for an operation it does not serve, and for a body that is not a GraphQL request', async function () {
      const item = toolkit.workItem();
      const unsupported = await graphql(toolkit, item.fields.token, 'query { me { id name } }', {});
      assert.equal(unsupported.status, 400);
      assert.match((unsupported.data as { errors: { message: string }[] }).errors[0].message, /unsupported operation "me"/);
      const notJson = await post(`${toolkit.url}/v3/graphql`, '{"query": ', { Authorization: `Bearer ${item.fields.token}`, 'Content-Type': 'application/json' });
      assert.equal(notJson.status, 400);
      assert.match((notJson.data as { errors: { message: string }[] }).errors[0].message, /not JSON/);
    });
  });

  describe('updateTask', function () {
    it('paused: the task shows paused (not final), the paused event fires, other statuses are recorded too', async function () {
      const fake = await engine();
      const item = toolkit.workItem();
      await toolkit.process(fake.url, item);
      assert.equal(toolkit.task(item.taskId).status, 'running');
      const paused = once(toolkit, 'paused');
      const answer = await graphql(toolkit, item.fields.token, UPDATE_TASK, { taskId: item.taskId, status: 'paused' });
      assert.deepEqual(answer.data, { data: { updateTask: { id: item.taskId, status: 'paused' } } });
      assert.deepEqual(await paused, [item.taskId]);
      let rec = toolkit.task(item.taskId);
      assert.equal(rec.status, 'paused');
      assert.equal(rec.paused, 1);

      // `id` works as well as `taskId`; a status other than paused is recorded and answered.
      const other = await graphql(toolkit, item.fields.token, 'mutation { updateTask(input: {id: $id, status: $status}) { id status } }', { id: item.taskId, status: 'running' });
      assert.deepEqual(other.data, { data: { updateTask: { id: item.taskId, status: 'running' } } });
      rec = toolkit.task(item.taskId);
      assert.deepEqual(
        rec.statusUpdates.map((u) => u.status),
        ['paused', 'running'],
      );
      assert.equal(rec.status, 'paused', 'only a wake-up ends the pause');
      assert.deepEqual(rec.violations, []);
    });

    it('answers a task id that is not the token’s, or no status, with GraphQL errors and changes nothing', async function () {
      const item = toolkit.workItem();
      const other = toolkit.workItem();
      for (const variables of [{ taskId: other.taskId, status: 'paused' }, { taskId: item.taskId }]) {
        const answer = await graphql(toolkit, item.fields.token, UPDATE_TASK, variables);
        assert.equal(answer.status, 200);
        assert.equal((answer.data as { data: { updateTask: null } }).data.updateTask, null);
        assert.ok((answer.data as { errors: unknown[] }).errors.length > 0);
      }
      assert.equal(toolkit.task(item.taskId).paused, 0);
      assert.equal(toolkit.task(other.taskId).status, 'pending');
    });

    it('stops the heartbeat clock while the task is paused and starts it again at the wake-up', async function () {
      await toolkit.stop();
      toolkit = await ToolkitEmulator.start({ heartbeatTimeoutMs: 300 });
      // The engine pauses the first task before it answers /process; the control task it never pauses.
      const pausedItem = toolkit.workItem();
      const fake = await engine(async (seen) => {
        const payload = JSON.parse(seen.fields.payload) as { isCallback?: boolean };
        if (seen.fields.token === pausedItem.fields.token && !payload.isCallback) {
          await graphql(toolkit, seen.fields.token, UPDATE_TASK, { taskId: pausedItem.taskId, status: 'paused' });
        }
        return { status: 200, body: { estimatedProcessingTimeInSeconds: 1 } };
      });
      await toolkit.process(fake.url, pausedItem);
      assert.equal(toolkit.task(pausedItem.taskId).status, 'paused');
      const token = await engineJWT(toolkit, pausedItem);

      // The control task times out a full heartbeat timeout after the pause began: the paused one did not.
      const control = toolkit.workItem();
      await toolkit.process(fake.url, control);
      const timedOut = await toolkit.waitForTask(control.taskId, { timeoutMs: 5000 });
      assert.equal(timedOut.timeout, 'heartbeat');
      let rec = toolkit.task(pausedItem.taskId);
      assert.equal(rec.status, 'paused');
      assert.equal(rec.timedOut, undefined);

      // Woken, the task is asynchronous again: with no heartbeat, it times out.
      const woken = await post(wakeUpUrl(toolkit.url, token, ENGINE_ID, 'state'));
      assert.equal(woken.status, 202);
      rec = await toolkit.waitForTask(pausedItem.taskId, { timeoutMs: 5000 });
      assert.equal(rec.status, 'failed');
      assert.equal(rec.failureReason, 'heartbeat_timeout');
      assert.equal(rec.timeout, 'heartbeat');
      assert.deepEqual(
        rec.wakeUps.map((w) => w.status),
        [200],
      );
    });

    it('a paused task still ends at its maxTTL', async function () {
      await toolkit.stop();
      toolkit = await ToolkitEmulator.start({ heartbeatTimeoutMs: 60_000, maxTTLGraceMs: 0 });
      const fake = await engine();
      const item = toolkit.workItem({ maxTTL: '1' });
      await toolkit.process(fake.url, item);
      await pause(toolkit, item);
      const rec = await toolkit.waitForTask(item.taskId, { timeoutMs: 5000 });
      assert.equal(rec.status, 'failed');
      assert.equal(rec.timeout, 'maxTTL');
    });
  });

  describe('the wake-up /callback', function () {
    it('re-dispatches the task to /process with isCallback, data and the callback body, every other field as first posted, no chunk', async function () {
      const { fake, item, url } = await pausedTask('{"pauseId":"p-1","n":2}');
      const woken = once(toolkit, 'woken');
      const answer = await post(url, { approved: true, label: 'cat' });
      assert.equal(answer.status, 202);
      assert.deepEqual(answer.data, { woken: item.taskId });
      assert.deepEqual(await woken, [item.taskId, 200]);

      assert.equal(fake.seen.length, 2);
      const [first, second] = fake.seen;
      assert.deepEqual(first.files, ['chunk']);
      assert.deepEqual(second.files, [], 'no chunk part');
      const { payload, ...rest } = second.fields;
      const { payload: firstPayload, ...firstRest } = first.fields;
      assert.deepEqual(rest, firstRest, 'chunkContext, webhooks, ids and token as first posted');
      assert.equal(rest.chunkContext, item.fields.chunkContext);
      assert.equal(rest.heartbeatWebhook, item.fields.heartbeatWebhook);
      assert.deepEqual(JSON.parse(payload), { ...JSON.parse(firstPayload), isCallback: true, data: '{"pauseId":"p-1","n":2}', callback: { approved: true, label: 'cat' } });

      const rec = toolkit.task(item.taskId);
      assert.equal(rec.status, 'running');
      assert.equal(rec.wakeUps.length, 1);
      assert.equal(rec.wakeUps[0].status, 200);
      assert.equal(rec.attempts.process, 2);
    });

    const bodies: [string, unknown, Record<string, string> | undefined, unknown][] = [
      ['text when it is not JSON', 'looks fine to me', { 'Content-Type': 'text/plain' }, 'looks fine to me'],
      ['text when it says JSON and does not parse', '{"approved": ', { 'Content-Type': 'application/json' }, '{"approved": '],
      ['left out when the body is empty', undefined, undefined, undefined],
    ];
    for (const [what, body, headers, expected] of bodies) {
      it(`passes the service's body as callback: ${what}`, async function () {
        const { fake, item, url } = await pausedTask();
        const woken = toolkit.waitFor((rec) => rec.wakeUps.length === 1, item.taskId);
        assert.equal((await post(url, body, headers)).status, 202);
        await woken;
        const payload = JSON.parse(fake.seen[1].fields.payload) as Record<string, unknown>;
        assert.equal(payload.isCallback, true);
        assert.equal('callback' in payload, expected !== undefined);
        assert.deepEqual(payload.callback, expected);
      });
    }

    it('answers a second call of the same URL 409 and dispatches nothing more', async function () {
      const { fake, item, url } = await pausedTask();
      assert.equal((await post(url, { n: 1 })).status, 202);
      await toolkit.waitFor((rec) => rec.wakeUps.length === 1, item.taskId);
      const again = await post(url, { n: 2 });
      assert.equal(again.status, 409);
      assert.deepEqual(again.data, { error: 'already woken' });
      assert.equal(fake.seen.length, 2);
      assert.equal(toolkit.task(item.taskId).wakeUps.length, 1);
    });

    it('of 20 concurrent calls of one URL, exactly one is answered 202 and re-dispatched', async function () {
      const { fake, item, url } = await pausedTask();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
      try {
        const answers = await Promise.all(Array.from({ length: 20 }, (_, n) => axios.post(url, { n }, { validateStatus: () => true, httpAgent: agent })));
        const statuses = answers.map((a) => a.status).sort();
        assert.deepEqual(statuses, [202, ...Array<number>(19).fill(409)]);
      } finally {
        agent.destroy();
      }
      const rec = await toolkit.waitFor((r) => r.wakeUps.length === 1, item.taskId);
      assert.equal(fake.seen.length, 2, 'one re-dispatch');
      assert.equal(rec.attempts.process, 2);
      assert.equal(rec.wakeUps.length, 1);
    });

    // Each refusal changes nothing and leaves the real URL usable.
    const refusals: [string, (url: URL) => void, number, RegExp][] = [
      ['a tampered jwt', (url) => url.searchParams.set('jwt', tamper(url.searchParams.get('jwt') ?? '')), 401, /jwt is not valid: invalid signature/],
      ['a jwt signed with another secret', (url) => url.searchParams.set('jwt', forge(url.searchParams.get('jwt') ?? '')), 401, /invalid signature/],
      ['an unsigned (alg none) jwt', (url) => url.searchParams.set('jwt', unsigned(url.searchParams.get('jwt') ?? '')), 401, /jwt is not valid/],
      ['no jwt', (url) => url.searchParams.delete('jwt'), 401, /jwt is missing/],
      ['an engineId that is not the jwt’s', (url) => url.searchParams.set('engineId', 'another-engine'), 401, /engineId is not the engine/],
      ['no engineId', (url) => url.searchParams.delete('engineId'), 401, /engineId is not the engine/],
      ['no data', (url) => url.searchParams.delete('data'), 400, /data is missing/],
    ];
    for (const [what, change, status, says] of refusals) {
      it(`refuses ${what} with ${status}, wakes nothing, and the real URL still works`, async function () {
        const { fake, item, url } = await pausedTask();
        const bad = new URL(url);
        change(bad);
        const answer = await post(bad.href, { approved: true });
        assert.equal(answer.status, status);
        assert.match((answer.data as { error: string }).error, says);
        assert.equal(fake.seen.length, 1);
        assert.equal(toolkit.task(item.taskId).status, 'paused');
        assert.equal((await post(url, { approved: true })).status, 202);
      });
    }

    it('refuses an expired jwt with 410', async function () {
      await toolkit.stop();
      toolkit = await ToolkitEmulator.start({ jwtTtlSeconds: -1 });
      const { fake, item, url } = await pausedTask();
      const answer = await post(url, {});
      assert.equal(answer.status, 410);
      assert.match((answer.data as { error: string }).error, /jwt expired/);
      assert.equal(fake.seen.length, 1);
      assert.equal(toolkit.task(item.taskId).status, 'paused');
    });

    it('answers GET 405 with Allow: POST, so a link previewer wakes nothing', async function () {
      const { fake, item, url } = await pausedTask();
      const answer = await axios.get(url, { validateStatus: () => true });
      assert.equal(answer.status, 405);
      assert.equal(answer.headers.allow, 'POST');
      assert.equal(fake.seen.length, 1);
      assert.equal((await post(url, {})).status, 202, 'the URL is not spent');
      await toolkit.waitFor((rec) => rec.wakeUps.length === 1, item.taskId);
    });

    it('answers 410 for a task that has ended, and dispatches nothing', async function () {
      const { fake, item, url } = await pausedTask();
      await post(item.fields.heartbeatWebhook, { status: 'failed', failureReason: 'external_error', failureMsg: 'gave up' });
      const answer = await post(url, {});
      assert.equal(answer.status, 410);
      assert.match((answer.data as { error: string }).error, /has ended \(failed\)/);
      assert.equal(fake.seen.length, 1);
    });

    it('a woken engine that completes ends the task complete, with its wake-up recorded', async function () {
      const { item, url } = await pausedTask();
      assert.equal((await post(url, { approved: true })).status, 202);
      await toolkit.waitFor((rec) => rec.wakeUps.length === 1, item.taskId);
      await post(item.fields.resultWebhook, { index: 1, chunkContext: item.fields.chunkContext, output: { series: [] } });
      await post(item.fields.heartbeatWebhook, { status: 'complete' });
      const rec = await toolkit.waitForTask(item.taskId);
      assert.equal(rec.status, 'complete');
      assert.deepEqual([rec.paused, rec.wakeUps.length, rec.results.length], [1, 1, 1]);
      assert.deepEqual(rec.violations, []);
    });
  });
});

describe('the outside service (aiware-sim plays the slow external party)', function () {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async function () {
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  async function service(options: Parameters<typeof OutsideService.start>[0]) {
    const started = await OutsideService.start(options);
    closers.push(() => started.stop());
    return started;
  }

  async function receiver(status?: number) {
    const started = await startReceiver(status);
    closers.push(started.close);
    return started;
  }

  it('answers 202 at once and posts the answer to callbackUrl after the delay', async function () {
    const app = await receiver();
    const svc = await service({ delayMs: 150, answer: { approved: true, label: 'dog' } });
    assert.match(svc.url, /^http:\/\/127\.0\.0\.1:\d+\/service$/);
    const done = once(svc, 'done') as Promise<[ServiceRequest]>;
    const answer = await post(`${svc.url}?taskId=task-9`, { callbackUrl: `${app.base}/resume`, item: 'face-17' });
    assert.equal(answer.status, 202);
    assert.equal(app.received.length, 0, 'nothing is called before the delay');
    const [request] = await done;
    assert.equal(request.taskId, 'task-9');
    assert.deepEqual(request.body, { callbackUrl: `${app.base}/resume`, item: 'face-17' });
    assert.deepEqual(
      app.received.map((r) => [r.path, r.body]),
      [['/resume', { approved: true, label: 'dog' }]],
    );
    assert.ok(app.received[0].at - request.at >= 148, `called ${app.received[0].at - request.at} ms after the request`);
    assert.deepEqual(
      svc.calls.map((c) => [c.kind, c.status, c.body, c.taskId]),
      [['callback', 200, { ok: true }, 'task-9']],
    );
    assert.equal(svc.pending, 0);
  });

  it('posts each progress text to progressUrl first, then the answer', async function () {
    const app = await receiver();
    const svc = await service({ delayMs: 10, progress: ['reviewing', 'almost there'] });
    const done = once(svc, 'done');
    await post(svc.url, { callbackUrl: `${app.base}/resume`, progressUrl: `${app.base}/progress`, failUrl: `${app.base}/fail` });
    await done;
    assert.deepEqual(
      app.received.map((r) => [r.path, r.body]),
      [
        ['/progress', { progress: 'reviewing' }],
        ['/progress', { progress: 'almost there' }],
        ['/resume', {}],
      ],
    );
    assert.deepEqual(
      svc.calls.map((c) => c.kind),
      ['progress', 'progress', 'callback'],
    );
  });

  it('reports a failure to failUrl, or to callbackUrl without one, and records how it was answered', async function () {
    const app = await receiver(409);
    const svc = await service({ delayMs: 10, fail: 'the reviewer rejected the item' });
    const done = once(svc, 'done');
    await post(svc.url, { callbackUrl: `${app.base}/resume`, failUrl: `${app.base}/fail` });
    await done;
    const again = once(svc, 'done');
    await post(svc.url, { callbackUrl: `${app.base}/resume` });
    await again;
    assert.deepEqual(
      app.received.map((r) => [r.path, r.body]),
      [
        ['/fail', { error: 'the reviewer rejected the item' }],
        ['/resume', { error: 'the reviewer rejected the item' }],
      ],
    );
    assert.deepEqual(
      svc.calls.map((c) => [c.kind, c.status]),
      [
        ['fail', 409],
        ['fail', 409],
      ],
    );
  });

  it('answers 400 to a job without a callbackUrl, or one that is not JSON, and calls nothing', async function () {
    const svc = await service({ delayMs: 0 });
    const cases: [unknown, Record<string, string> | undefined, RegExp][] = [
      [{ item: 1 }, undefined, /callbackUrl is required/],
      [{ callbackUrl: 'not a url' }, undefined, /callbackUrl must be an http\(s\) URL/],
      ['{"callbackUrl": ', { 'Content-Type': 'application/json' }, /not JSON/],
    ];
    for (const [body, headers, says] of cases) {
      const answer = await post(svc.url, body, headers);
      assert.equal(answer.status, 400);
      assert.match((answer.data as { error: string }).error, says);
    }
    assert.deepEqual([svc.requests.length, svc.calls.length], [0, 0]);
  });

  it('wakes a paused task through the emulator: the engine gets the answer as its callback', async function () {
    const toolkit = await ToolkitEmulator.start();
    closers.push(() => toolkit.stop());
    const fake = await startEngine();
    closers.push(fake.close);
    const svc = await service({ delayMs: 20, answer: { approved: false, correction: 'a fox' } });
    const item = toolkit.workItem();
    await toolkit.process(fake.url, item, { data: 'the chunk' });
    const url = await pause(toolkit, item, '{"pauseId":"p-9"}');
    const done = once(svc, 'done');
    assert.equal((await post(svc.url, { callbackUrl: url })).status, 202);
    const rec = await toolkit.waitFor((r) => r.wakeUps.length === 1, item.taskId);
    assert.equal(rec.wakeUps[0].status, 200);
    const payload = JSON.parse(fake.seen[1].fields.payload) as Record<string, unknown>;
    assert.deepEqual([payload.isCallback, payload.data, payload.callback], [true, '{"pauseId":"p-9"}', { approved: false, correction: 'a fox' }]);
    await done;
    assert.deepEqual(
      svc.calls.map((c) => [c.kind, c.status, c.body, c.taskId]),
      [['callback', 202, { woken: item.taskId }, item.taskId]],
      'the task is read from the jwt of the wake-up URL',
    );
  });
});

// The signature's first character changed: a token the emulator did not sign.
function tamper(token: string): string {
  const [header, payload, signature] = token.split('.');
  return `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
}

function forge(token: string): string {
  const claims = jwt.decode(token) as jwt.JwtPayload;
  return jwt.sign(claims, 'a secret the emulator never had', { algorithm: 'HS256' });
}

function unsigned(token: string): string {
  const [, payload] = token.split('.');
  return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
}
