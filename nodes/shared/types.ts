// The node types this pack registers: a public interface (flows name them), kept in one map.
export const NODE_TYPES = {
  processIn: 'aiware-process-in',
  resultOut: 'aiware-result-out',
  heartbeat: 'aiware-heartbeat',
  pauseForCallback: 'aiware-pause-for-callback',
  keys: 'aiware-keys',
  libraryModel: 'aiware-library-model',
} as const;

export type NodeTypeName = (typeof NODE_TYPES)[keyof typeof NODE_TYPES];
