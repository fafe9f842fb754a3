// The pack in a stock Node-RED, the way a palette user runs it: the `node-red` command (red.js)
// started on its own, the pack installed into the user directory as a local module (what
// `npm install <folder>` there makes: a link), the editor and admin API at `/` as Node-RED's
// defaults have them. The pack's routes are served by Node-RED's express app (RED.httpNode),
// behind the admin app that parses JSON and form bodies, and behind the settings' httpNodeAuth
// and httpNodeMiddleware. test/compat runs the same path on every Node-RED and Node users have.
import * as assert from 'node:assert/strict';
import type { FlowConfig } from '@aiware-nodered/node-red-runner';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { startStockNodeRed } from './support/stock';
import { compatFlows, PATHS } from './compat/flows';
import { ReviewService } from './support/review';
import { fn, onTestTab, processIn, resultOut, TRANSCRIPT_FROM_TEXT } from './support/engine';
import { OtlpReceiver } from './support/otlp';

/**
 * What a user puts beside their Node-RED to trace it (docs/settings.md): the OpenTelemetry SDK
 * started before red.js, configured by the OTEL_* variables. Here the SDK is the repository's.
 */
const TRACING_JS = `const { NodeSDK } = require(${JSON.stringify(require.resolve('@opentelemetry/sdk-node'))});
new NodeSDK({ metricReaders: [], logRecordProcessors: [], instrumentations: [] }).start();
`;

/** bcrypt of "open sesame" (4 rounds), as `node-red admin hash-pw` makes a settings file's passwords. */
const OPEN_SESAME_BCRYPT = '$2b$04$SBKOvhnKH5YrPOzx14S8aOFQ3g.yxpTD3gPvi/LoHu.QieViHAhqm';

interface Answer {
  status: number;
  type: string;
  body: string;
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

const ASYNC_CHUNK_ENGINE = (): FlowConfig => onTestTab([processIn({ engineType: 'chunk', respond: 'async' }, ['words']), fn('words', TRANSCRIPT_FROM_TEXT, [['out']]), resultOut('out')]);

function words(output: unknown): string[] {
  return (output as { series: { words: { word: string }[] }[] }).series.flatMap((s) => s.words.map((w) => w.word));
}

describe('the pack in a stock Node-RED (red.js, editor and admin API at /)', function () {
  this.timeout(90_000);
  let toolkit: ToolkitEmulator;

  before(async function () {
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  });

  after(async function () {
    await toolkit?.stop();
  });

  describe('with Node-RED’s default settings', function () {
    let red: Awaited<ReturnType<typeof startStockNodeRed>>;

    before(async function () {
      const echo = [
        { id: 'echo-in', type: 'http in', z: 'tab', url: '/echo', method: 'post', x: 100, y: 200, wires: [['echo-fn']] },
        fn('echo-fn', 'msg.payload = { got: msg.payload }; return msg;', [['echo-out']], { z: 'tab', x: 250, y: 200 }),
        { id: 'echo-out', type: 'http response', z: 'tab', x: 400, y: 200, wires: [] },
      ];
      red = await startStockNodeRed([...ASYNC_CHUNK_ENGINE(), ...echo]);
    });

    after(async function () {
      await red?.stop();
    });

    it('serves its editor at / beside the pack’s routes', async function () {
      const editor = await fetch(`${red.url}/`, { signal: AbortSignal.timeout(15_000) });
      assert.equal(editor.status, 200);
      assert.match(await editor.text(), /<title>Node-RED<\/title>/);
      assert.equal((await fetch(`${red.url}/readyz`, { signal: AbortSignal.timeout(15_000) })).status, 200);
    });

    for (const [kind, contentType, encode] of [
      ['multipart', '', undefined],
      ['JSON', 'application/json', (fields: Record<string, string>) => JSON.stringify(fields)],
      ['a form', 'application/x-www-form-urlencoded', (fields: Record<string, string>) => new URLSearchParams(fields).toString()],
    ] as const) {
      it(`reads a work item posted as ${kind}, which the admin app’s body parsers leave to it`, async function () {
        const item = toolkit.workItem();
        if (encode === undefined) {
          assert.equal((await toolkit.process(`${red.url}/process`, item, { data: 'multipart words', mimeType: 'text/plain' })).status, 200);
        } else {
          const answer = await post(`${red.url}/process`, { 'Content-Type': contentType }, encode({ ...item.fields, chunk: `${kind} words`, chunkMimeType: 'text/plain' }));
          assert.equal(answer.status, 200, answer.body);
          assert.deepEqual(JSON.parse(answer.body), { estimatedProcessingTimeInSeconds: Number(item.fields.maxTTL) });
        }
        const record = await toolkit.waitForTask(item.taskId);
        assert.equal(record.status, 'complete');
        assert.deepEqual(words(record.results[0].output), [encode === undefined ? 'multipart words' : `${kind} words`]);
      });
    }

    it('answers a truncated JSON body with its own JSON 400, not Node-RED’s HTML page', async function () {
      const answer = await post(`${red.url}/process`, { 'Content-Type': 'application/json' }, '{"chunk": ');
      assert.equal(answer.status, 400);
      assert.match(answer.type, /^application\/json/);
      assert.match((JSON.parse(answer.body) as { error: string }).error, /^application\/json body is not JSON: /);
    });

    it('leaves the JSON bodies of other routes to Node-RED: an `http in` node still gets its parsed body', async function () {
      const answer = await post(`${red.url}/echo`, { 'Content-Type': 'application/json' }, JSON.stringify({ parsed: [1, 2] }));
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(JSON.parse(answer.body), { got: { parsed: [1, 2] } });
    });
  });

  describe('listening on one address (uiHost 127.0.0.2)', function () {
    let red: Awaited<ReturnType<typeof startStockNodeRed>>;
    let service: ReviewService;

    before(async function () {
      service = await ReviewService.start();
      red = await startStockNodeRed(compatFlows(), { host: '127.0.0.2' });
    });

    after(async function () {
      await red?.stop();
      await service?.stop();
    });

    it('hands out callback URLs on the address and port Node-RED listens on, which take a JSON answer', async function () {
      const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '120' });
      assert.equal((await toolkit.process(red.url + PATHS.review, item, { data: 'unsure words', mimeType: 'text/plain' })).status, 200);
      const callbackUrl = String((await service.request(0)).callbackUrl);
      assert.ok(callbackUrl.startsWith(`${red.url}/aiware/callback/`), callbackUrl);
      const answer = await post(callbackUrl, { 'Content-Type': 'application/json' }, JSON.stringify({ words: [{ word: 'reviewed', confidence: 1 }] }));
      assert.equal(answer.status, 200, answer.body);
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete');
      assert.deepEqual(words(record.results[0].output), ['reviewed']);
    });
  });

