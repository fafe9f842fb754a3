// The pack's library (`require('@aiware-nodered/node-red-aiware')`): the aiWARE protocol core with
// no Node-RED in it, which the runner, the simulator and an engine's own tests share with the nodes.
export * from './protocol';
export * from './errors';
export * from './fields';
export { DEFAULT_LIMITS, resolveLimits, type BodyLimits } from './body-limits';
export * from './body';
export { readBounded, type BoundedRead } from './small-body';
export * from './chunk-text';
export { chunkToFile, removeQuietly } from './chunk-file';
export * from './answer';
export * from './tasks';
export * from './flow-end';
export * from './webhooks';
export * from './vtn';
export * from './webhook-bodies';
export * from './host';
export * from './sleep';
export * from './readiness';
export * from './pauses';
export * from './waits';
export * from './saved-message';
export { CallbackSigner, type TokenCheck } from './callback-tokens';
export { getEngineJWT, updateTaskStatus, graphqlUrl, type WakeupResource } from './platform-api';
export * from './keys';
export * from './dir-lock';
export * from './library-model';
export * from './try-it';
