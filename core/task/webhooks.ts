// The engine → Engine Toolkit client: heartbeat and result POSTs (docs/protocol.md, the webhooks), retried with
// back-off on network errors and 5xx until the task's deadline; a 4xx is final. Plain node:http: at 1000
// open tasks the runner sends 1000 heartbeats a second, and axios's own work per request (merging its
// config, looking up proxies) was a quarter of the runner's CPU in the soak (bench/soak.ts), most of it
// at the bursts where heartbeats came late.
import * as http from 'node:http';
import * as https from 'node:https';
import { sleep } from '../util/timers';
import { ProtocolError, errorMessage } from '../protocol/errors';
import type { FailureReason } from '../protocol/constants';
import { SpanKind, context, inSpan, injectInto, recordingSpan, type Attributes, type Context, type Span } from '../util/trace';

export interface RetryPolicy {
  /** First wait after a failed attempt. */
  initialDelayMs: number;
  /** Longest wait between two attempts. */
  maxDelayMs: number;
  /** One attempt's own timeout. */
  requestTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 2000, requestTimeoutMs: 10_000 };

/** What a call to the toolkit was for: a label of the runner's metrics. */
export type CallKind = 'heartbeat' | 'result' | 'keys' | 'other';

export interface RetryEvent {
  kind: CallKind;
  url: string;
  attempt: number;
  delayMs: number;
  cause: string;
}

/** One attempt of a call to the toolkit, once answered (or failed without an answer: `status` undefined). */
export interface CallEvent {
  kind: CallKind;
  method: 'GET' | 'POST';
  /** The HTTP status, undefined for a network error, a timeout or a cancel. */
  status?: number;
  attempt: number;
  ms: number;
}

/** A webhook post that will not succeed: the task fails with `reason`. */
export class WebhookError extends ProtocolError {
  constructor(message: string, reason: FailureReason, status = 502) {
    super(status, message, { reason });
    this.name = 'WebhookError';
  }
}

// ET answers 204 to every post; reusing sockets matters at thousands of results a second.
const AGENTS = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };
// The wheel's running heartbeats have sockets of their own: when 1000 tasks end at once, their
// results and final heartbeats fill the 64 sockets above, and a heartbeat queued behind them
// went out hundreds of ms after its slot. 256, as a socket is freed only when the event loop reads
// its answer: at 1000 open tasks a quarter second of heartbeats may be under way while it is busy
// (a task has at most one, so fewer tasks hold fewer).
const RUNNING_AGENTS = { http: new http.Agent({ keepAlive: true, maxSockets: 256 }), https: new https.Agent({ keepAlive: true, maxSockets: 256 }) };

function reasonForStatus(status: number): FailureReason {
  if (status === 404) return 'url_not_found';
  if (status === 401 || status === 403) return 'url_not_allowed';
  if (status === 400 || status === 422) return 'invalid_data';
  if (status === 429) return 'rate_limited';
  return 'external_error';
}

function reasonForNetworkError(code: string | undefined): FailureReason {
  switch (code) {
    case 'ECONNREFUSED':
      return 'url_connection_refused';
    case 'ETIMEDOUT':
    case 'ECONNABORTED':
      return 'url_timeout';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'url_not_found';
    default:
      return 'url_error';
  }
}

/** One call of `WebhookClient.request`. */
export interface ToolkitCall {
  method: 'GET' | 'POST';
  url: string;
  /** Sent as it is: JSON text for the toolkit's webhooks. */
  body?: string;
  /** Epoch ms: no attempt starts after it. */
  deadline: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Statuses besides 2xx that are an answer, not a failure (a GET's 404 for a missing key). */
  accept?: number[];
  /** What the call is for (metrics); default `other`. */
  kind?: CallKind;
  /** A running heartbeat of the wheel: sent on its own sockets. */
  running?: boolean;
  /** The span the call is a child of (its own span, `POST result`…, is made only under a recorded one); default: the active context. */
  trace?: Context;
  /** More attributes for the call's span. */
  attributes?: Attributes;
}

/** What `WebhookClient.post` may add to a post. */
export type PostOptions = Pick<ToolkitCall, 'signal' | 'headers' | 'running' | 'trace' | 'attributes'>;

export interface ToolkitAnswer {
  status: number;
  body: string;
}

export class WebhookClient {
  private readonly retry: RetryPolicy;
  private readonly onRetry?: (event: RetryEvent) => void;
  private readonly onCall?: (event: CallEvent) => void;

