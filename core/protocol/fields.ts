// The /process fields (docs/protocol.md): their names as Engine Toolkit spells them, their types,
// and the one parser that turns the strings ET sends into typed values.
import { CHUNK_METADATA_PREFIX } from './constants';
import { FieldError, jsonProblem } from './errors';

type FieldKind = 'string' | 'int' | 'json' | 'intOrString' | 'url';

/** Every /process field except the `chunk` file part, with ET's spelling. */
export const PROCESS_FIELDS = {
  chunkMimeType: 'string',
  startOffsetMS: 'int',
  endOffsetMS: 'int',
  chunkIndex: 'int',
  chunkUUID: 'string',
  chunkTimestamp: 'intOrString',
  inputFolderID: 'string',
  width: 'int',
  height: 'int',
  libraryId: 'string',
  libraryEngineModelId: 'string',
  cacheURI: 'string',
  veritoneApiBaseUrl: 'string',
  token: 'string',
  payload: 'json',
  chunkContext: 'string',
  heartbeatWebhook: 'url',
  resultWebhook: 'url',
  externalCallbackWebhook: 'url',
  maxTTL: 'int',
  internalJobId: 'string',
  internalTaskId: 'string',
  taskTmpDir: 'string',
  engineDir: 'string',
  libraryModelDirectory: 'string',
  redisETUrl: 'string',
  controllerToken: 'string',
} as const satisfies Record<string, FieldKind>;

export type ProcessFieldName = keyof typeof PROCESS_FIELDS;

export const FIELD_NAMES = Object.keys(PROCESS_FIELDS) as ProcessFieldName[];

/**
 * A fields object with every key present, `undefined` until set. Copying the PROCESS_FIELDS
 * literal gives every task the same fixed shape: filled key by key instead, an object of this
 * size turns into a dictionary, 15× slower to fill and to copy (measured: 17 µs against 1 µs).
 */
export function emptyFields(): ProcessFields {
  const fields: Record<string, unknown> = { ...PROCESS_FIELDS };
  for (const name of FIELD_NAMES) fields[name] = undefined;
  return fields;
}

type ValueOf<K extends FieldKind> = K extends 'int' ? number : K extends 'json' ? Record<string, unknown> : K extends 'intOrString' ? number | string : string;

/** The typed /process fields: every key is there, `undefined` unless ET sent it (not empty). */
export type ProcessFields = {
  -readonly [K in ProcessFieldName]?: ValueOf<(typeof PROCESS_FIELDS)[K]>;
};

/** What `parseProcessFields` gives: the typed fields, the chunk metadata, and anything else ET sent. */
export interface ParsedFields {
  fields: ProcessFields;
  /** `chunk-metadata-*` fields, prefix removed, values left as strings. */
  chunkMetadata: Record<string, string>;
  /** Fields this version does not know, kept as they came (never refused). */
  extra: Record<string, string>;
}

/** Fields that must never be logged or echoed. */
export const SECRET_FIELDS: readonly ProcessFieldName[] = ['token', 'controllerToken'];

/** Webhook fields: an http(s) URL each, checked at /process (a webhook that can never work is a 400, not an hour of retries). */
export const WEBHOOK_FIELDS: readonly ProcessFieldName[] = ['heartbeatWebhook', 'resultWebhook', 'externalCallbackWebhook'];

/** The values of a task's secret fields; shorter than 4 characters they would scrub ordinary words, so they are left out. */
export function secretsOf(fields: Partial<Record<ProcessFieldName, unknown>>): string[] {
  const secrets: string[] = [];
  for (const name of SECRET_FIELDS) {
    const value = fields[name];
    if (typeof value === 'string' && value.length >= 4) secrets.push(value);
  }
  return secrets;
}

/** `text` with each secret replaced by `[redacted]`: for every text that leaves the engine on a task's behalf. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  for (const secret of secrets) if (text.includes(secret)) text = text.split(secret).join('[redacted]');
  return text;
}

/**
 * What an error may echo of a field's value: a short prefix made only of characters that cannot
 * carry much (letters, digits, `.+-:_ `), else only its length.
 */
export function shownValue(raw: string): string {
  const head = raw.slice(0, 12);
  if (!/^[\w.+:\- ]*$/.test(head)) return `a value of ${raw.length} characters`;
  return JSON.stringify(head + (raw.length > head.length ? '…' : ''));
}

