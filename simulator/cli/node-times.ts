// Where each task's time went, node by node: the runner's last line of a task (`task ended`,
// `task failed`) carries the pack's per-node times (`nodes`, see runner/runner.ts); the summary
// shows them per node over the run, and each task file keeps its own.
import { nodeLabel, type NodeTime } from '@aiware-nodered/node-red-aiware';
import type { LogLine } from '../runner-process';

/** A task's per-node times: kept in its task file. */
export interface TaskNodeTimes {
  /** The task's time in the runner, ms (its lines' `ms`, summed over a pause and its wake-up). */
  taskMs: number;
  /** The node that held its messages longest. */
  slowest?: string;
  /** Slowest first. */
  nodes: NodeTime[];
}

const isNodeTime = (value: unknown): value is NodeTime => {
  const node = value as Partial<NodeTime> | null;
  return typeof node === 'object' && node !== null && typeof node.id === 'string' && typeof node.type === 'string' && typeof node.ms === 'number' && typeof node.count === 'number';
};

/**
 * The per-node times of each task, by its internalTaskId, from the runner's lines. A task paused
 * and woken ends twice (paused, then its end): its parts are added up.
 */
export function nodeTimesByTask(lines: readonly LogLine[]): Map<string, TaskNodeTimes> {
  const byTask = new Map<string, TaskNodeTimes>();
  for (const line of lines) {
    if ((line.msg !== 'task ended' && line.msg !== 'task failed') || typeof line.internalTaskId !== 'string' || !Array.isArray(line.nodes)) continue;
    const times = byTask.get(line.internalTaskId) ?? { taskMs: 0, nodes: [] };
    times.taskMs += typeof line.ms === 'number' ? line.ms : 0;
    for (const node of line.nodes.filter(isNodeTime)) {
      const known = times.nodes.find((n) => n.id === node.id);
      if (known) {
        known.count += node.count;
        known.ms += node.ms;
        known.queueMs += node.queueMs ?? 0;
      } else times.nodes.push({ id: node.id, type: node.type, name: node.name, count: node.count, ms: node.ms, queueMs: node.queueMs ?? 0 });
    }
    times.nodes.sort((a, b) => b.ms - a.ms);
    times.slowest = times.nodes[0] && nodeLabel(times.nodes[0]);
    byTask.set(line.internalTaskId, times);
  }
  return byTask;
}

/** One row of the summary's "where the time went": a node over every task of the run. */
export interface NodeRow {
  node: string;
  /** Tasks whose messages reached it. */
  tasks: number;
  /** Their messages it got. */
  count: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** Its time over the time of the tasks it had a part in. */
  share: number;
}

/** The nearest-rank percentile of sorted numbers. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Each node's times over the tasks, the one with the most time first. */
export function nodeRows(tasks: readonly TaskNodeTimes[]): NodeRow[] {
  const byNode = new Map<string, { node: string; ms: number[]; count: number; taskMs: number }>();
  for (const task of tasks) {
    for (const node of task.nodes) {
      const row = byNode.get(node.id) ?? { node: nodeLabel(node), ms: [], count: 0, taskMs: 0 };
      row.ms.push(node.ms);
      row.count += node.count;
      row.taskMs += task.taskMs;
      byNode.set(node.id, row);
    }
  }
  const rows = [...byNode.values()].map((row) => {
    const sorted = [...row.ms].sort((a, b) => a - b);
    const total = sorted.reduce((sum, ms) => sum + ms, 0);
    const nodeRow: NodeRow = {
      node: row.node,
      tasks: sorted.length,
      count: row.count,
      p50Ms: percentile(sorted, 50),
      p95Ms: percentile(sorted, 95),
      maxMs: sorted[sorted.length - 1],
      share: row.taskMs > 0 ? total / row.taskMs : 0,
    };
    return { nodeRow, total };
  });
  rows.sort((a, b) => b.total - a.total);
  return rows.map((row) => row.nodeRow);
}
