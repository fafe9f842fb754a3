// Whether a flow has finished with a task. The pack reports each task message's deliveries,
// receptions and completions (Node-RED's message hooks); when none of a task's messages is left in
// flight and the task is still open, not waiting for a callback, the flow forgot to end it: said at
// once, and failed after a grace instead of at maxTTL. Ended tasks are remembered a while, so a
// result or heartbeat that comes too late can name the node that ended the task.
import { EventEmitter } from 'node:events';
import { nodeLabel, type FlowNode, type Task, type TaskEnd, type TaskEnder } from './task';
import type { TaskRegistry } from './registry';

export const DEFAULT_FLOW_END_GRACE_MS = 5000;

/** Ended tasks kept for naming who ended them (and counts of their messages still in flight), the newest. */
const RECENT_ENDED = 200;

/**
 * The grace the setting `flowEndGraceMs` asks for: milliseconds, `false` or 0 for none (the flow's
 * end is not watched), absent for the default. Anything else is refused with the default and a reason.
 */
export function flowEndGrace(setting: unknown): { graceMs: number | false; problem?: string } {
  if (setting === undefined || setting === null) return { graceMs: DEFAULT_FLOW_END_GRACE_MS };
  if (setting === false || setting === 0) return { graceMs: false };
  if (typeof setting === 'number' && Number.isFinite(setting) && setting > 0) return { graceMs: setting };
  return {
    graceMs: DEFAULT_FLOW_END_GRACE_MS,
    problem: `flowEndGraceMs must be a number of milliseconds, or false; got ${JSON.stringify(setting)}: using ${DEFAULT_FLOW_END_GRACE_MS}`,
  };
}

/** What an open task still waits for from its flow, in the words of the nodes that give it. */
export function expectation(task: Task): string {
  if (task.isSync) return 'its answer, the output of an aiware-result-out (or msg.ignoreChunk): the /process request is waiting for it';
  const complete = 'a complete heartbeat (aiware-heartbeat with status complete)';
  if (task.engineType === 'chunk' && task.resultsSent === 0) return `a result from aiware-result-out (a chunk's result completes its task) or ${complete}`;
  return `${complete} or a last result with msg.completeTask = true`;
}

/** How log lines name a task: the pack's id (msg.aiware.taskId) and the toolkit's. */
export function taskName(task: Task): string {
  return task.fields.internalTaskId ? `task ${task.id} (internalTaskId ${task.fields.internalTaskId})` : `task ${task.id}`;
}

/** A task the flow has no message of any more. */
export interface Idle<N extends FlowNode = FlowNode> {
  /** The node that finished with the last message. */
  node: N;
  /** What the task still waits for (`expectation`). */
  expects: string;
  graceMs: number;
  /** The warning, as logged. */
  text: string;
}

/** A task's count: its messages in flight, and the node that finished with the last one. */
interface Watched<N extends FlowNode> {
  task: Task;
  inFlight: number;
  last?: N;
  /** An idle check is queued (see `settle`). */
  checking: boolean;
  idle?: Idle<N>;
  timer?: NodeJS.Timeout;
  settled: (() => void)[];
}

/** One message object's part in its task's count: deliveries on their way, receptions not yet completed. */
interface Carried<N extends FlowNode> {
  watched: Watched<N>;
  pending: number;
  active: number;
  /** The node that sent it last. */
  from?: N;
}

/**
 * Counts each task's messages in flight. A message is in flight from its delivery (one per wire:
 * Node-RED clones for the second wire on) until the node that got it completes it. Emits `idle`
 * (task, Idle) when a task has none left and the flow did not end it, and `busy` (task, node) when a
 * message of an idle task comes back (from context, a timer): the warning is withdrawn.
 */
export class FlowEndWatch<N extends FlowNode = FlowNode> extends EventEmitter {
  private readonly watched = new Map<string, Watched<N>>();
  private readonly carried = new WeakMap<object, Carried<N>>();
  /** Ended tasks by id, oldest first. */
  private readonly recent = new Map<string, Task>();

  constructor(
    private readonly registry: TaskRegistry,
    readonly graceMs: number | false,
  ) {
    super();
    // Every aiware-process-in listens for `idle` and `busy`: a flow with a dozen is no leak.
    this.setMaxListeners(0);
    registry.on('end', (end: TaskEnd) => this.ended(end.task));
  }

