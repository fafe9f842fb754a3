// The pack's library (`require('@aiware-nodered/node-red-aiware')`): the aiWARE protocol core with
// no Node-RED in it, which the nodes, the runner, the simulator and an engine's own tests share.
// Code outside core/ imports it from here; only a module's own unit test imports the module itself.

// protocol/: what ET and aiWARE send and expect.
export * from './protocol/constants';
export * from './protocol/errors';
export * from './protocol/fields';
export { SecretIndex } from './protocol/secret-index';
export * from './protocol/vtn';
export * from './protocol/webhook-bodies';

// http/: answers and bounded reads.
export * from './http/answer';
export { readBounded, type BoundedRead } from './http/read-bounded';
export * from './http/body-rate';
export { mediaType, traceHeaders } from './http/headers';

// body/: the /process body reader and the chunk.
export { DEFAULT_LIMITS, resolveLimits, type BodyLimits } from './body/limits';
export * from './body/reader';
export * from './body/chunk-text';
export { chunkToFile, removeQuietly, taskTmpDir } from './body/chunk-file';
export { ChunkPool, DEFAULT_POOL_OPTIONS, type ChunkPoolOptions } from './body/chunk-pool';
export { FREES_EARLY } from './body/early-free';

// task/: tasks, their webhooks, and the flows' ends.
export * from './task/task';
export * from './task/registry';
export * from './task/webhooks';
export * from './task/flow-end';
export * from './task/timing';
export * from './task/tracing';

// pause/: pause-for-callback.
export * from './pause/service';
export * from './pause/wait-store';
export * from './pause/saved-message';
export { CallbackSigner, type TokenCheck } from './pause/callback-tokens';
export { getEngineJWT, updateTaskStatus, graphqlUrl, type WakeupResource } from './pause/platform-api';

// services/: keys, library models, folder locks.
export * from './services/keys';
export * from './services/dir-lock';
export * from './services/library-model';

// host/: what embeds Node-RED, readiness, the editor's try-it client.
export * from './host/runtime-handle';
export * from './host/readiness';
export * from './host/try-it';

// util/
export * from './util/timers';
export { createDurably, syncDir, syncTree, tempBeside, writeFileDurably } from './util/durable';
export { carrierOf, contextFrom, inSpan, parentFor, recordingSpan, tracer, type TraceCarrier } from './util/trace';
