// Traces: with the standard OTEL_* variables set, the runner sends each task's trace to an OTLP/HTTP
// collector (here a loopback receiver of JSON exports). A task is a trace: the task's span, a span
// for each node's handling of its messages under it, the webhook posts under the node that made
// them (or the task, for the automatic heartbeats), the pause under the pause node. A task paused
// on one runner and woken on another continues the same trace, the second task span a child of the
// first. No token is in any span; the task's log lines carry its trace and span ids.
import * as assert from 'node:assert/strict';
import { ReviewRunners, post, reviewFlow } from './support/review';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp';
import { startRunner, type RunnerProcess } from './support/runner';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import * as path from 'node:path';
import { context, diag, propagation, trace } from '@opentelemetry/api';
import { startTracing, tracingWanted } from '@aiware-nodered/node-red-runner';
import { tracer } from '@aiware-nodered/node-red-aiware';
import { onTestTab, processIn, resultOut, fn } from './support/engine';

/** A millisecond, in the nanoseconds of span times. */
const MS = 1_000_000n;

/** The one span named `name` among `spans` (whose attributes include `attributes`). */
function one(spans: ReceivedSpan[], name: string, attributes: Record<string, unknown> = {}): ReceivedSpan {
  const found = spans.filter((span) => span.name === name && Object.entries(attributes).every(([key, value]) => span.attributes[key] === value));
  assert.equal(found.length, 1, `one span ${name} ${JSON.stringify(attributes)}, found ${found.length} among ${spans.map((s) => s.name).join(', ')}`);
  return found[0];
}

function childrenOf(spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((span) => span.parentSpanId === parent.spanId);
}

