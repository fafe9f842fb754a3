// pause-for-callback's service without Node-RED, for core/pause's own tests: a task registry whose
// webhooks go to the toolkit emulator, a pause service on a state folder of its own, its callback
// URLs served by a plain loopback server, and a pause node that records what the service asks of it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { CALLBACK_PATH, parseProcessFields, PauseService, TaskRegistry, WebhookClient, type PauseNode, type Task, type WaitError, type WaitRecord } from '../../core';
import { Conditions } from './conditions';
import { serve, type Loopback } from './loopback';

/** A pause node that records each resume and each failure (output 3 wired unless told otherwise). */
export class RecordingNode implements PauseNode {
  readonly resumed: { wait: WaitRecord; callback: unknown }[] = [];
  readonly failures: WaitError[] = [];
  changes = 0;
  private readonly conditions = new Conditions();

  constructor(
    readonly id = 'pause-1',
    private readonly outputThree = true,
  ) {}

  resume(wait: WaitRecord, _task: Task, callback: unknown): void {
    this.resumed.push({ wait, callback });
    this.conditions.check();
  }

  failed(_wait: WaitRecord, _task: Task, error: WaitError): boolean {
    this.failures.push(error);
    this.conditions.check();
    return this.outputThree;
  }

  changed(): void {
    this.changes++;
  }

  /** Resolves once `holds` does. */
  until(holds: () => boolean): Promise<void> {
    return this.conditions.when(holds);
  }
}

export interface PauseHarness {
  toolkit: ToolkitEmulator;
  registry: TaskRegistry;
  service: PauseService;
  stateDir: string;
  /** The callback URLs' base: a loopback server routing CALLBACK_PATH to the service. */
  base: string;
  warnings: string[];
  /** An asynchronous stream task reporting to the emulator. */
  openTask(fields?: Record<string, string>): Task;
  stop(): Promise<void>;
}

export async function startPause(options: { maxBodyBytes?: number; stateDir?: string } = {}): Promise<PauseHarness> {
  const toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  const registry = new TaskRegistry({ settings: { heartbeatIntervalMs: 60_000 }, client: new WebhookClient({ retry: { initialDelayMs: 20, maxDelayMs: 200 } }) });
  const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-pause-core-'));
  const warnings: string[] = [];
  const service = new PauseService({ registry, stateDir, maxBodyBytes: options.maxBodyBytes, flowsStarted: () => true, warn: (text) => warnings.push(text) });
  const server: Loopback = await serve((req, res) => {
    if ((req.url ?? '').startsWith(CALLBACK_PATH)) void service.serve(req.method ?? 'GET', req.url!, req, res);
    else res.writeHead(404).end();
  });
  return {
    toolkit,
    registry,
    service,
    stateDir,
    base: server.url,
    warnings,
    openTask: (fields = {}) => {
      const item = toolkit.workItem(fields);
      return registry.open({ parsed: parseProcessFields(item.fields), engineType: 'stream', respond: 'async', owner: 'pause-core-test' });
    },
    stop: async () => {
      for (const task of registry.list()) task.fail({ reason: 'other', message: 'the test ended' });
      await registry.drain(2000);
      await server.close();
      await toolkit.stop();
      if (!options.stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** POSTs `body` (JSON unless a Content-Type says otherwise) and gives the status and JSON answer. */
export async function call(
  url: string,
  body?: unknown,
  headers: Record<string, string> = { 'Content-Type': 'application/json' },
  method = 'POST',
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}
