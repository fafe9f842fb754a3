// What a build runtime file's `settings` may hold: the Node-RED settings that change how its flows
// run, and the pack's `aiware` ones. The runner owns the rest (where Node-RED keeps its files, its
// server, log and editor) and sets them from its own environment. One list for the runner, which
// leaves out what it owns and says so, and for `aiware-sim check`, which reports each as a problem.
import { DEFAULT_LIMITS, DEFAULT_RETRY, DEFAULT_TASK_SETTINGS, flowEndGrace } from '@aiware-nodered/node-red-aiware';
import { NODE_TYPES } from '@aiware-nodered/node-red-aiware/dist/nodes/shared/types';
import { coreNodeFiles } from './core-nodes';

/** Node-RED settings a build may set (settings.js names them); each reaches Node-RED as given. */
export const BUILD_SETTINGS: ReadonlySet<string> = new Set([
  'functionGlobalContext',
  'functionExternalModules',
  'functionTimeout',
  'globalFunctionTimeout',
  'nodeMessageBufferMaxLength',
  'exportGlobalContextKeys',
  'externalModules',
  'debugMaxLength',
  'debugStatusLength',
  'debugUseColors',
  'execMaxBufferSize',
  'httpRequestTimeout',
  'httpRequestTimingLog',
  'mqttReconnectTime',
  'serialReconnectTime',
  'socketReconnectTime',
  'socketTimeout',
  'tcpMsgQueueSize',
  'inboundWebSocketTimeout',
  'tlsConfigDisableLocalFiles',
  'fileWorkingDirectory',
  'apiMaxLength',
  'httpNodeCors',
  'httpNodeAuth',
  'httpStatic',
  'httpStaticRoot',
  'httpStaticCors',
  'httpStaticAuth',
  'proxyOptions',
  'nodeDefaults',
  'lang',
  'diagnostics',
  'runtimeState',
  'telemetry',
  'flowFilePretty',
  'editorTheme',
  'ui',
  // Merged with the core node files the runner leaves out (runner.ts).
  'nodesExcludes',
  'aiware',
]);

const SERVER = "the runner's HTTP server listens where VERITONE_WEBHOOK_PROCESS says, over http";
const EDITOR = "the editor and admin API are the runner's: RUNNER_EDITOR and RUNNER_EDITOR_PASSWORD_HASH open them";
const FUNCTION = 'a function, which a JSON file cannot hold';

/** Settings the runner sets itself, with what sets them: a build's value would be lost or would break the engine. */
export const RUNNER_SETTINGS: ReadonlyMap<string, string> = new Map([
  ['userDir', "Node-RED's folder is the engine's work folder (RUNNER_WORKDIR)"],
  ['flowFile', 'the flows are those of the build runtime file'],
  ['nodesDir', 'the node folders are the pack\'s and those of the build\'s "modules"'],
  ['credentialSecret', "RUNNER_CREDENTIAL_SECRET decrypts the build's credentials (in the file, the secret would sit beside what it protects)"],
  ['logging', "the runner's structured log (RUNNER_LOG_LEVEL)"],
  ['contextStorage', "the runner's: memory, and `file` in the work folder"],
  ['httpNodeRoot', 'the runner serves HTTP nodes at /, and callback URLs depend on it'],
  ['httpAdminRoot', EDITOR],
  ['disableEditor', EDITOR],
  ['adminAuth', EDITOR],
  ['httpAdminCookieOptions', EDITOR],
  ['uiPort', SERVER],
  ['uiHost', SERVER],
  ['https', SERVER],
  ['httpsRefreshInterval', SERVER],
  ['requireHttps', SERVER],
  ['httpServerOptions', SERVER],
  ['httpAdminMiddleware', FUNCTION],
  ['httpNodeMiddleware', FUNCTION],
  ['webSocketNodeVerifyClient', FUNCTION],
]);

/** The pack's `aiware` settings a build may set: a number each (core's defaults name them), and the few others. */
const AIWARE_NUMBERS = new Set([...Object.keys(DEFAULT_TASK_SETTINGS), ...Object.keys(DEFAULT_LIMITS), 'maxCallbackBytes', 'callbackHoldMs']);
const RETRY_NUMBERS = new Set(Object.keys(DEFAULT_RETRY));

/** `aiware` settings the runner sets from its environment. */
export const RUNNER_AIWARE_SETTINGS: ReadonlyMap<string, string> = new Map([
  ['host', 'set by the host that embeds Node-RED, never in a settings file'],
  ['stateDir', "pause-for-callback's waits are kept in the work folder (pauses/)"],
  ['tmpDirRoots', 'RUNNER_TMP_ROOTS (the work folder is always one)'],
  ['callbackBaseUrl', 'RUNNER_CALLBACK_BASE_URL'],
  ['callbackSecret', 'RUNNER_CALLBACK_SECRET (in the file, the secret would be in clear)'],
  ['recycleChunks', 'RUNNER_RECYCLE_CHUNKS'],
  ['minBodyRate', 'RUNNER_MIN_BODY_RATE'],
  ['minBodyRateGraceMs', 'RUNNER_MIN_BODY_RATE_GRACE_SECONDS'],
]);

