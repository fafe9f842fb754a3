// How a node that knows its failure (a ProtocolError with a reason and a status) ends a task's
// message: the task fails with that reason first (the done(err) hook then finds it ended), the
// status shows it, and the input ends with it.
import type { Node } from 'node-red';
import { ProtocolError, errorMessage, type PackRuntime, type Task, type TaskRegistry } from '../../core';
import { taskIdOf, taskOf } from './message';
import { status, type StatusBoard } from './status';

/**
 * The open task `msg` belongs to; or, when it has none (no msg.aiware, an ended task), undefined
 * once the input has ended with the error, shown in the status.
 */
export function taskOfInput(registry: TaskRegistry, msg: unknown, board: StatusBoard, done: (err?: Error) => void): Task | undefined {
  try {
    return taskOf(registry, msg);
  } catch (err) {
    board.now(status.failed(errorMessage(err).slice(0, 60)));
    done(err as Error);
    return undefined;
  }
}

export function failTaskInput(task: Task, label: string, board: StatusBoard, done: (err?: Error) => void, err: unknown): void {
  const failure = err instanceof ProtocolError ? err : new ProtocolError(500, errorMessage(err));
  task.fail({ reason: failure.reason, message: `${label}: ${failure.message}`, node: label, status: failure.status });
  board.now(status.failed(failure.message.slice(0, 60)));
  done(failure);
}

/**
 * A result or heartbeat for a task that has ended is a flow error (core/flow-end): counted on the
 * task, and an error naming the node that ended it, for the input to end with. Undefined when the
 * task is open, or not remembered (then `taskOfInput` says it is not open).
 */
export function lateMessage(pack: PackRuntime, node: Node, msg: object): ProtocolError | undefined {
  const taskId = taskIdOf(msg);
  if (taskId === undefined || pack.registry.get(taskId)) return undefined;
  const text = pack.flowEnd.late(taskId, msg, node);
  return text === undefined ? undefined : new ProtocolError(409, text, { reason: 'internal_error' });
}
