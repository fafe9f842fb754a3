// What the bench runs against: the ten servers (SERVERS) and the Engine Toolkit fields every
// request carries. Shared by run.ts (the bench), steady.ts (five of the servers) and profile.ts
// (one server under a CPU profiler).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ProcessFieldName, CHUNK_METADATA_PREFIX } from '../core';
import { CHILD_FLAGS, CHUNK_MIME, ServerChild, cpuProfFlags, type BenchServer } from './lib';
import { RUNNER_NODE_FLAGS } from '@aiware-nodered/node-red-runner';
import { PROFILE_INTERVAL_US } from './protocol';
import { RunnerChild } from './runner-child';
import { otlpSink } from './otlp-sink';
import { StockNodeRed } from './stock-nodered';
import { flowsFor, type Kind } from './servers/flows';

export type ServerKey = 'bare' | 'httpin' | 'aiware' | 'embedded' | 'runner' | 'aiwareRecycle' | 'runnerRecycle' | 'runnerUntimed' | 'runnerTraced' | 'runnerSampled';

export interface StartOptions {
  /** Write a V8 CPU profile here: of the measured window (IPC children), or of the whole run (runner). */
  cpuProfile?: string;
  /** More environment for a runner (what a setting costs: bench/pair.ts); the other servers ignore it. */
  env?: Record<string, string>;
  /** More Node flags for a runner (V8's seeds, bench/pair.ts); the other servers ignore them. */
  nodeFlags?: readonly string[];
}

export interface ServerSpec {
  key: ServerKey;
  label: string;
  /** How its CPU and RSS are read: by the child over IPC, or from /proc by the bench. */
  reports: 'ipc' | 'outside';
  start(root: string, options: StartOptions): Promise<BenchServer>;
}

function ipcServer(key: ServerKey, script: string, args: (root: string) => string[]): ServerSpec['start'] {
  return (root, options) => ServerChild.start(key, script, args(root), options.cpuProfile ? { BENCH_CPU_PROFILE: options.cpuProfile } : {});
}

/**
 * `flags`, and V8's CPU profiler writing `file` when the process exits: for a server that
 * speaks no bench protocol (the profile covers its whole run; profile.ts keeps the window).
 */
function withProfiler(flags: readonly string[], file: string | undefined): readonly string[] {
  if (!file) return flags;
  // The IPC children sample at the same interval (servers/probe.ts).
  return [...flags, ...cpuProfFlags(path.dirname(file), path.basename(file), PROFILE_INTERVAL_US)];
}

/**
 * The runner on the aiware server's very flow (servers/flows.ts), written as its build runtime
 * file; a fresh work folder per start.
 */
function runnerServer(env: Record<string, string> = {}, aiware?: Record<string, unknown>): ServerSpec['start'] {
  return (root, options) => {
    const runtimeFile = path.join(root, aiware ? 'runner-runtime-settings.json' : 'runner-runtime.json');
    fs.writeFileSync(runtimeFile, JSON.stringify(aiware ? { flows: flowsFor('aiware'), settings: { aiware } } : flowsFor('aiware')));
    // As the image starts it (RUNNER_NODE_FLAGS).
    const execArgv = withProfiler([...RUNNER_NODE_FLAGS, ...(options.nodeFlags ?? [])], options.cpuProfile);
    return RunnerChild.start('runner', { runtimeFile, workDir: fs.mkdtempSync(path.join(root, 'runner-work-')), execArgv, env: { ...env, ...options.env } });
  };
}

/**
 * The `node-red` command with the pack installed from its tarball (./stock-nodered), serving
 * `kind`'s flow; `define` is what a user would give on its command line. aiware flows are ready
 * once /readyz answers 200, the `http in` flow once Node-RED says its flows started.
 */
function stockServer(key: ServerKey, kind: Kind, define: Record<string, string> = {}): ServerSpec['start'] {
  return (root, options) => StockNodeRed.start(key, root, flowsFor(kind), { execArgv: withProfiler(CHILD_FLAGS, options.cpuProfile), define, readyPath: kind === 'aiware' ? '/readyz' : undefined });
}

