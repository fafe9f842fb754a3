// Node-RED embedded in an HTTP server of our own, with this pack loaded from its package
// folder: what the tests, `npm start` and (next) the runner use to run an engine's flows.
import * as http from 'node:http';
import * as path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { dispatchDirect, type AiwareSettings } from '../nodes/shared/runtime';

/** A flow export: the array of node objects the editor's Export gives. */
export type FlowConfig = Record<string, unknown>[];

export interface EmbeddedOptions {
  /** Node-RED's user directory (flows file, context, installed modules). */
  userDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  flows?: FlowConfig;
  /** The pack's `aiware` settings (heartbeat interval, limits, retry policy). */
  aiware?: AiwareSettings;
  /** Node-RED's own log level: off, fatal, error, warn, info, debug. */
  logLevel?: string;
  /** More Node-RED settings, merged last. */
  settings?: Record<string, unknown>;
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

/** The package folder: Node-RED loads it as a node module through `nodesDir`. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

interface NodeRedModule {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpNode: express.Express;
  events: NodeJS.EventEmitter;
  runtime: { flows: { setFlows(opts: { flows: { flows: FlowConfig }; deploymentType?: string }): Promise<unknown> } };
}

export class EmbeddedNodeRed {
  private stopped = false;

  private constructor(
    private readonly RED: NodeRedModule,
    readonly server: http.Server,
    readonly url: string,
  ) {}

  /** Starts Node-RED and resolves once its flows run (`flows:started`). One per process. */
  static async start(options: EmbeddedOptions): Promise<EmbeddedNodeRed> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const RED = require('node-red') as NodeRedModule;
    const app = express();
    app.disable('x-powered-by');
    // The pack's own routes (/process, /readyz) are served before express sees the request.
    const server = http.createServer((req, res) => {
      if (!dispatchDirect(req, res)) app(req, res);
    });
    server.keepAliveTimeout = 65_000;
    RED.init(server, {
      userDir: options.userDir,
      flowFile: 'flows.json',
      credentialSecret: false,
      httpAdminRoot: false,
      httpNodeRoot: '/',
      disableEditor: true,
      nodesDir: [PACKAGE_ROOT],
      logging: { console: { level: options.logLevel ?? 'warn', metrics: false, audit: false } },
      aiware: options.aiware ?? {},
      // Flows from the runtime file only: a flows.json left in userDir must not start first.
      ...options.settings,
    });
    app.use('/', RED.httpNode);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
    await once(server, 'listening');
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const embedded = new EmbeddedNodeRed(RED, server, `http://${host}:${address.port}`);
    const started = once(RED.events, 'flows:started');
    await RED.start();
    await started;
    if (options.flows) await embedded.deploy(options.flows);
    return embedded;
  }

  /** Replaces every flow (a full deploy) and resolves once the new flows have started. */
  async deploy(flows: FlowConfig): Promise<void> {
    const started = once(this.RED.events, 'flows:started');
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
