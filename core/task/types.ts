// The words of a task: its settings, what opens one, its states and end, what a failure carries,
// and the node that ended it.
import type { ParsedFields } from '../protocol/fields';
import type { EngineType, FailureReason, RespondMode } from '../protocol/constants';
import type { TraceCarrier } from '../util/trace';

export interface TaskSettings {
  /** How often `running` heartbeats go out while an asynchronous task is open. */
  heartbeatIntervalMs: number;
  /** The task's time when /process gave no `maxTTL`, in seconds. */
  defaultTTLSeconds: number;
  /** Extra time a task's final heartbeat may take past the deadline. */
  finalHeartbeatGraceMs: number;
}

export const DEFAULT_TASK_SETTINGS: TaskSettings = {
  heartbeatIntervalMs: 1000,
  defaultTTLSeconds: 3600,
  finalHeartbeatGraceMs: 5000,
};

export interface Counters {
  bytesRead: number;
  bytesWritten: number;
  messagesWritten: number;
}

/** What the flow knows of a task's progress: it goes out with the task's next heartbeat. */
export interface Progress {
  infoMsg?: string;
  counters?: Partial<Counters>;
}

/** How a synchronous task's /process request is answered: the registry calls it once. */
export type SyncReply = (status: number, body: unknown) => void;

export interface OpenOptions {
  parsed: ParsedFields;
  engineType: EngineType;
  respond: RespondMode;
  /** Who opened it (the process-in node's id), for closing its tasks when it stops. */
  owner?: string;
  reply?: SyncReply;
  bytesRead?: number;
  tmpFiles?: string[];
  /** A task brought back from saved state (a wait restored after a restart): its id and progress so far. */
  restore?: RestoredTask;
  /** The trace context the request carried (W3C `traceparent`…), or the paused task's: the task's trace continues it. */
  trace?: TraceCarrier;
  /** The task goes on from a pause (a platform wake-up): its span says so. A `restore` is one too. */
  resumed?: boolean;
}

/** What a task must keep to carry on in another process: see `Task.saved()`. */
export interface RestoredTask {
  id: string;
  startedAt: number;
  resultsSent: number;
  counters: Counters;
  infoMsg?: string;
  /** The task's trace context where it was saved: the task's span in the next process is its child. */
  trace?: TraceCarrier;
}

/**
 * `paused`: the task left this process with its state saved (pause-for-callback): no final
 * heartbeat, ET hears the rest from whichever process resumes it.
 */
export type TaskState = 'open' | 'complete' | 'failed' | 'ignored' | 'paused';

export interface ResultOptions {
  startOffsetMs?: number;
  endOffsetMs?: number;
  /** The task is complete once this result is delivered. */
  complete?: boolean;
  /** The node sending the result: it ends the task when the result completes it. */
  by?: TaskEnder;
}

/** A node of a flow, as Node-RED's nodes have it (they are such objects). */
export interface FlowNode {
  readonly id: string;
  readonly type: string;
  readonly name?: string;
}

/** How the pack names a node in its messages: `name (type id)`, or `type id` for a node with no name. */
export function nodeLabel(node: FlowNode): string {
  return node.name ? `${node.name} (${node.type} ${node.id})` : `${node.type} ${node.id}`;
}

/** The node whose message ended a task, and the node that had sent it that message: who to name when a message comes too late. */
export interface TaskEnder {
  node: FlowNode;
  from?: FlowNode;
}

export interface Failure {
  reason: FailureReason;
  message: string;
  /** The node that failed it, named in a synchronous answer. */
  node?: string;
  /** The status of a synchronous answer: 500 ("try again") unless the failure is known to be final. */
  status?: number;
  /** The node that ended the task with it (none when the pack itself fails it: maxTTL, a redeploy). */
  by?: TaskEnder;
}

/** One node's part in one task (or, in `NodeTotals`, in every task so far). */
export interface NodeTime {
  id: string;
  type: string;
  name?: string;
  /** Messages of the task the node got. */
  count: number;
  /** How long the node held the task's messages, in ms: from each delivery to its completion (or the node's next send), overlaps counted once. */
  ms: number;
  /** How long the task's messages waited in Node-RED's queue for the node (its send to its delivery), summed, in ms. */
  queueMs: number;
}

/** Where one task's time went, once it has ended (or paused). */
export interface TaskTimes {
  /** From the task's opening in this process to its end, in ms. */
  totalMs: number;
  /** The nodes the task's messages passed through, slowest first. */
  nodes: NodeTime[];
}
