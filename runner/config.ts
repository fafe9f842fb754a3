// The runner's configuration, from its environment: what Engine Toolkit and the agent set
// (VERITONE_WEBHOOK_*, AIWARE_*, ENGINE_ID, BUILD_ID) and the runner's own RUNNER_* switches.
// Only AIWARE_-prefixed variables are filtered by ET, so the runner's own knobs avoid that prefix.
import * as path from 'node:path';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export interface Address {
  host: string;
  port: number;
  path: string;
}

export interface RunnerConfig {
  runtimeFile: string;
  process: Address;
  ready: Address;
  engineId: string;
  buildId: string;
  /** Node-RED's user directory, context storage and temp files. */
  workDir: string;
  /** Where extra node packages are installed once per organisation. */
  shareFolder?: string;
  /** Editor and admin API at /editor behind this bcrypt hash; off when undefined. */
  editorPasswordHash?: string;
  credentialSecret?: string;
  /** How long open tasks may run on after SIGTERM before they are failed. */
  graceMs: number;
  /** How long /readyz answers 500 after a start-up that failed for good, before the exit. */
  failLingerMs: number;
  logLevel: string;
  /** More folders a request's taskTmpDir may name (RUNNER_TMP_ROOTS), beside the work folder, the OS temp folder, /tmp and /cache. */
  tmpRoots: string[];
}

export const DEFAULTS = {
  process: 'http://0.0.0.0:8888/process',
  ready: 'http://0.0.0.0:8888/readyz',
  workRoot: '/cache/nodered/engines',
  graceSeconds: 30,
  failLingerSeconds: 10,
  logLevel: 'info',
};

type Env = Record<string, string | undefined>;

function address(variable: string, value: string): Address {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `${JSON.stringify(value)} is not a URL (e.g. ${variable === 'VERITONE_WEBHOOK_READY' ? DEFAULTS.ready : DEFAULTS.process})`);
  }
  if (url.protocol !== 'http:') throw new ConfigError(variable, `only http:// is served, got ${url.protocol}`);
  const port = url.port === '' ? 80 : Number(url.port);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, path: url.pathname || '/' };
}

function seconds(env: Env, variable: string, fallback: number): number {
  const text = env[variable];
  if (text === undefined || text === '') return fallback * 1000;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(variable, `must be a number of seconds, got ${JSON.stringify(text)}`);
  return value * 1000;
}

const BCRYPT = /^\$2[aby]?\$\d{2}\$[./A-Za-z0-9]{53}$/;

// A folder name from an id: nothing that climbs out of the work root.
const safe = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');

export function loadConfig(env: Env = process.env): RunnerConfig {
  const runtimeFile = env.AIWARE_BUILD_RUNTIME;
  if (!runtimeFile) throw new ConfigError('AIWARE_BUILD_RUNTIME', 'is not set: it must name the build runtime JSON file');
  const processAddress = address('VERITONE_WEBHOOK_PROCESS', env.VERITONE_WEBHOOK_PROCESS || DEFAULTS.process);
  const ready = address('VERITONE_WEBHOOK_READY', env.VERITONE_WEBHOOK_READY || DEFAULTS.ready);
  if (ready.port !== processAddress.port) {
    throw new ConfigError('VERITONE_WEBHOOK_READY', `must be on the port of VERITONE_WEBHOOK_PROCESS (${processAddress.port}), got ${ready.port}`);
  }
  const engineId = env.ENGINE_ID || 'engine';
  const buildId = env.BUILD_ID || 'build';
  const editor = /^(1|true|yes|on)$/i.test(env.RUNNER_EDITOR ?? '');
  const hash = env.RUNNER_EDITOR_PASSWORD_HASH;
  if (editor && (!hash || !BCRYPT.test(hash))) {
    throw new ConfigError('RUNNER_EDITOR_PASSWORD_HASH', 'the editor is on (RUNNER_EDITOR) but this is not a bcrypt hash: make one with `npx node-red admin hash-pw`');
  }
  return {
    runtimeFile: path.resolve(runtimeFile),
    process: processAddress,
    ready,
    engineId,
    buildId,
    workDir: path.resolve(env.RUNNER_WORKDIR || path.join(DEFAULTS.workRoot, `${safe(engineId)}-${safe(buildId)}`)),
    shareFolder: env.AIWARE_AUTOMATE_SHARE_FOLDER || undefined,
    editorPasswordHash: editor ? hash : undefined,
    credentialSecret: env.RUNNER_CREDENTIAL_SECRET || undefined,
    graceMs: seconds(env, 'RUNNER_GRACE_SECONDS', DEFAULTS.graceSeconds),
    failLingerMs: seconds(env, 'RUNNER_FAIL_LINGER_SECONDS', DEFAULTS.failLingerSeconds),
    logLevel: env.RUNNER_LOG_LEVEL || DEFAULTS.logLevel,
    tmpRoots: folders(env, 'RUNNER_TMP_ROOTS'),
  };
}

/** A comma-separated list of absolute folders. */
function folders(env: Env, name: string): string[] {
  const list = (env[name] ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  const relative = list.find((f) => !path.isAbsolute(f));
  if (relative !== undefined) throw new ConfigError(name, `${name} must list absolute folders, separated by commas: ${JSON.stringify(relative)} is not absolute`);
  return list.map((f) => path.resolve(f));
}
