// What the pack's nodes share inside one Node-RED: the task registry, the readiness of the
// flows, the /process routes, and the message hooks that fail a task when a node fails and count
// each task's messages in flight. A host that embeds Node-RED gets this runtime through the handle
// it puts in the settings (core/host).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import {
  nodeLabel,
  BodyRateGuard,
  DEFAULT_BODY_RATE,
  TaskRegistry,
  type Task,
  FlowEndWatch,
  NodeTiming,
  TaskTracing,
  flowEndGrace,
  taskName,
  type Idle,
  ChunkPool,
  DEFAULT_LIMITS,
  errorMessage,
  ProtocolError,
  sendJsonError,
  type AiwareSettings,
  type PackRuntime,
  type RouteHandler,
  type RouteKind,
  WebhookClient,
  CALLBACK_PATH,
  PauseService,
  isFailureReason,
} from '../../core';
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
      // Each attempt's time, for a host's metrics (the runner's /metrics).
      onCall: (event) => registry.emit('call', event),
    }),
  });
  registry.on('warning', (task: { id: string }, text: string) => RED.log.warn(`[aiware] task ${task.id}: ${text}`));
  const grace = flowEndGrace(settings.flowEndGraceMs);
  if (grace.problem) RED.log.warn(`[aiware] ${grace.problem}`);
  const flowEnd = new FlowEndWatch<Node>(registry, grace.graceMs);
  // Said by the node that dropped the last message: the debug sidebar links to it.
  flowEnd.on('idle', (_task: Task, idle: Idle<Node>) => idle.node.warn(idle.text));
  flowEnd.on('busy', (task: Task, node: Node) => node.log(`${taskName(task)}: a message of it is back in the flow at ${nodeLabel(node)}: the warning is withdrawn`));

  const hooksAvailable = Boolean((RED as unknown as { hooks?: unknown }).hooks);
  const timing = settings.nodeTiming !== false && hooksAvailable ? new NodeTiming(registry) : undefined;
  const tracing = new TaskTracing(registry);

  let started = false;
  const pauses = new PauseService({
    registry,
    stateDir: settings.stateDir ?? defaultStateDir(RED),
    secret: settings.callbackSecret,
    maxBodyBytes: settings.maxCallbackBytes,
    callbackHoldMs: settings.callbackHoldMs,
    flowsStarted: () => started,
    warn: (text) => RED.log.warn(`[aiware] ${text}`),
  });
  // A body that trickles is cut (408) once past its grace, on the pack's routes only (dispatch).
  const bodyRate = new BodyRateGuard({ minBytesPerSecond: settings.minBodyRate ?? DEFAULT_BODY_RATE.minBytesPerSecond, graceMs: settings.minBodyRateGraceMs ?? DEFAULT_BODY_RATE.graceMs }, (slow) =>
    RED.log.warn(
      `[aiware] ${slow.path}: a request body from ${slow.remoteAddress ?? 'a client'} came too slowly (${slow.bytes} bytes in ${slow.seconds} s, below minBodyRate): answered 408, connection closed`,
    ),
  );
  // Express's way in to the callback URLs and the pack's routes: the host's way in (dispatch) once the middleware has run.
  const serveCallback = (req: IncomingMessage, res: ServerResponse): void => {
    if (!bodyTaken(req, res)) runtime.dispatch((req.method ?? 'GET').toLowerCase(), pathOf(req.url), req, res);
  };
  // What a stock Node-RED runs before the pack's routes, as it does before `http in`'s.
  const middleware = [leaveBodyToPack, ...httpNodeMiddleware(RED)];

  const install = (): void => {
    RED.events.on('flows:started', () => {
      started = true;
      // A deploy brings new nodes: the totals are of the flows running now.
      timing?.reset();
      pauses.started();
    });
    RED.events.on('flows:stopping', () => {
      started = false;
    });
    installMessageHooks(RED, registry, flowEnd, timing, tracing);
    // The callback URLs, for a Node-RED whose HTTP nodes express serves (a host may dispatch them first).
    const callbackRoute = new RegExp(`^${CALLBACK_PATH.replace(/\//g, '\\/')}.+`);
    RED.httpNode.get(callbackRoute, ...middleware, serveCallback);
    RED.httpNode.post(callbackRoute, ...middleware, serveCallback);
    keepBodiesFromParsers(RED, (path) => path.startsWith(CALLBACK_PATH) || routes.has(key('post', path)));
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
    flowEnd,
    timing,
    tracing,
    settings,
    chunkPool: settings.recycleChunks === true ? new ChunkPool({ maxIdleBytes: 8 * (settings.memoryChunkBytes ?? DEFAULT_LIMITS.memoryChunkBytes) }) : undefined,
    flowsStarted: () => started,
    claim(method, path, owner, handler, kind = 'other') {
      const existing = routes.get(key(method, path));
      if (existing && existing.owner !== owner) return existing.owner;
      routes.set(key(method, path), { owner, handler, kind });
      if (!mounted.has(key(method, path))) {
        mounted.add(key(method, path));
        RED.httpNode[method](path, ...middleware, (req: IncomingMessage, res: ServerResponse, next: () => void) => {
          if (!routes.has(key(method, path))) next();
          else if (!bodyTaken(req, res)) runtime.dispatch(method, path, req, res);
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
      const callback = path.startsWith(CALLBACK_PATH);
      const route = callback ? undefined : routes.get(key(method, path));
      if (!callback && !route) return false;
      // A body that trickles is cut once past its grace, on every way in to the pack's routes.
      if (method === 'post') bodyRate.watch(req, res, path);
      if (route) route.handler(req, res);
      else void pauses.serve(method, path, req, res);
      return true;
    },
  };
  return { runtime, install };
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** A URL's path, without its query. */
function pathOf(url: string | undefined): string {
  const query = (url ?? '').indexOf('?');
  return query < 0 ? (url ?? '') : (url ?? '').slice(0, query);
}

/**
 * The settings' `httpNodeMiddleware` (a function or an array of them), which a stock Node-RED
 * runs before each `http in` route: the pack runs it before its own routes too (authentication,
 * request logs). The runner dispatches the pack's routes before express, without it.
 */
function httpNodeMiddleware(RED: NodeAPI): Middleware[] {
  const given = (RED.settings as unknown as { httpNodeMiddleware?: unknown }).httpNodeMiddleware;
  const list = Array.isArray(given) ? (given as unknown[]) : [given];
  return list.filter((fn): fn is Middleware => typeof fn === 'function');
}

/**
 * Marks the body as read, as express's body parsers do once they have parsed one: a parser in
 * the user's middleware then leaves the stream to the pack, which reads it as it arrives.
 */
const leaveBodyToPack: Middleware = (req, _res, next) => {
  (req as { _body?: boolean })._body = true;
  next();
};

/** A body something before the pack read: answered with the pack's JSON error, instead of waiting for bytes that will not come. */
function bodyTaken(req: IncomingMessage, res: ServerResponse): boolean {
  if (!req.readableEnded || req.method === 'GET') return false;
  sendJsonError(res, new ProtocolError(500, 'the request body was read before the aiWARE route got it: a middleware before it (httpNodeMiddleware, httpAdminMiddleware) consumed the stream'));
  return true;
}

/**
 * A stock Node-RED mounts its editor and admin API at `/` (its default `httpAdminRoot`) ahead of
 * the flows' routes, and the admin app parses every JSON and form body it sees: a work item or a
 * callback posted as JSON would reach the pack already read (and a truncated one would get
 * Node-RED's HTML 400). The nodes' `RED.httpAdmin` is mounted inside that admin app, after its
 * parsers, so the layer goes first in the app that mounts the flows' routes (the top of
 * `RED.httpNode`'s parents): it marks the pack's own requests as read, and every body parser
 * passes them on untouched. Express 4 (Node-RED 4.1 and 5) keeps an app's layers in
 * `_router.stack`; where it does not, nothing moves and `bodyTaken` answers instead of a hang.
 */
function keepBodiesFromParsers(RED: NodeAPI, owns: (path: string) => boolean): void {
  interface App {
    parent?: App;
    use?(fn: Middleware): unknown;
    _router?: { stack?: unknown[] };
  }
  let top = (RED.httpNode as unknown as App | undefined)?.parent;
  while (top?.parent) top = top.parent;
  if (typeof top?.use !== 'function') return;
  const root = (RED.settings as unknown as { httpNodeRoot?: unknown }).httpNodeRoot;
  const prefix = typeof root === 'string' ? root.replace(/\/+$/, '') : '';
  top.use((req, res, next) => {
    const url = pathOf(req.url);
    if (req.method === 'POST' && url.startsWith(prefix) && owns(url.slice(prefix.length) || '/')) return leaveBodyToPack(req, res, next);
    next();
  });
  const stack = top._router?.stack;
  if (Array.isArray(stack)) stack.unshift(stack.pop());
}

/** The node as the message hooks see it: Node-RED's own fields for its input handlers. */
type HookNode = Node & { _expectedDoneCount?: number; _inputCallback?: unknown; _inputCallbacks?: unknown };

interface CompleteEvent {
  msg: NodeMessage;
  error?: unknown;
  node: { id: string; node: HookNode };
}

interface SendEvent {
  msg: NodeMessage;
  source: { node: HookNode };
  destination: { node?: HookNode };
}

interface ReceiveEvent {
  msg: NodeMessage;
  destination: { node: HookNode };
}

/**
 * Nodes whose input handler takes no `done` and has finished with the message when it returns:
 * core's switch and rbe, a subflow's instance and status nodes (which pass it on at once), and a
 * node with no input handler at all. Any other such node keeps the message in flight for good: it
 * may still send it on later, so its task is left to maxTTL rather than failed for a slow node.
 */
function completesOnReturn(node: HookNode): boolean {
  if (node._expectedDoneCount !== 0) return false;
  const type = String(node.type);
  return type === 'switch' || type === 'rbe' || type.startsWith('subflow:') || type === 'subflow-status' || (!node._inputCallback && !node._inputCallbacks);
}

/** A node that never completes a message (it takes no `done`, and does not finish when its handler returns): it lets go of one when it sends. */
function neverCompletes(node: HookNode): boolean {
  return node._expectedDoneCount === 0 && !completesOnReturn(node);
}

/**
 * The message hooks. A node that calls `done(err)` on a task's message fails that task with
 * `internal_error`: Node-RED runs the `onComplete` hook for `done(err)` (the pack's own nodes have
 * failed the task with their reason before, nodes/shared/task-node.ts); a node that throws from its
 * input handler is reported only through `node.error`, which no hook sees: such a task fails when
 * its time runs out, or at once when a Catch node is wired to an `aiware-heartbeat` (see the
 * README). And each task message's deliveries (`preDeliver`, after the clone for a second wire),
 * receptions (`onReceive`) and completions (`onComplete`) go to `flowEnd`, and with its sends
 * (`onSend`) to `timing`; a message with no task costs one property read. A hook never throws: an
 * error in it would drop the user's message.
 */
function installMessageHooks(RED: NodeAPI, registry: TaskRegistry, flowEnd: FlowEndWatch<Node>, timing: NodeTiming | undefined, tracing: TaskTracing): void {
  const hooks = (RED as unknown as { hooks?: { add(name: string, fn: (event: never) => void): void } }).hooks;
  if (!hooks) {
    RED.log.warn('[aiware] RED.hooks is not available: a node outside this pack that fails a message fails its task only when maxTTL passes, and so does a flow that forgets to end one');
    return;
  }
  const guarded =
    <E>(fn: (event: E) => void) =>
    (event: E): void => {
      try {
        fn(event);
      } catch (err) {
        RED.log.debug(`[aiware] message hook: ${errorMessage(err)}`);
      }
    };
  // Node-RED hands the hook every message of one send; all of them leave the same node.
  hooks.add(
    'onSend.aiware',
    guarded((events: SendEvent[]) => {
      for (const event of events) {
        const taskId = taskIdOf(event.msg);
        if (taskId === undefined) continue;
        const from = event.source.node;
        if (neverCompletes(from)) {
          timing?.completed(taskId, from);
          tracing.completed(taskId, from);
        }
        timing?.sent(taskId, from);
      }
    }),
  );
  hooks.add(
    'preDeliver.aiware',
    guarded((event: SendEvent) => {
      const taskId = taskIdOf(event.msg);
      if (taskId === undefined) return;
      flowEnd.delivered(event.msg, taskId, event.source.node);
      if (timing && event.destination.node) timing.delivered(taskId, event.destination.node);
    }),
  );
  hooks.add(
    'onReceive.aiware',
    guarded((event: ReceiveEvent) => {
      const taskId = taskIdOf(event.msg);
      if (taskId === undefined) return;
      flowEnd.received(event.msg, taskId, event.destination.node);
      timing?.received(taskId, event.destination.node);
      tracing.received(taskId, event.destination.node);
    }),
  );
  hooks.add(
    'postReceive.aiware',
    guarded((event: ReceiveEvent) => {
      if (!completesOnReturn(event.destination.node)) return;
      flowEnd.completed(event.msg, event.destination.node);
      completedFor(timing, tracing, event.msg, event.destination.node);
    }),
  );
  hooks.add(
    'onComplete.aiware',
    guarded((event: CompleteEvent) => {
      if (event.error !== undefined && event.error !== null) failTask(registry, flowEnd, event);
      flowEnd.completed(event.msg, event.node.node);
      completedFor(timing, tracing, event.msg, event.node.node);
    }),
  );
}

function completedFor(timing: NodeTiming | undefined, tracing: TaskTracing, msg: NodeMessage, node: HookNode): void {
  const taskId = taskIdOf(msg);
  if (taskId === undefined) return;
  timing?.completed(taskId, node);
  tracing.completed(taskId, node);
}

function failTask(registry: TaskRegistry, flowEnd: FlowEndWatch<Node>, event: CompleteEvent): void {
  const task = registry.get(taskIdOf(event.msg));
  if (!task) return;
  const label = nodeLabel(event.node.node);
  // An error that names its failure reason (a ProtocolError from the pack) keeps it.
  const named = (event.error as { reason?: unknown }).reason;
  task.fail({ reason: isFailureReason(named) ? named : 'internal_error', message: `${label}: ${errorMessage(event.error)}`, node: label, by: flowEnd.ender(event.node.node, event.msg) });
}
