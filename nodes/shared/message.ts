// What a flow's message carries: `msg.aiware`, the typed task (plain data, so clones work),
// linked to the live task in the registry by `msg.aiware.taskId`.
import { FIELD_NAMES, PROCESS_FIELDS, type ProcessFields, type EngineType, type RespondMode, type Task, type TaskRegistry, ProtocolError } from '../../core';

export interface ChunkInfo {
  /** Where the chunk is on disk: always for chunks past the memory limit, or when asked for. */
  path?: string;
  size: number;
  mimeType?: string;
  filename?: string;
  /** True when `msg.payload` holds the chunk's bytes. */
  inMemory: boolean;
}

export interface AiwareMessageTask extends ProcessFields {
  taskId: string;
  engineType: EngineType;
  respond: RespondMode;
  mode?: string;
  /** The parsed `payload` field ({} when ET sent none). */
  payload: Record<string, unknown>;
  chunk?: ChunkInfo;
  chunkMetadata: Record<string, string>;
  /** Fields this version does not know, kept as they came. */
  extra: Record<string, string>;
}

export function taskIdOf(msg: unknown): string | undefined {
  const aiware = (msg as { aiware?: { taskId?: unknown } } | undefined)?.aiware;
  return typeof aiware?.taskId === 'string' ? aiware.taskId : undefined;
}

/** The open task a message belongs to, or an error that says what went wrong. */
export function taskOf(registry: TaskRegistry, msg: unknown): Task {
  const id = taskIdOf(msg);
  if (id === undefined) {
    throw new ProtocolError(400, 'msg.aiware.taskId is missing: the message must come from aiware-process-in (keep msg.aiware when a node builds a new message)', {
      reason: 'internal_error',
    });
  }
  const task = registry.get(id);
  if (!task) {
    throw new ProtocolError(409, `task ${id} is not open: it has already ended (completed, failed or timed out)`, {
      reason: 'internal_error',
    });
  }
  return task;
}

// msg.aiware's fixed shape (see emptyFields): every field, then the task's own keys.
const AIWARE_SHAPE: Record<string, unknown> = {
  ...PROCESS_FIELDS,
  taskId: undefined,
  engineType: undefined,
  respond: undefined,
  mode: undefined,
  payload: undefined,
  chunk: undefined,
  chunkMetadata: undefined,
  extra: undefined,
};

/** The task as plain data for `msg.aiware`: a copy, so a flow that edits it cannot change the task. */
export function describeTask(task: Task): AiwareMessageTask {
  const aiware = { ...AIWARE_SHAPE };
  for (const name of FIELD_NAMES) aiware[name] = task.fields[name];
  aiware.taskId = task.id;
  aiware.engineType = task.engineType;
  aiware.respond = task.respond;
  aiware.mode = task.mode;
  aiware.payload = task.fields.payload ?? {};
  aiware.chunkMetadata = task.chunkMetadata;
  aiware.extra = task.extra;
  return aiware as unknown as AiwareMessageTask;
}
