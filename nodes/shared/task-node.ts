// The input side of a node that works on a task's messages (result-out, heartbeat, pause-for-callback,
// keys, library-model): it finds the message's task, hands it to the node's handler, and ends every
// input exactly once: done() when the handler returns (or its promise resolves), else the one error
// path. That path fails the task with the node's reason and shows the error in red before done(err)
// tells Catch nodes: the task ends here, not in Node-RED's message hooks, so it ends at once also where
// the hooks are absent (the onComplete hook then finds it ended).
import type { NodeMessage } from 'node-red';
import { ProtocolError, errorMessage, isFailureReason, type PackRuntime, type Task, type TaskEnder } from '../../core';
import { taskIdOf, taskOf } from './message';
import type { NodeBase } from './node-base';
import { status, statusText } from './status';

export type Send = (msg: NodeMessage | (NodeMessage | null)[]) => void;
type Done = (err?: Error) => void;

export interface TaskHandlers<M extends NodeMessage> {
  /** Status text for a message whose task has ended (a flow error, core/flow-end); unset: such a message is "not open". */
  late?: string;
  /** A message the node handles without an open task: true when it did (its input then ends with done()). */
  withoutTask?(msg: M, send: Send): boolean;
  /** The node's work on a message of an open task; its input ends when this returns, or when the promise settles. */
  onInput(msg: M, task: Task, send: Send, by: TaskEnder): void | Promise<void>;
}

/** Wires the node's `input` to `handlers` (its `close` is the base's). */
export function serveTasks<M extends NodeMessage>(base: NodeBase, pack: PackRuntime, handlers: TaskHandlers<M>): void {
  const { node, board } = base;
  const refused = base.refusal();

  /** The one error path: the task (if any) fails with the node's reason, the status shows why, done(err). */
  const fail = (task: Task | undefined, err: unknown, by: TaskEnder, done: Done, show = true): void => {
    const failure = asFailure(err);
    task?.fail({ reason: failure.reason, message: `${base.label}: ${failure.message}`, node: base.label, status: failure.status, by });
    if (show) board.now(status.failed(statusText(failure.message)));
    done(failure);
  };

  node.on('input', (message: NodeMessage, send: Send, done: Done) => {
    const msg = message as M;
    const by = pack.flowEnd.ender(node, msg);
    if (refused) {
      // The red ring already names the bad setting: it stays.
      fail(pack.registry.get(taskIdOf(msg)), refused, by, done, false);
      return;
    }
    let task: Task | undefined;
    try {
      if (handlers.withoutTask?.(msg, send)) {
        done();
        return;
      }
      const late = handlers.late === undefined ? undefined : lateMessage(pack, base, msg);
      if (late) {
        board.now(status.failed(handlers.late!));
        done(late);
        return;
      }
      task = taskOf(pack.registry, msg);
      // In the node's span for this message: the posts, calls and pauses it starts are its children.
      const open = task;
      const work = pack.tracing.within(open, node, () => handlers.onInput(msg, open, send, by));
      if (!work) {
        done();
        return;
      }
      work.then(
        () => done(),
        (err: unknown) => fail(open, err, by, done),
      );
    } catch (err) {
      fail(task, err, by, done);
    }
  });
}

/** An error as the task's failure: a ProtocolError keeps its reason and status, any other error is internal_error (500) unless it names a reason. */
function asFailure(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  const named = (err as { reason?: unknown } | null | undefined)?.reason;
  return new ProtocolError(500, errorMessage(err), { reason: isFailureReason(named) ? named : 'internal_error', cause: err });
}

/**
 * A result or heartbeat for a task that has ended is a flow error (core/flow-end): counted on the
 * task, and an error naming the node that ended it, for the input to end with. Undefined when the
 * task is open, or not remembered (then `taskOf` says it is not open).
 */
function lateMessage(pack: PackRuntime, base: NodeBase, msg: object): ProtocolError | undefined {
  const taskId = taskIdOf(msg);
  if (taskId === undefined || pack.registry.get(taskId)) return undefined;
  const text = pack.flowEnd.late(taskId, msg, base.node);
  return text === undefined ? undefined : new ProtocolError(409, text, { reason: 'internal_error' });
}