  /** A node sent `msg` on a wire (Node-RED's `preDeliver`: the message as the receiver will get it). */
  delivered(msg: object, taskId: string, from: N): void {
    const carried = this.carriedFor(msg, taskId);
    if (!carried) return;
    carried.pending++;
    carried.from = from;
    this.up(carried.watched, from);
  }

  /**
   * A node got `msg` (`onReceive`): a delivery arriving, or a message handed to it directly, as
   * Node-RED does for Catch, Complete and link nodes.
   */
  received(msg: object, taskId: string, to: N): void {
    const known = this.carried.get(msg);
    if (known && known.pending > 0) {
      known.pending--;
      known.active++;
      return;
    }
    const carried = this.carriedFor(msg, taskId);
    if (!carried) return;
    carried.active++;
    this.up(carried.watched, to);
  }

  /** A node finished with `msg` (`onComplete`; for a node that never calls done, its handler returning). */
  completed(msg: object, by: N): void {
    const carried = this.carried.get(msg);
    if (!carried || carried.active === 0) return;
    carried.active--;
    const watched = carried.watched;
    watched.last = by;
    if (--watched.inFlight === 0) this.settle(watched);
  }

  /** `by` has just handed `task` to the flow (process-in's message, a resume): if nothing is in flight now, it went nowhere. */
  handedOver(task: Task, by: N): void {
    const watched = this.watchedFor(task.id);
    if (!watched || watched.inFlight > 0) return;
    watched.last = by;
    this.settle(watched);
  }

  /** The node that sent `msg` last, if it belongs to a task being counted. */
  senderOf(msg: object): N | undefined {
    return this.carried.get(msg)?.from;
  }

  /** `node` ends a task with `msg`: whom a later result or heartbeat names. */
  ender(node: FlowNode, msg: object): TaskEnder {
    return { node, from: this.senderOf(msg) };
  }

  /** A task that has ended, while it is remembered. */
  endedTask(taskId: string): Task | undefined {
    const task = this.watched.get(taskId)?.task ?? this.recent.get(taskId);
    return task && !task.isOpen ? task : undefined;
  }

  /**
   * `msg` reached `node` for a task that has ended: a flow error, counted on the task (which
   * emits `flowError`). The error's text, or undefined when the task is not remembered.
   */
  late(taskId: string, msg: object, node: FlowNode): string | undefined {
    const task = this.endedTask(taskId);
    if (!task) return undefined;
    const text = lateText(task, node, this.senderOf(msg));
    task.flowError(text, node);
    return text;
  }

  /** Resolves once no message of the task is in flight (at once when none is, or it is not counted). */
  whenSettled(taskId: string): Promise<void> {
    const watched = this.watched.get(taskId);
    if (!watched || watched.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => watched.settled.push(resolve));
  }

  /** The count `msg` goes into: its own, or a new one on the task it names while that is open. */
  private carriedFor(msg: object, taskId: string): Carried<N> | undefined {
    const known = this.carried.get(msg);
    // A message object keeps the task it was first counted for while any of it is in flight.
    if (known && (known.watched.task.id === taskId || known.pending + known.active > 0)) return known;
    const watched = this.watchedFor(taskId);
    if (!watched) return undefined;
    const carried: Carried<N> = { watched, pending: 0, active: 0 };
    this.carried.set(msg, carried);
    return carried;
  }

  /** The count of a task being counted, or a new one for an open task; messages of other tasks are not counted. */
  private watchedFor(taskId: string): Watched<N> | undefined {
    const known = this.watched.get(taskId);
    if (known?.task.isOpen) return known;
    const task = this.registry.get(taskId);
    // An ended task's count goes on while its messages are in flight; a task woken with the id of
    // one paused here (platform mode) gets a count of its own.
    if (!task || task === known?.task) return known;
    const watched: Watched<N> = { task, inFlight: 0, checking: false, settled: [] };
    this.watched.set(taskId, watched);
    return watched;
  }

  private up(watched: Watched<N>, node: N): void {
    watched.inFlight++;
    if (!watched.idle) return;
    clearTimeout(watched.timer);
    watched.idle = undefined;
    watched.task.setNotice(undefined);
    this.emit('busy', watched.task, node);
  }