export interface SettingProblem {
  /** The setting's path: `settings.userDir`, `settings.aiware.retry.maxDelayMs`. */
  where: string;
  /** `runner` the runner sets it, `unknown` no such setting, `value` a value of the wrong kind. */
  code: 'runner' | 'unknown' | 'value';
  message: string;
}

/**
 * Node-RED's convention for a node's own settings: named after its type in camel case
 * (`function` → functionTimeout, `mqtt-broker` → mqttBrokerX), so a setting that starts with the
 * type of a module's node the flows use belongs to that node. Core's are listed above (and the
 * pack's are under `aiware`): a setting that only looks like theirs is a typo.
 */
export function settingPrefix(type: string): string {
  return type.replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
}

/** What is wrong with a build's `settings`, for flows that use `types`; [] when nothing is. */
export function settingsProblems(settings: Record<string, unknown> | undefined, types: Iterable<string> = []): SettingProblem[] {
  if (!settings) return [];
  const problems: SettingProblem[] = [];
  // Read only for a setting no list names (core's node files are read from disk).
  let prefixes: string[] | undefined;
  const modulePrefixes = (): string[] => {
    const own = new Set([...coreNodeFiles().values()].flat().concat(Object.values(NODE_TYPES)));
    return (prefixes ??= [...new Set([...types].filter((t) => !own.has(t)).map(settingPrefix))].filter((p) => p.length > 0));
  };
  for (const [key, value] of Object.entries(settings)) {
    const where = `settings.${key}`;
    const owner = RUNNER_SETTINGS.get(key);
    if (owner !== undefined) problems.push({ where, code: 'runner', message: `is set by the runner, not by a build: ${owner}` });
    else if (key === 'aiware') problems.push(...aiwareProblems(value));
    else if (key === 'nodesExcludes' && !(Array.isArray(value) && value.every((f) => typeof f === 'string')))
      problems.push({ where, code: 'value', message: 'must be a list of node file names (e.g. ["10-mqtt.js"])' });
    else if (!BUILD_SETTINGS.has(key) && !modulePrefixes().some((p) => key.startsWith(p) && key.length > p.length)) {
      const near = nearest(key, [...BUILD_SETTINGS, ...RUNNER_SETTINGS.keys()]);
      problems.push({
        where,
        code: 'unknown',
        message: `is not a Node-RED setting a build may set${near ? ` (did you mean ${near}?)` : ''}: a node's own setting starts with its type in camel case`,
      });
    }
  }
  return problems;
}

function aiwareProblems(value: unknown): SettingProblem[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [{ where: 'settings.aiware', code: 'value', message: "must be an object of the pack's settings" }];
  const problems: SettingProblem[] = [];
  const number = (where: string, v: unknown): void => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) problems.push({ where, code: 'value', message: `must be a number above 0, got ${JSON.stringify(v)}` });
  };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const where = `settings.aiware.${key}`;
    const owner = RUNNER_AIWARE_SETTINGS.get(key);
    if (owner !== undefined) problems.push({ where, code: 'runner', message: `is set by the runner, not by a build: ${owner}` });
    else if (AIWARE_NUMBERS.has(key)) number(where, v);
    else if (key === 'flowEndGraceMs') {
      const grace = flowEndGrace(v);
      if (grace.problem) problems.push({ where, code: 'value', message: `must be a number of milliseconds, or false; got ${JSON.stringify(v)}` });
    } else if (key === 'nodeTiming') {
      if (typeof v !== 'boolean') problems.push({ where, code: 'value', message: `must be true or false, got ${JSON.stringify(v)}` });
    } else if (key === 'tmpDir') {
      if (typeof v !== 'string' || v === '') problems.push({ where, code: 'value', message: 'must be a folder path' });
    } else if (key === 'retry') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) problems.push({ where, code: 'value', message: `must be an object of ${[...RETRY_NUMBERS].join(', ')}` });
      else
        for (const [name, n] of Object.entries(v as Record<string, unknown>)) {
          if (RETRY_NUMBERS.has(name)) number(`${where}.${name}`, n);
          else problems.push({ where: `${where}.${name}`, code: 'unknown', message: `is not a retry setting: they are ${[...RETRY_NUMBERS].join(', ')}` });
        }
    } else {
      const near = nearest(key, [...AIWARE_NUMBERS, 'flowEndGraceMs', 'nodeTiming', 'tmpDir', 'retry']);
      problems.push({ where, code: 'unknown', message: `is not a setting of the pack${near ? ` (did you mean ${near}?)` : ''}` });
    }
  }
  return problems;
}

/** A known name within two edits of `name` (a typo), if there is one. */
function nearest(name: string, known: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/** Levenshtein's distance between two names: how many letters to add, drop or change (for "did you mean"). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length];
}

/** The build's settings as the runner passes them on: without those it sets itself, which would otherwise move Node-RED's folders or server from under it. */
export function withoutRunnerSettings(settings: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings ?? {}).filter(([key]) => !RUNNER_SETTINGS.has(key)));
}
