// The runner's warnings and errors about each task, and the flow errors among them. The runner
// puts the task's ids on every line about one (`internalTaskId`, ET's id: the emulator's task id),
// and marks a flow error with `flowError`: `late` (a result or heartbeat after the task's end),
// `forgotten` (the task failed while the flow had no message of it). See runner/task-lines.ts.
import type { LogLine } from '../runner-process';

/** One of the runner's lines about a task, as kept in task-N.json and summary.json. */
export interface TaskLogLine {
  level: string;
  time?: string;
  msg: string;
  /** The node that said it (Node-RED's lines, the pack's flow events). */
  nodeId?: string;
  nodeType?: string;
  nodeName?: string;
  flowError?: string;
  flowEnd?: string;
  failureMsg?: string;
}

const LEVELS = new Set(['warn', 'error', 'fatal']);

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The warnings and errors among `lines` that name a task, by its internalTaskId, in the order logged. */
export function linesByTask(lines: readonly LogLine[]): Map<string, TaskLogLine[]> {
  const byTask = new Map<string, TaskLogLine[]>();
  for (const line of lines) {
    const id = text(line.internalTaskId);
    if (id === undefined || !LEVELS.has(line.level)) continue;
    const kept: TaskLogLine = { level: line.level, time: text(line.time), msg: line.msg };
    for (const field of ['nodeId', 'nodeType', 'nodeName', 'flowError', 'flowEnd', 'failureMsg'] as const) {
      const value = text(line[field]);
      if (value !== undefined) kept[field] = value;
    }
    const list = byTask.get(id);
    if (list) list.push(kept);
    else byTask.set(id, [kept]);
  }
  return byTask;
}

/** The flow errors a task's lines report, in words a person can act on (each names the node). */
export function flowErrorsOf(lines: readonly TaskLogLine[]): string[] {
  return lines.filter((line) => line.flowError !== undefined).map((line) => (line.flowError === 'forgotten' ? `the flow forgot the task: ${line.failureMsg ?? line.msg}` : line.msg));
}

/** A text without the pack's name of its task (`task <id> (internalTaskId <id>): `): where it is shown, the task is named already. */
export function withoutTaskName(text: string): string {
  return text.replace(/^task \S+ \(internalTaskId \S+\): /, '');
}

/** One line to show for a log line: its level, and who said it. */
export function describeLine(line: TaskLogLine): string {
  const who = line.nodeId ? `${line.nodeName ? `${line.nodeName} ` : ''}(${line.nodeType ?? 'node'} ${line.nodeId}): ` : '';
  const what = line.msg === 'task failed' && line.failureMsg ? `task failed: ${line.failureMsg}` : withoutTaskName(line.msg);
  return `${line.level} ${who}${what}`;
}
