// The handle between the pack and whatever embeds Node-RED (the runner, the tests): the host
// puts a `PackHost` in Node-RED's settings (`aiware.host`), and the pack's runtime attaches to it
// when Node-RED loads the nodes. So the host finds the runtime of whichever copy of the pack
// Node-RED loaded, and two copies attaching to one Node-RED fail loudly.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BodyLimits } from '../body/limits';
import type { ChunkPool } from '../body/chunk-pool';
import type { FlowEndWatch } from '../task/flow-end';
import type { NodeTiming } from '../task/timing';
import type { TaskTracing } from '../task/tracing';
import type { PauseService } from '../pause/service';
import type { TaskSettings } from '../task/task';
import type { TaskRegistry } from '../task/registry';
import type { RetryPolicy } from '../task/webhooks';

/** `aiware` in Node-RED's settings.js: every key optional. */
export interface AiwareSettings extends Partial<TaskSettings>, Partial<BodyLimits> {
  retry?: Partial<RetryPolicy>;
  /**
   * Where pause-for-callback keeps its waits and its signing secret. Default: `aiware-waits` in
   * Node-RED's user directory (the runner: `pauses` in the engine's working folder).
   */
  stateDir?: string;
  /** The secret that signs callback tokens, the same for every instance of an engine. Default: one made in `stateDir`. */
  callbackSecret?: string;
  /** The public base of local callback URLs (scheme, host, port and HTTP root) when a node sets none. */
  callbackBaseUrl?: string;
  /** The largest callback body, in bytes. Default 1 MiB. */
  maxCallbackBytes?: number;
  /**
   * How long a callback for a saved wait that is still coming back (the engine starting, its
   * pause node restoring its waits) is held before it is answered 503. Default 10000 ms.
   */
  callbackHoldMs?: number;
  /**
   * The slowest a request body to /process or a callback URL may come, in bytes a second averaged
   * from its start, once `minBodyRateGraceMs` has passed; slower: 408 and the connection closed.
   * 0 turns it off. Default 240.
   */
  minBodyRate?: number;
  /** How long a body may come slower than `minBodyRate` at its start. Default 5000 ms. */
  minBodyRateGraceMs?: number;
  /**
   * Chunk memory used again from task to task (core/body/chunk-pool): much less garbage collection at
   * MiB-sized chunks, but a chunk's bytes are valid only until its task ends (every view of them
   * empties then). Default false.
   */
  recycleChunks?: boolean;
  /**
   * How long an open task may have no message in flight (the flow dropped its last one without
   * ending it) before it fails with `internal_error`; `false` or 0: not watched, maxTTL applies.
   * Default 5000.
   */
  flowEndGraceMs?: number | false;
  /**
   * Times each node's part in each task (core/task/timing: held, queued, counted) from Node-RED's
   * message hooks; `false`: not timed (no per-node times in the runner's metrics, log lines, the
   * simulator's summary or try-it). Default true.
   */
  nodeTiming?: boolean;
  /** Set by a host that embeds Node-RED, never in a settings file. */
  host?: PackHost;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type RouteMethod = 'get' | 'post';
export type RouteKind = 'process' | 'other';

/** What the pack's nodes share inside one Node-RED: tasks, readiness, routes. */
export interface PackRuntime {
  /** The folder and version of the copy of the pack this runtime belongs to. */
  readonly origin: string;
  readonly registry: TaskRegistry;
  /** The pause-for-callback waits: saved, served, resumed. */
  readonly pauses: PauseService;
  /** Each task's messages in flight: a task the flow forgot to end, a result that came after the end. */
  readonly flowEnd: FlowEndWatch;
  /** Where each task's time goes, node by node; undefined when `nodeTiming` is false or Node-RED has no message hooks. */
  readonly timing?: NodeTiming;
  /** Each task a trace, each node's handling of its messages a span (a no-op until a host registers an OpenTelemetry SDK). */
  readonly tracing: TaskTracing;
  readonly settings: AiwareSettings;
  /** Pooled chunk memory, when `recycleChunks` is on. */
  readonly chunkPool?: ChunkPool;
  /** True between `flows:started` and the next `flows:stopping`. */
  flowsStarted(): boolean;
  /**
   * Serves `method path` with `handler` for node `owner`; returns the current owner if taken.
   * `kind` `process` marks an engine's /process route (what `processPaths` lists).
   */
  claim(method: RouteMethod, path: string, owner: string, handler: RouteHandler, kind?: RouteKind): string | undefined;
  release(method: RouteMethod, path: string, owner: string): void;
  /** The paths of the /process routes served now (claimed with kind `process`), sorted. */
  processPaths(): string[];
  /** The node that owns `method path`, if any. */
  owner(method: RouteMethod, path: string): string | undefined;
  /** Serves a request on a claimed route; false when no node owns `method path`. */
  dispatch(method: string, path: string, req: IncomingMessage, res: ServerResponse): boolean;
}

/** What the pack expects of `aiware.host`: any object with this method will do. */
export interface PackHost {
  attach(runtime: PackRuntime): void;
}

export class TwoPacksError extends Error {
  constructor(
    readonly first: string,
    readonly second: string,
  ) {
    super(`two copies of the aiWARE node pack are loaded into one Node-RED (${first} and ${second}): remove one, the tasks of one would be invisible to the other`);
    this.name = 'TwoPacksError';
  }
}

/**
 * The host side: hand `handle` over as `settings.aiware.host`, start Node-RED, then read
 * `handle.runtime`. A second runtime attaching throws in the pack (Node-RED logs it against the
 * node) and is kept in `conflict`, for the host to fail its start-up with.
 */
export class RuntimeHandle implements PackHost {
  private current?: PackRuntime;
  private waiters: ((runtime: PackRuntime) => void)[] = [];
  conflict?: TwoPacksError;

  get runtime(): PackRuntime | undefined {
    return this.current;
  }

  attach(runtime: PackRuntime): void {
    if (this.current && this.current !== runtime) {
      this.conflict ??= new TwoPacksError(this.current.origin, runtime.origin);
      throw this.conflict;
    }
    this.current = runtime;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake(runtime);
  }

  /** The runtime once the pack has attached, or undefined when it has not within `timeoutMs`. */
  whenAttached(timeoutMs: number): Promise<PackRuntime | undefined> {
    if (this.current) return Promise.resolve(this.current);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve(undefined);
      }, timeoutMs);
      const wake = (runtime: PackRuntime): void => {
        clearTimeout(timer);
        resolve(runtime);
      };
      this.waiters.push(wake);
    });
  }

  /**
   * For a server that embeds Node-RED with `httpNodeRoot` `/`: serves the pack's routes straight
   * from the HTTP server, skipping express and its middleware, which /process does not need.
   * Returns false for any other request, to be passed to Node-RED.
   */
  dispatch(req: IncomingMessage, res: ServerResponse): boolean {
    const runtime = this.current;
    if (!runtime || req.url === undefined || req.method === undefined) return false;
    const query = req.url.indexOf('?');
    return runtime.dispatch(req.method.toLowerCase(), query < 0 ? req.url : req.url.slice(0, query), req, res);
  }
}