describe('traces (OpenTelemetry, OTLP/HTTP)', function () {
  this.timeout(90_000);
  let receiver: OtlpReceiver;
  // The stories of one runner on its own (the pause stories bring their own toolkit and runners).
  let toolkit: ToolkitEmulator;
  let runner: RunnerProcess | undefined;
  before(async function () {
    receiver = await OtlpReceiver.start();
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  });
  afterEach(async function () {
    await runner?.kill();
    runner = undefined;
  });
  after(async function () {
    await toolkit.stop();
    await receiver.close();
  });

  describe('a task paused on one runner and woken on another', function () {
    const stage = new ReviewRunners('aiware-traces-');

    it('is one trace: the second task span continues the first, each node, post, pause and wake-up a span in its place, no token anywhere', async function () {
      const { toolkit, service } = stage;
      const { nodes, pauseId } = reviewFlow();
      const env = { ...receiver.env(), ENGINE_ID: 'engine-traced' };
      const first = stage.start(nodes, env);
      const url = await first.ready();
      const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }) });
      assert.equal((await toolkit.process(`${url}/process`, item, { data: 'the cat sat down', mimeType: 'text/plain' })).status, 200);
      const review = await service.request(0);
      // The runner goes while the task waits (its wait is saved); the next one, on the same folder and port, brings it back.
      await first.stop();
      const second = stage.start(nodes, env);
      await second.ready();
      const answer = await post(String(review.callbackUrl), { words: [{ word: 'reviewed', confidence: 1 }] });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete', record.failureMsg);
      const ended = await second.waitForLog((line) => line.msg === 'task ended' && line.internalTaskId === item.taskId);
      await second.stop();

      const mine = (spans: ReceivedSpan[]) => spans.filter((span) => span.name === 'aiware task' && span.attributes['aiware.task.internal_id'] === item.taskId);
      const spans = await receiver.waitFor((all) => mine(all).length === 2 && all.some((span) => span.name === 'POST heartbeat' && span.attributes['aiware.heartbeat.status'] === 'complete'));
      const [paused, woken] = mine(spans).sort((a, b) => Number(a.startNs - b.startNs));
      const trace = spans.filter((span) => span.traceId === paused.traceId);

      // One trace: the woken task's span is the paused one's child.
      assert.equal(paused.parentSpanId, '', 'the first task span is the root');
      assert.equal(woken.traceId, paused.traceId);
      assert.equal(woken.parentSpanId, paused.spanId);
      assert.equal(paused.attributes['aiware.task.outcome'], 'paused');
      assert.equal(woken.attributes['aiware.task.outcome'], 'complete');
      assert.equal(woken.attributes['aiware.task.resumed'], true);
      assert.equal(paused.attributes['aiware.engine.type'], 'chunk');
      assert.equal(paused.kind, 2, 'the task span is a SERVER span');
      assert.equal(paused.resource['service.name'], 'aiware-engine');
      assert.equal(paused.resource['aiware.engine.id'], 'engine-traced');

      // Before the pause: the nodes under the first task span, the pause under its node.
      const before = childrenOf(trace, paused);
      const score = one(before, 'node function', { 'node_red.node.id': 'score' });
      assert.equal(score.attributes['node_red.node.name'], 'score');
      const pauseNode = one(before, 'node aiware-pause-for-callback', { 'node_red.node.id': pauseId });
      const pause = one(childrenOf(trace, pauseNode), 'aiware pause');
      assert.equal(pause.attributes['aiware.pause.mode'], 'local');
      assert.equal(typeof pause.attributes['aiware.wait.id'], 'string');
      // The SDK starts a span on the millisecond clock (Date.now) and ends it by the precise clock: compared within 1 ms.
      assert.ok(pause.startNs + MS >= pauseNode.startNs && pause.endNs <= pauseNode.endNs + MS, 'the pause is within its node');

      // After the wake-up: the wake-up, the nodes and the final heartbeat under the second task span, the result under result-out.
      const after = childrenOf(trace, woken);
      const wake = one(after, 'aiware wake-up');
      assert.equal(wake.attributes['aiware.wait.id'], pause.attributes['aiware.wait.id']);
      assert.equal(wake.attributes['aiware.wait.outcome'], 'resumed');
      one(after, 'node function', { 'node_red.node.id': 'apply' });
      const out = one(after, 'node aiware-result-out', { 'node_red.node.id': 'out' });
      const result = one(childrenOf(trace, out), 'POST result');
      assert.equal(result.kind, 3, 'a webhook post is a CLIENT span');
      assert.equal(result.attributes['aiware.result.index'], 1);
      assert.equal(result.attributes['http.response.status_code'], 204, 'the emulator answers 204');
      assert.equal(result.attributes['server.address'], '127.0.0.1');
      const final = one(after, 'POST heartbeat', { 'aiware.heartbeat.status': 'complete' });
      assert.ok(final.endNs <= woken.endNs + MS, 'the task span covers its final heartbeat');
      for (const span of trace)
        if (span !== paused)
          assert.ok(
            trace.some((parent) => parent.spanId === span.parentSpanId),
            `${span.name} has its parent in the trace`,
          );

      // The task's last log line names its trace and its span on this runner.
      assert.equal(ended.trace_id, woken.traceId);
      assert.equal(ended.span_id, woken.spanId);

      // No token: neither the task's nor the callback URL's, in any export.
      const all = receiver.bodies.join('\n');
      for (const secret of [String(item.fields.token), String(review.callbackUrl).split('/').pop()!]) assert.ok(!all.includes(secret), `a secret reached the collector: ${secret.slice(0, 12)}…`);
    });
  });

  describe('a task paused through aiWARE and woken in a new engine (platform mode, PAYLOAD_JSON)', function () {
    const stage = new ReviewRunners('aiware-traces-platform-');

    it("continues the trace from the state in the wake-up's data", async function () {
      const { toolkit } = stage;
      const { nodes } = reviewFlow({ mode: 'platform' });
      const env = { ...receiver.env(), ENGINE_ID: 'engine-review' };
      const { item, payloadJson } = await stage.pausedOnPlatform(nodes, env);
      const second = await stage.wokenFrom(payloadJson, nodes, env);
      assert.equal((await toolkit.waitForTask(item.taskId)).status, 'complete');
      await second.stop();

      const mine = (spans: ReceivedSpan[]) => spans.filter((span) => span.name === 'aiware task' && span.attributes['aiware.task.internal_id'] === item.taskId);
      const spans = await receiver.waitFor((all) => mine(all).length === 2);
      const [paused, woken] = mine(spans).sort((a, b) => Number(a.startNs - b.startNs));
      assert.equal(woken.traceId, paused.traceId);
      assert.equal(woken.parentSpanId, paused.spanId);
      const trace = spans.filter((span) => span.traceId === paused.traceId);
      const pauseNode = one(childrenOf(trace, paused), 'node aiware-pause-for-callback');
      assert.equal(one(childrenOf(trace, pauseNode), 'aiware pause').attributes['aiware.pause.mode'], 'platform');
      assert.equal(one(childrenOf(trace, woken), 'aiware wake-up').attributes['aiware.pause.mode'], 'platform');
      assert.ok(!receiver.bodies.join('\n').includes(String(item.fields.token)), 'no token in any span');
    });
  });

  describe('which variables turn the SDK on', function () {
    const cases: [Record<string, string>, boolean][] = [
      [{}, false],
      [{ OTEL_SERVICE_NAME: 'engine', OTEL_TRACES_SAMPLER: 'always_on' }, false],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, true],
      [{ OTEL_TRACES_EXPORTER: 'console' }, true],
      [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
      [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, false],
      [{ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, false],
      [{ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    ];
    for (const [env, wanted] of cases) {
      it(`${JSON.stringify(env)}: ${wanted ? 'on' : 'off'}`, function () {
        assert.equal(tracingWanted(env), wanted);
      });
    }

    it('loads none of the SDK until they do; then the pack’s tracer records, and the last spans leave at shutdown', async function () {
      // Its code, that is: Node-RED's node scan reads every installed package.json, the SDK's too.
      const sdkLoaded = (): boolean => Object.keys(require.cache).some((file) => file.includes(`${path.sep}@opentelemetry${path.sep}sdk-node${path.sep}`) && !file.endsWith('package.json'));
      const warnings: string[] = [];
      const log = { warn: (_fields: unknown, text: string) => warnings.push(text) } as unknown as Parameters<typeof startTracing>[2];
      const ids = { engineId: 'engine-sdk', buildId: 'build-1' };
      assert.equal(startTracing({ OTEL_SERVICE_NAME: 'x' }, ids, log), undefined);
      assert.equal(sdkLoaded(), false, 'the SDK is not in the process');
      // The SDK reads the process's own environment, as in the runner.
      const env = receiver.env();
      const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
      Object.assign(process.env, env);
      try {
        const tracing = startTracing(process.env, ids, log)!;
        assert.ok(sdkLoaded());
        assert.match(tracing.exporter, /^otlp http\/json to http:\/\/127\.0\.0\.1:/);
        const span = tracer().startSpan('sdk check');
        assert.equal(span.isRecording(), true);
        span.end();
        const exports = receiver.bodies.length;
        await tracing.shutdown();
        assert.ok(receiver.bodies.length > exports, 'the span left at shutdown');
        const sent = receiver.spans.find((s) => s.name === 'sdk check')!;
        assert.equal(sent.resource['service.name'], 'aiware-engine');
        assert.equal(sent.resource['aiware.engine.id'], 'engine-sdk');
        assert.deepEqual(warnings, []);
      } finally {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
        // The rest of the run traces nothing.
        trace.disable();
        context.disable();
        propagation.disable();
        diag.disable();
      }
    });
  });

  describe('a runner stopped by a second signal', function () {
    it('still sends the spans of the tasks it fails, within its 1 s bound', async function () {
      // A batch engine whose flow never ends its task: the task is open when the signals come.
      const flow = onTestTab([processIn({ engineType: 'batch' }, ['sink']), fn('sink', 'return null;', [[]])]);
      runner = startRunner(flow, { ...receiver.env(), RUNNER_GRACE_SECONDS: '30' });
      const url = await runner.ready();
      const item = toolkit.workItem();
      assert.equal((await toolkit.process(`${url}/process`, item)).status, 200);
      runner.signal('SIGTERM');
      await runner.waitForLog((line) => line.msg === 'draining');
      runner.signal('SIGINT');
      assert.equal(await runner.waitExit(), 130);
      assert.equal((await toolkit.waitForTask(item.taskId)).failureReason, 'system_error');
      const task = one(receiver.spans, 'aiware task', { 'aiware.task.internal_id': item.taskId });
      assert.equal(task.attributes['aiware.task.outcome'], 'failed');
      assert.equal(task.status.code, 2, 'an error status');
      assert.match(task.status.message ?? '', /stopped at once \(a second SIGINT\)/);
      // The failed heartbeat went out before the spans did: its span is there too, under the task.
      assert.ok(childrenOf(receiver.spans, task).some((span) => span.name === 'POST heartbeat' && span.attributes['aiware.heartbeat.status'] === 'failed'));
    });
  });

  describe('a runner without the OTEL_* variables', function () {
    it('starts no SDK (no "traces on" line), sends nothing, and its task lines carry no trace ids', async function () {
      const flow = onTestTab([processIn({ engineType: 'chunk', respond: 'async' }, ['work']), fn('work', 'msg.payload = { object: [] }; return msg;', [['out']]), resultOut('out')]);
      const exports = receiver.bodies.length;
      runner = startRunner(flow, { RUNNER_LOG_LEVEL: 'debug' });
      const url = await runner.ready();
      const item = toolkit.workItem();
      assert.equal((await toolkit.process(`${url}/process`, item, { data: 'x', mimeType: 'text/plain' })).status, 200);
      assert.equal((await toolkit.waitForTask(item.taskId)).status, 'complete');
      const ended = await runner.waitForLog((line) => line.msg === 'task ended' && line.internalTaskId === item.taskId);
      assert.equal(ended.trace_id, undefined);
      // Written before the task's end, on the same stream.
      const opened = runner.lines.find((line) => line.msg === 'task open' && line.internalTaskId === item.taskId);
      assert.ok(opened, 'a runner at debug writes each task\'s "task open" line');
      assert.equal(opened.engineType, 'chunk');
      assert.equal(opened.trace_id, undefined);
      assert.ok(!runner.output.includes('traces on'));
      await runner.stop();
      assert.equal(receiver.bodies.length, exports);
    });
  });
});
