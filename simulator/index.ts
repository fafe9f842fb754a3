// The toolkit simulator's library: an Engine Toolkit stand-in for tests and the CLI.
export { ToolkitEmulator, type EmulatorOptions } from './emulator';
export { FINAL_STATUSES, type TaskStatus, type TaskRecord, type RecordedHeartbeat, type RecordedResult, type WaitOptions, type WebhookKind } from './task-book';
export type { WorkItem } from './work-item';
export { GRAPHQL_PATH, CALLBACK_PATH, type EngineJWTClaims } from './platform-api';
export { OutsideService, type OutsideServiceOptions, type ServiceRequest, type ServiceCall } from './outside-service';
export type { ChunkInput, ProcessAnswer } from './process-post';
// The body rules live in the pack (core/webhook-bodies); the simulator's API keeps offering them.
export { heartbeatProblems, resultProblems } from '@aiware-nodered/node-red-aiware';
export { encodeMultipart, multipartStream, CHUNK_PART, DEFAULT_CHUNK_MIME_TYPE, type ChunkData, type ChunkFile, type EncodedMultipart, type MultipartStream } from './multipart';
export { RunnerProcess, defaultRunnerScript, describeExit, freePort, within, type LogLine, type RunnerExit, type RunnerProcessOptions } from './runner-process';
export { KeyProxy, type KeySetRecord } from './key-proxy';
export { forwardUrl, forwardHeaders, type ForwardedOutput } from './forwarding';
export { ModelServer, type ModelData } from './model-server';
