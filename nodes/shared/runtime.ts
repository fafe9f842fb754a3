// What the pack's nodes share inside one Node-RED: the task registry, the readiness of the
// flows, the /process routes, and the message hook that fails a task when a node fails.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeAPI, NodeMessage } from 'node-red';
import { TaskRegistry, type TaskSettings } from '../../core/tasks';
import { errorMessage } from '../../core/errors';
import type { BodyLimits } from '../../core/body';
import type { RetryPolicy } from '../../core/webhooks';
import { WebhookClient } from '../../core/webhooks';
import { taskIdOf } from './message';

/** `aiware` in Node-RED's settings.js: every key optional. */
export interface AiwareSettings extends Partial<TaskSettings>, Partial<BodyLimits> {
  retry?: Partial<RetryPolicy>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Route {
  owner: string;
  handler: Handler;
}

export interface PackRuntime {
  readonly registry: TaskRegistry;
  readonly settings: AiwareSettings;
  /** True between `flows:started` and the next `flows:stopping`. */
  flowsStarted(): boolean;
  /** Serves `method path` with `handler` for node `owner`; returns the current owner if taken. */
  claim(method: 'get' | 'post', path: string, owner: string, handler: Handler): string | undefined;
  release(method: 'get' | 'post', path: string, owner: string): void;
  /** The node that owns `method path`, if any. */
  owner(method: 'get' | 'post', path: string): string | undefined;
  /** Serves a request on a claimed route; false when no node owns `method path`. */
  dispatch(method: string, path: string, req: IncomingMessage, res: ServerResponse): boolean;
}

let pack: PackRuntime | undefined;

export function packRuntime(RED: NodeAPI): PackRuntime {
  pack ??= createPackRuntime(RED);
  return pack;
}

/** The pack's runtime once Node-RED has loaded the nodes (the runner reads tasks and routes from it). */
export function currentPack(): PackRuntime | undefined {
  return pack;
}

/**
 * For a server that embeds Node-RED with `httpNodeRoot` `/` (the runner, the tests): serves the
 * pack's routes straight from the HTTP server, skipping express and its middleware, which
 * /process does not need. Returns false for any other request, to be passed to Node-RED.
 */
export function dispatchDirect(req: IncomingMessage, res: ServerResponse): boolean {
  if (!pack || req.url === undefined || req.method === undefined) return false;
  const query = req.url.indexOf('?');
  return pack.dispatch(req.method.toLowerCase(), query < 0 ? req.url : req.url.slice(0, query), req, res);
}

function createPackRuntime(RED: NodeAPI): PackRuntime {
  const settings: AiwareSettings = (RED.settings as unknown as { aiware?: AiwareSettings }).aiware ?? {};
  const registry = new TaskRegistry({
    settings,
    client: new WebhookClient({
      retry: settings.retry,
      onRetry: (event) => {
        RED.log.debug(`[aiware] retrying ${event.url} in ${event.delayMs} ms: ${event.cause}`);
        registry.emit('retry', event);
      },
    }),
  });
  registry.on('warning', (task: { id: string }, text: string) => RED.log.warn(`[aiware] task ${task.id}: ${text}`));

  let started = false;
  RED.events.on('flows:started', () => {
    started = true;
  });
  RED.events.on('flows:stopping', () => {
    started = false;
  });

  installFailureHook(RED, registry);

  // One express route per path, mounted once and never removed: it dispatches to whichever
  // node owns the path now, so redeploys and path changes need no surgery on express's stack.
  const routes = new Map<string, Route>();
  const mounted = new Set<string>();
  const key = (method: string, path: string) => `${method} ${path}`;

  return {
    registry,
    settings,
    flowsStarted: () => started,
    claim(method, path, owner, handler) {
      const existing = routes.get(key(method, path));
      if (existing && existing.owner !== owner) return existing.owner;
      routes.set(key(method, path), { owner, handler });
      if (!mounted.has(key(method, path))) {
        mounted.add(key(method, path));
        RED.httpNode[method](path, (req: IncomingMessage, res: ServerResponse, next: () => void) => {
          const route = routes.get(key(method, path));
          if (route) route.handler(req, res);
          else next();
        });
      }
      return undefined;
    },
    release(method, path, owner) {
      if (routes.get(key(method, path))?.owner === owner) routes.delete(key(method, path));
    },
    owner(method, path) {
      return routes.get(key(method, path))?.owner;
    },
    dispatch(method, path, req, res) {
      const route = routes.get(key(method, path));
      if (!route) return false;
      route.handler(req, res);
      return true;
    },
  };
}

interface CompleteEvent {
  msg: NodeMessage;
  error?: unknown;
  node: { id: string; node: { type: string; name?: string } };
}

/**
 * A node that calls `done(err)` on a task's message fails that task with `internal_error`.
 * Node-RED runs the `onComplete` hook for `done(err)`; a node that throws from its input handler
 * is reported only through `node.error`, which no hook sees: such a task fails when its time runs
 * out, or at once when a Catch node is wired to an `aiware-heartbeat` (see the README).
 */
function installFailureHook(RED: NodeAPI, registry: TaskRegistry): void {
  const hooks = (RED as unknown as { hooks?: { add(name: string, fn: (event: CompleteEvent) => void): void } }).hooks;
  if (!hooks) {
    RED.log.warn('[aiware] RED.hooks is not available: a node that fails a message fails its task only when maxTTL passes');
    return;
  }
  hooks.add('onComplete.aiware', (event: CompleteEvent) => {
    if (event.error === undefined || event.error === null) return;
    const task = registry.get(taskIdOf(event.msg));
    if (!task) return;
    const node = event.node.node;
    const label = node.name ? `${node.name} (${node.type} ${event.node.id})` : `${node.type} ${event.node.id}`;
    task.fail({ reason: 'internal_error', message: `${label}: ${errorMessage(event.error)}`, node: label });
  });
}
