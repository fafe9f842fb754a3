// `aiware-sim run`'s flags, checked and turned into one typed object before anything starts.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A bad command line: the CLI prints the message on one line and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The engine to feed: one already running, or a runtime file the CLI starts the runner with. */
export type EngineTarget =
  { kind: 'url'; processUrl: string; readyUrl: string } | { kind: 'runtime'; runtimeFile: string; runnerScript?: string; engineId: string; buildId: string; shareFolder?: string };

export interface RunOptions {
  engine: EngineTarget;
  inputs: string[];
  out: string;
  mime?: string;
  chunkMs: number;
  cache?: string;
  /** Merged over the payload the emulator builds (jobId, taskId, organizationId). */
  payload?: Record<string, unknown>;
  maxTTL: number;
  chunkContext?: string;
  /** Extra or replaced /process fields, applied last, as given. */
  fields: Record<string, string>;
  concurrency: number;
  readyTimeoutMs: number;
  heartbeatTimeoutMs: number;
  retries: number;
  verbose: boolean;
  /** The outside service of pause-for-callback, when `--service-delay` turns it on. */
  service?: ServiceOptions;
  /** `chunk-metadata-<name>` fields of every work item (`--chunk-metadata name=value`). */
  chunkMetadata: Record<string, string>;
  /** ET's sendOutputToUris of every task (`--send-output-to`). */
  sendOutputToUris: string[];
  /** `--library-model`: library-run tasks, the file served as their model. */
  libraryModel?: LibraryModelOption;
  /** `--library-dir`: the tasks' libraryModelDirectory (kept after the run). */
  libraryDir?: string;
}

/** What the outside service does with each job: wait `delayMs`, post progress, then answer or fail. */
export interface ServiceOptions {
  delayMs: number;
  /** Posted to each callbackUrl; default `{}`. */
  answer?: unknown;
  fail?: string;
  progress: string[];
}

export interface LibraryModelOption {
  file: string;
  libraryId: string;
  libraryEngineModelId: string;
}

/** What commander hands over: every value still a string (or a list, or a flag). */
export interface RawRunOptions {
  engineUrl?: string;
  readyUrl?: string;
  runtime?: string;
  runner?: string;
  engineId: string;
  buildId: string;
  shareFolder?: string;
  out?: string;
  mime?: string;
  chunkMs: string;
  cache?: string;
  payload?: string;
  maxTtl: string;
  chunkContext?: string;
  field?: string[];
  concurrency: string;
  readyTimeout: string;
  heartbeatTimeout: string;
  retries: string;
  verbose?: boolean;
  serviceDelay?: string;
  serviceAnswer?: string;
  serviceFail?: string;
  serviceProgress?: string[];
  chunkMetadata?: string[];
  sendOutputTo?: string[];
  libraryModel?: string;
  libraryDir?: string;
}

export function integer(flag: string, text: string, min: number): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${flag} must be a whole number${min > 0 ? ` from ${min}` : ''}, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function httpUrl(flag: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag} must be a URL such as http://127.0.0.1:8888/process, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag} must be an http(s) URL, got ${JSON.stringify(text)}`);
  return url;
}

export function existingFile(flag: string, file: string): string {
  const full = path.resolve(file);
  let stats: fs.Stats;
  try {
    stats = fs.statSync(full);
  } catch {
    throw new UsageError(`${flag}: ${file} does not exist`);
  }
  if (!stats.isFile()) throw new UsageError(`${flag}: ${file} is not a file`);
  return full;
}

// `--payload '{"a":1}'` or `--payload @payload.json` (and the same for `--service-answer`).
function jsonValue(flag: string, text: string): unknown {
  let source = `the ${flag} value`;
  if (text.startsWith('@')) {
    const file = existingFile(flag, text.slice(1));
    source = text.slice(1);
    text = fs.readFileSync(file, 'utf8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${flag}: ${source} is not JSON: ${(err as Error).message}`);
  }
}

function payloadObject(text: string): Record<string, unknown> {
  const value = jsonValue('--payload', text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`--payload must be a JSON object (use --field payload=... to send anything else)`);
  }
  return value as Record<string, unknown>;
}

