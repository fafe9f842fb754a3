// The aiWARE side of pause-for-callback (docs/pause-for-callback.md, platform mode): the GraphQL mutations an
// engine calls (`getEngineJWT`, `updateTask`) and the wake-up `/callback` an outside service calls,
// which checks the JWT this emulator signed, refuses replays, and re-dispatches the task to /process.
import { randomBytes, randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import jwt from 'jsonwebtoken';
import { ProtocolError, errorMessage, readBounded, sendJson } from '@aiware-nodered/node-red-aiware';
import type { Deadlines } from './deadlines';
import { recordProcessAnswer } from './process-answer';
import { processRequest, type ProcessPoster } from './process-post';
import { FINAL_STATUSES, type TaskBook, type TaskState } from './task-book';

export const GRAPHQL_PATH = '/v3/graphql';
export const CALLBACK_PATH = '/callback';

/** What the emulator's `/callback` JWTs claim (with `jti`, `iat` and `exp`). */
export interface EngineJWTClaims {
  engineId: string;
  taskId: string;
  jobId: string;
}

export interface PlatformApiOptions {
  maxBodyBytes: number;
  /** Lifetime of a `getEngineJWT` token. */
  jwtTtlSeconds: number;
}

/** Where and what the emulator last posted to /process for a task: a wake-up posts it again. */
interface Dispatch {
  processUrl: string;
  fields: Record<string, string>;
}

type Variables = Record<string, unknown>;

/** A GraphQL answer: HTTP status and body. */
interface GraphQLAnswer {
  status: number;
  body: unknown;
}

/**
 * Serves `POST /v3/graphql` and `POST /callback` for the emulator. `paused` (task id) and `woken`
 * (task id, the re-dispatch's /process status or undefined) are emitted on `events`.
 */
export class PlatformApi {
  // Per emulator: a token of one emulator wakes nothing in another.
  private readonly secret = randomBytes(32);
  private readonly tasksByToken = new Map<string, string>();
  private readonly dispatches = new Map<string, Dispatch>();
  // Every jti that woke a task, until the emulator stops: a wake-up URL works once.
  private readonly usedJtis = new Set<string>();

  constructor(
    private readonly events: EventEmitter,
    private readonly book: TaskBook,
    private readonly deadlines: Deadlines,
    private readonly poster: ProcessPoster,
    private readonly options: PlatformApiOptions,
  ) {}

  /** True for a request target on the paths this serves. */
  handles(target: string | undefined): boolean {
    const pathname = (target ?? '/').split('?')[0];
    return pathname === GRAPHQL_PATH || pathname === CALLBACK_PATH;
  }

  /** A task's token, as the emulator put it in a work item or posted it: GraphQL calls carry it. */
  knowToken(taskId: string, token: string | undefined): void {
    if (token) this.tasksByToken.set(token, taskId);
  }

  /** The /process post the emulator made for a task (the fields as sent): a wake-up repeats it. */
  dispatched(taskId: string, processUrl: string, fields: Record<string, string>): void {
    this.knowToken(taskId, fields.token);
    this.dispatches.set(taskId, { processUrl, fields: { ...fields } });
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://toolkit');
      if (req.method !== 'POST') {
        // A link previewer's GET must not wake anything.
        req.resume();
        res.setHeader('Allow', 'POST');
        sendJson(res, 405, { error: `${url.pathname} takes POST` });
        return;
      }
      let raw: Buffer | undefined;
      try {
        raw = await readBounded(req, this.options.maxBodyBytes, { drain: true });
      } catch (err) {
        if (!(err instanceof ProtocolError && err.status === 413)) throw err;
      }
      if (this.book.stopped) {
        sendJson(res, 503, { error: 'the toolkit emulator is stopping' });
        return;
      }
      if (url.pathname === GRAPHQL_PATH) {
        const answer = raw === undefined ? graphqlError(413, `body is larger than ${this.options.maxBodyBytes} bytes`) : this.graphql(req, raw);
        sendJson(res, answer.status, answer.body);
      } else if (raw === undefined) {
        sendJson(res, 413, { error: `body is larger than ${this.options.maxBodyBytes} bytes` });
      } else {
        this.callback(url.searchParams, req.headers['content-type'], raw, res);
      }
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: errorMessage(err) });
      else res.destroy();
    }
  }

  // ---- GraphQL ----

  private graphql(req: http.IncomingMessage, raw: Buffer): GraphQLAnswer {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!bearer) return graphqlError(401, 'the Authorization header must be "Bearer <task token>"');
    const taskId = this.tasksByToken.get(bearer[1]);
    const state = taskId === undefined ? undefined : this.book.ensure(taskId);
    if (!state) return graphqlError(401, 'the token is not the token of any task of this toolkit emulator');

    let request: unknown;
    try {
      request = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return graphqlError(400, `body is not JSON: ${errorMessage(err)}`);
    }
    if (!isObject(request) || typeof request.query !== 'string') return graphqlError(400, 'body must be JSON {"query": "...", "variables": {...}}');
    if (request.variables !== undefined && request.variables !== null && !isObject(request.variables)) return graphqlError(400, 'variables must be an object');
    const variables = flatten(isObject(request.variables) ? request.variables : {});
    const field = operationField(request.query);
    if (field === 'getEngineJWT') return this.getEngineJWT(state, variables);
    if (field === 'updateTask') return this.updateTask(state, variables);
    return graphqlError(400, `unsupported operation ${JSON.stringify(field ?? request.query.slice(0, 40))}: the toolkit emulator serves getEngineJWT and updateTask`);
  }

  private getEngineJWT(state: TaskState, variables: Variables): GraphQLAnswer {
    const { taskId } = state.record;
    const payload = payloadOf(state.record.fields);
    const jobIds = [state.record.fields?.internalJobId, payload.jobId].filter((id): id is string => typeof id === 'string');
    const problems: string[] = [];
    for (const name of ['engineId', 'jobId', 'taskId'] as const) {
      if (typeof variables[name] !== 'string' || variables[name] === '') problems.push(`variable $${name} of type ID! is required`);
    }
    if (typeof variables.taskId === 'string' && variables.taskId !== '' && variables.taskId !== taskId) {
      problems.push(`taskId ${JSON.stringify(variables.taskId)} is not the task of this token (${taskId})`);
    }
    if (typeof variables.jobId === 'string' && variables.jobId !== '' && !jobIds.includes(variables.jobId)) {
      problems.push(`jobId ${JSON.stringify(variables.jobId)} is not the job of this token's task (${jobIds[0] ?? 'none'})`);
    }
    if (problems.length > 0) return fieldErrors('getEngineJWT', problems);
    const engineId = variables.engineId as string;
    const jobId = variables.jobId as string;
    const claims: EngineJWTClaims = { engineId, taskId, jobId };
    const token = jwt.sign(claims, this.secret, { algorithm: 'HS256', expiresIn: this.options.jwtTtlSeconds, jwtid: randomUUID() });
    const tdoId = typeof variables.tdoId === 'string' ? variables.tdoId : typeof payload.recordingId === 'string' ? payload.recordingId : null;
    const applicationId = typeof payload.applicationId === 'string' ? payload.applicationId : null;
    return { status: 200, body: { data: { getEngineJWT: { engineId, token, resource: { applicationId, tdoId, jobId, taskId } } } } };
  }

  private updateTask(state: TaskState, variables: Variables): GraphQLAnswer {
    const rec = state.record;
    const id = variables.taskId ?? variables.id;
    const problems: string[] = [];
    if (typeof id !== 'string' || id === '') problems.push('variable $taskId (or $id) of type ID! is required');
    else if (id !== rec.taskId) problems.push(`task ${JSON.stringify(id)} is not the task of this token (${rec.taskId})`);
    if (typeof variables.status !== 'string' || variables.status === '') problems.push('variable $status of type String! is required');
    if (problems.length > 0) return fieldErrors('updateTask', problems);
    const status = variables.status as string;
    rec.statusUpdates.push({ status, at: Date.now() });
    if (status === 'paused') this.pause(state);
    this.book.changed(state);
    return { status: 200, body: { data: { updateTask: { id: rec.taskId, status } } } };
  }

  private pause(state: TaskState): void {
    const rec = state.record;
    rec.paused++;
    if (state.closedBy === 'engine' || state.closedBy === 'timeout') {
      this.book.violation(state, `updateTask paused: the task had already ended (${rec.status})`);
      return;
    }
    // The /process answer may come before the pause: what a 2xx answer closed, the pause reopens.
    if (state.closedBy === 'process') this.book.reopen(state);
    this.deadlines.suspendHeartbeat(state);
    this.book.setStatus(state, 'paused');
    this.events.emit('paused', rec.taskId);
  }

  // ---- the wake-up ----

  private callback(query: URLSearchParams, contentType: string | undefined, raw: Buffer, res: http.ServerResponse): void {
    const token = query.get('jwt');
    if (!token) {
      sendJson(res, 401, { error: 'jwt is missing' });
      return;
    }
    let claims: jwt.JwtPayload;
    try {
      const verified = jwt.verify(token, this.secret, { algorithms: ['HS256'] });
      if (typeof verified === 'string') throw new jwt.JsonWebTokenError('the token carries no claims');
      claims = verified;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) sendJson(res, 410, { error: `jwt expired at ${err.expiredAt.toISOString()}` });
      else sendJson(res, 401, { error: `jwt is not valid: ${errorMessage(err)}` });
      return;
    }
    const { engineId, taskId, jti } = claims as Partial<Record<string, unknown>>;
    if (typeof engineId !== 'string' || typeof taskId !== 'string' || typeof jti !== 'string') {
      sendJson(res, 401, { error: 'jwt does not name an engine, a task and a jti' });
      return;
    }
    if (query.get('engineId') !== engineId) {
      sendJson(res, 401, { error: 'engineId is not the engine the jwt was made for' });
      return;
    }
    if (this.usedJtis.has(jti)) {
      sendJson(res, 409, { error: 'already woken' });
      return;
    }
    const data = query.get('data');
    if (data === null) {
      sendJson(res, 400, { error: 'data is missing' });
      return;
    }
    const dispatch = this.dispatches.get(taskId);
    if (!dispatch) {
      sendJson(res, 404, { error: `task ${taskId} was never posted to an engine's /process` });
      return;
    }
    const state = this.book.ensure(taskId);
    if (FINAL_STATUSES.includes(state.record.status)) {
      sendJson(res, 410, { error: `task ${taskId} has ended (${state.record.status})` });
      return;
    }
    // Claimed before anything is awaited: of two calls in the same millisecond, one gets here first.
    this.usedJtis.add(jti);
    sendJson(res, 202, { woken: taskId });
    void this.redispatch(state, dispatch, data, callbackBody(raw, contentType));
  }

  // The wake-up /process: the task's fields as last posted, no chunk, and a payload that says why.
  private async redispatch(state: TaskState, dispatch: Dispatch, data: string, callback: unknown): Promise<void> {
    const rec = state.record;
    const payload = { ...payloadOf(dispatch.fields), isCallback: true, data, ...(callback === undefined ? {} : { callback }) };
    const fields = { ...dispatch.fields, payload: JSON.stringify(payload) };
    rec.attempts.process++;
    // Posted and not yet answered, as a first /process is; the answer moves it on.
    this.book.setStatus(state, 'pending');
    this.book.changed(state);
    const at = Date.now();
    try {
      const answer = await this.poster.post(dispatch.processUrl, processRequest(fields));
      rec.wakeUps.push({ at, status: answer.status });
      recordProcessAnswer(this.book, this.deadlines, state, answer);
      this.events.emit('woken', rec.taskId, answer.status);
    } catch (err) {
      if (this.book.stopped) return;
      const message = errorMessage(err);
      rec.wakeUps.push({ at, error: message });
      if (state.closedBy !== 'engine' && state.closedBy !== 'timeout') {
        this.book.close(state, 'failed', 'process', { reason: 'system_error', message: `the wake-up /process post to ${dispatch.processUrl} failed: ${message}` });
      }
      this.book.changed(state);
      this.events.emit('woken', rec.taskId, undefined);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// aiWARE's own mutations take `input: {…, resource: {…}}`; the flat variables win over those.
function flatten(variables: Variables): Variables {
  const input = isObject(variables.input) ? variables.input : {};
  const resource = isObject(input.resource) ? input.resource : {};
  return { ...resource, ...input, ...variables };
}

/** The first field of the operation: `mutation x($a: ID!) { getEngineJWT(…) {…} }` → `getEngineJWT`. */
export function operationField(query: string): string | undefined {
  const text = query.replace(/#[^\n]*/g, '');
  const open = text.indexOf('{');
  if (open < 0) return undefined;
  return /^\s*(?:\w+\s*:\s*)?(\w+)/.exec(text.slice(open + 1))?.[1];
}

function payloadOf(fields: Record<string, string> | undefined): Record<string, unknown> {
  try {
    const payload = JSON.parse(fields?.payload ?? '{}') as unknown;
    return isObject(payload) ? payload : {};
  } catch {
    return {};
  }
}

// What the service sent: JSON when it says so and it parses, else the text; nothing when empty.
function callbackBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (/\bjson\b/i.test(contentType ?? '')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

function graphqlError(status: number, message: string): GraphQLAnswer {
  return { status, body: { errors: [{ message }] } };
}

// GraphQL's way for a resolver that refuses: 200, the field null, an error per problem.
function fieldErrors(field: string, problems: string[]): GraphQLAnswer {
  return { status: 200, body: { data: { [field]: null }, errors: problems.map((message) => ({ message, path: [field] })) } };
}
