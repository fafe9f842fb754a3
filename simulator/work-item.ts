// A work item as ET hands it to an engine: every /process field, set as ET sets it,
// with fresh ids and the emulator's own addresses for the webhooks, the cache and the callbacks.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { CHUNK_METADATA_PREFIX, type ProcessFieldName } from '@aiware-nodered/node-red-aiware';
import { KeyProxy } from './key-proxy';

/** A work item as ET hands it to an engine: the task id in its webhook URLs, and the /process fields. */
export interface WorkItem {
  taskId: string;
  fields: Record<string, string>;
}

/** Where the emulator lives: the address it serves and the folders it shares with the engine. */
export interface WorkItemPlace {
  url: string;
  root: string;
  engineDir: string;
  libraryModelDirectory: string;
}

/**
 * The `sequence`-th work item, with the `overrides` applied: an override replaces a field, adds one
 * (`chunk-metadata-…`), or removes it (value undefined). Creates the task's `taskTmpDir`.
 */
export function buildWorkItem(place: WorkItemPlace, sequence: number, overrides: Partial<Record<string, string>>): WorkItem {
  const { url } = place;
  const taskId = `task-${sequence}-${randomBytes(4).toString('hex')}`;
  // A job's chunks share its id: an override names the job, and the payload's jobId follows it.
  const internalJobId = overrides.internalJobId ?? `job-${randomBytes(6).toString('hex')}`;
  const taskTmpDir = path.join(place.root, 'tasks', taskId);
  mkdirSync(taskTmpDir, { recursive: true });
  const now = Date.now();
  // Typed as every field, so a field added to PROCESS_FIELDS must be added here too.
  const standard: Record<ProcessFieldName, string> = {
    chunkMimeType: 'text/plain',
    startOffsetMS: '0',
    endOffsetMS: '10000',
    chunkIndex: '0',
    chunkUUID: randomUUID(),
    chunkTimestamp: String(now),
    inputFolderID: `folder-${randomBytes(4).toString('hex')}`,
    width: '1280',
    height: '720',
    libraryId: `library-${randomBytes(4).toString('hex')}`,
    libraryEngineModelId: `model-${randomBytes(4).toString('hex')}`,
    cacheURI: `${url}/cache/${encodeURIComponent(taskId)}`,
    veritoneApiBaseUrl: url,
    token: `token-${randomBytes(16).toString('hex')}`,
    payload: JSON.stringify({ jobId: internalJobId, taskId, organizationId: '1' }),
    chunkContext: `context-${randomUUID()}`,
    heartbeatWebhook: `${url}/heartbeat/${encodeURIComponent(taskId)}`,
    resultWebhook: `${url}/result/${encodeURIComponent(taskId)}`,
    externalCallbackWebhook: url,
    maxTTL: '3600',
    internalJobId,
    internalTaskId: taskId,
    taskTmpDir,
    engineDir: place.engineDir,
    libraryModelDirectory: place.libraryModelDirectory,
    // Each task's own address on the key proxy, which so knows whose ids a call may use.
    redisETUrl: KeyProxy.urlFor(url, taskId),
    controllerToken: `controller-${randomBytes(16).toString('hex')}`,
  };
  const fields: Record<string, string> = {
    ...standard,
    [`${CHUNK_METADATA_PREFIX}x-aiware-chunk-timestamp`]: String(now),
    [`${CHUNK_METADATA_PREFIX}source`]: 'aiware-toolkit-emulator',
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete fields[name];
    else fields[name] = value;
  }
  return { taskId, fields };
}