function extraFields(list: string[], flag = '--field'): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const item of list) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} takes name=value, got ${JSON.stringify(item)}`);
    fields[item.slice(0, at)] = item.slice(at + 1);
  }
  return fields;
}

// `--service-delay 2.5`: seconds, fractions allowed, from 0.
function serviceOptions(raw: RawRunOptions): ServiceOptions | undefined {
  if (raw.serviceDelay === undefined) {
    for (const [flag, value] of [
      ['--service-answer', raw.serviceAnswer],
      ['--service-fail', raw.serviceFail],
      ['--service-progress', raw.serviceProgress],
    ] as const) {
      if (value !== undefined) throw new UsageError(`${flag} goes with --service-delay, which turns the outside service on`);
    }
    return undefined;
  }
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(raw.serviceDelay) ? Number(raw.serviceDelay) : NaN;
  if (!Number.isFinite(seconds)) throw new UsageError(`--service-delay must be a number of seconds from 0, got ${JSON.stringify(raw.serviceDelay)}`);
  if (raw.serviceAnswer !== undefined && raw.serviceFail !== undefined) throw new UsageError('give either --service-answer or --service-fail, not both');
  return {
    delayMs: Math.round(seconds * 1000),
    answer: raw.serviceAnswer === undefined ? undefined : jsonValue('--service-answer', raw.serviceAnswer),
    fail: raw.serviceFail,
    progress: raw.serviceProgress ?? [],
  };
}

/** `./aiware-sim-out/2024-05-01T12-30-45-123Z`: one folder per run, sorted by time. */
export function defaultOutDir(now = new Date()): string {
  return path.resolve('aiware-sim-out', now.toISOString().replace(/[:.]/g, '-'));
}

export function parseRunOptions(inputs: string[], raw: RawRunOptions): RunOptions {
  let engine: EngineTarget;
  if (raw.engineUrl !== undefined && raw.runtime !== undefined) throw new UsageError('give either --engine-url or --runtime, not both');
  if (raw.engineUrl !== undefined) {
    const processUrl = httpUrl('--engine-url', raw.engineUrl);
    const readyUrl = raw.readyUrl === undefined ? new URL('/readyz', processUrl.origin) : httpUrl('--ready-url', raw.readyUrl);
    if (raw.runner !== undefined) throw new UsageError('--runner goes with --runtime, not --engine-url');
    engine = { kind: 'url', processUrl: processUrl.href, readyUrl: readyUrl.href };
  } else if (raw.runtime !== undefined) {
    if (raw.readyUrl !== undefined) throw new UsageError('--ready-url goes with --engine-url; with --runtime the CLI picks the address');
    engine = {
      kind: 'runtime',
      runtimeFile: existingFile('--runtime', raw.runtime),
      runnerScript: raw.runner === undefined ? undefined : existingFile('--runner', raw.runner),
      engineId: raw.engineId,
      buildId: raw.buildId,
      shareFolder: raw.shareFolder === undefined ? undefined : path.resolve(raw.shareFolder),
    };
  } else {
    throw new UsageError('no engine: give --runtime <flow.json> to run one, or --engine-url <url> of one running');
  }
  if (raw.mime !== undefined && !/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(raw.mime)) throw new UsageError(`--mime must be a MIME type such as text/plain, got ${JSON.stringify(raw.mime)}`);
  const concurrency = integer('--concurrency', raw.concurrency, 1);
  const fields = extraFields(raw.field ?? []);
  const chunkMetadata = extraFields(raw.chunkMetadata ?? [], '--chunk-metadata');
  for (const [name, value] of Object.entries(chunkMetadata)) {
    if (/[\r\n]/.test(value)) throw new UsageError(`--chunk-metadata ${name}: a value cannot hold a line break`);
  }
  const sendOutputToUris = (raw.sendOutputTo ?? []).map((uri) => httpUrl('--send-output-to', uri).href);
  const libraryModel =
    raw.libraryModel === undefined
      ? undefined
      : { file: existingFile('--library-model', raw.libraryModel), libraryId: fields.libraryId ?? 'sim-library', libraryEngineModelId: fields.libraryEngineModelId ?? 'sim-model' };
  return {
    chunkMetadata,
    sendOutputToUris,
    libraryModel,
    libraryDir: raw.libraryDir === undefined ? undefined : path.resolve(raw.libraryDir),
    engine,
    inputs,
    out: raw.out === undefined ? defaultOutDir() : path.resolve(raw.out),
    mime: raw.mime,
    chunkMs: integer('--chunk-ms', raw.chunkMs, 1),
    cache: raw.cache === undefined ? undefined : existingFile('--cache', raw.cache),
    payload: raw.payload === undefined ? undefined : payloadObject(raw.payload),
    maxTTL: integer('--max-ttl', raw.maxTtl, 1),
    chunkContext: raw.chunkContext,
    fields,
    concurrency,
    readyTimeoutMs: integer('--ready-timeout', raw.readyTimeout, 1) * 1000,
    heartbeatTimeoutMs: integer('--heartbeat-timeout', raw.heartbeatTimeout, 0) * 1000,
    retries: integer('--retries', raw.retries, 0),
    verbose: raw.verbose === true,
    service: serviceOptions(raw),
  };
}
