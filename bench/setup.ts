// What the bench runs against: the three servers and the Engine Toolkit fields every request
// carries. Shared by run.ts (the bench) and profile.ts (one server under a CPU profiler).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProcessFieldName } from '../core/fields';
import { CHUNK_METADATA_PREFIX } from '../core/protocol';
import { ServerChild } from './lib';

/** Binary, as a media chunk is: process-in hands it to the flow as a Buffer, not decoded text. */
export const CHUNK_MIME = 'audio/wav';

export type ServerKey = 'bare' | 'httpin' | 'aiware';

export interface ServerSpec {
  key: ServerKey;
  label: string;
  script: string;
  args: (root: string) => string[];
}

export const SERVERS: ServerSpec[] = [
  { key: 'bare', label: 'bare node:http + busboy', script: 'bare.js', args: () => [] },
  { key: 'httpin', label: 'Node-RED http in (multer)', script: 'nodered.js', args: (root) => ['httpin', fs.mkdtempSync(path.join(root, 'nr-httpin-'))] },
  { key: 'aiware', label: 'aiware-process-in', script: 'nodered.js', args: (root) => ['aiware', fs.mkdtempSync(path.join(root, 'nr-aiware-'))] },
];

export function startServer(spec: ServerSpec, root: string, env: Record<string, string> = {}): Promise<ServerChild> {
  return ServerChild.start(spec.key, spec.script, spec.args(root), env);
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
