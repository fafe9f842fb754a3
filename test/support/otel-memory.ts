// OpenTelemetry for a module's own test: the SDK registered in this process for the block (spans
// kept in memory, the async-local context, W3C trace context), and unregistered after it, so the
// rest of the run traces nothing.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOffSampler, InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

export interface MemoryTracing {
  /** The spans ended so far. */
  spans(): ReadableSpan[];
  /** Forgets them (between tests). */
  reset(): void;
}

/** Registers the SDK before the block's tests (`sampled` false: it samples nothing), unregisters it after. */
export function useMemoryTracing(options: { sampled?: boolean } = {}): MemoryTracing {
  const exporter = new InMemorySpanExporter();
  let provider: TracerProvider | undefined;
  before(function () {
    const manager = new AsyncLocalStorageContextManager();
    context.setGlobalContextManager(manager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })], ...(options.sampled === false ? { sampler: new AlwaysOffSampler() } : {}) });
    trace.setGlobalTracerProvider(provider);
  });
  afterEach(function () {
    exporter.reset();
  });
  after(async function () {
    trace.disable();
    propagation.disable();
    context.disable();
    await provider?.shutdown();
  });
  return { spans: () => exporter.getFinishedSpans(), reset: () => exporter.reset() };
}

/** A span's parent span id ('' for a root): the SDK's field name changed across versions. */
export function parentOf(span: ReadableSpan): string {
  return span.parentSpanContext?.spanId ?? '';
}
