// Each task a trace (core/task/tracing.ts), with the SDK in memory: the task's span from its opening
// until its last post settles, a span per node per message under it, the pack's own work inside the
// node's span, a restored task continuing its saved trace, and nothing made for an unsampled task.
import * as assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { TaskRegistry, TaskTracing, parseProcessFields, type FlowNode, type OpenOptions, type Task } from '../../../core';
import { parentOf, useMemoryTracing } from '../../support/otel-memory';

const node = (id: string, type = 'function'): FlowNode => ({ id, type, name: id === 'a' ? 'the a node' : undefined });

function open(registry: TaskRegistry, extra: Partial<OpenOptions> = {}): Task {
  const parsed = parseProcessFields({ internalTaskId: 'task-7', internalJobId: 'job-7', chunkIndex: '3', token: 'secret-token-value' });
  return registry.open({ parsed, engineType: 'chunk', respond: 'sync', reply: () => undefined, ...extra });
}

describe('each task a trace (core/task/tracing.ts)', function () {
  describe('sampled', function () {
    const memory = useMemoryTracing();

    it('spans the task and each node’s handling of each message under it, with ids and outcome, never a token', function () {
      const registry = new TaskRegistry();
      const tracing = new TaskTracing(registry);
      const task = open(registry);
      const [a, b] = [node('a'), node('b', 'aiware-result-out')];
      tracing.received(task.id, a);
      tracing.received(task.id, a);
      tracing.completed(task.id, a);
      tracing.received(task.id, b);
      tracing.completed(task.id, a);
      tracing.completed(task.id, b);
      task.fail({ reason: 'invalid_data', message: 'it broke' });
      return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        const spans = memory.spans();
        const taskSpan = spans.find((span) => span.name === 'aiware task')!;
        assert.equal(taskSpan.kind, SpanKind.SERVER);
        assert.equal(parentOf(taskSpan), '');
        assert.deepEqual(
          { ...taskSpan.attributes },
          {
            'aiware.engine.type': 'chunk',
            'aiware.task.internal_id': 'task-7',
            'aiware.job.internal_id': 'job-7',
            'aiware.chunk.index': 3,
            'aiware.task.outcome': 'failed',
            'aiware.failure.reason': 'invalid_data',
          },
        );
        assert.deepEqual(taskSpan.status, { code: SpanStatusCode.ERROR, message: 'it broke' });
        const nodes = spans.filter((span) => span.name !== 'aiware task');
        assert.deepEqual(nodes.map((span) => [span.name, span.attributes['node_red.node.id']]).sort(), [
          ['node aiware-result-out', 'b'],
          ['node function', 'a'],
          ['node function', 'a'],
        ]);
        for (const span of nodes) assert.equal(parentOf(span), taskSpan.spanContext().spanId);
        assert.equal(nodes.find((span) => span.attributes['node_red.node.id'] === 'a')!.attributes['node_red.node.name'], 'the a node');
        assert.ok(!JSON.stringify(spans.map((span) => [span.attributes, span.status])).includes('secret-token-value'));
      });
    });

    it("runs a node's work inside its newest span, and ends a span left open at the task's end when the node lets go", async function () {
      const registry = new TaskRegistry();
      const tracing = new TaskTracing(registry);
      const task = open(registry);
      const a = node('a');
      tracing.received(task.id, a);
      const active = tracing.within(task, a, () => trace.getSpan(context.active())!.spanContext().spanId);
      assert.equal(
        tracing.within(task, node('z'), () => trace.getSpan(context.active())),
        undefined,
        'a node with no span of the task: no span',
      );
      // The node that ends the task holds its message while it does.
      tracing.within(task, a, () => task.ignore());
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(memory.spans().filter((span) => span.name === 'node function').length, 0, 'still open');
      tracing.completed(task.id, a);
      const nodeSpan = memory.spans().find((span) => span.name === 'node function')!;
      assert.equal(nodeSpan.spanContext().spanId, active);
      assert.equal(memory.spans().find((span) => span.name === 'aiware task')!.attributes['aiware.task.outcome'], 'ignored');
    });

    it('continues the trace a restored task saved, and the one a request carried', async function () {
      const registry = new TaskRegistry();
      new TaskTracing(registry);
      const first = open(registry);
      const saved = first.saved();
      assert.match(saved.trace!.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      first.pause();
      const again = open(registry, { restore: saved });
      again.ignore();
      const carried = open(registry, { trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
      carried.ignore();
      await new Promise<void>((resolve) => setImmediate(resolve));
      const [paused, restored, fromRequest] = memory.spans().filter((span) => span.name === 'aiware task');
      assert.equal(paused.attributes['aiware.task.outcome'], 'paused');
      assert.equal(restored.spanContext().traceId, paused.spanContext().traceId);
      assert.equal(parentOf(restored), paused.spanContext().spanId);
      assert.equal(restored.attributes['aiware.task.resumed'], true);
      assert.equal(fromRequest.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(fromRequest.attributes['aiware.task.resumed'], undefined, 'a trace from the request is not a resume');
      assert.equal(parentOf(fromRequest), 'b7ad6b7169203331');
    });
  });

  describe('not sampled', function () {
    const memory = useMemoryTracing({ sampled: false });

    it('keeps no span, its nodes make none, and its saved state keeps the decision for its woken part', async function () {
      const registry = new TaskRegistry();
      const tracing = new TaskTracing(registry);
      const task = open(registry);
      tracing.received(task.id, node('a'));
      tracing.completed(task.id, node('a'));
      assert.equal(trace.getSpan(task.traceContext!)!.isRecording(), false);
      assert.match(task.saved().trace!.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'not sampled (flags 00)');
      task.ignore();
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.deepEqual(memory.spans(), []);
    });
  });
});
