// How a node that knows its failure (a ProtocolError with a reason and a status) ends a task's
// message: the task fails with that reason first (the done(err) hook then finds it ended), the
// status shows it, and the input ends with it.
import { ProtocolError, errorMessage } from '../../core/errors';
import type { Task, TaskRegistry } from '../../core/tasks';
import { taskOf } from './message';
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
