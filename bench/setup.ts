// What the bench runs against: the four servers and the Engine Toolkit fields every request
// carries. Shared by run.ts (the bench) and profile.ts (one server under a CPU profiler).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProcessFieldName } from '../core/fields';
import { CHUNK_METADATA_PREFIX } from '../core/protocol';
import { ServerChild, type BenchServer } from './lib';
import { RUNNER_NODE_FLAGS } from '@aiware-nodered/node-red-runner';
import { RunnerChild } from './runner-child';
import { flowsFor } from './servers/flows';

/** Binary, as a media chunk is: process-in hands it to the flow as a Buffer, not decoded text. */
export const CHUNK_MIME = 'audio/wav';

export type ServerKey = 'bare' | 'httpin' | 'aiware' | 'runner' | 'aiwareRecycle' | 'runnerRecycle';

export interface StartOptions {
  /** Write a V8 CPU profile here: of the measured window (IPC children), or of the whole run (runner). */
  cpuProfile?: string;
}

export interface ServerSpec {
  key: ServerKey;
  label: string;
  /** How its CPU and RSS are read: by the child over IPC, or from /proc by the bench. */
  reports: 'ipc' | 'outside';
  start(root: string, options: StartOptions): Promise<BenchServer>;
}

/** Sampling interval of the CPU profiler, µs (the IPC children use the same: servers/probe.ts). */
export const PROFILE_INTERVAL_US = 250;

function ipcServer(key: ServerKey, script: string, args: (root: string) => string[]): ServerSpec['start'] {
  return (root, options) => ServerChild.start(key, script, args(root), options.cpuProfile ? { BENCH_CPU_PROFILE: options.cpuProfile } : {});
}

/**
 * The runner on the aiware server's very flow (servers/flows.ts), written as its build runtime
 * file; a fresh work folder per start.
 */
function startRunner(env: Record<string, string> = {}): ServerSpec['start'] {
  return (root, options) => {
    const runtimeFile = path.join(root, 'runner-runtime.json');
    fs.writeFileSync(runtimeFile, JSON.stringify(flowsFor('aiware')));
    // As the image starts it (RUNNER_NODE_FLAGS), and under the profiler when asked.
    const execArgv = options.cpuProfile
      ? [
          ...RUNNER_NODE_FLAGS,
          '--cpu-prof',
          '--cpu-prof-dir',
          path.dirname(options.cpuProfile),
          '--cpu-prof-name',
          path.basename(options.cpuProfile),
          '--cpu-prof-interval',
          String(PROFILE_INTERVAL_US),
        ]
      : RUNNER_NODE_FLAGS;
    return RunnerChild.start('runner', { runtimeFile, workDir: fs.mkdtempSync(path.join(root, 'runner-work-')), execArgv, env });
  };
}

export const SERVERS: ServerSpec[] = [
  { key: 'bare', label: 'bare node:http + busboy', reports: 'ipc', start: ipcServer('bare', 'bare.js', () => []) },
  { key: 'httpin', label: 'Node-RED http in (multer)', reports: 'ipc', start: ipcServer('httpin', 'nodered.js', (root) => ['httpin', fs.mkdtempSync(path.join(root, 'nr-httpin-'))]) },
  { key: 'aiware', label: 'aiware-process-in', reports: 'ipc', start: ipcServer('aiware', 'nodered.js', (root) => ['aiware', fs.mkdtempSync(path.join(root, 'nr-aiware-'))]) },
  { key: 'runner', label: 'runner (runner/main.js)', reports: 'outside', start: startRunner() },
  // recycleChunks (core/chunk-pool): chunk memory used again, valid until the task ends.
  {
    key: 'aiwareRecycle',
    label: 'aiware-process-in, recycleChunks',
    reports: 'ipc',
    start: ipcServer('aiwareRecycle', 'nodered.js', (root) => ['aiware-recycle', fs.mkdtempSync(path.join(root, 'nr-recycle-'))]),
  },
  { key: 'runnerRecycle', label: 'runner, RUNNER_RECYCLE_CHUNKS=1', reports: 'outside', start: startRunner({ RUNNER_RECYCLE_CHUNKS: '1' }) },
];

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
