// The slow outside party of pause-for-callback (a human review, a partner API): takes a job with a
// callback URL, answers 202 at once, and after a delay posts progress, then the answer or a failure,
// to the URLs it was given, recording how each was answered. The CLI and the tests play it.
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { errorMessage, readBounded, sendJson, ProtocolError } from '@aiware-nodered/node-red-aiware';

export interface OutsideServiceOptions {
  /** How long after a request the service calls back. */
  delayMs: number;
  /** The body of each callback, as JSON. Default `{}`. */
  answer?: unknown;
  /** Report this failure (`{"error": fail}` to `failUrl`, else `callbackUrl`) instead of answering. */
  fail?: string;
  /** Posted as `{"progress": text}` to `progressUrl`, one by one, before the answer. */
  progress?: string[];
}

/** A job the service took. */
export interface ServiceRequest {
  id: number;
  at: number;
  /** The task it is for: `?taskId=` on the service URL, a `taskId` in the body, or the claim of a wake-up URL's jwt. */
  taskId?: string;
  callbackUrl: string;
  failUrl?: string;
  progressUrl?: string;
  /** The whole JSON body as received. */
  body: Record<string, unknown>;
}

/** A call the service made back, and how it was answered. */
export interface ServiceCall {
  request: number;
  taskId?: string;
  kind: 'progress' | 'callback' | 'fail';
  url: string;
  at: number;
  /** The answer's status; absent when no answer came (see `error`). */
  status?: number;
  /** The answer's body: JSON when it parses, else text. */
  body?: unknown;
  error?: string;
}

const MAX_REQUEST_BYTES = 1024 * 1024;
const CALL_TIMEOUT_MS = 10_000;
const RETRY_DELAY_MS = 200;

/**
 * `POST <url>` with JSON `{callbackUrl, failUrl?, progressUrl?, …}`. Events: `request`
 * (ServiceRequest), `call` (ServiceCall), `done` (ServiceRequest) once its last call is answered.
 */
export class OutsideService extends EventEmitter {
  /** `http://127.0.0.1:<port>/service`. */
  readonly url: string;
  readonly requests: ServiceRequest[] = [];
  readonly calls: ServiceCall[] = [];

  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly agent = new http.Agent({ keepAlive: false });
  private readonly open = new Set<number>();
  private stopped = false;

  private constructor(
    private readonly server: http.Server,
    url: string,
    private readonly options: OutsideServiceOptions,
  ) {
    super();
    this.url = url;
    server.on('request', (req, res) => void this.handle(req, res));
  }

  static async start(options: OutsideServiceOptions): Promise<OutsideService> {
    if (!Number.isFinite(options.delayMs) || options.delayMs < 0) throw new RangeError(`delayMs must be a number from 0, got ${options.delayMs}`);
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    return new OutsideService(server, `http://127.0.0.1:${port}/service`, options);
  }

  /** Jobs taken whose calls are not all answered yet. */
  get pending(): number {
    return this.open.size;
  }

