// Small pure helpers of pause-for-callback: the task as a wait saves it, a wake-up's fields merged
// with the paused task's, where callback URLs can be reached, and the texts of progress and fail calls.
import { createHash } from 'node:crypto';
import { FIELD_NAMES, SECRET_FIELDS, type ParsedFields, type ProcessFields } from '../protocol/fields';
import type { Task } from '../task/task';
import type { SavedTask } from './wait-store';

/** The task as a wait keeps it; `withSecrets` false leaves the tokens out (they travel in a URL). */
export function savedTask(task: Task, withSecrets: boolean): SavedTask {
  const fields: ProcessFields = { ...task.fields };
  if (!withSecrets) for (const name of SECRET_FIELDS) delete fields[name];
  return {
    ...task.saved(),
    parsed: { fields, chunkMetadata: task.chunkMetadata, extra: task.extra },
    engineType: task.engineType,
    respond: task.respond,
    owner: task.owner,
  };
}

/** The wake-up's own fields win; what it lacks comes from the task that paused. */
export function mergeFields(parsed: ParsedFields, saved: SavedTask): ParsedFields {
  const fields: ProcessFields = { ...parsed.fields };
  const old = saved.parsed.fields as Record<string, unknown>;
  const target = fields as Record<string, unknown>;
  for (const name of FIELD_NAMES) if (target[name] === undefined && old[name] !== undefined) target[name] = old[name];
  const chunkMetadata = Object.keys(parsed.chunkMetadata).length > 0 ? parsed.chunkMetadata : saved.parsed.chunkMetadata;
  return { fields, chunkMetadata, extra: { ...saved.parsed.extra, ...parsed.extra } };
}

function isLoopback(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || host.startsWith('127.');
  } catch {
    return false;
  }
}

/**
 * True when local callback URLs on `baseUrl` cannot reach this engine from where the task came
 * from: a loopback base, for a task whose toolkit (its heartbeat webhook) is on another host.
 */
export function unreachableBase(baseUrl: string, fields: Pick<ProcessFields, 'heartbeatWebhook'>): boolean {
  return isLoopback(baseUrl) && fields.heartbeatWebhook !== undefined && !isLoopback(fields.heartbeatWebhook);
}

/** `<base>/callback`: the base as given when it already ends in /callback. */
export function wakeupAddress(base: string | undefined): string | undefined {
  if (!base) return undefined;
  const trimmed = base.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return trimmed.endsWith('/callback') ? trimmed : `${trimmed}/callback`;
}

export function hashOf(state: unknown): string {
  return createHash('sha256').update(JSON.stringify(state)).digest('base64url');
}

export function stringOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The infoMsg a progress call sets: its `progress` (or `infoMsg`, `message`) text, else the body as text. */
export function progressText(body: unknown): string {
  let text: string;
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) {
    const b = body as Record<string, unknown>;
    const named = [b.progress, b.infoMsg, b.message].find((v): v is string => typeof v === 'string');
    text = named ?? JSON.stringify(body);
  } else if (Buffer.isBuffer(body)) {
    text = `${body.length} bytes`;
  } else {
    text = body === undefined ? 'progress' : typeof body === 'string' ? body : JSON.stringify(body);
  }
  return text.slice(0, 1000);
}

/** What a fail call says went wrong: its `error` (or `message`) text, else the body as text. */
export function failureText(body: unknown): string {
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) {
    const b = body as Record<string, unknown>;
    const named = [b.error, b.message, b.failureMsg].find((v): v is string => typeof v === 'string');
    return (named ?? JSON.stringify(body)).slice(0, 1000);
  }
  if (typeof body === 'string' && body !== '') return body.slice(0, 1000);
  return 'the service gave no reason';
}
