// What the pack's nodes share inside one Node-RED: the task registry, the readiness of the
// flows, the /process routes, and the message hook that fails a task when a node fails. A host
// that embeds Node-RED gets this runtime through the handle it puts in the settings (core/host).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeAPI, NodeMessage } from 'node-red';
import { TaskRegistry } from '../../core/tasks';
import { ChunkPool } from '../../core/chunk-pool';
import { DEFAULT_LIMITS } from '../../core/body-limits';
import { errorMessage } from '../../core/errors';
import type { AiwareSettings, PackRuntime, RouteHandler, RouteKind } from '../../core/host';
import { WebhookClient } from '../../core/webhooks';
import { CALLBACK_PATH, PauseService } from '../../core/pauses';
import { isFailureReason } from '../../core/protocol';
import { taskIdOf } from './message';

interface Route {
  owner: string;
  handler: RouteHandler;
  kind: RouteKind;
}

/** This copy of the pack: its folder (this file is dist/nodes/shared/runtime.js) and version. */
const PACK_DIR = path.resolve(__dirname, '..', '..', '..');
const ORIGIN = `${PACK_DIR} (version ${(JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'package.json'), 'utf8')) as { version: string }).version})`;

// One runtime per copy of the pack: each node file of this copy gets the same one.
let pack: PackRuntime | undefined;

/**
 * The pack's runtime, attached to the host named in the settings (if any) on every load. A new
 * runtime attaches before it touches Node-RED (events, hooks): a second copy of the pack is
 * refused by the host before it can half-install itself.
 */
export function packRuntime(RED: NodeAPI): PackRuntime {
  if (pack) {
    settingsOf(RED).host?.attach(pack);
    return pack;
  }
  const created = createPackRuntime(RED);
  pack = created.runtime;
  settingsOf(RED).host?.attach(pack);
  created.install();
  return pack;
}

/** Waits live in Node-RED's user directory (the OS temp folder when it has none, as in some tests). */
function defaultStateDir(RED: NodeAPI): string {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
  return userDir ? path.join(userDir, 'aiware-waits') : path.join(os.tmpdir(), `aiware-waits-${process.pid}`);
}

function settingsOf(RED: NodeAPI): AiwareSettings {
  return (RED.settings as unknown as { aiware?: AiwareSettings }).aiware ?? {};
}

function createPackRuntime(RED: NodeAPI): { runtime: PackRuntime; install(): void } {
  const settings = settingsOf(RED);
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
  const pauses = new PauseService({
    registry,
    stateDir: settings.stateDir ?? defaultStateDir(RED),
    secret: settings.callbackSecret,
    maxBodyBytes: settings.maxCallbackBytes,
    flowsStarted: () => started,
    warn: (text) => RED.log.warn(`[aiware] ${text}`),
  });
  const serveCallback = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    void pauses.serve(req.method ?? 'GET', query < 0 ? url : url.slice(0, query), req, res);
  };

  const install = (): void => {
    RED.events.on('flows:started', () => {
      started = true;
    });
    RED.events.on('flows:stopping', () => {
      started = false;
    });
    installFailureHook(RED, registry);
    // The callback URLs, for a Node-RED whose HTTP nodes express serves (a host may dispatch them first).
    const callbackRoute = new RegExp(`^${CALLBACK_PATH.replace(/\//g, '\\/')}.+`);
    RED.httpNode.get(callbackRoute, serveCallback);
    RED.httpNode.post(callbackRoute, serveCallback);
  };

  // One express route per path, mounted once and never removed: it dispatches to whichever
  // node owns the path now, so redeploys and path changes need no surgery on express's stack.
  const routes = new Map<string, Route>();
  const mounted = new Set<string>();
  const key = (method: string, path: string) => `${method} ${path}`;

  const runtime: PackRuntime = {
    origin: ORIGIN,
    registry,
    pauses,
    settings,
    chunkPool: settings.recycleChunks === true ? new ChunkPool({ maxIdleBytes: 8 * (settings.memoryChunkBytes ?? DEFAULT_LIMITS.memoryChunkBytes) }) : undefined,
    flowsStarted: () => started,
    claim(method, path, owner, handler, kind = 'other') {
      const existing = routes.get(key(method, path));
      if (existing && existing.owner !== owner) return existing.owner;
      routes.set(key(method, path), { owner, handler, kind });
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
    processPaths() {
      const paths: string[] = [];
      for (const [routeKey, route] of routes) if (route.kind === 'process') paths.push(routeKey.slice(routeKey.indexOf(' ') + 1));
      return paths.sort();
    },
    owner(method, path) {
      return routes.get(key(method, path))?.owner;
    },
    dispatch(method, path, req, res) {
      if (path.startsWith(CALLBACK_PATH)) {
        void pauses.serve(method, path, req, res);
        return true;
      }
      const route = routes.get(key(method, path));
      if (!route) return false;
      route.handler(req, res);
      return true;
    },
  };
  return { runtime, install };
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
    // An error that names its failure reason (a ProtocolError from the pack) keeps it.
    const named = (event.error as { reason?: unknown }).reason;
    task.fail({ reason: isFailureReason(named) ? named : 'internal_error', message: `${label}: ${errorMessage(event.error)}`, node: label });
  });
}
