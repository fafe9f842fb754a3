// The toolkit simulator's library: an Engine Toolkit stand-in for tests and the CLI.
export {
  ToolkitEmulator,
  FINAL_STATUSES,
  heartbeatProblems,
  resultProblems,
  type EmulatorOptions,
  type WorkItem,
  type ChunkInput,
  type ProcessAnswer,
  type TaskStatus,
  type TaskRecord,
  type RecordedHeartbeat,
  type RecordedResult,
  type WaitOptions,
  type WebhookKind,
} from './emulator';
export {
  encodeMultipart,
  multipartStream,
  CHUNK_PART,
  DEFAULT_CHUNK_MIME_TYPE,
  type ChunkData,
  type ChunkFile,
  type EncodedMultipart,
  type MultipartStream,
} from './multipart';
export {
  RunnerProcess,
  defaultRunnerScript,
  describeExit,
  freePort,
  within,
  type LogLine,
  type RunnerExit,
  type RunnerProcessOptions,
} from './runner-process';