// Field names are matched without regard to case: ET spells `startOffsetMS`, results use
// `startOffsetMs`, and the seeds write both `cacheURI` and `cacheUri`.
const CANONICAL = new Map<string, ProcessFieldName>(FIELD_NAMES.map((name) => [name.toLowerCase(), name]));

export function canonicalFieldName(name: string): ProcessFieldName | undefined {
  return CANONICAL.get(name.toLowerCase());
}

const INT = /^[+-]?\d+$/;

function parseInt10(field: string, raw: string): number {
  const text = raw.trim();
  const value = Number(text);
  if (!INT.test(text) || !Number.isSafeInteger(value)) {
    throw new FieldError(field, `${field} must be an integer, got ${shownValue(raw)}`);
  }
  return value;
}

function parseJsonObject(field: string, raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new FieldError(field, `${field} is not JSON: ${jsonProblem(err)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FieldError(field, `${field} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Webhook addresses found good (at most 64): ET sends the same few with every task, and a URL parse is ~2 µs. */
const goodUrls = new Set<string>();

/** An http(s) URL, or a 400 naming the field that echoes at most the scheme. */
function parseWebhookUrl(field: string, raw: string): string {
  const text = raw.trim();
  if (goodUrls.has(text)) return text;
  let scheme: string;
  try {
    scheme = new URL(text).protocol;
  } catch {
    throw new FieldError(field, `${field} is not a URL: send the absolute http(s) address ET should be called at`);
  }
  if (scheme !== 'http:' && scheme !== 'https:') {
    throw new FieldError(field, `${field} must be an http or https URL, got a ${/^[a-z][a-z0-9+.-]{0,15}:$/i.test(scheme) ? `"${scheme}"` : 'non-http'} URL`);
  }
  if (goodUrls.size < 64) goodUrls.add(text);
  return text;
}

function convert(field: ProcessFieldName, raw: string): ProcessFields[ProcessFieldName] {
  switch (PROCESS_FIELDS[field]) {
    case 'int':
      return parseInt10(field, raw);
    case 'json':
      return parseJsonObject(field, raw);
    case 'intOrString':
      return INT.test(raw.trim()) ? parseInt10(field, raw) : raw;
    case 'url':
      return parseWebhookUrl(field, raw);
    case 'string':
      return raw;
  }
}

/**
 * Turns the raw string fields of a /process request into typed values.
 * Throws a `FieldError` naming the first bad field. Empty strings count as absent.
 * A value that is already typed (from a JSON body) is accepted when it has the right type.
 */
export function parseProcessFields(raw: Record<string, unknown>): ParsedFields {
  const fields = emptyFields();
  const chunkMetadata: Record<string, string> = {};
  const extra: Record<string, string> = {};
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined || value === null || !Object.hasOwn(raw, name)) continue;
    // ET's own spelling is the common case: look it up before lower-casing anything.
    const exact = Object.hasOwn(PROCESS_FIELDS, name) ? (name as ProcessFieldName) : undefined;
    if (!exact && name.length > CHUNK_METADATA_PREFIX.length && name.slice(0, CHUNK_METADATA_PREFIX.length).toLowerCase() === CHUNK_METADATA_PREFIX) {
      chunkMetadata[name.slice(CHUNK_METADATA_PREFIX.length)] = stringify(value);
      continue;
    }
    const field = exact ?? canonicalFieldName(name);
    if (!field) {
      extra[name] = stringify(value);
      continue;
    }
    if (field === 'payload' && typeof value === 'object') {
      // A JSON body may carry the payload as an object rather than a string.
      fields.payload = parseJsonObject(field, JSON.stringify(value));
      continue;
    }
    const text = stringify(value);
    if (text === '' || (text.charCodeAt(0) <= 32 && text.trim() === '')) continue;
    (fields as Record<string, unknown>)[field] = convert(field, text);
  }
  if (fields.maxTTL !== undefined && fields.maxTTL <= 0) {
    throw new FieldError('maxTTL', `maxTTL must be a positive number of seconds, got ${fields.maxTTL}`);
  }
  return { fields, chunkMetadata, extra };
}

function stringify(value: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects (and null) took the JSON branch: only scalars get here
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A copy of the fields with the secret ones masked, for logs and status. */
export function redactFields<T extends Record<string, unknown>>(fields: T): T {
  const copy: Record<string, unknown> = { ...fields };
  for (const name of SECRET_FIELDS) if (copy[name] !== undefined) copy[name] = '[redacted]';
  return copy as T;
}
