// aiware-heartbeat: tells Engine Toolkit how a task is doing — a `running` update with an info
// message and counters, or the task's end, `complete` or `failed` with a reason.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import {
  ProtocolError,
  FAILURE_REASONS,
  HEARTBEAT_STATUSES,
  HEARTBEAT_COUNTERS,
  isFailureReason,
  type FailureReason,
  type HeartbeatStatus,
  isHeartbeatCount,
  isHeartbeatStatus,
  type Counters,
} from '../../core';
import { packRuntime } from '../shared/runtime';
import { taskIdOf } from '../shared/message';
import { NodeBase } from '../shared/node-base';
import { serveTasks } from '../shared/task-node';
import { status, statusText } from '../shared/status';
import { NODE_TYPES } from '../shared/types';

/** The node's `status` setting: a heartbeat status, or `msg` to take it from msg.heartbeat.status. */
const NODE_STATUSES = [...HEARTBEAT_STATUSES, 'msg'] as const;

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

/** A heartbeat the flow got wrong: its task fails with invalid_data, and a synchronous one answers 500 (a node's error). */
function badHeartbeat(text: string, field: string): ProtocolError {
  return new ProtocolError(500, text, { field, reason: 'invalid_data' });
}

export = function register(RED: NodeAPI): void {
  const pack = packRuntime(RED);

  function HeartbeatNode(this: Node, config: HeartbeatDef): void {
    const base = new NodeBase(RED, this, config);
    // Absent (a hand-written flow): `running`, and the reason chosen per message (see below).
    const configured = base.oneOf('status', config.status, NODE_STATUSES) ?? 'running';
    const configuredReason = base.oneOf('failureReason', config.failureReason, FAILURE_REASONS);
    const board = base.board;

    serveTasks<HeartbeatMessage>(base, pack, {
      late: RED._('aiware-heartbeat.status.late'),
      withoutTask(msg, send) {
        const taskId = taskIdOf(msg);
        if (!msg.error || taskId === undefined || pack.registry.get(taskId)) return false;
        // A Catch node's copy of a message whose task the failure hook has already failed: a failure, shown as one.
        const error = msg.error.message ?? '';
        board.set(() => status.failed(RED._('aiware-heartbeat.status.alreadyEnded', { error: statusText(error) })));
        send(msg);
        return true;
      },
      onInput(msg, task, send, by) {
        const overrides = msg.heartbeat ?? {};
        const chosen = text(overrides.status) ?? (configured === 'msg' ? undefined : configured) ?? 'running';
        if (!isHeartbeatStatus(chosen)) {
          throw badHeartbeat(RED._('aiware-heartbeat.errors.badStatus', { status: chosen }), 'status');
        }
        const infoMsg = text(overrides.infoMsg) ?? text(config.infoMsg);
        const counters: Partial<Counters> = {};
        for (const name of HEARTBEAT_COUNTERS) {
          const value = overrides[name];
          if (value === undefined) continue;
          if (!isHeartbeatCount(value)) {
            throw badHeartbeat(`msg.heartbeat.${name} must be a whole number, got ${JSON.stringify(value)}`, name);
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
          const reasonText = text(overrides.failureReason) ?? configuredReason ?? (msg.error ? 'internal_error' : 'other');
          if (!isFailureReason(reasonText)) {
            throw badHeartbeat(RED._('aiware-heartbeat.errors.badReason', { reason: reasonText, reasons: FAILURE_REASONS.join(', ') }), 'failureReason');
          }
          const failureMsg = text(overrides.failureMsg) ?? text(config.failureMsg) ?? text(msg.error?.message) ?? RED._('aiware-heartbeat.status.failed');
          const source = msg.error?.source;
          task.fail({ reason: reasonText, message: failureMsg, node: source?.id ? `${source.name || source.type} ${source.id}` : undefined, by }, { infoMsg, counters });
          board.set(() => status.failed(statusText(`${reasonText}: ${failureMsg}`)));
        }
        send(msg);
      },
    });
  }

  RED.nodes.registerType(NODE_TYPES.heartbeat, HeartbeatNode, {
    // The editor lists the reasons from here: one list, in core/protocol/constants.ts.
    settings: { aiwareHeartbeatFailureReasons: { value: FAILURE_REASONS, exportable: true } },
  });
};