  /** Clears every timer, ends calls in flight, closes the server. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.agent.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://service');
      if (url.pathname !== '/service') {
        req.resume();
        sendJson(res, 404, { error: `no route for ${req.method} ${url.pathname}` });
        return;
      }
      if (req.method !== 'POST') {
        req.resume();
        res.setHeader('Allow', 'POST');
        sendJson(res, 405, { error: '/service takes POST' });
        return;
      }
      let raw: Buffer;
      try {
        raw = await readBounded(req, MAX_REQUEST_BYTES, { drain: true });
      } catch (err) {
        if (err instanceof ProtocolError) {
          sendJson(res, err.status, { error: err.message });
          return;
        }
        throw err;
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        sendJson(res, 400, { error: `body is not JSON: ${errorMessage(err)}` });
        return;
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        sendJson(res, 400, { error: 'body must be a JSON object with a callbackUrl' });
        return;
      }
      const job = body as Record<string, unknown>;
      const urls: Partial<Record<'callbackUrl' | 'failUrl' | 'progressUrl', string>> = {};
      for (const name of ['callbackUrl', 'failUrl', 'progressUrl'] as const) {
        const value = job[name];
        if (value === undefined || value === null) continue;
        if (typeof value !== 'string' || !isHttpUrl(value)) {
          sendJson(res, 400, { error: `${name} must be an http(s) URL, got ${JSON.stringify(value)}` });
          return;
        }
        urls[name] = value;
      }
      if (urls.callbackUrl === undefined) {
        sendJson(res, 400, { error: 'callbackUrl is required' });
        return;
      }
      if (this.stopped) {
        sendJson(res, 503, { error: 'the outside service is stopping' });
        return;
      }
      const request: ServiceRequest = {
        id: this.requests.length + 1,
        at: Date.now(),
        taskId: taskIdOf(url, job, urls.callbackUrl),
        callbackUrl: urls.callbackUrl,
        failUrl: urls.failUrl,
        progressUrl: urls.progressUrl,
        body: job,
      };
      if (request.taskId === undefined) delete request.taskId;
      this.requests.push(request);
      this.open.add(request.id);
      sendJson(res, 202, { accepted: request.id });
      this.emit('request', request);
      this.later(() => void this.callBack(request), this.options.delayMs);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: errorMessage(err) });
      else res.destroy();
    }
  }

  private async callBack(request: ServiceRequest): Promise<void> {
    if (request.progressUrl !== undefined) {
      for (const text of this.options.progress ?? []) await this.call(request, 'progress', request.progressUrl, { progress: text });
    }
    if (this.options.fail !== undefined) await this.call(request, 'fail', request.failUrl ?? request.callbackUrl, { error: this.options.fail });
    else await this.call(request, 'callback', request.callbackUrl, this.options.answer ?? {});
    this.open.delete(request.id);
    if (!this.stopped) this.emit('done', request);
  }

  // One POST, tried once more after a network error; never more.
  private async call(request: ServiceRequest, kind: ServiceCall['kind'], url: string, body: unknown): Promise<void> {
    if (this.stopped) return;
    const at = Date.now();
    let answer = await this.post(url, body);
    if ('error' in answer && !this.stopped) {
      await new Promise<void>((resolve) => this.later(resolve, RETRY_DELAY_MS));
      if (this.stopped) return;
      answer = await this.post(url, body);
    }
    if (this.stopped) return;
    const call: ServiceCall = { request: request.id, kind, url, at, ...answer };
    if (request.taskId !== undefined) call.taskId = request.taskId;
    this.calls.push(call);
    this.emit('call', call);
  }

  private post(target: string, body: unknown): Promise<{ status: number; body?: unknown } | { error: string }> {
    const text = JSON.stringify(body);
    return new Promise((resolve) => {
      const req = http.request(
        target,
        {
          method: 'POST',
          agent: this.agent,
          timeout: CALL_TIMEOUT_MS,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'User-Agent': 'aiware-sim-outside-service' },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (data: Buffer) => parts.push(data));
          res.on('error', (err) => resolve({ error: errorMessage(err) }));
          res.on('end', () => {
            const answer = Buffer.concat(parts).toString('utf8');
            resolve(answer === '' ? { status: res.statusCode ?? 0 } : { status: res.statusCode ?? 0, body: parseText(answer) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
      req.on('error', (err) => resolve({ error: errorMessage(err) }));
      req.end(text);
    });
  }

  private later(run: () => void, ms: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function parseText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

// Which task a job is for, so a report can show each task's calls.
function taskIdOf(url: URL, body: Record<string, unknown>, callbackUrl: string): string | undefined {
  const fromQuery = url.searchParams.get('taskId');
  if (fromQuery) return fromQuery;
  if (typeof body.taskId === 'string' && body.taskId !== '') return body.taskId;
  // A platform wake-up URL carries a jwt naming its task; read, not verified (the emulator does that).
  const token = new URL(callbackUrl).searchParams.get('jwt');
  const claims = token ? jwt.decode(token) : null;
  return claims !== null && typeof claims === 'object' && typeof claims.taskId === 'string' ? claims.taskId : undefined;
}
