// The pack's side of OpenTelemetry: its tracer, and spans that cost nothing when nobody traces.
// The pack depends only on @opentelemetry/api, which does nothing until a host registers an SDK
// (the runner does when the OTEL_* variables ask for it, docs/runner.md; in a stock Node-RED, the
// user's own `--require` of an SDK). A span is made only as the child of a span being recorded (a
// task's, whose trace the SDK sampled), so an untraced engine makes none past the task's own no-op.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';

const TRACER_NAME = '@aiware-nodered/node-red-aiware';

let cached: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * The pack's tracer, from the provider registered now: kept while that stays the same (the API's
 * proxy finds an SDK registered later by itself), asked again when a host or a test registers another.
 */
export function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (cached?.provider !== provider) cached = { provider, tracer: provider.getTracer(TRACER_NAME) };
  return cached.tracer;
}

/** A trace context as text (W3C `traceparent`, and whatever else the host's propagators write): how a task's trace travels in saved state. */
export type TraceCarrier = Record<string, string>;

/** `parent`'s span, when it is being recorded: the only parent the pack's spans are made under. */
export function recordingSpan(parent: Context | undefined): Span | undefined {
  const span = parent === undefined ? undefined : trace.getSpan(parent);
  return span?.isRecording() ? span : undefined;
}

/** A child of `parent`'s span, or undefined when that span is not being recorded (nobody traces, or the trace was not sampled). */
export function childSpan(parent: Context | undefined, name: string, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL): Span | undefined {
  if (!recordingSpan(parent)) return undefined;
  return tracer().startSpan(name, { kind, attributes }, parent);
}

/**
 * Runs `work` in a span of its own under `parent` (when that is recorded), with the span's context
 * active (spans, headers and log lines made inside are its children); the span ends when the
 * promise settles, with an error status and the error's message when it rejects.
 */
export async function inSpan<T>(parent: Context | undefined, name: string, attributes: Attributes, work: (span: Span | undefined) => Promise<T>, kind?: SpanKind): Promise<T> {
  const span = childSpan(parent, name, attributes, kind);
  if (!span) return work(undefined);
  try {
    return await context.with(trace.setSpan(parent!, span), () => work(span));
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** `inSpan` for work that is done when it returns (a message sent on). */
export function inSpanNow<T>(parent: Context | undefined, name: string, attributes: Attributes, work: () => T): T {
  const span = childSpan(parent, name, attributes);
  if (!span) return work();
  try {
    return context.with(trace.setSpan(parent!, span), work);
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Marks `span` failed, with the error's message (which the pack has already scrubbed of tokens). */
export function failed(span: Span, err: unknown, message = err instanceof Error ? err.message : String(err)): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/**
 * The trace context of `ctx` as text, for saved state: its ids and sampling decision, sampled or
 * not; undefined when nothing is traced or no propagator is registered.
 */
export function carrierOf(ctx: Context | undefined): TraceCarrier | undefined {
  const spanContext = ctx === undefined ? undefined : trace.getSpanContext(ctx);
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(ctx!, carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** The context a saved (or received) trace context continues from; the root context when there is none. */
export function contextFrom(carrier: TraceCarrier | undefined): Context {
  return carrier === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, carrier);
}

/** Adds the trace context of `ctx` to outgoing `headers` (a webhook post), when it is recorded. */
export function injectInto(ctx: Context | undefined, headers: Record<string, string>): void {
  if (recordingSpan(ctx)) propagation.inject(ctx!, headers);
}

/**
 * The parent for work a task's flow starts now: the active span when it is one of the task's own
 * (the node handling the task's message, see TaskTracing.within), else the task's span; the root
 * context (no span) when the task is not traced.
 */
export function parentFor(task: Context | undefined): Context {
  const taskSpan = recordingSpan(task);
  if (!taskSpan) return ROOT_CONTEXT;
  const active = context.active();
  const span = trace.getSpan(active);
  return span?.isRecording() && span.spanContext().traceId === taskSpan.spanContext().traceId ? active : task!;
}

export { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Attributes, type Context, type Span };
