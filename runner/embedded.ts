// Node-RED embedded in an HTTP server of our own, with the aiWARE pack loaded from its package
// folder and its runtime handed back through the settings: what the runner, the tests and the
// bench use to run an engine's flows.
import * as http from 'node:http';
import * as path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RuntimeHandle, type AiwareSettings } from '@aiware-nodered/node-red-aiware';

/** A flow export: the array of node objects the editor's Export gives. */
export type FlowConfig = Record<string, unknown>[];

/** Flow entries that arrange nodes rather than run: no module provides them, and Node-RED starts none as a node. */
export const STRUCTURAL_TYPES: ReadonlySet<string> = new Set(['tab', 'subflow', 'group', 'junction']);

/** The pack's folder, wherever npm put it: Node-RED loads it as a node module through `nodesDir`. */
export const PACK_DIR = path.dirname(require.resolve('@aiware-nodered/node-red-aiware/package.json'));

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface NodeRedModule {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpNode: Handler;
  httpAdmin: Handler;
  events: NodeJS.EventEmitter;
  /** Node-RED's message hooks (`onComplete.<label>` and the rest). */
  hooks?: { add(name: string, hook: (event: unknown) => void): void; remove(name: string): void };
  nodes: { getNode(id: string): unknown };
  runtime: { flows: { setFlows(opts: { flows: { flows: FlowConfig }; deploymentType?: string }): Promise<unknown> } };
}

type Express = () => Handler & { use(path: string, handler: Handler): void; disable(name: string): void };

// express comes with node-red: the pack does not depend on either, the runner uses Node-RED's.
function loadNodeRed(): { RED: NodeRedModule; express: Express } {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const RED = require('node-red') as NodeRedModule;
  const express = require(require.resolve('express', { paths: [path.dirname(require.resolve('node-red'))] })) as Express;
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { RED, express };
}

export interface NodeRedSettingsOptions {
  /** Node-RED's user directory (flows file, context, installed modules). */
  userDir: string;
  /** The pack's `aiware` settings (heartbeat interval, limits, retry policy). */
  aiware?: AiwareSettings;
  /** Receives the pack's runtime when Node-RED loads the nodes. */
  handle: RuntimeHandle;
  /** Node-RED's own console log level: off, fatal, error, warn, info, debug. */
  logLevel?: string;
  /** More folders of node modules (each holding node_modules/). */
  moduleDirs?: string[];
  /** More Node-RED settings, merged last. */
  settings?: Record<string, unknown>;
}

/** Settings for a headless Node-RED: no editor, nodes at `/`, this pack loaded. */
export function nodeRedSettings(options: NodeRedSettingsOptions): Record<string, unknown> {
  return {
    userDir: options.userDir,
    flowFile: 'flows.json',
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: '/',
    disableEditor: true,
    nodesDir: [PACK_DIR, ...(options.moduleDirs ?? [])],
    logging: { console: { level: options.logLevel ?? 'warn', metrics: false, audit: false } },
    ...options.settings,
    // The build's own `aiware` settings, the host's over them, and the handle always.
    aiware: { ...(options.settings?.aiware as AiwareSettings | undefined), ...options.aiware, host: options.handle },
  };
}

/**
 * Initialises Node-RED on `server` and gives the handler for what the pack does not serve
 * itself: the editor and admin API (when `httpAdminRoot` is set) and Node-RED's HTTP nodes.
 */
export function initNodeRed(server: http.Server, settings: Record<string, unknown>): { RED: NodeRedModule; app: Handler } {
  const { RED, express } = loadNodeRed();
  RED.init(server, settings);
  const app = express();
  app.disable('x-powered-by');
  if (typeof settings.httpAdminRoot === 'string') app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use('/', RED.httpNode);
  return { RED, app };
}

/** Resolves on `flows:started`; rejects when Node-RED says the flows cannot start. */
export function flowsStarted(RED: NodeRedModule, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`the flows did not start within ${timeoutMs / 1000} s`)), timeoutMs);
    const onStarted = () => finish();
    const onRuntimeEvent = (event: { id?: string; payload?: { error?: string; types?: string[]; modules?: unknown[]; text?: string } }) => {
      const error = event.payload?.error;
      if (event.id !== 'runtime-state' || !error) return;
      if (error === 'missing-types') finish(new MissingTypesError(event.payload?.types ?? []));
      else if (error === 'missing-modules') finish(new Error(`the flows need modules that are not installed: ${JSON.stringify(event.payload?.modules)}`));
      else finish(new Error(`Node-RED cannot start the flows: ${error} (${event.payload?.text ?? ''})`));
    };
    function finish(err?: Error): void {
      clearTimeout(timer);
      RED.events.off('flows:started', onStarted);
      RED.events.off('runtime-event', onRuntimeEvent);
      if (err) reject(err);
      else resolve();
    }
    RED.events.on('flows:started', onStarted);
    RED.events.on('runtime-event', onRuntimeEvent);
  });
}

