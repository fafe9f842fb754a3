// Which task a log line is about. The runner's lines for the pack's flow events (a task the flow
// has no message of, a result or heartbeat after the task's end) and Node-RED's warnings and errors
// that belong to a task carry the task's ids as fields, `taskId` (the pack's) and `internalTaskId`
// (ET's), and its trace's (`trace_id`, `span_id`) when it is traced, so a reader such as the simulator attaches them to the task without parsing text.
//
// The pack's nodes say these things themselves (node.warn, done(err)); the runner learns of each
// from the pack's events, just before Node-RED logs it, and puts the fields on Node-RED's line. An
// event Node-RED does not log (a Catch node took the error) gets a line of the runner's own, so
// each is said once. Other nodes' lines are matched by the task ids in their text.
import { MAX_TIMED_NODES, recordingSpan, type FlowNode, type Idle, type NodeTime, type PackRuntime, type Task, type TaskEnd } from '@aiware-nodered/node-red-aiware';
import type { Logger } from './log';

/** What a flow did wrong: `late` a result or heartbeat after the task's end, `forgotten` a task the flow had no message of when it ended. */
export type FlowErrorKind = 'late' | 'forgotten';

/** The fields a task's line carries. */
export interface TaskLineFields {
  taskId: string;
  internalTaskId?: string;
  /** Set on the line of a flow error. */
  flowError?: FlowErrorKind;
  /** `idle`: the flow has no message of the task left (a warning); `busy`: one came back (the warning is withdrawn). */
  flowEnd?: 'idle' | 'busy';
  /** The node's id, type and name, the grace: what else the event tells. */
  [field: string]: unknown;
}

interface Expected {
  fields: TaskLineFields;
  level: 'warn' | 'error';
  /** Logged by the runner itself when Node-RED has not logged it by the next turn; else dropped. */
  ownLine: boolean;
}

/** At most this many open tasks are searched for their ids in a line's text. */
const MAX_SEARCHED = 1000;

/** Ended tasks whose ids are still looked for in a line's text, the newest. */
const RECENT_ENDED = 200;

function nodeFields(node: FlowNode | undefined): Record<string, unknown> {
  return node ? { nodeId: node.id, nodeType: node.type, nodeName: node.name || undefined } : {};
}

export class TaskLines {
  private pack?: PackRuntime;
  /** Texts the pack is about to have Node-RED log, by text: the fields they get. */
  private readonly expected = new Map<string, Expected>();
  /** Tasks the flow has no message of now (the flow-end watch's `idle`), by the pack's task id. */
  private readonly idle = new Set<string>();
  /** Tasks ended lately, oldest first: a node may still speak of one (its messages go on after the end). */
  private readonly recent = new Set<Task>();

  constructor(private readonly log: Logger) {}

  /** Listens to the pack's tasks and flow-end watch, and to `hooks` (Node-RED's) for messages a node fails. */
  watch(pack: PackRuntime, hooks: { add(name: string, hook: (event: unknown) => void): void } | undefined): void {
    this.pack = pack;
    pack.registry.on('flowError', (task: Task, text: string, node?: FlowNode) => this.expect(text, { ...ids(task), flowError: 'late', ...nodeFields(node) }, 'error', true));
    // Before the pack's own listener, which has the node warn: the fields must be known by then.
    pack.flowEnd.prependListener('idle', (task: Task, idle: Idle) => {
      this.idle.add(task.id);
      this.expect(idle.text, { ...ids(task), flowEnd: 'idle', graceMs: idle.graceMs, ...nodeFields(idle.node) }, 'warn', true);
    });
    pack.flowEnd.on('busy', (task: Task) => this.idle.delete(task.id));
    pack.registry.on('end', (end: TaskEnd) => {
      this.idle.delete(end.task.id);
      this.recent.add(end.task);
      if (this.recent.size > RECENT_ENDED) this.recent.delete(this.recent.values().next().value!);
    });
    // A node that ends a task's message with done(err): Node-RED logs the error next (unless a Catch node takes it).
    hooks?.add('onComplete.aiwareRunner', (event) => {
      const { msg, error } = event as { msg?: { aiware?: { taskId?: unknown } }; error?: unknown };
      if (error === undefined || error === null) return;
      const taskId = msg?.aiware?.taskId;
      if (typeof taskId !== 'string') return;
      const task = pack.registry.get(taskId) ?? pack.flowEnd.endedTask(taskId);
      const text = error instanceof Error ? error.message : typeof error === 'string' ? error : JSON.stringify(error);
      if (task && !this.expected.has(text)) this.expect(text, ids(task), 'error', false);
    });
  }