  constructor(options: { retry?: Partial<RetryPolicy>; onRetry?: (event: RetryEvent) => void; onCall?: (event: CallEvent) => void } = {}) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.onRetry = options.onRetry;
    this.onCall = options.onCall;
  }

  /**
   * POSTs `body` (JSON) to `url`; resolves once the toolkit answered 2xx. `running`: the wheel's
   * running heartbeat, sent on sockets of its own so it never waits behind results. Retries network errors,
   * 5xx and 429 with doubling back-off until `deadline` (epoch ms); throws a `WebhookError`
   * for a 4xx at once, or for the last failure once the deadline has passed.
   */
  async post(url: string, body: unknown, deadline: number, options: PostOptions = {}): Promise<void> {
    await this.request({ method: 'POST', url, body: JSON.stringify(body), deadline, kind: kindOf(body), ...options });
  }

  /**
   * One call to the toolkit with the result webhook's retries: a 2xx, or a status listed in
   * `accept` (a GET's 404, say), is the answer; network errors, 5xx and 429 are tried again until
   * `deadline`; any other status throws a `WebhookError` at once. `body` is sent as it is (JSON text).
   */
  async request(call: ToolkitCall): Promise<ToolkitAnswer> {
    const parent = call.trace ?? context.active();
    if (!recordingSpan(parent)) return this.attempts(call);
    // A span of its own, the trace context in the headers (the toolkit, or a proxy, may carry it on).
    let target: URL | undefined;
    try {
      target = new URL(call.url);
    } catch {
      // The attempt says why.
    }
    const attributes: Attributes = { 'http.request.method': call.method, 'aiware.call': call.kind ?? 'other', ...call.attributes };
    if (target) {
      attributes['server.address'] = target.hostname;
      attributes['server.port'] = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
    }
    return inSpan(
      parent,
      `${call.method} ${call.kind ?? 'other'}`,
      attributes,
      async (span) => {
        const headers = { ...call.headers };
        injectInto(context.active(), headers);
        const answer = await this.attempts({ ...call, headers }, span);
        span?.setAttribute('http.response.status_code', answer.status);
        return answer;
      },
      SpanKind.CLIENT,
    );
  }

  private async attempts(call: ToolkitCall, span?: Span): Promise<ToolkitAnswer> {
    const { method, url, body, deadline, signal, headers, accept = [], kind = 'other', running = false } = call;
    let delay = this.retry.initialDelayMs;
    let previous: WebhookError | undefined;
    for (let attempt = 1; ; attempt++) {
      let failure: WebhookError;
      const remaining = Math.max(1, deadline - Date.now());
      const startedAt = performance.now();
      let status: number | undefined;
      try {
        const response = await send(method, url, body, headers, Math.min(this.retry.requestTimeoutMs, remaining), signal, running ? RUNNING_AGENTS : AGENTS);
        status = response.status;
        span?.setAttribute('aiware.call.attempts', attempt);
        this.onCall?.({ kind, method, status, attempt, ms: performance.now() - startedAt });
        const text = response.body;
        if ((response.status >= 200 && response.status < 300) || accept.includes(response.status)) return { status: response.status, body: text };
        failure = new WebhookError(`${url} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`, reasonForStatus(response.status));
        if (response.status < 500 && response.status !== 429) throw failure;
      } catch (err) {
        if (err instanceof WebhookError) throw err;
        if (status === undefined) {
          span?.setAttribute('aiware.call.attempts', attempt);
          this.onCall?.({ kind, method, attempt, ms: performance.now() - startedAt });
        }
        if (signal?.aborted) throw new WebhookError(`${method === 'POST' ? 'post to' : `${method} of`} ${url} was cancelled`, 'internal_error');
        const code = typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
        failure = new WebhookError(`${method === 'POST' ? 'post to' : `${method} of`} ${url} failed: ${errorMessage(err)}`, reasonForNetworkError(code));
        // An attempt the task's own deadline cut short says nothing of the endpoint: the failure before it does.
        if (previous && reasonForNetworkError(code) === 'url_timeout' && remaining < this.retry.requestTimeoutMs) failure = previous;
      }
      previous = failure;
      const wait = Math.min(delay, this.retry.maxDelayMs);
      if (Date.now() + wait >= deadline) {
        throw new WebhookError(`${failure.message} (gave up after ${attempt} attempts: the task's time ran out)`, failure.reason);
      }
      this.onRetry?.({ kind, url, attempt, delayMs: wait, cause: failure.message });
      await sleep(wait, signal);
      delay *= 2;
    }
  }
}

