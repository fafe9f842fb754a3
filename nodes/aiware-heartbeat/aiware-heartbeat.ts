// aiware-heartbeat: tells Engine Toolkit how a task is doing — a `running` update with an info
// message and counters, or the task's end, `complete` or `failed` with a reason.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  ProtocolError,
  errorMessage,
  FAILURE_REASONS,
  HEARTBEAT_COUNTERS,
  isFailureReason,
  type FailureReason,
  type HeartbeatStatus,
  isHeartbeatCount,
  isHeartbeatStatus,
  type Counters,
} from '../../core';
import { packRuntime } from '../shared/runtime';
import { taskIdOf, taskOf } from '../shared/message';
import { lateMessage } from '../shared/node-failure';
import { StatusBoard, status } from '../shared/status';
import { NODE_TYPES } from '../shared/types';

interface HeartbeatDef extends NodeDef {
  /** running | complete | failed, or `msg` to take it from msg.heartbeat.status. */
  status?: HeartbeatStatus | 'msg';
  failureReason?: FailureReason;
  failureMsg?: string;
  infoMsg?: string;
}

/** `msg.heartbeat` overrides the node's properties field by field. */
interface HeartbeatOverrides extends Partial<Counters> {
  status?: unknown;
  failureReason?: unknown;
  failureMsg?: unknown;
  infoMsg?: unknown;
}

interface HeartbeatMessage extends NodeMessage {
  heartbeat?: HeartbeatOverrides;
  /** Set by a Catch node: a flow wired Catch → aiware-heartbeat fails the task with it. */
  error?: { message?: string; source?: { id?: string; type?: string; name?: string } };
}

/** An override as text: a string as it is, an object or array as its JSON (ET would read "[object Object]"). */
function text(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

export = function register(RED: NodeAPI): void {
  const pack = packRuntime(RED);

  function HeartbeatNode(this: Node, config: HeartbeatDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const board = new StatusBoard(node);

    node.on('input', (message: NodeMessage, send: (msg: NodeMessage) => void, done: (err?: Error) => void) => {
      const msg = message as HeartbeatMessage;
      try {
        const taskId = taskIdOf(msg);
        if (msg.error && taskId !== undefined && !pack.registry.get(taskId)) {
          // A Catch node's copy of a message whose task the failure hook has already failed: a failure, shown as one.
          const error = msg.error.message ?? '';
          board.set(() => status.failed(RED._('aiware-heartbeat.status.alreadyEnded', { error: error.slice(0, 60) })));
          send(msg);
          done();
          return;
        }
        const late = lateMessage(pack, node, msg);
        if (late) {
          board.now(status.failed(RED._('aiware-heartbeat.status.late')));
          done(late);
          return;
        }
        const task = taskOf(pack.registry, msg);
        const by = pack.flowEnd.ender(node, msg);
        const overrides = msg.heartbeat ?? {};
        const chosen = text(overrides.status) ?? (config.status === 'msg' ? undefined : config.status) ?? 'running';
        if (!isHeartbeatStatus(chosen)) {
          throw new ProtocolError(400, RED._('aiware-heartbeat.errors.badStatus', { status: chosen }), { field: 'status' });
        }
        const infoMsg = text(overrides.infoMsg) ?? text(config.infoMsg);
        const counters: Partial<Counters> = {};
        for (const name of HEARTBEAT_COUNTERS) {
          const value = overrides[name];
          if (value === undefined) continue;
          if (!isHeartbeatCount(value)) {
            throw new ProtocolError(400, `msg.heartbeat.${name} must be a whole number, got ${JSON.stringify(value)}`, { field: name });
          }
          counters[name] = value;
        }

        if (chosen === 'running') {
          task.update({ infoMsg, counters });
          board.set(() => status.inFlight(infoMsg ?? RED._('aiware-heartbeat.status.running')));
        } else if (chosen === 'complete') {
          task.complete({ infoMsg, counters }, by);
          board.set(() => status.done(RED._('aiware-heartbeat.status.complete')));
        } else {
          const reasonText = text(overrides.failureReason) ?? text(config.failureReason) ?? (msg.error ? 'internal_error' : 'other');
          if (!isFailureReason(reasonText)) {
            throw new ProtocolError(400, RED._('aiware-heartbeat.errors.badReason', { reason: reasonText, reasons: FAILURE_REASONS.join(', ') }), { field: 'failureReason' });
          }
          const failureMsg = text(overrides.failureMsg) ?? text(config.failureMsg) ?? text(msg.error?.message) ?? RED._('aiware-heartbeat.status.failed');
          const source = msg.error?.source;
          task.fail({ reason: reasonText, message: failureMsg, node: source?.id ? `${source.name || source.type} ${source.id}` : undefined, by }, { infoMsg, counters });
          board.set(() => status.failed(`${reasonText}: ${failureMsg}`.slice(0, 60)));
        }
        send(msg);
        done();
      } catch (err) {
        board.now(status.failed(errorMessage(err).slice(0, 60)));
        done(err as Error);
      }
    });

    node.on('close', () => board.close());
  }

  RED.nodes.registerType(NODE_TYPES.heartbeat, HeartbeatNode, {
    // The editor lists the reasons from here: one list, in core/protocol/constants.ts.
    settings: { aiwareHeartbeatFailureReasons: { value: FAILURE_REASONS, exportable: true } },
  });
};