  /**
   * Whether a task that ends now ended while the flow had no message of it: the flow forgot it.
   * Read it in the registry's `end` listener registered before `watch`'s own.
   */
  forgotten(end: TaskEnd): boolean {
    return end.state === 'failed' && this.idle.has(end.task.id);
  }

  /** The fields of a Node-RED line with this text: those the pack's event gave it, else the ids of a task its text names. */
  fieldsOf(text: string): TaskLineFields | undefined {
    const expected = this.expected.get(text);
    if (expected) {
      this.expected.delete(text);
      return expected.fields;
    }
    const pack = this.pack;
    if (!pack) return undefined;
    // The pack's own words: `task <id> (internalTaskId <id>)`, `task <id>:`.
    for (const match of text.matchAll(/\btask ([\w.:-]+)/g)) {
      const id = match[1].replace(/[.:]+$/, '');
      const task = pack.registry.get(id) ?? pack.flowEnd.endedTask(id);
      if (task) return ids(task);
    }
    // Another node's text naming a task open now (or lately ended) by either id, as a whole word.
    const open = pack.registry.list();
    if (open.length > MAX_SEARCHED) return undefined;
    for (const task of [...open, ...[...this.recent].reverse()]) {
      for (const id of [task.fields.internalTaskId, task.id]) {
        if (id && containsWord(text, id)) return ids(task);
      }
    }
    return undefined;
  }

  private expect(text: string, fields: Expected['fields'], level: Expected['level'], ownLine: boolean): void {
    this.expected.set(text, { fields, level, ownLine });
    // Node-RED logs within the turn that raised the event; one not logged by the next is the runner's to say.
    setImmediate(() => {
      const left = this.expected.get(text);
      if (left?.fields !== fields) return;
      this.expected.delete(text);
      if (left.ownLine) this.log[left.level](fields, text);
    });
  }
}

function ids(task: Task): TaskLineFields {
  return { taskId: task.id, internalTaskId: task.fields.internalTaskId, ...traceFields(task) };
}

/** The task's trace and span ids (`trace_id`, `span_id`, as OpenTelemetry's log data model names them), when its trace is recorded. */
export function traceFields(task: Task): { trace_id?: string; span_id?: string } {
  const span = recordingSpan(task.traceContext);
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

function containsWord(text: string, word: string): boolean {
  for (let at = text.indexOf(word); at !== -1; at = text.indexOf(word, at + 1)) {
    const before = at === 0 ? '' : text[at - 1];
    const after = text[at + word.length] ?? '';
    if (!/[\w-]/.test(before) && !/[\w-]/.test(after)) return true;
  }
  return false;
}

/**
 * The task line's logger for the task's slowest node: a child of the task logger whose bindings are
 * that node's id, type and name, written out once by pino when the child is made, not with every
 * line (inside the runner, those three fields cost a 1 KiB task more than 1 % of its CPU: see
 * docs/performance.md, "What per-node timing costs"). One child per node, made again when a redeploy
 * renames or retypes it; all forgotten past MAX_TIMED_NODES.
 */
export class SlowestNodeLogs {
  private readonly children = new Map<string, { type: string; name: string | undefined; log: Logger }>();

  constructor(private readonly taskLog: Logger) {}

  log(slowest: NodeTime | undefined): Logger {
    if (!slowest) return this.taskLog;
    const known = this.children.get(slowest.id);
    if (known?.type === slowest.type && known.name === slowest.name) return known.log;
    if (this.children.size >= MAX_TIMED_NODES) this.children.clear();
    const log = this.taskLog.child({ slowestNodeId: slowest.id, slowestNodeType: slowest.type, slowestNodeName: slowest.name });
    this.children.set(slowest.id, { type: slowest.type, name: slowest.name, log });
    return log;
  }
}
