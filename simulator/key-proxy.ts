// Engine Toolkit's Redis key proxy (Veritone's "Engines and Redis"), served at each task's
// `redisETUrl` (`{emulator}/redis/{taskId}`): `GET|POST /keys/j{internalJobId}/{key}` and
// `/keys/t{internalTaskId}/{key}`, TTLs honoured (24 h by default, `?ttlInSeconds=`), 404 for an
// unset or expired key and for any id that is not the asking task's own. It records every set.
import type * as http from 'node:http';
import { DEFAULT_KEY_TTL_SECONDS, MemoryKeyStore, ProtocolError, readBounded, sendJson } from '@aiware-nodered/node-red-aiware';

/** The ids a task may use, from its work item. */
interface TaskIds {
  internalJobId?: string;
  internalTaskId?: string;
}

/** One accepted set, as `keys()` reports it. */
export interface KeySetRecord {
  /** The emulator's task id whose redisETUrl took the set. */
  taskId: string;
  scope: 'job' | 'task';
  /** The internalJobId (job scope) or internalTaskId (task scope). */
  id: string;
  jobId?: string;
  key: string;
  bytes: number;
  ttlInSeconds: number;
  at: number;
}

export interface KeyProxyOptions {
  /** Largest value accepted (413 above). Default 1 MiB, the pack's own limit. */
  maxValueBytes?: number;
  /** The clock TTLs are measured on (tests pass a fake one). */
  now?: () => number;
}

/** The route prefix of every task's proxy. */
export const KEY_PROXY_PREFIX = '/redis/';

const ROUTE = /^\/redis\/([^/]+)\/keys\/([jt])([^/]+)\/([^/]+)$/;

export class KeyProxy {
  private readonly store: MemoryKeyStore;
  private readonly tasks = new Map<string, TaskIds>();
  private readonly sets: KeySetRecord[] = [];
  private readonly maxValueBytes: number;
  private readonly now: () => number;
  /** Calls answered, by kind: for the bench and the summary. */
  readonly counts = { get: 0, set: 0, notFound: 0, refused: 0 };

  constructor(options: KeyProxyOptions = {}) {
    this.now = options.now ?? Date.now;
    this.store = new MemoryKeyStore(this.now);
    this.maxValueBytes = options.maxValueBytes ?? 1024 * 1024;
  }

  /** The redisETUrl a task's work item carries. */
  static urlFor(base: string, taskId: string): string {
    return `${base}${KEY_PROXY_PREFIX}${encodeURIComponent(taskId)}`;
  }

  /** The ids the task may read and write: its work item's, as posted. */
  register(taskId: string, fields: Record<string, string>): void {
    this.tasks.set(taskId, { internalJobId: fields.internalJobId, internalTaskId: fields.internalTaskId });
  }

  /** Every accepted set, in order; with a job id, only that job's (its job keys and its tasks' keys). */
  keys(jobId?: string): KeySetRecord[] {
    return this.sets.filter((set) => jobId === undefined || set.jobId === jobId).map((set) => ({ ...set }));
  }

  /** The stored text of a key, or undefined (unset or expired): for tests. */
  peek(scope: 'job' | 'task', id: string, key: string): string | undefined {
    return this.store.read(`${scope === 'job' ? 'j' : 't'}${id}/${key}`);
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, search: URLSearchParams): Promise<void> {
    const match = ROUTE.exec(pathname);
    let parts: string[];
    try {
      parts = match ? match.slice(1).map((part) => decodeURIComponent(part)) : [];
    } catch {
      parts = [];
    }
    if (parts.length === 0) {
      req.resume();
      sendJson(res, 404, { error: `no key route ${pathname}: use /redis/{taskId}/keys/j{internalJobId}/{key} or /keys/t{internalTaskId}/{key}` });
      return;
    }
    const [taskId, kind, id, key] = parts;
    const ids = this.tasks.get(taskId);
    const own = kind === 'j' ? ids?.internalJobId : ids?.internalTaskId;
    // ET's answer outside the task's own ids is 404, for GET and POST alike: it says nothing of other jobs' keys.
    if (own === undefined || own !== id) {
      req.resume();
      this.counts.refused++;
      sendJson(res, 404, { error: `${kind === 'j' ? 'job' : 'task'} ${id} is not this task's own` });
      return;
    }
    const storeId = `${kind}${id}/${key}`;
    if (req.method === 'GET') {
      req.resume();
      this.counts.get++;
      const text = this.store.read(storeId);
      if (text === undefined) {
        this.counts.notFound++;
        sendJson(res, 404, { error: `no key ${key} (never set, or its TTL passed)` });
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('Allow', 'GET, POST');
      sendJson(res, 405, { error: `${pathname} takes GET or POST` });
      return;
    }
    const ttlText = search.get('ttlInSeconds');
    const ttl = ttlText === null ? DEFAULT_KEY_TTL_SECONDS : /^\d+$/.test(ttlText) && Number(ttlText) > 0 ? Number(ttlText) : undefined;
    let raw: Buffer;
    try {
      raw = await readBounded(req, this.maxValueBytes, { drain: true });
    } catch (err) {
      if (err instanceof ProtocolError && err.status === 413) {
        sendJson(res, 413, { error: `a key's value may be at most ${this.maxValueBytes} bytes` });
        return;
      }
      throw err;
    }
    if (ttl === undefined) {
      sendJson(res, 400, { error: `ttlInSeconds must be a whole number of seconds from 1, got ${JSON.stringify(ttlText)}` });
      return;
    }
    if (raw.length === 0) {
      sendJson(res, 400, { error: 'the body is empty: POST the value to store' });
      return;
    }
    const text = raw.toString('utf8');
    this.store.write(storeId, text, ttl);
    this.counts.set++;
    this.sets.push({ taskId, scope: kind === 'j' ? 'job' : 'task', id, jobId: ids?.internalJobId, key, bytes: raw.length, ttlInSeconds: ttl, at: this.now() });
    // ET's proxy answers 200 with an empty body (Veritone's own description leaves open whether it should be 204).
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  }
}
