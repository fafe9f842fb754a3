// The runner's library: what the simulator, the tests and the bench use to embed Node-RED with
// the pack, and the runner itself (its process entry is main.js).
export { Runner, type RunnerState } from './runner';
export { loadConfig, ConfigError, type RunnerConfig, type ConnectionLimits } from './config';
export {
  EmbeddedNodeRed,
  PACK_DIR,
  flowsStarted,
  initNodeRed,
  nodeRedSettings,
  onOneTab,
  withPositions,
  MissingTypesError,
  type EmbeddedOptions,
  type FlowConfig,
  type NodeRedModule,
  type NodeRedSettingsOptions,
} from './embedded';
export { readRuntimeFile, RuntimeFileError, typesUsed, type BuildRuntime } from './runtime-file';
export { coreNodeFiles, unusedCoreNodeFiles } from './core-nodes';
export { RUNNER_NODE_FLAGS } from './node-flags';
export { checkRuntime, type CheckKind, type CheckOptions, type CheckProblem, type CheckReport, type CheckedNode } from './check';
export { settingsProblems, BUILD_SETTINGS, RUNNER_SETTINGS, type SettingProblem } from './build-settings';
export { startTracing, tracingWanted, type Tracing } from './tracing';
