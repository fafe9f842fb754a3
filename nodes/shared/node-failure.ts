// How a node that knows its failure (a ProtocolError with a reason and a status) ends a task's
// message: the task fails with that reason first (the done(err) hook then finds it ended), the
// status shows it, and the input ends with it.
import { ProtocolError, errorMessage } from '../../core/errors';
import type { Task } from '../../core/tasks';
import { status, type StatusBoard } from './status';

export function failTaskInput(task: Task, label: string, board: StatusBoard, done: (err?: Error) => void, err: unknown): void {
  const failure = err instanceof ProtocolError ? err : new ProtocolError(500, errorMessage(err));
  task.fail({ reason: failure.reason, message: `${label}: ${failure.message}`, node: label, status: failure.status });
  board.now(status.failed(failure.message.slice(0, 60)));
  done(failure);
}
