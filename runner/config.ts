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

/** The limits a client meets at the runner's HTTP server (see ./http-server). */
export interface ConnectionLimits {
  /** From a connection's accept, or a request's first byte, to the end of its headers. */
  headersTimeoutMs: number;
  /** From a request's first byte to the end of its body: the chunk's upload, not the engine's work. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
  /** Connections open at once; one more is answered 503. */
  maxConnections: number;
  /** The slowest a body to /process or a callback URL may come, bytes a second from its start (0: off). */
  minBodyRate: number;
  /** How long a body may come slower than that at its start. */
  minBodyRateGraceMs: number;
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
  /** Failed editor logins one client address may make in a window (the editor on). */
  editorLogin: { attempts: number; windowMs: number };
  credentialSecret?: string;
  /** How long open tasks may run on after SIGTERM before they are failed. */
  graceMs: number;
  /** How long /readyz answers 500 after a start-up that failed for good, before the exit. */
  failLingerMs: number;
  connections: ConnectionLimits;
  logLevel: string;
  /** More folders a request's taskTmpDir may name (RUNNER_TMP_ROOTS), beside the work folder, the OS temp folder, /tmp and /cache. */
  tmpRoots: string[];
  /** Where /metrics is served: undefined on the /process port, a port of its own (0: any, logged), or 'off'. */
  metricsPort?: number | 'off';
  /** The public base of local callback URLs (RUNNER_CALLBACK_BASE_URL); default the /process host and port. */
  callbackBaseUrl?: string;
  /** Signs callback tokens (RUNNER_CALLBACK_SECRET): the same for every instance; default one kept in the work folder. */
  callbackSecret?: string;
  /** PAYLOAD_JSON, when it is an aiWARE wake-up (`isCallback: true`): sent to /process once the flows run. */
  wakeup?: Record<string, unknown>;
  /** RUNNER_RECYCLE_CHUNKS: the pack's `recycleChunks` (chunk memory used again; valid until the task ends). */
  recycleChunks: boolean;
  /** RUNNER_LOG_NODE_TIMES: each task's last line also lists every node's part (`nodes`), not only its slowest node. */
  logNodeTimes: boolean;
}

export const DEFAULTS = {
  process: 'http://0.0.0.0:8888/process',
  ready: 'http://0.0.0.0:8888/readyz',
  workRoot: '/cache/nodered/engines',
  graceSeconds: 30,
  failLingerSeconds: 10,
  // ET sends each request from the same host in one go: 10 s for headers is a stalled sender.
  headersTimeoutSeconds: 10,
  // A 1 GiB chunk needs ~9 MB/s to arrive in 120 s, a tenth of a slow local disk; Node's 300 s let a trickle hold on.
  requestTimeoutSeconds: 120,
  // As before: longer than the 60 s idle timeout of common proxies and load balancers, so they close first.
  keepAliveTimeoutSeconds: 65,
  // Far above what ET opens (its chunks in flight, the readiness polls), and well inside a 1024 open-file limit.
  maxConnections: 256,
  // Kestrel's MinRequestBodyDataRate: a sender of 1 byte a second is cut after the grace; a 64 KiB body over a 2 KiB/s link is not.
  minBodyRate: 240,
  minBodyRateGraceSeconds: 5,
  // Node-RED's own count, but per client address instead of per user name.
  editorLoginAttempts: 5,
  editorLoginWindowSeconds: 600,
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

// Node's timers hold at most 2^31-1 ms: a longer keep-alive timeout would fire at once.
const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A limit in milliseconds, or undefined when the variable is unset: 0 would turn it off, so it is refused. */
function timeoutMs(env: Env, variable: string): number | undefined {
  const text = env[variable];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!(value > 0 && value <= MAX_TIMEOUT_SECONDS)) {
    throw new ConfigError(variable, `must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, got ${JSON.stringify(text)}`);
  }
  return Math.ceil(value * 1000);
}

