// One real Node-RED (with this pack) and one toolkit emulator for the whole test run, both on
// loopback. Each test deploys its own flow; a full deploy stops the previous test's flow first.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedNodeRed, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { Conditions } from './conditions';

/** What function nodes in test flows can reach: `global.get('capture')(msg)`. */
export const captured: Record<string, unknown>[] = [];
/** A test may look at each captured message as the flow runs (before its task ends). */
export const captureHooks: { onCapture?: (msg: Record<string, unknown>) => void } = {};

/** What Node-RED logged at warn or worse: `{ level, id, type, msg }` (20 error, 30 warn). */
export const logged: { level: number; id?: string; type?: string; msg: unknown }[] = [];
/** Checked on each line logged: `loggedWhen(holds)` waits for a line. */
const logConditions = new Conditions();
export const loggedWhen = (holds: () => boolean): Promise<void> => logConditions.when(holds);

/**
 * Settings that keep tests quick: heartbeats every 100 ms, retries from 20 ms, a task the flow
 * forgets failed 300 ms after its last message (every suite runs with it: a flow of any test that
 * the pack took for one that forgot its task would fail that test).
 */
export const FLOW_END_GRACE_MS = 300;
export const TEST_AIWARE = {
  heartbeatIntervalMs: 100,
  flowEndGraceMs: FLOW_END_GRACE_MS,
  finalHeartbeatGraceMs: 2000,
  retry: { initialDelayMs: 20, maxDelayMs: 200, requestTimeoutMs: 5000 },
  memoryChunkBytes: 256 * 1024,
  maxBodyBytes: 16 * 1024 * 1024,
};

/** Where the shared Node-RED serves its editor and admin API. */
export const ADMIN_ROOT = '/admin';

interface Harness {
  red: EmbeddedNodeRed;
  toolkit: ToolkitEmulator;
  userDir: string;
  processUrl: string;
}

let harness: Promise<Harness> | undefined;

export function engine(): Promise<Harness> {
  harness ??= (async () => {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-test-nr-'));
    const toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
    const red = await EmbeddedNodeRed.start({
      userDir,
      aiware: TEST_AIWARE,
      settings: {
        // The editor and admin API at /admin (no login: loopback only), for the try-it route and the browser test.
        httpAdminRoot: ADMIN_ROOT,
        disableEditor: false,
        editorTheme: { tours: false, palette: { catalogues: [] } },
        telemetry: { enabled: false, updateNotification: false },
        logging: {
          console: { level: process.env.NODE_RED_LOG ?? 'off', metrics: false, audit: false },
          capture: {
            level: 'warn',
            metrics: false,
            audit: false,
            handler: () => (entry: (typeof logged)[number]) => {
              logged.push(entry);
              logConditions.check();
            },
          },
        },
        functionGlobalContext: {
          capture: (msg: Record<string, unknown>) => {
            // A shallow copy: later nodes replace msg.payload on the same object.
            captured.push({ ...msg });
            captureHooks.onCapture?.(msg);
          },
        },
      },
    });
    return { red, toolkit, userDir, processUrl: `${red.url}/process` };
  })();
  return harness;
}

/** Deploys `nodes` as the only flow (a tab is added) and clears what was captured. */
export async function deploy(nodes: FlowConfig): Promise<Harness> {
  const h = await engine();
  captured.length = 0;
  logged.length = 0;
  captureHooks.onCapture = undefined;
  await h.red.deploy(onTestTab(nodes));
  return h;
}

/** A test flow's nodes on one tab, laid out in a row (the editor test shows them). */
export function onTestTab(nodes: FlowConfig): FlowConfig {
  return [{ id: 'tab', type: 'tab', label: 'test' }, ...nodes.map((n, i) => ({ z: 'tab', x: 100 + 150 * i, y: 100, ...n }))];
}

export async function stopEngine(): Promise<void> {
  if (!harness) return;
  const h = await harness;
  harness = undefined;
  await h.red.stop();
  await h.toolkit.stop();
  fs.rmSync(h.userDir, { recursive: true, force: true });
}

// Small builders for the nodes of a test flow.
let ids = 0;
const nextId = (prefix: string) => `${prefix}${++ids}`;

export function processIn(props: Record<string, unknown>, wires: string[] = []): Record<string, unknown> {
  return { id: nextId('in'), type: 'aiware-process-in', url: '/process', readyUrl: '/readyz', engineType: 'chunk', respond: 'sync', ...props, wires: [wires] };
}

export function fn(id: string, func: string, wires: string[][] = [[]], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type: 'function', name: id, func, outputs: wires.length, wires, ...extra };
}

export function resultOut(id: string, props: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type: 'aiware-result-out', property: 'payload', completes: 'default', validate: true, ...props, wires: [] };
}

export function heartbeat(id: string, props: Record<string, unknown> = {}, wires: string[] = []): Record<string, unknown> {
  return { id, type: 'aiware-heartbeat', status: 'complete', failureReason: 'internal_error', ...props, wires: [wires] };
}

/** An aiware-keys node (get the job's `wordCount` into msg.count unless `props` say otherwise). */
export function keyNode(id: string, props: Record<string, unknown>, wires: string[][] = [[], []]): Record<string, unknown> {
  return { id, type: 'aiware-keys', action: 'get', scope: 'job', key: 'wordCount', property: 'count', ttl: '', localStore: false, ...props, wires };
}

/** An aiware-library-model node that fetches the task's model from the toolkit's model server unless `props` say otherwise. */
export function modelNode(id: string, props: Record<string, unknown>, wires: string[][] = [[], []]): Record<string, unknown> {
  return {
    id,
    type: 'aiware-library-model',
    action: 'fetch',
    source: 'url',
    url: '{veritoneApiBaseUrl}/models/{libraryId}/{libraryEngineModelId}',
    property: 'payload',
    directory: '',
    ...props,
    wires,
  };
}

/** A VTN-standard transcript output with one word, built inside a function node. */
export const TRANSCRIPT_FROM_TEXT = `
const text = Buffer.isBuffer(msg.payload) ? msg.payload.toString('utf8') : String(msg.payload);
msg.payload = {
  validationContracts: ['transcript'],
  series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word: text.trim(), confidence: 1 }] }],
};
return msg;`;

/** A stream engine's function: one transcript result a line of the stream, the last completing the task. */
export const STREAM_SPLIT = `
const lines = msg.payload.split('\\n').filter(Boolean);
return [lines.map((line, i) => ({
  aiware: msg.aiware,
  startOffsetMs: i * 1000,
  endOffsetMs: (i + 1) * 1000,
  completeTask: i === lines.length - 1,
  payload: { validationContracts: ['transcript'], series: [{ startTimeMs: i * 1000, stopTimeMs: (i + 1) * 1000, words: [{ word: line }] }] },
}))];`;