/** A webhook body's kind: a result has its `output`, a heartbeat its `status`. */
function kindOf(body: unknown): CallKind {
  if (typeof body !== 'object' || body === null) return 'other';
  if ('output' in body) return 'result';
  return 'status' in body ? 'heartbeat' : 'other';
}

/**
 * One attempt: the answer's status and text, whatever the status; a network error, a timeout
 * (`ECONNABORTED`) or an answer cut short rejects with the error, its `code` kept. Redirects are
 * not followed (a 3xx is an answer like any other).
 */
function send(
  method: string,
  url: string,
  body: string | undefined,
  headers: Record<string, string> | undefined,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  agents: typeof AGENTS,
): Promise<ToolkitAnswer> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (err) {
      reject(err);
      return;
    }
    const secure = target.protocol === 'https:';
    if (!secure && target.protocol !== 'http:') {
      reject(Object.assign(new Error(`unsupported protocol ${target.protocol}`), { code: 'ERR_BAD_REQUEST' }));
      return;
    }
    // Lower-case names, so a caller's `Content-Type` replaces the default instead of going out beside it.
    const all: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
    for (const [name, value] of Object.entries(headers ?? {})) all[name.toLowerCase()] = value;
    if (body !== undefined) all['content-length'] = Buffer.byteLength(body);
    if (signal?.aborted) {
      reject(Object.assign(new Error('the request was cancelled'), { code: 'ABORT_ERR' }));
      return;
    }
    let settled = false;
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      if (signal) underWay.get(signal)?.delete(req);
    };
    const fail = (err: Error): void => {
      if (settled) return;
      done();
      reject(err);
    };
    const req = (secure ? https : http).request(target, { method, headers: all, agent: secure ? agents.https : agents.http }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        done();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('close', () => {
        if (!res.complete) fail(Object.assign(new Error('the answer was cut short'), { code: 'ECONNRESET' }));
      });
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`timeout of ${timeoutMs}ms exceeded`), { code: 'ECONNABORTED' })), timeoutMs);
    req.on('error', fail);
    if (signal) cancelledBy(signal).add(req);
    req.end(body);
  });
}

/**
 * The requests under way for each signal (a task's), destroyed together when it aborts. One abort
 * listener per signal, not one per request as `http.request`'s own `signal` option adds: that
 * listener was a tenth of the runner's CPU when 1000 tasks ended at once in the soak.
 */
const underWay = new WeakMap<AbortSignal, Set<http.ClientRequest>>();

function cancelledBy(signal: AbortSignal): Set<http.ClientRequest> {
  const known = underWay.get(signal);
  if (known) return known;
  const requests = new Set<http.ClientRequest>();
  underWay.set(signal, requests);
  const cancel = (): void => {
    for (const req of requests) req.destroy(Object.assign(new Error('the request was cancelled'), { code: 'ABORT_ERR' }));
    requests.clear();
  };
  signal.addEventListener('abort', cancel, { once: true });
  return requests;
}