function connectionLimits(env: Env): ConnectionLimits {
  const requestTimeoutMs = timeoutMs(env, 'RUNNER_REQUEST_TIMEOUT_SECONDS') ?? DEFAULTS.requestTimeoutSeconds * 1000;
  // Node refuses a headers timeout past the request timeout: a default one shrinks to fit, a set one is an error.
  const headersTimeoutMs = timeoutMs(env, 'RUNNER_HEADERS_TIMEOUT_SECONDS') ?? Math.min(DEFAULTS.headersTimeoutSeconds * 1000, requestTimeoutMs);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError('RUNNER_HEADERS_TIMEOUT_SECONDS', `must not be longer than RUNNER_REQUEST_TIMEOUT_SECONDS (${requestTimeoutMs / 1000}), got ${headersTimeoutMs / 1000}`);
  }
  const max = env.RUNNER_MAX_CONNECTIONS;
  const maxConnections = max === undefined || max === '' ? DEFAULTS.maxConnections : Number(max);
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
    throw new ConfigError('RUNNER_MAX_CONNECTIONS', `must be a whole number of connections above 0, got ${JSON.stringify(max)}`);
  }
  const rate = env.RUNNER_MIN_BODY_RATE;
  const minBodyRate = rate === undefined || rate === '' ? DEFAULTS.minBodyRate : Number(rate);
  if (!Number.isSafeInteger(minBodyRate) || minBodyRate < 0) {
    throw new ConfigError('RUNNER_MIN_BODY_RATE', `must be a whole number of bytes a second, 0 to turn the check off, got ${JSON.stringify(rate)}`);
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: timeoutMs(env, 'RUNNER_KEEPALIVE_TIMEOUT_SECONDS') ?? DEFAULTS.keepAliveTimeoutSeconds * 1000,
    maxConnections,
    minBodyRate,
    minBodyRateGraceMs: timeoutMs(env, 'RUNNER_MIN_BODY_RATE_GRACE_SECONDS') ?? DEFAULTS.minBodyRateGraceSeconds * 1000,
  };
}

function editorLogin(env: Env): { attempts: number; windowMs: number } {
  const text = env.RUNNER_EDITOR_LOGIN_ATTEMPTS;
  const attempts = text === undefined || text === '' ? DEFAULTS.editorLoginAttempts : Number(text);
  if (!Number.isSafeInteger(attempts) || attempts < 1) {
    throw new ConfigError('RUNNER_EDITOR_LOGIN_ATTEMPTS', `must be a whole number of failed logins above 0, got ${JSON.stringify(text)}`);
  }
  return { attempts, windowMs: timeoutMs(env, 'RUNNER_EDITOR_LOGIN_WINDOW_SECONDS') ?? DEFAULTS.editorLoginWindowSeconds * 1000 };
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
  const editor = flag(env, 'RUNNER_EDITOR');
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
    editorLogin: editorLogin(env),
    credentialSecret: env.RUNNER_CREDENTIAL_SECRET || undefined,
    graceMs: seconds(env, 'RUNNER_GRACE_SECONDS', DEFAULTS.graceSeconds),
    failLingerMs: seconds(env, 'RUNNER_FAIL_LINGER_SECONDS', DEFAULTS.failLingerSeconds),
    connections: connectionLimits(env),
    logLevel: env.RUNNER_LOG_LEVEL || DEFAULTS.logLevel,
    tmpRoots: folders(env, 'RUNNER_TMP_ROOTS'),
    metricsPort: metricsPort(env),
    callbackBaseUrl: callbackBase(env),
    callbackSecret: env.RUNNER_CALLBACK_SECRET || undefined,
    wakeup: wakeupPayload(env),
    recycleChunks: flag(env, 'RUNNER_RECYCLE_CHUNKS'),
    logNodeTimes: flag(env, 'RUNNER_LOG_NODE_TIMES'),
  };
}

/** An on/off variable: unset or empty is off. */
function flag(env: Env, name: string): boolean {
  const text = (env[name] ?? '').trim().toLowerCase();
  if (text === '' || /^(0|false|no|off)$/.test(text)) return false;
  if (/^(1|true|yes|on)$/.test(text)) return true;
  throw new ConfigError(name, `must be on or off (1/true/yes/on, 0/false/no/off), got ${JSON.stringify(env[name])}`);
}

function callbackBase(env: Env): string | undefined {
  const text = (env.RUNNER_CALLBACK_BASE_URL ?? '').trim();
  if (text === '') return undefined;
  if (!/^https?:\/\/[^\s/]+/i.test(text))
    throw new ConfigError('RUNNER_CALLBACK_BASE_URL', `must be the engine's public http(s) address, e.g. https://engine.example.com, got ${JSON.stringify(text)}`);
  return text.replace(/\/+$/, '');
}

/** aiWARE starts a woken engine with the task in PAYLOAD_JSON (docs/pause-for-callback.md, platform mode): only a wake-up matters here. */
function wakeupPayload(env: Env): Record<string, unknown> | undefined {
  const text = env.PAYLOAD_JSON;
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError('PAYLOAD_JSON', 'is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('PAYLOAD_JSON', 'must be a JSON object');
  return (value as { isCallback?: unknown }).isCallback === true ? (value as Record<string, unknown>) : undefined;
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

/** RUNNER_METRICS_PORT: unset (on the /process port), `off`, or a port of its own. */
function metricsPort(env: Env): number | 'off' | undefined {
  const text = (env.RUNNER_METRICS_PORT ?? '').trim();
  if (text === '') return undefined;
  if (text.toLowerCase() === 'off') return 'off';
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('RUNNER_METRICS_PORT', `must be a port number or "off", got ${JSON.stringify(text)}`);
  return port;
}
