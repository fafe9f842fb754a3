// Where a task's time goes, node by node. The pack reports each task message's sends, deliveries,
// receptions and completions (Node-RED's message hooks); this keeps, per open task and per node the
// task's messages pass through, how long the node held them and how long they waited in Node-RED's
// queue for it. Plain bookkeeping: no Node-RED here. The hot path writes numbers into a typed array
// made once per task (grown only when a task reaches more nodes than it has room for), so a message
// costs a map lookup and a few stores, no allocation.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { FlowNode, Task, TaskEnd } from './task';
import type { TaskRegistry } from './registry';
import type { NodeTime, TaskTimes } from './types';

export type { NodeTime, TaskTimes };

/** The numbers kept for a node of a task, in this order, in the task's array. */
const ACTIVE = 0; // messages the node holds now
const SINCE = 1; // when it started holding them (performance.now())
const HELD = 2; // ms held so far
const LAST_END = 3; // when it last let go of one
const COUNT = 4; // messages received
const PENDING = 5; // deliveries on their way to it
const QUEUE = 6; // Σ receive times − Σ delivery times of its deliveries
const FIELDS = 7;

/** Room for this many nodes at first; a task that reaches more grows its array (twice the room each time). */
const INITIAL_NODES = 8;
/** No task keeps more than this many nodes, whatever the flow: a bound for flows of generated nodes. */
export const MAX_TIMED_NODES = 1000;

/** Clocks of ended tasks kept for the next tasks: at most this many. */
const SPARE_CLOCKS = 256;

/** One open task's clock; used again by a later task once its task has ended (its array is not allocated per task). */
class TaskClock {
  startedAt = performance.now();
  nodes: FlowNode[] = [];
  numbers = new Float64Array(INITIAL_NODES * FIELDS);

  /** Ready for another task, started now (its nodes were let go at its last task's end). */
  restart(): this {
    this.startedAt = performance.now();
    this.numbers.fill(0);
    return this;
  }

  /** The offset of `node`'s numbers, -1 when the task has none for it. */
  find(node: FlowNode): number {
    const nodes = this.nodes;
    for (let i = 0; i < nodes.length; i++) if (nodes[i] === node) return i * FIELDS;
    return -1;
  }

  /** The offset of `node`'s numbers, adding it when new; -1 past the bound. */
  slot(node: FlowNode): number {
    const found = this.find(node);
    if (found >= 0) return found;
    const nodes = this.nodes;
    if (nodes.length >= MAX_TIMED_NODES) return -1;
    const at = nodes.length * FIELDS;
    if (at + FIELDS > this.numbers.length) {
      const grown = new Float64Array(this.numbers.length * 2);
      grown.set(this.numbers);
      this.numbers = grown;
    }
    nodes.push(node);
    return at;
  }

  times(now: number): TaskTimes {
    const n = this.numbers;
    const nodes: NodeTime[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      const at = i * FIELDS;
      // Still held at the end (the node that ends the task holds its message while it does): held until now.
      const held = n[at + HELD] + (n[at + ACTIVE] > 0 ? now - n[at + SINCE] : 0);
      // Deliveries never received wait until now.
      const queue = n[at + QUEUE] + n[at + PENDING] * now;
      const node = this.nodes[i];
      nodes.push({ id: node.id, type: node.type, name: node.name || undefined, count: n[at + COUNT], ms: round(held), queueMs: round(Math.max(0, queue)) });
    }
    nodes.sort(slowestFirst);
    return { totalMs: round(now - this.startedAt), nodes };
  }
}

/** Slowest first: the node that held messages longest. */
function slowestFirst(a: NodeTime, b: NodeTime): number {
  return b.ms - a.ms;
}

/** Milliseconds to a tenth. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * Every open task's clock. Emits `times` (TaskEnd, TaskTimes) when a task ends, after which
 * `timesOf(task)` (and `task.times`) gives them too. `totals()` sums each node's
 * part over every task since the flows started (bounded by the deployed nodes: cleared by `reset`).
 */
export class NodeTiming extends EventEmitter {
  private readonly clocks = new Map<string, TaskClock>();
  private readonly spare: TaskClock[] = [];
  private readonly summed = new Map<string, NodeTime & { tasks: number }>();