export class MissingTypesError extends Error {
  readonly types: string[];

  constructor(types: string[]) {
    const sorted = [...types].sort();
    super(`the flows use node types no installed module provides: ${sorted.join(', ')}`);
    this.name = 'MissingTypesError';
    this.types = sorted;
  }
}

export interface EmbeddedOptions extends Omit<NodeRedSettingsOptions, 'handle'> {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  flows?: FlowConfig;
}

/** A whole embedded Node-RED for tests and the demo: server, runtime, flows. One per process. */
export class EmbeddedNodeRed {
  private stopped = false;

  private constructor(
    private readonly RED: NodeRedModule,
    readonly server: http.Server,
    readonly url: string,
    /** The pack's runtime (tasks, routes) inside this Node-RED. */
    readonly handle: RuntimeHandle,
  ) {}

  /** Starts Node-RED and resolves once its flows run (`flows:started`). */
  static async start(options: EmbeddedOptions): Promise<EmbeddedNodeRed> {
    const handle = new RuntimeHandle();
    const express: { app?: Handler } = {};
    // The pack's own routes (/process, /readyz, callbacks) are served before express sees the request.
    const server = http.createServer((req, res) => {
      if (handle.dispatch(req, res)) return;
      if (express.app) express.app(req, res);
      else res.writeHead(503).end();
    });
    server.keepAliveTimeout = 65_000;
    // Listening first: the address is the base of the pack's callback URLs.
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
    await once(server, 'listening');
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    const init = initNodeRed(server, nodeRedSettings({ ...options, aiware: { callbackBaseUrl: url, ...options.aiware }, handle }));
    express.app = init.app;
    const embedded = new EmbeddedNodeRed(init.RED, server, url, handle);
    const started = flowsStarted(init.RED);
    await init.RED.start();
    await started;
    if (handle.conflict) throw handle.conflict;
    if (options.flows) await embedded.deploy(options.flows);
    return embedded;
  }

  /** Replaces every flow (a full deploy) and resolves once the new flows have started. */
  async deploy(flows: FlowConfig): Promise<void> {
    const started = flowsStarted(this.RED);
    await this.RED.runtime.flows.setFlows({ flows: { flows }, deploymentType: 'full' });
    await started;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.RED.stop();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The nodes of `flows` that Node-RED has not started. A flow whose start throws (two config nodes
 * naming each other, say) is only printed by Node-RED, which then reports its flows started all the
 * same; a node whose constructor throws is logged and left out. Disabled nodes, the nodes of disabled
 * tabs and those inside subflow templates (started per instance) are not expected to run.
 */
export function nodesNotStarted(RED: NodeRedModule, flows: FlowConfig): FlowConfig {
  const idle = new Set(flows.filter((n) => n.type === 'subflow' || (n.type === 'tab' && n.disabled === true)).map((n) => n.id));
  return flows.filter((n) => !STRUCTURAL_TYPES.has(n.type as string) && n.d !== true && !idle.has(n.z) && !RED.nodes.getNode(n.id as string));
}

/**
 * Node-RED takes a node with no `x` and `y` for a config node: it is created, but a wire into it
 * may find a config node on the way and stop start-up ("Circular config node dependency"), or the
 * node never gets a message. Hand-written runtime files leave positions out, so a node with
 * `wires` (no config node has them) and no position gets one.
 */
export function withPositions(flows: FlowConfig): FlowConfig {
  let row = 0;
  return flows.map((n) => (Array.isArray(n.wires) && (n.x === undefined || n.y === undefined) ? { x: 200, y: 40 * ++row, ...n } : n));
}

/**
 * An exported flow ready to deploy: nodes exported without their tab (as the editor's
 * Import > Examples gives them) are put on one.
 */
export function onOneTab(flows: FlowConfig, label = 'engine'): FlowConfig {
  const hasTab = flows.some((n) => n.type === 'tab');
  if (hasTab || flows.every((n) => n.z !== undefined)) return flows;
  const tab = { id: 'aiware-engine-tab', type: 'tab', label };
  return [tab, ...flows.map((n) => (n.z === undefined ? { ...n, z: tab.id } : n))];
}
