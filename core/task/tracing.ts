// Each task a trace (docs/runner.md, "Traces"): a span for the task from its opening in this
// process until its last webhook post settles, and under it a span for each node's handling of
// each of its messages (from Node-RED's message hooks, as the per-node timing). The pack's own
// nodes do their work inside their span (`within`): the webhook posts, key calls, model downloads
// and pauses they make are its children. A task woken in another process continues the trace from
// the context its saved state carries (`Task.saved()`), so its span there is a child of this one.
import { SpanKind, context, contextFrom, failed, trace, tracer, type Attributes, type Span } from '../util/trace';
import type { FlowNode, Task, TaskEnd } from './task';
import type { TaskRegistry } from './registry';

/** A task's open spans: its own, and those of the nodes holding its messages now (oldest first per node). */
interface TaskSpans {
  task: Task;
  span: Span;
  nodes: Map<FlowNode, Span[]>;
  /** Node spans open now. */
  open: number;
}

/** Ended tasks whose node spans are still open (the node that ended a task holds its message while it does): at most this many kept. */
const CLOSING_KEPT = 1000;

export class TaskTracing {
  private readonly tasks = new Map<string, TaskSpans>();
  private readonly closing = new Map<string, TaskSpans>();

  constructor(registry: TaskRegistry) {
    registry.on('open', (task: Task) => this.opened(task));
    registry.on('end', (end: TaskEnd) => this.ended(end));
  }

  /** A node got a message of task `taskId` (`onReceive`): its span for that message starts. */
  received(taskId: string, node: FlowNode): void {
    const spans = this.tasks.get(taskId);
    if (!spans) return;
    // The type is in the span's name; each attribute costs a span ~1 µs made and sent.
    const attributes: Attributes = node.name ? { 'node_red.node.id': node.id, 'node_red.node.name': node.name } : { 'node_red.node.id': node.id };
    const span = tracer().startSpan(`node ${node.type}`, { kind: SpanKind.INTERNAL, attributes }, spans.task.traceContext);
    const list = spans.nodes.get(node);
    if (list) list.push(span);
    else spans.nodes.set(node, [span]);
    spans.open++;
  }

  /** `node` finished with a message of task `taskId` (`onComplete`, or its send for a node that never completes): its oldest span ends. */
  completed(taskId: string, node: FlowNode): void {
    const spans = this.tasks.get(taskId) ?? this.closing.get(taskId);
    const span = spans?.nodes.get(node)?.shift();
    if (!span) return;
    span.end();
    if (--spans!.open === 0 && this.closing.get(taskId) === spans) this.closing.delete(taskId);
  }

  /** Runs `work` (a node of the pack handling a message of `task`) inside that node's newest span, so what it starts is the span's child. */
  within<T>(task: Task, node: FlowNode, work: () => T): T {
    const spans = this.tasks.get(task.id);
    const list = spans?.task === task ? spans.nodes.get(node) : undefined;
    const span = list?.[list.length - 1];
    return span ? context.with(trace.setSpan(task.traceContext!, span), work) : work();
  }

  private opened(task: Task): void {
    // The trace the task's saved state (or the request) carries on, else a new one.
    const parent = contextFrom(task.traceFrom);
    // What an operator looks a task up by (ET's ids; the pack's own id is on the task's log lines,
    // which carry the trace id), and what sorts tasks: each attribute costs a task ~1 µs.
    const attributes: Attributes = { 'aiware.engine.type': task.engineType };
    const { internalTaskId, internalJobId, chunkIndex } = task.fields;
    if (internalTaskId !== undefined) attributes['aiware.task.internal_id'] = internalTaskId;
    if (internalJobId !== undefined) attributes['aiware.job.internal_id'] = internalJobId;
    if (chunkIndex !== undefined) attributes['aiware.chunk.index'] = chunkIndex;
    if (task.mode !== undefined) attributes['aiware.task.mode'] = task.mode;
    if (task.resumed) attributes['aiware.task.resumed'] = true;
    const span = tracer().startSpan('aiware task', { kind: SpanKind.SERVER, attributes }, parent);
    if (!span.isRecording()) {
      span.end();
      // Not sampled: the task makes no spans, but keeps its trace's ids and decision for its saved
      // state (its woken part follows it). Nobody traces: nothing at all.
      if (trace.isSpanContextValid(span.spanContext())) task.traceContext = trace.setSpan(parent, span);
      return;
    }
    task.traceContext = trace.setSpan(parent, span);
    this.tasks.set(task.id, { task, span, nodes: new Map(), open: 0 });
  }

  private ended(end: TaskEnd): void {
    const spans = this.tasks.get(end.task.id);
    if (spans?.task !== end.task) return;
    this.tasks.delete(end.task.id);
    const { span } = spans;
    span.setAttribute('aiware.task.outcome', end.state);
    if (end.reason !== undefined) span.setAttribute('aiware.failure.reason', end.reason);
    // A task that did not fail keeps the status unset, as OpenTelemetry asks of instrumentation.
    if (end.state === 'failed') failed(span, undefined, end.message ?? end.reason);
    // The span covers the task's last posts: the final heartbeat is queued just after the end
    // (in the same turn), so the queue is read a microtask later.
    queueMicrotask(() => void end.task.flushed().then(() => span.end()));
    if (spans.open === 0) return;
    this.closing.delete(end.task.id);
    this.closing.set(end.task.id, spans);
    if (this.closing.size > CLOSING_KEPT) {
      const [oldest, left] = this.closing.entries().next().value!;
      this.closing.delete(oldest);
      for (const list of left.nodes.values()) for (const open of list) open.end();
    }
  }
}