  describe('with httpNodeAuth and httpNodeMiddleware', function () {
    let red: Awaited<ReturnType<typeof startStockNodeRed>>;
    const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

    before(async function () {
      const settings = `module.exports = {
  flowFile: 'flows.json',
  httpNodeAuth: { user: 'engine', pass: ${JSON.stringify(OPEN_SESAME_BCRYPT)} },
  // Refuses what does not carry the header, and counts what it sees.
  httpNodeMiddleware: [
    (req, res, next) => { global.seen = (global.seen || 0) + 1; next(); },
    (req, res, next) => (req.headers['x-engine-key'] === 'k1' ? next() : res.status(403).json({ refusedBy: 'httpNodeMiddleware', path: req.path })),
    // Reads the whole body itself when asked to.
    (req, res, next) => (req.headers['x-read-body'] ? req.on('data', () => {}).on('end', () => next()) : next()),
  ],
};
`;
      red = await startStockNodeRed(ASYNC_CHUNK_ENGINE(), { settings, readyHeaders: { authorization: basic('engine', 'open sesame'), 'x-engine-key': 'k1' } });
    });

    after(async function () {
      await red?.stop();
    });

    it('asks for httpNodeAuth’s credentials on /process and /readyz', async function () {
      const item = toolkit.workItem();
      const answer = await post(`${red.url}/process`, { 'Content-Type': 'application/json', 'x-engine-key': 'k1' }, JSON.stringify({ ...item.fields, chunk: 'x' }));
      assert.equal(answer.status, 401);
      assert.equal((await fetch(`${red.url}/readyz`, { headers: { 'x-engine-key': 'k1' }, signal: AbortSignal.timeout(15_000) })).status, 401);
      assert.equal((await fetch(`${red.url}/readyz`, { headers: { 'x-engine-key': 'k1', authorization: basic('engine', 'wrong') }, signal: AbortSignal.timeout(15_000) })).status, 401);
      assert.equal(toolkit.task(item.taskId)?.status === 'complete', false);
    });

    it('runs httpNodeMiddleware before the pack’s routes: a work item without the header is refused there, one with it is served', async function () {
      const auth = basic('engine', 'open sesame');
      const refused = toolkit.workItem();
      const answer = await post(`${red.url}/process`, { 'Content-Type': 'application/json', authorization: auth }, JSON.stringify({ ...refused.fields, chunk: 'refused' }));
      assert.equal(answer.status, 403);
      assert.deepEqual(JSON.parse(answer.body), { refusedBy: 'httpNodeMiddleware', path: '/process' });
      const ready = await fetch(`${red.url}/readyz`, { headers: { authorization: auth }, signal: AbortSignal.timeout(15_000) });
      assert.equal(ready.status, 403, 'readiness goes through the middleware too');
      const callback = await post(`${red.url}/aiware/callback/not-a-token`, { 'Content-Type': 'application/json', authorization: auth }, '{}');
      assert.equal(callback.status, 403, 'the callback URLs go through the middleware too');
      const callbackLetIn = await post(`${red.url}/aiware/callback/not-a-token`, { 'Content-Type': 'application/json', authorization: auth, 'x-engine-key': 'k1' }, '{}');
      assert.equal(callbackLetIn.status, 401, 'past the middleware, the pack refuses the token itself');
      assert.match(callbackLetIn.type, /^application\/json/);

      const served = toolkit.workItem();
      const ok = await post(
        `${red.url}/process`,
        { 'Content-Type': 'application/json', authorization: auth, 'x-engine-key': 'k1' },
        JSON.stringify({ ...served.fields, chunk: 'let in', chunkMimeType: 'text/plain' }),
      );
      assert.equal(ok.status, 200, ok.body);
      const record = await toolkit.waitForTask(served.taskId);
      assert.equal(record.status, 'complete');
      assert.deepEqual(words(record.results[0].output), ['let in']);
    });

    it('answers a body a middleware has already read with a JSON 500 naming the cause, instead of waiting for it', async function () {
      const item = toolkit.workItem();
      const headers = { 'Content-Type': 'application/json', authorization: basic('engine', 'open sesame'), 'x-engine-key': 'k1', 'x-read-body': 'yes' };
      const answer = await post(`${red.url}/process`, headers, JSON.stringify({ ...item.fields, chunk: 'eaten' }));
      assert.equal(answer.status, 500);
      assert.match((JSON.parse(answer.body) as { error: string }).error, /read before the aiWARE route got it: a middleware before it \(httpNodeMiddleware/);
    });
  });

  describe('with an OpenTelemetry SDK the user starts before it (node --require ./tracing.js red.js)', function () {
    let red: Awaited<ReturnType<typeof startStockNodeRed>>;
    let receiver: OtlpReceiver;

    before(async function () {
      receiver = await OtlpReceiver.start();
      red = await startStockNodeRed(ASYNC_CHUNK_ENGINE(), {
        files: { 'tracing.js': TRACING_JS },
        nodeArgs: ['--require', '{userDir}/tracing.js'],
        env: receiver.env(),
      });
    });

    after(async function () {
      await red?.stop();
      await receiver?.close();
    });

    it("sends each task's trace there: the task's span and its nodes' under it, the result post under result-out", async function () {
      const item = toolkit.workItem();
      const answer = await toolkit.process(`${red.url}/process`, item, { data: 'traced in a stock Node-RED', mimeType: 'text/plain' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal((await toolkit.waitForTask(item.taskId)).status, 'complete');
      const spans = await receiver.waitFor((all) => all.some((span) => span.name === 'POST heartbeat' && span.attributes['aiware.heartbeat.status'] === 'complete'));
      const task = spans.find((span) => span.name === 'aiware task' && span.attributes['aiware.task.internal_id'] === item.taskId)!;
      assert.ok(task, spans.map((span) => span.name).join(', '));
      const children = spans.filter((span) => span.parentSpanId === task.spanId);
      // The final heartbeat (and a running one, if the task outlived a heartbeat interval) under the task.
      assert.deepEqual([...new Set(children.map((span) => span.name))].sort(), ['POST heartbeat', 'node aiware-result-out', 'node function']);
      const out = children.find((span) => span.name === 'node aiware-result-out')!;
      assert.ok(spans.some((span) => span.name === 'POST result' && span.parentSpanId === out.spanId));
      assert.ok(!receiver.bodies.join('\n').includes(String(item.fields.token)), 'no token in any span');
    });
  });
});