  private settle(watched: Watched<N>): void {
    for (const resolve of watched.settled.splice(0)) resolve();
    if (!watched.task.isOpen) {
      if (this.watched.get(watched.task.id) === watched) this.watched.delete(watched.task.id);
      return;
    }
    if (this.graceMs === false || watched.checking) return;
    // Looked at once the current turn is over: a Catch or Complete node gets its copy just after the
    // node completes, and some nodes (trigger) complete a message just before they send its successor.
    watched.checking = true;
    setImmediate(() => this.check(watched));
  }

  private check(watched: Watched<N>): void {
    watched.checking = false;
    const { task, last } = watched;
    if (this.graceMs === false || watched.inFlight > 0 || !task.isOpen || task.waiting || watched.idle || !last) return;
    if (this.watched.get(task.id) !== watched) return;
    const graceMs = this.graceMs;
    const expects = expectation(task);
    const text =
      `${taskName(task)}: the flow has no message of it left: ${nodeLabel(last)} finished with the last one and nothing ended the task, ` +
      `which still expects ${expects}. It fails in ${graceMs} ms unless a message of it comes back (the setting aiware.flowEndGraceMs).`;
    watched.idle = { node: last, expects, graceMs, text };
    task.setNotice(`the flow has no message of this task left (the last one ended at ${nodeLabel(last)}): it fails in ${Math.ceil(graceMs / 1000)} s unless the flow ends it`);
    watched.timer = setTimeout(() => {
      if (!task.isOpen || watched.idle?.node !== last) return;
      task.fail({
        reason: 'internal_error',
        message: `${nodeLabel(last)} finished with the task's last message and nothing ended the task within ${graceMs} ms (aiware.flowEndGraceMs); it expected ${expects}`,
        node: nodeLabel(last),
      });
    }, graceMs);
    this.emit('idle', task, watched.idle);
  }

  private ended(task: Task): void {
    this.recent.delete(task.id);
    this.recent.set(task.id, task);
    if (this.recent.size > RECENT_ENDED) {
      const oldest = this.recent.keys().next().value!;
      this.recent.delete(oldest);
      // A count some node never brings to 0 (it does not call done) goes with it: ended counts stay bounded.
      if (this.watched.get(oldest)?.task.isOpen === false) this.watched.delete(oldest);
    }
    const watched = this.watched.get(task.id);
    if (!watched) return;
    clearTimeout(watched.timer);
    watched.idle = undefined;
    if (watched.inFlight === 0) this.watched.delete(task.id);
  }
}

/**
 * Why a result or heartbeat came too late, naming both nodes. The common mistake: one node wired
 * to both an ending node and another, which Node-RED serves in the order the wires were drawn.
 */
export function lateText(task: Task, late: FlowNode, sender: FlowNode | undefined): string {
  const ender = task.endedBy;
  const got = `${nodeLabel(late)} got its message`;
  const from = sender ? ` from ${nodeLabel(sender)}` : '';
  const prefix = `${taskName(task)}: `;
  if (!ender) {
    const why = task.state === 'failed' && task.endedMessage ? `failed: ${task.endedMessage}` : task.state;
    return `${prefix}the task had already ended (${why}) before ${got}${from}`;
  }
  const endedIt = `${nodeLabel(ender.node)} ended the task (${task.state})`;
  if (sender?.id === ender.node.id) {
    return `${prefix}${endedIt} and then sent its message on to ${nodeLabel(late)}: put ${nodeLabel(late)} before it`;
  }
  if (sender && sender.id === ender.from?.id) {
    const itself = late.type === 'aiware-result-out' ? `, or let ${nodeLabel(late)} end the task itself (Completes task, or msg.completeTask = true) without the wire to ${nodeLabel(ender.node)}` : '';
    return (
      `${prefix}${endedIt} before ${got}: ${nodeLabel(sender)} is wired to both and sends in the order its wires were drawn, the one to ${nodeLabel(ender.node)} first. ` +
      `Delete that wire and draw it again, so that it comes last${itself}`
    );
  }
  return `${prefix}${endedIt} before ${got}${from}`;
}
