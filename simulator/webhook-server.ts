// The emulator's HTTP server (engine → ET): the heartbeat and result webhooks answer each
// post as ET does and record what they accept; the `cacheURI` route is handed to the input cache.
import type { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import { ProtocolError, errorMessage, heartbeatProblems, readBounded, resultProblems, sendJson, type Heartbeat, type ResultBody } from '@aiware-nodered/node-red-aiware';
import type { Deadlines } from './deadlines';
import type { InputCache } from './input-cache';
import type { TaskBook, TaskState, WebhookKind } from './task-book';

interface Refusals {
  heartbeat: number[];
  result: number[];
}

/**
 * Handles every request to the emulator's address. `heartbeat`, `result` and `refused` are
 * emitted on `events` (the emulator), with the task id first.
 */
export class WebhookServer {
  private readonly refusals = new Map<string, Refusals>();
  /** The Idempotency-Keys of the results recorded, by task: a copy is answered 204 and not kept twice. */
  private readonly resultKeys = new Map<string, Set<string>>();

  constructor(
    private readonly events: EventEmitter,
    private readonly book: TaskBook,
    private readonly deadlines: Deadlines,
    private readonly cache: InputCache,
    private readonly maxBodyBytes: number,
  ) {}

  /** The next posts of `kind` for the task (or any task, with '*') are answered with these statuses. */
  refuse(taskId: string, kind: WebhookKind, statuses: number[]): void {
    for (const status of statuses) {
      if (!Number.isInteger(status) || status < 400 || status > 599) {
        throw new RangeError(`refuse() takes 4xx or 5xx statuses, got ${status}`);
      }
    }
    let list = this.refusals.get(taskId);
    if (!list) this.refusals.set(taskId, (list = { heartbeat: [], result: [] }));
    list[kind].push(...statuses);
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const { pathname } = new URL(req.url ?? '/', 'http://toolkit');
      const match = /^\/(heartbeat|result|cache)\/([^/]+)\/?$/.exec(pathname);
      if (!match) {
        req.resume();
        sendJson(res, 404, { error: `no route for ${req.method} ${pathname}` });
        return;
      }
      const kind = match[1];
      let taskId: string;
      try {
        taskId = decodeURIComponent(match[2]);
      } catch {
        req.resume();
        sendJson(res, 400, { error: `bad task id in ${pathname}` });
        return;
      }
      if (kind === 'cache') {
        await this.cache.serve(taskId, req, res);
        return;
      }
      if (req.method !== 'POST') {
        req.resume();
        res.setHeader('Allow', 'POST');
        sendJson(res, 405, { error: `${pathname} takes POST` });
        return;
      }
      await this.webhook(kind as WebhookKind, taskId, req, res);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: errorMessage(err) });
      else res.destroy();
    }
  }

  private async webhook(kind: WebhookKind, taskId: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw: Buffer | undefined;
    try {
      // Drained past the limit, so the 413 goes out on a connection that stays usable.
      raw = await readBounded(req, this.maxBodyBytes, { drain: true });
    } catch (err) {
      if (!(err instanceof ProtocolError && err.status === 413)) throw err;
    }
    if (this.book.stopped) {
      sendJson(res, 503, { error: 'the toolkit emulator is stopping' });
      return;
    }
    const state = this.book.ensure(taskId);
    const rec = state.record;
    const attempt = ++rec.attempts[kind];
    const at = Date.now();

    const refusal = this.takeRefusal(taskId, kind);
    if (refusal !== undefined) {
      rec.refused.push({ kind, status: refusal, at });
      this.events.emit('refused', taskId, kind, refusal);
      this.book.changed(state);
      sendJson(res, refusal, { error: `refused by the toolkit emulator (${kind} post ${attempt})` });
      return;
    }

    const reject = (status: number, problems: string[]): void => {
      for (const problem of problems) this.book.violation(state, `${kind} post ${attempt}: ${problem}`);
      this.book.changed(state);
      sendJson(res, status, { error: problems.join('; ') });
    };
    if (raw === undefined) {
      reject(413, [`body is larger than ${this.maxBodyBytes} bytes`]);
      return;
    }
    const contentType = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      reject(400, [`Content-Type must be application/json, got ${JSON.stringify(contentType)}`]);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      reject(400, [`body is not JSON: ${errorMessage(err)}`]);
      return;
    }
    const problems = kind === 'heartbeat' ? heartbeatProblems(body) : resultProblems(body);
    if (problems.length > 0) {
      reject(400, problems);
      return;
    }
    // Recorded before the 204 goes out, so an engine that saw its 204 finds its post recorded.
    if (kind === 'heartbeat') this.acceptHeartbeat(state, body as Heartbeat, at, attempt);
    else if (!this.seenBefore(taskId, req.headers['idempotency-key'])) this.acceptResult(state, body as ResultBody, at, attempt);
    this.book.changed(state);
    sendJson(res, 204, undefined);
  }

  /**
   * A result whose Idempotency-Key was recorded already: a retry of a post the engine did not
   * hear answered, or a flow run again after a restart. ET keeps one copy; so does the emulator.
   */
  private seenBefore(taskId: string, key: string | string[] | undefined): boolean {
    if (typeof key !== 'string' || key === '') return false;
    const keys = this.resultKeys.get(taskId) ?? new Set<string>();
    this.resultKeys.set(taskId, keys);
    if (keys.has(key)) return true;
    keys.add(key);
    return false;
  }

  private acceptHeartbeat(state: TaskState, heartbeat: Heartbeat, at: number, attempt: number): void {
    const rec = state.record;
    if ('infoMs' in heartbeat) this.book.violation(state, `heartbeat post ${attempt}: infoMs is a misspelling of infoMsg`);
    if (state.closedBy === 'engine') {
      this.book.violation(state, `heartbeat post ${attempt}: ${heartbeat.status} heartbeat after the task was closed by a ${rec.status} heartbeat`);
    }
    rec.heartbeats.push({ ...heartbeat, at });
    this.events.emit('heartbeat', rec.taskId, heartbeat);
    // After the engine closed the task or the emulator timed it out, a heartbeat is only recorded.
    if (state.closedBy === 'engine' || state.closedBy === 'timeout') return;
    if (heartbeat.status === 'running') {
      if (rec.status === 'pending') this.book.setStatus(state, 'running');
      this.deadlines.armHeartbeat(state);
      return;
    }
    if (heartbeat.status === 'complete') {
      this.checkIndexes(state);
      this.book.close(state, 'complete', 'engine');
    } else {
      this.book.close(state, 'failed', 'engine', { reason: heartbeat.failureReason, message: heartbeat.failureMsg });
    }
  }

  private acceptResult(state: TaskState, result: ResultBody, at: number, attempt: number): void {
    const rec = state.record;
    const label = `result post ${attempt} (index ${result.index})`;
    if (state.closedBy === 'engine') this.book.violation(state, `${label}: arrived after the task was closed by a ${rec.status} heartbeat`);
    if (rec.results.some((earlier) => earlier.index === result.index)) this.book.violation(state, `${label}: index ${result.index} was already received`);
    const expected = rec.fields?.chunkContext;
    if (expected !== undefined && result.chunkContext !== expected) {
      this.book.violation(
        state,
        result.chunkContext === undefined
          ? `${label}: chunkContext is missing (the task's is ${JSON.stringify(expected)})`
          : `${label}: chunkContext ${JSON.stringify(result.chunkContext)} is not the task's ${JSON.stringify(expected)}`,
      );
    }
    rec.results.push({ ...result, at });
    this.events.emit('result', rec.taskId, result);
    if (state.closedBy === undefined && rec.status === 'pending') this.book.setStatus(state, 'running');
  }

  // `index` is the running count of results, from 1; a complete task has 1..N.
  private checkIndexes(state: TaskState): void {
    const indexes = [...new Set(state.record.results.map((result) => result.index))].sort((a, b) => a - b);
    if (indexes.some((index, i) => index !== i + 1)) {
      this.book.violation(state, `complete heartbeat: result indexes are not 1..${indexes.length}: got ${indexes.join(', ')}`);
    }
  }

  private takeRefusal(taskId: string, kind: WebhookKind): number | undefined {
    for (const key of [taskId, '*']) {
      const list = this.refusals.get(key);
      if (list && list[kind].length > 0) return list[kind].shift();
    }
    return undefined;
  }
}
