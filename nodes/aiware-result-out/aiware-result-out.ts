// aiware-result-out: hands a task's VTN-standard output to Engine Toolkit — the /process answer
// for a synchronous chunk, a result POST otherwise — after checking it against the VTN schemas.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { validateVtn, describeVtnIssues, ProtocolError, isResultOffset } from '../../core';
import { packRuntime } from '../shared/runtime';
import { NodeBase } from '../shared/node-base';
import { serveTasks } from '../shared/task-node';
import { status } from '../shared/status';
import { NODE_TYPES } from '../shared/types';

const COMPLETES = ['default', 'yes', 'no'] as const;

interface ResultOutDef extends NodeDef {
  /** Message property holding the output (default `payload`). */
  property?: string;
  /** `default`: a chunk's result completes its task, a stream's or batch's does not. */
  completes?: (typeof COMPLETES)[number];
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
    const base = new NodeBase(RED, this, config);
    const property = base.messageProperty('property', config.property);
    const completes = base.oneOf('completes', config.completes, COMPLETES) ?? 'default';
    const validate = config.validate !== false;
    let sent = 0;

    serveTasks<ResultMessage>(base, pack, {
      late: RED._('aiware-result-out.status.late'),
      onInput(msg, task, _send, by) {
        if (msg.ignoreChunk === true) {
          task.ignore(by);
          base.board.set(() => status.done(RED._('aiware-result-out.status.ignored')));
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
        const complete = typeof msg.completeTask === 'boolean' ? msg.completeTask : completes === 'yes' ? true : completes === 'no' ? false : task.engineType === 'chunk';
        const delivery = task.result(output, {
          startOffsetMs: optionalInt(msg.startOffsetMs, 'startOffsetMs'),
          endOffsetMs: optionalInt(msg.endOffsetMs, 'endOffsetMs'),
          complete,
          by,
        });
        const index = task.resultsSent;
        base.board.set(() => status.inFlight(RED._('aiware-result-out.status.sending', { index })));
        return delivery.then(() => {
          sent++;
          base.board.set(() => status.done(RED._('aiware-result-out.status.sent', { count: sent })));
        });
      },
    });
  }

  RED.nodes.registerType(NODE_TYPES.resultOut, ResultOutNode);
};
