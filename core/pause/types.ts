// The words of pause-for-callback: its paths and limits, what a pause node must do, what each mode
// gives back, and the claims a callback token or a wake-up's `data` carries.
import type { ParsedFields } from '../protocol/fields';
import type { SavedMessage } from './saved-message';
import type { Task } from '../task/task';
import type { TaskRegistry } from '../task/registry';
import type { SavedTask, WaitRecord } from './wait-store';
import type { TraceCarrier } from '../util/trace';

/** Where the callback URLs live, under the host's HTTP root. */
export const CALLBACK_PATH = '/aiware/callback/';

/** A `data` longer than this keeps the state in the wait folder and carries only a reference. */
export const MAX_INLINE_DATA = 3000;

/** The largest body a callback may send. */
export const DEFAULT_CALLBACK_BODY_BYTES = 1024 * 1024;

/** How long a claim outlives its wait, so that late calls of the URL hear 409, not 404. */
export const CLAIM_KEPT_MS = 24 * 3600 * 1000;

/** A platform wait's life when the node sets no timeout, and how long its claim is kept. */
export const PLATFORM_WAIT_MS = 7 * 24 * 3600 * 1000;

/** How long a callback for a saved wait still coming back (the engine starting) is held before 503. */
export const DEFAULT_CALLBACK_HOLD_MS = 10_000;

/** What went wrong with a wait, for output 3 (`msg.error`). */
export interface WaitError {
  kind: 'failed' | 'timeout';
  message: string;
  /** What the service sent to the fail URL. */
  body?: unknown;
}

/** What the service needs of a pause node: it sends, the service decides when. */
export interface PauseNode {
  readonly id: string;
  /** Output 2: the wait's message, restored, goes on with `callback` (what the service sent). */
  resume(wait: WaitRecord, task: Task, callback: unknown): void;
  /** Output 3, when it is wired: false when it is not (the task then fails). */
  failed(wait: WaitRecord, task: Task, error: WaitError): boolean;
  /** The node's live waits changed (for its status). */
  changed(): void;
}

export interface PauseServiceOptions {
  registry: TaskRegistry;
  /** The folder of waits (and the signing secret, when none is configured). */
  stateDir: string;
  /** A signing secret shared by every instance of the engine; else one is kept in `stateDir`. */
  secret?: string;
  maxBodyBytes?: number;
  /** How long a callback for a saved wait still coming back is held (default 10 s). */
  callbackHoldMs?: number;
  flowsStarted(): boolean;
  warn(text: string): void;
}

export interface LocalPauseOptions {
  /** The public base of the callback URLs (scheme, host, port, HTTP root). */
  baseUrl: string;
  /** Seconds; 0 means "as long as the task's maxTTL allows". */
  timeoutSeconds: number;
  message: SavedMessage;
  files: string[];
}

export interface LocalPause {
  waitId: string;
  callbackUrl: string;
  progressUrl: string;
  failUrl: string;
  expiresAt: number;
  /** True when maxTTL shortened the timeout. */
  capped: boolean;
}

export interface PlatformPauseOptions {
  /** The wake-up address when ET gives no `externalCallbackWebhook`. */
  wakeupUrl?: string;
  engineId?: string;
  timeoutSeconds: number;
  message: SavedMessage;
}

export interface PlatformPause {
  waitId: string;
  callbackUrl: string;
  failUrl: string;
  expiresAt: number;
  /** Where the state went: in `data` itself, or the wait folder (too large for a URL). */
  stateIn: 'data' | 'folder';
}

/** A platform wake-up checked and claimed: open the new task with `parsed`, then `resume` it. */
export interface Wake {
  waitId: string;
  /** The wake-up's fields, with what it lacks (webhooks, chunkContext…) from the paused task. */
  parsed: ParsedFields;
  /** The paused task's trace context: the woken task's trace continues it. */
  trace?: TraceCarrier;
  resume(task: Task, callback: unknown): void;
}

/** The claims a local callback token carries (internal to core/pause). */
export interface LocalClaims {
  w: string;
  n: string;
}

/** The claims of a platform `data`: the state itself (`s`) or its hash (`h`), and the outcome (`o`). */
export interface DataClaims {
  w: string;
  n: string;
  o?: 'fail';
  s?: { task: SavedTask; message: SavedMessage };
  h?: string;
}

export interface LiveWait {
  wait: WaitRecord;
  task: Task;
  timer?: NodeJS.Timeout;
  /** Set the moment a callback or the timeout claims it, before the claim file is written. */
  claimed: boolean;
}