export const SERVERS: ServerSpec[] = [
  { key: 'bare', label: 'bare node:http + busboy', reports: 'ipc', start: ipcServer('bare', 'bare.js', () => []) },
  { key: 'httpin', label: 'http in (multer), stock Node-RED', reports: 'outside', start: stockServer('httpin', 'httpin') },
  { key: 'aiware', label: 'the pack in a stock Node-RED', reports: 'outside', start: stockServer('aiware', 'aiware') },
  // What the runner and the tests run: runner/embedded.ts's server hands the pack's routes over before express.
  {
    key: 'embedded',
    label: "the pack in the runner's embedded Node-RED (dispatch before express)",
    reports: 'ipc',
    start: ipcServer('embedded', 'embedded.js', (root) => [fs.mkdtempSync(path.join(root, 'nr-embedded-'))]),
  },
  { key: 'runner', label: 'runner (runner/main.js)', reports: 'outside', start: runnerServer() },
  // recycleChunks (core/chunk-pool): chunk memory used again, valid until the task ends.
  { key: 'aiwareRecycle', label: 'the pack in a stock Node-RED, recycleChunks', reports: 'outside', start: stockServer('aiwareRecycle', 'aiware', { 'aiware.recycleChunks': 'true' }) },
  { key: 'runnerRecycle', label: 'runner, RUNNER_RECYCLE_CHUNKS=1', reports: 'outside', start: runnerServer({ RUNNER_RECYCLE_CHUNKS: '1' }) },
  // The cost of per-node timing (core/task/timing): the runner without it, the baseline of the same run.
  { key: 'runnerUntimed', label: 'runner, aiware.nodeTiming false', reports: 'outside', start: runnerServer({}, { nodeTiming: false }) },
  // The cost of traces (core/task/tracing, runner/tracing): every task traced, its spans sent to a collector on loopback.
  {
    key: 'runnerTraced',
    label: 'runner, traces on (every task, OTLP/HTTP to a loopback collector)',
    reports: 'outside',
    start: async (root, options) => runnerServer((await otlpSink()).env)(root, options),
  },
  {
    key: 'runnerSampled',
    label: 'runner, traces on, one task in ten sampled',
    reports: 'outside',
    start: async (root, options) => runnerServer({ ...(await otlpSink()).env, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' })(root, options),
  },
];

/** The server of `key`. */
export function specOf(key: ServerKey): ServerSpec {
  return SERVERS.find((spec) => spec.key === key)!;
}

export function startServer(spec: ServerSpec, root: string, options: StartOptions = {}): Promise<BenchServer> {
  return spec.start(root, options);
}

/** The fields Engine Toolkit sends with a chunk: the same set as simulator/emulator's workItem(). */
export function etFields(taskTmpDir: string): Record<string, string> {
  const base = 'http://127.0.0.1:9';
  const taskId = `task-${randomBytes(4).toString('hex')}`;
  const jobId = `job-${randomBytes(6).toString('hex')}`;
  const now = String(Date.now());
  // Typed as every field, so a field added to PROCESS_FIELDS must be added here too.
  const standard: Record<ProcessFieldName, string> = {
    chunkMimeType: CHUNK_MIME,
    startOffsetMS: '0',
    endOffsetMS: '10000',
    chunkIndex: '0',
    chunkUUID: randomBytes(16).toString('hex'),
    chunkTimestamp: now,
    inputFolderID: `folder-${randomBytes(4).toString('hex')}`,
    width: '1280',
    height: '720',
    libraryId: `library-${randomBytes(4).toString('hex')}`,
    libraryEngineModelId: `model-${randomBytes(4).toString('hex')}`,
    cacheURI: `${base}/cache/${taskId}`,
    veritoneApiBaseUrl: base,
    token: `token-${randomBytes(16).toString('hex')}`,
    payload: JSON.stringify({ jobId, taskId, organizationId: '1' }),
    chunkContext: `context-${randomBytes(16).toString('hex')}`,
    // A synchronous chunk task posts no heartbeats or results; these are never called.
    heartbeatWebhook: `${base}/heartbeat/${taskId}`,
    resultWebhook: `${base}/result/${taskId}`,
    externalCallbackWebhook: base,
    maxTTL: '3600',
    internalJobId: jobId,
    internalTaskId: taskId,
    // Where process-in spills a chunk over memoryChunkBytes: inside the bench's temp dir.
    taskTmpDir,
    engineDir: '/app',
    libraryModelDirectory: '/app/models',
    redisETUrl: base,
    controllerToken: `controller-${randomBytes(16).toString('hex')}`,
  };
  return {
    ...standard,
    [`${CHUNK_METADATA_PREFIX}x-aiware-chunk-timestamp`]: now,
    [`${CHUNK_METADATA_PREFIX}source`]: 'aiware-bench',
  };
}