  constructor(registry: TaskRegistry) {
    super();
    this.setMaxListeners(0);
    registry.on('open', (task: Task) => this.clocks.set(task.id, this.spare.pop()?.restart() ?? new TaskClock()));
    registry.on('end', (end: TaskEnd) => this.end(end));
  }

  /** `from` sent a message of task `taskId` (Node-RED's `onSend`): a node that let go of its message before, sending now, held it until now. */
  sent(taskId: string, from: FlowNode): void {
    const clock = this.clocks.get(taskId);
    if (!clock) return;
    // A node that got none of the task's messages (its process-in) has held none.
    const at = clock.find(from);
    if (at < 0) return;
    const n = clock.numbers;
    if (n[at + ACTIVE] > 0 || n[at + LAST_END] === 0) return;
    // A node that completed its message at once and sends later (a function with a timer, no node.done()): the wait was its work.
    const now = performance.now();
    n[at + HELD] += now - n[at + LAST_END];
    n[at + LAST_END] = now;
  }

  /** A message of task `taskId` is on its way to `to` (`preDeliver`). */
  delivered(taskId: string, to: FlowNode): void {
    const clock = this.clocks.get(taskId);
    if (!clock) return;
    const at = clock.slot(to);
    if (at < 0) return;
    clock.numbers[at + PENDING]++;
    clock.numbers[at + QUEUE] -= performance.now();
  }

  /** `to` got a message of task `taskId` (`onReceive`): a delivery arriving, or a message handed to it directly (Catch, Complete, link). */
  received(taskId: string, to: FlowNode): void {
    const clock = this.clocks.get(taskId);
    if (!clock) return;
    const at = clock.slot(to);
    if (at < 0) return;
    const n = clock.numbers;
    const now = performance.now();
    if (n[at + PENDING] > 0) {
      n[at + PENDING]--;
      n[at + QUEUE] += now;
    }
    n[at + COUNT]++;
    if (n[at + ACTIVE]++ === 0) n[at + SINCE] = now;
  }

  /** `by` finished with a message of task `taskId` (`onComplete`; for a node that never calls done, its handler returning or its send). */
  completed(taskId: string, by: FlowNode): void {
    const clock = this.clocks.get(taskId);
    if (!clock) return;
    const at = clock.find(by);
    if (at < 0) return;
    const n = clock.numbers;
    if (n[at + ACTIVE] === 0) return;
    const now = performance.now();
    if (--n[at + ACTIVE] === 0) n[at + HELD] += now - n[at + SINCE];
    n[at + LAST_END] = now;
  }

  /** Where an open task's time has gone so far. */
  sofar(taskId: string): TaskTimes | undefined {
    return this.clocks.get(taskId)?.times(performance.now());
  }

  /** Where an ended task's time went: kept on the task itself, for as long as its holder keeps it (no map of ended tasks to keep up on the /process path). */
  timesOf(task: Task): TaskTimes | undefined {
    return task.times;
  }

  /** Each node's part in every task that ended since the last `reset`, the slowest (most time in all) first. */
  totals(): (NodeTime & { tasks: number })[] {
    return [...this.summed.values()].map((node) => ({ ...node, ms: round(node.ms), queueMs: round(node.queueMs) })).sort(slowestFirst);
  }

  /** Forgets the totals (a redeploy: its nodes are new). */
  reset(): void {
    this.summed.clear();
  }

  private end(end: TaskEnd): void {
    const clock = this.clocks.get(end.task.id);
    if (!clock) return;
    this.clocks.delete(end.task.id);
    const times = clock.times(performance.now());
    // A spare clock holds no node: a redeployed flow's nodes are not kept alive by it.
    clock.nodes.length = 0;
    if (this.spare.length < SPARE_CLOCKS) this.spare.push(clock);
    end.task.times = times;
    for (const node of times.nodes) {
      const sum = this.summed.get(node.id);
      if (sum) {
        sum.tasks++;
        sum.count += node.count;
        sum.ms += node.ms;
        sum.queueMs += node.queueMs;
      } else if (this.summed.size < MAX_TIMED_NODES) {
        this.summed.set(node.id, { ...node, tasks: 1 });
      }
    }
    this.emit('times', end, times);
  }
}
