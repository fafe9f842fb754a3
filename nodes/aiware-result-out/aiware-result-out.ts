// aiware-result-out: hands a task's VTN-standard output to Engine Toolkit — the /process answer
// for a synchronous chunk, a result POST otherwise — after checking it against the VTN schemas.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { validateVtn, describeVtnIssues, ProtocolError, errorMessage, isResultOffset } from '../../core';
import { packRuntime } from '../shared/runtime';
import { lateMessage, taskOfInput } from '../shared/node-failure';
import { StatusBoard, status } from '../shared/status';
import { NODE_TYPES } from '../shared/types';

interface ResultOutDef extends NodeDef {
  /** Message property holding the output (default `payload`). */
  property?: string;
  /** `default`: a chunk's result completes its task, a stream's or batch's does not. */
  completes?: 'default' | 'yes' | 'no';
  /** Check outputs against the VTN-standard schemas (on unless switched off). */
  validate?: boolean;
}

interface ResultMessage extends NodeMessage {
  /** Answer 204: the flow decided this chunk needs no output. */
  ignoreChunk?: boolean;
  /** Overrides the node's `completes` for this message. */
  completeTask?: boolean;
  startOffsetMs?: number;
  endOffsetMs?: number;
}

function optionalInt(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'number' ? value : Number(value);
  if (!isResultOffset(number)) throw new ProtocolError(400, `msg.${name} must be an integer, got ${JSON.stringify(value)}`, { field: name });
  return number;
}

export = function register(RED: NodeAPI): void {
  const pack = packRuntime(RED);

  function ResultOutNode(this: Node, config: ResultOutDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const board = new StatusBoard(node);
    const property = (config.property ?? '').trim() || 'payload';
    const validate = config.validate !== false;
    const label = config.name ? `${config.name} (${NODE_TYPES.resultOut} ${node.id})` : `${NODE_TYPES.resultOut} ${node.id}`;
    let sent = 0;

    node.on('input', (message: NodeMessage, _send: unknown, done: (err?: Error) => void) => {
      const msg = message as ResultMessage;
      const late = lateMessage(pack, node, msg);
      if (late) {
        board.now(status.failed(RED._('aiware-result-out.status.late')));
        done(late);
        return;
      }
      const task = taskOfInput(pack.registry, msg, board, done);
      if (!task) return;
      const by = pack.flowEnd.ender(node, msg);
      try {
        if (msg.ignoreChunk === true) {
          task.ignore(by);
          board.set(() => status.done(RED._('aiware-result-out.status.ignored')));
          done();
          return;
        }
        const output: unknown = RED.util.getMessageProperty(msg, property);
        if (output === undefined) {
          throw new ProtocolError(400, RED._('aiware-result-out.errors.noOutput', { property }), { reason: 'invalid_data' });
        }
        if (validate) {
          const check = validateVtn(output);
          if (!check.valid) {
            throw new ProtocolError(422, RED._('aiware-result-out.errors.invalidOutput', { issues: describeVtnIssues(check.issues) }), {
              reason: 'invalid_data',
            });
          }
        }
        const completes = typeof msg.completeTask === 'boolean' ? msg.completeTask : config.completes === 'yes' ? true : config.completes === 'no' ? false : task.engineType === 'chunk';
        const delivery = task.result(output, {
          startOffsetMs: optionalInt(msg.startOffsetMs, 'startOffsetMs'),
          endOffsetMs: optionalInt(msg.endOffsetMs, 'endOffsetMs'),
          complete: completes,
          by,
        });
        const index = task.resultsSent;
        board.set(() => status.inFlight(RED._('aiware-result-out.status.sending', { index })));
        delivery.then(
          () => {
            sent++;
            board.set(() => status.done(RED._('aiware-result-out.status.sent', { count: sent })));
            done();
          },
          (err: unknown) => {
            board.now(status.failed(errorMessage(err).slice(0, 60)));
            done(err as Error);
          },
        );
      } catch (err) {
        const failure = err instanceof ProtocolError ? err : new ProtocolError(500, errorMessage(err));
        // The task fails with this node's reason first; the done(err) hook then finds it ended.
        task.fail({ reason: failure.reason, message: `${label}: ${failure.message}`, node: label, status: failure.status, by });
        board.now(status.failed(failure.message.slice(0, 60)));
        done(failure);
      }
    });

    node.on('close', () => board.close());
  }

  RED.nodes.registerType(NODE_TYPES.resultOut, ResultOutNode);
};
