// The engine → Engine Toolkit client: heartbeat and result POSTs (docs/protocol.md, the webhooks), retried with
// back-off on network errors and 5xx until the task's deadline; a 4xx is final.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AxiosInstance } from 'axios';
import { sleep } from '../util/timers';
import { ProtocolError, errorMessage } from '../protocol/errors';
import type { FailureReason } from '../protocol/constants';

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
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });

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
}

export interface ToolkitAnswer {
  status: number;
  body: string;
}

export class WebhookClient {
  private instance?: AxiosInstance;
  private readonly retry: RetryPolicy;
  private readonly onRetry?: (event: RetryEvent) => void;
  private readonly onCall?: (event: CallEvent) => void;

  constructor(options: { retry?: Partial<RetryPolicy>; onRetry?: (event: RetryEvent) => void; onCall?: (event: CallEvent) => void } = {}) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.onRetry = options.onRetry;
    this.onCall = options.onCall;
  }

  // axios takes ~140 ms to load: an engine pays it at its first asynchronous post, not at start-up
  // (a synchronous chunk engine never posts).
  private get http(): AxiosInstance {
    if (this.instance) return this.instance;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const axios = (require('axios') as typeof import('axios')).default;
    this.instance = axios.create({
      httpAgent,
      httpsAgent,
      timeout: this.retry.requestTimeoutMs,
      headers: { 'Content-Type': 'application/json' },
      // Statuses are judged here, not thrown by axios.
      validateStatus: () => true,
      maxRedirects: 0,
      // Our own bodies are JSON strings already; never let axios re-encode them.
      transformRequest: [(data: unknown) => data],
      transformResponse: [(data: unknown) => data],
    });
    return this.instance;
  }

  /**
   * POSTs `body` (JSON) to `url`; resolves once the toolkit answered 2xx. Retries network errors,
   * 5xx and 429 with doubling back-off until `deadline` (epoch ms); throws a `WebhookError`
   * for a 4xx at once, or for the last failure once the deadline has passed.
   */
  async post(url: string, body: unknown, deadline: number, signal?: AbortSignal, headers?: Record<string, string>): Promise<void> {
    await this.request({ method: 'POST', url, body: JSON.stringify(body), deadline, signal, headers, kind: kindOf(body) });
  }

  /**
   * One call to the toolkit with the result webhook's retries: a 2xx, or a status listed in
   * `accept` (a GET's 404, say), is the answer; network errors, 5xx and 429 are tried again until
   * `deadline`; any other status throws a `WebhookError` at once. `body` is sent as it is (JSON text).
   */
  async request(call: ToolkitCall): Promise<ToolkitAnswer> {
    const { method, url, body, deadline, signal, headers, accept = [], kind = 'other' } = call;
    let delay = this.retry.initialDelayMs;
    let previous: WebhookError | undefined;
    for (let attempt = 1; ; attempt++) {
      let failure: WebhookError;
      const remaining = Math.max(1, deadline - Date.now());
      const startedAt = performance.now();
      let status: number | undefined;
      try {
        const response = await this.http.request<string>({
          method,
          url,
          data: body,
          signal,
          headers,
          timeout: Math.min(this.retry.requestTimeoutMs, remaining),
        });
        status = response.status;
        this.onCall?.({ kind, method, status, attempt, ms: performance.now() - startedAt });
        const text = typeof response.data === 'string' ? response.data : '';
        if ((response.status >= 200 && response.status < 300) || accept.includes(response.status)) return { status: response.status, body: text };
        failure = new WebhookError(`${url} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`, reasonForStatus(response.status));
        if (response.status < 500 && response.status !== 429) throw failure;
      } catch (err) {
        if (err instanceof WebhookError) throw err;
        if (status === undefined) this.onCall?.({ kind, method, attempt, ms: performance.now() - startedAt });
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
