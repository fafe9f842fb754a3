// core/util/trace: the pack's spans are made only under a recorded span, and a trace context goes
// to text (saved state, webhook headers) and back.
import * as assert from 'node:assert/strict';
import { ROOT_CONTEXT, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { carrierOf, childSpan, contextFrom, inSpan, inSpanNow, injectInto, parentFor, recordingSpan, tracer } from '../../../core/util/trace';
import { parentOf, useMemoryTracing } from '../../support/otel-memory';

describe('core/util/trace', function () {
  describe('with no SDK registered', function () {
    it('makes no span, runs the work, and has no trace context to save or send', async function () {
      const root = tracer().startSpan('task');
      const ctx = trace.setSpan(ROOT_CONTEXT, root);
      assert.equal(root.isRecording(), false);
      assert.equal(childSpan(ctx, 'child', {}), undefined);
      assert.equal(await inSpan(ctx, 'work', {}, (span) => Promise.resolve(span === undefined ? 'ran' : 'spanned')), 'ran');
      assert.equal(carrierOf(ctx), undefined);
      const headers: Record<string, string> = {};
      injectInto(ctx, headers);
      assert.deepEqual(headers, {});
      assert.equal(parentFor(ctx), ROOT_CONTEXT);
    });
  });

  describe('with an SDK registered', function () {
    const memory = useMemoryTracing();

    function taskContext(): ReturnType<typeof trace.setSpan> {
      return trace.setSpan(ROOT_CONTEXT, tracer().startSpan('task'));
    }

    it('makes a child of a recorded span only, never a root of its own', function () {
      assert.equal(childSpan(undefined, 'orphan', {}), undefined);
      assert.equal(childSpan(ROOT_CONTEXT, 'orphan', {}), undefined);
      const task = taskContext();
      const child = childSpan(task, 'child', { 'a.b': 1 })!;
      child.end();
      trace.getSpan(task)!.end();
      const [ended] = memory.spans().filter((span) => span.name === 'child');
      assert.equal(parentOf(ended), trace.getSpan(task)!.spanContext().spanId);
      assert.equal(ended.attributes['a.b'], 1);
    });

    it('runs work in its span, active inside, ended when the work settles, failed with the error when it rejects', async function () {
      const task = taskContext();
      let inside: string | undefined;
      await inSpan(task, 'ok', {}, async (span) => {
        await Promise.resolve();
        inside = trace.getSpan(context.active())?.spanContext().spanId;
        assert.equal(inside, span!.spanContext().spanId, 'still active after an await');
      });
      await assert.rejects(
        inSpan(task, 'broken', {}, () => Promise.reject(new Error('it broke'))),
        /it broke/,
      );
      assert.throws(() => inSpanNow(task, 'broken now', {}, () => assert.fail('at once')), /at once/);
      const byName = new Map(memory.spans().map((span) => [span.name, span]));
      assert.equal(byName.get('ok')!.spanContext().spanId, inside);
      assert.equal(byName.get('ok')!.status.code, SpanStatusCode.UNSET);
      assert.deepEqual(byName.get('broken')!.status, { code: SpanStatusCode.ERROR, message: 'it broke' });
      assert.equal(byName.get('broken now')!.status.code, SpanStatusCode.ERROR);
    });

    it('writes a recorded context as traceparent and reads it back as the same span', function () {
      const task = taskContext();
      const carrier = carrierOf(task)!;
      const { traceId, spanId } = trace.getSpan(task)!.spanContext();
      assert.match(carrier.traceparent, new RegExp(`^00-${traceId}-${spanId}-01$`));
      const back = trace.getSpanContext(contextFrom(carrier))!;
      assert.equal(back.traceId, traceId);
      assert.equal(back.spanId, spanId);
      assert.equal(back.isRemote, true);
      assert.equal(trace.getSpan(contextFrom(undefined)), undefined);
      const headers: Record<string, string> = { 'Idempotency-Key': 'k' };
      injectInto(task, headers);
      assert.equal(headers.traceparent, carrier.traceparent);
    });

    it("parents a task's work under the active span when it is the task's, else under the task", function () {
      const task = taskContext();
      assert.equal(parentFor(task), task, 'nothing active: the task');
      const node = tracer().startSpan('node', {}, task);
      const inNode = trace.setSpan(task, node);
      assert.equal(
        context.with(inNode, () => parentFor(task)),
        inNode,
        "the task's own node: that node",
      );
      const other = taskContext();
      assert.equal(
        context.with(other, () => parentFor(task)),
        task,
        "another task's span active: this task",
      );
      assert.equal(recordingSpan(parentFor(undefined)), undefined);
    });
  });
});
