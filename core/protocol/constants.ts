// The aiWARE engine protocol's vocabulary (docs/protocol.md), in one place.
// Everything else imports these lists; nothing re-spells them.

export const ENGINE_TYPES = ['chunk', 'stream', 'batch'] as const;
export type EngineType = (typeof ENGINE_TYPES)[number];

export const RESPOND_MODES = ['sync', 'async'] as const;
export type RespondMode = (typeof RESPOND_MODES)[number];

/** What aiware-process-in serves when its `url` / `readyUrl` are blank. */
export const DEFAULT_PROCESS_PATH = '/process';
export const DEFAULT_READY_PATH = '/readyz';

/** A route path as aiware-process-in claims it (and `aiware-sim check` reads it): blank is `fallback`, a leading slash added. */
export function routePath(path: string | undefined, fallback: string): string {
  const trimmed = (path ?? '').trim() || fallback;
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

export const HEARTBEAT_STATUSES = ['running', 'complete', 'failed'] as const;
export type HeartbeatStatus = (typeof HEARTBEAT_STATUSES)[number];

/** The counters a heartbeat may carry. */
export const HEARTBEAT_COUNTERS = ['bytesRead', 'bytesWritten', 'messagesWritten'] as const;
export type HeartbeatCounter = (typeof HEARTBEAT_COUNTERS)[number];

export const FAILURE_REASONS = [
  'internal_error',
  'external_error',
  'unknown',
  'url_not_found',
  'url_not_allowed',
  'url_timeout',
  'url_connection_refused',
  'url_error',
  'invalid_data',
  'rate_limited',
  'api_not_allowed',
  'api_authentication_error',
  'api_not_found',
  'api_error',
  'file_write_error',
  'stream_read_error',
  'system_dependency_missing',
  'system_error',
  'heartbeat_timeout',
  'other',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === 'string' && (FAILURE_REASONS as readonly string[]).includes(value);
}

/** Modes a task payload may carry (`payload.mode`). */
export const MODE_LIBRARY_TRAIN = 'library-train';
export const MODE_LIBRARY_RUN = 'library-run';

/** Prefix ET puts on each chunk metadata field. */
export const CHUNK_METADATA_PREFIX = 'chunk-metadata-';

/** Heartbeat body; core/protocol/webhook-bodies.ts holds the rules its values must follow. */
export interface Heartbeat extends Partial<Record<HeartbeatCounter, number>> {
  status: HeartbeatStatus;
  infoMsg?: string;
  failureReason?: FailureReason;
  failureMsg?: string;
}

/** Result body; core/protocol/webhook-bodies.ts holds the rules its values must follow. */
export interface ResultBody {
  chunkContext?: string;
  startOffsetMs?: number;
  endOffsetMs?: number;
  index: number;
  output: unknown;
}

/** The asynchronous /process answer. */
export interface AsyncAnswer {
  estimatedProcessingTimeInSeconds: number;
}
