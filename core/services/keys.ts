// Shared keys through Engine Toolkit's key proxy (Veritone's "Engines and Redis"): a job's or a
// task's keys, GET and POST at `{redisETUrl}/keys/j{internalJobId}/{key}` or `/keys/t{internalTaskId}/{key}`,
// values as JSON, a TTL per key. And the local store that stands in for it when asked to.
import { ProtocolError } from '../protocol/errors';
import type { ProcessFields } from '../protocol/fields';
import type { WebhookClient } from '../task/webhooks';

export const KEY_SCOPES = ['job', 'task'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

/** ET's default TTL for a key (24 hours), used when a set gives none. */
export const DEFAULT_KEY_TTL_SECONDS = 24 * 60 * 60;

/**
 * The largest value (its JSON, in bytes) the pack sends to the key proxy: 1 MiB. Redis takes far
 * more, but every chunk of a job reads the value back through an HTTP proxy; a value past the
 * limit is refused before it leaves (the task fails with `invalid_data`).
 */
export const MAX_KEY_VALUE_BYTES = 1024 * 1024;

/** Key names: what fits one path segment unescaped, so the proxy sees the name the flow wrote. */
const KEY_NAME = /^[A-Za-z0-9._:@+-]{1,200}$/;

export function isKeyScope(value: unknown): value is KeyScope {
  return typeof value === 'string' && (KEY_SCOPES as readonly string[]).includes(value);
}

/** A key name the proxy can carry, or a 400 that says what is allowed. */
export function checkKeyName(name: unknown): string {
  if (typeof name !== 'string' || !KEY_NAME.test(name)) {
    throw new ProtocolError(400, `key ${JSON.stringify(name)} is not a key name: use 1 to 200 letters, digits and . _ : @ + -`, { field: 'key', reason: 'invalid_data' });
  }
  return name;
}

/** A TTL in whole seconds (at least 1), or a 400. */
export function checkTTL(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new ProtocolError(400, `ttlInSeconds must be a whole number of seconds from 1, got ${JSON.stringify(value)}`, { field: 'ttlInSeconds', reason: 'invalid_data' });
  }
  return number;
}

/** The proxy's path for a key of the task's job or of the task itself: `/keys/j{id}/{key}`. */
export function keyPath(scope: KeyScope, fields: Pick<ProcessFields, 'internalJobId' | 'internalTaskId'>, key: string): string {
  const id = scope === 'job' ? fields.internalJobId : fields.internalTaskId;
  const name = scope === 'job' ? 'internalJobId' : 'internalTaskId';
  if (id === undefined || id === '') {
    throw new ProtocolError(400, `the task has no ${name}: a ${scope} key needs one`, { field: name, reason: 'invalid_data' });
  }
  return `/keys/${scope === 'job' ? 'j' : 't'}${encodeURIComponent(id)}/${checkKeyName(key)}`;
}

/** A value as the proxy stores it: its JSON text, within the size limit. */
export function encodeKeyValue(value: unknown, maxBytes = MAX_KEY_VALUE_BYTES): string {
  if (value === undefined) throw new ProtocolError(400, "the value to set is undefined: set msg.payload (or the node's property) to a JSON value", { reason: 'invalid_data' });
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new ProtocolError(400, `the value is not JSON: ${(err as Error).message}`, { reason: 'invalid_data' });
  }
  const size = Buffer.byteLength(text);
  if (size > maxBytes) {
    throw new ProtocolError(422, `the value is ${size} bytes of JSON, over the ${maxBytes}-byte limit of a shared key: keep large data in a file under engineDir and share its path`, {
      reason: 'invalid_data',
    });
  }
  return text;
}

/** A stored value back: its JSON, or the text as it is when another engine stored plain text. */
export function decodeKeyValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Where the keys go: ET's proxy over HTTP, or a store in this process. */
export interface KeyBackend {
  readonly kind: 'proxy' | 'local';
  /** The value, or `{found: false}` when the key is unset or expired. */
  get(path: string, deadline: number, signal?: AbortSignal): Promise<{ found: true; value: unknown } | { found: false }>;
  set(path: string, text: string, ttlSeconds: number | undefined, deadline: number, signal?: AbortSignal): Promise<void>;
}

/** ET's key proxy at `redisETUrl`, called with the result webhook's retries. */
export class ProxyKeys implements KeyBackend {
  readonly kind = 'proxy';
  private readonly base: string;

  constructor(
    redisETUrl: string,
    private readonly client: WebhookClient,
  ) {
    let url: URL;
    try {
      url = new URL(redisETUrl);
    } catch {
      throw new ProtocolError(400, 'redisETUrl is not a URL', { field: 'redisETUrl', reason: 'invalid_data' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ProtocolError(400, 'redisETUrl must be an http(s) URL', { field: 'redisETUrl', reason: 'invalid_data' });
    this.base = redisETUrl.replace(/\/+$/, '');
  }

  async get(path: string, deadline: number, signal?: AbortSignal): Promise<{ found: true; value: unknown } | { found: false }> {
    // A 404 is ET's answer for an unset or expired key (and for one outside the task's ids, which the path never is).
    const answer = await this.client.request({ method: 'GET', url: this.base + path, deadline, signal, accept: [404], kind: 'keys' });
    return answer.status === 404 ? { found: false } : { found: true, value: decodeKeyValue(answer.body) };
  }

  async set(path: string, text: string, ttlSeconds: number | undefined, deadline: number, signal?: AbortSignal): Promise<void> {
    const query = ttlSeconds === undefined ? '' : `?ttlInSeconds=${ttlSeconds}`;
    await this.client.request({ method: 'POST', url: this.base + path + query, body: text, deadline, signal, headers: { 'Content-Type': 'application/json' }, kind: 'keys' });
  }
}

interface Entry {
  text: string;
  expiresAt: number;
}

/**
 * Keys with a TTL in memory: the emulator's proxy keeps its keys here, and a flow on a laptop with
 * no `redisETUrl` may opt into one (its keys live as long as the process). Expired keys are
 * dropped when read and by `sweep()`.
 */
export class MemoryKeyStore {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.entries.size;
  }

  read(id: string): string | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.text;
  }

  write(id: string, text: string, ttlSeconds = DEFAULT_KEY_TTL_SECONDS): void {
    // Re-inserted, so the map stays in expiry order for keys of one TTL and sweep() stops early less often.
    this.entries.delete(id);
    this.entries.set(id, { text, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  /** Drops every expired key; returns how many. */
  sweep(): number {
    const now = this.now();
    let dropped = 0;
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** A `MemoryKeyStore` as a backend: what a flow opted into when its task has no `redisETUrl`. */
export class LocalKeys implements KeyBackend {
  readonly kind = 'local';

  constructor(private readonly store: MemoryKeyStore) {}

  get(path: string): Promise<{ found: true; value: unknown } | { found: false }> {
    const text = this.store.read(path);
    return Promise.resolve(text === undefined ? { found: false } : { found: true, value: decodeKeyValue(text) });
  }

  set(path: string, text: string, ttlSeconds: number | undefined): Promise<void> {
    this.store.write(path, text, ttlSeconds);
    return Promise.resolve();
  }
}
