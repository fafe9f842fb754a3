// Platform mode: aiWARE's wake-up URL carries a signed `data` (the paused task and message, or a
// reference to them in the wait folder); the wake-up /process comes back through aiware-process-in,
// to whichever engine instance aiWARE starts, and is claimed once.
import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../protocol/errors';
import type { ParsedFields } from '../protocol/fields';
import type { Task } from '../task/task';
import type { CallbackSigner } from './callback-tokens';
import { getEngineJWT, updateTaskStatus } from './platform-api';
import { MAX_INLINE_DATA, PLATFORM_WAIT_MS, type DataClaims, type PauseNode, type PlatformPause, type PlatformPauseOptions, type Wake, type WaitError } from './types';
import { failureText, hashOf, mergeFields, savedTask, stringOf, wakeupAddress } from './wait-helpers';
import type { WaitOutcome, WaitRecord, WaitStore } from './wait-store';
import { inSpanNow } from '../util/trace';

/** What the platform mode needs of the pause service. */
export interface PlatformContext {
  readonly store: WaitStore;
  signer(): Promise<CallbackSigner>;
  /** The running pause node of that id. */
  node(id: string): PauseNode | undefined;
  flowsStarted(): boolean;
  warn(text: string): void;
  /** Output 3 when wired, else the task fails. */
  failThrough(node: PauseNode, wait: WaitRecord, task: Task, error: WaitError): void;
  /** Why a wait is not waiting (409, 503 or 404). */
  notWaiting(waitId: string): Promise<ProtocolError>;
}

/**
 * Platform mode: signs the state into `data` (or saves it and signs a reference when it is too
 * large for a URL), gets the wake-up JWT from aiWARE, and marks the task `paused` there.
 * The caller sends the URL on, then lets the task go (`task.pause()`).
 */
export async function pausePlatform(ctx: PlatformContext, task: Task, node: PauseNode, options: PlatformPauseOptions): Promise<PlatformPause> {
  const { fields } = task;
  const base = wakeupAddress(fields.externalCallbackWebhook ?? options.wakeupUrl);
  if (!base) {
    throw new ProtocolError(400, 'the platform mode needs a wake-up address: the task has no externalCallbackWebhook and the node sets no wake-up URL', { reason: 'invalid_data' });
  }
  if (!fields.veritoneApiBaseUrl || !fields.token) {
    throw new ProtocolError(400, 'the platform mode needs the task’s veritoneApiBaseUrl and token (use the local mode without a platform)', { reason: 'invalid_data' });
  }
  const payload = fields.payload ?? {};
  const engineId = options.engineId ?? stringOf(payload.engineId);
  if (!engineId) throw new ProtocolError(400, 'the platform mode needs the engine id: set ENGINE_ID (the runner does) or payload.engineId', { reason: 'invalid_data' });
  const jobId = stringOf(payload.jobId) ?? fields.internalJobId;
  const taskId = stringOf(payload.taskId) ?? fields.internalTaskId;
  if (!jobId || !taskId) throw new ProtocolError(400, 'the platform mode needs the task’s job and task ids (payload.jobId/taskId or internalJobId/internalTaskId)', { reason: 'invalid_data' });

  const now = Date.now();
  const expiresAt = now + (options.timeoutSeconds > 0 ? options.timeoutSeconds * 1000 : PLATFORM_WAIT_MS);
  const id = randomUUID();
  const state = { task: savedTask(task, false), message: options.message };
  const signer = await ctx.signer();
  let claims: DataClaims = { w: id, n: node.id, s: state };
  let stateIn: PlatformPause['stateIn'] = 'data';
  if (signer.sign(claims, expiresAt).length > MAX_INLINE_DATA) {
    const wait: WaitRecord = { version: 1, id, mode: 'platform', node: node.id, createdAt: now, expiresAt, capped: false, ...state, files: [] };
    await ctx.store.save(wait);
    claims = { w: id, n: node.id, h: hashOf(state) };
    stateIn = 'folder';
  }
  const jwt = await getEngineJWT(fields.veritoneApiBaseUrl, fields.token, { engineId, tdoId: stringOf(payload.tdoId) ?? stringOf(payload.recordingId), jobId, taskId });
  const url = (data: string) => `${base}?jwt=${encodeURIComponent(jwt)}&engineId=${encodeURIComponent(engineId)}&data=${encodeURIComponent(data)}`;
  const callbackUrl = url(signer.sign({ ...claims }, expiresAt));
  const failUrl = url(signer.sign({ ...claims, o: 'fail' }, expiresAt));
  await updateTaskStatus(fields.veritoneApiBaseUrl, fields.token, taskId, 'paused');
  return { waitId: id, callbackUrl, failUrl, expiresAt, stateIn };
}

/**
 * A platform wake-up (`payload.isCallback`): checks `data` (signed by this engine, unaltered, a
 * pause this engine's flows have) and claims the wait, so a second wake-up gets 409. Throws a
 * 4xx ProtocolError that resumes nothing, or 503 while the flows are not running.
 */
export async function prepareWake(ctx: PlatformContext, data: unknown, parsed: ParsedFields): Promise<Wake> {
  if (typeof data !== 'string' || data === '') throw new ProtocolError(400, 'a wake-up (payload.isCallback) needs payload.data: the data of the wake-up URL', { field: 'payload' });
  const check = (await ctx.signer()).verify<DataClaims>(data);
  if ('problem' in check) throw new ProtocolError(check.problem === 'expired' ? 410 : 401, `the wake-up's data was refused: ${check.message}`, { field: 'payload' });
  const { w: waitId, n: nodeId } = check.claims;
  const node = ctx.node(nodeId);
  if (!node) {
    if (!ctx.flowsStarted()) throw new ProtocolError(503, 'the flows are starting: send the wake-up again');
    throw new ProtocolError(404, `no aiware-pause-for-callback node ${nodeId} in this engine's flows`, { field: 'payload' });
  }
  let state = check.claims.s;
  if (!state) {
    const stored = await ctx.store.load(waitId);
    if (!stored) throw await ctx.notWaiting(waitId);
    state = { task: stored.task, message: stored.message };
    if (hashOf(state) !== check.claims.h) throw new ProtocolError(401, `the saved state of wait ${waitId} does not match its wake-up`, { field: 'payload' });
  }
  const outcome: WaitOutcome = check.claims.o === 'fail' ? 'failed' : 'resumed';
  const at = Date.now();
  if (!(await ctx.store.claim(waitId, { outcome, at, keepUntil: at + PLATFORM_WAIT_MS }))) {
    ctx.warn(`wait ${waitId}: a wake-up came after it had been woken (answered 409)`);
    throw new ProtocolError(409, `wait ${waitId} has already been woken`);
  }
  await ctx.store.remove(waitId);
  const saved = state;
  return {
    waitId,
    parsed: mergeFields(parsed, saved.task),
    trace: saved.task.trace,
    resume: (task, callback) => {
      const wait: WaitRecord = { version: 1, id: waitId, mode: 'platform', node: nodeId, createdAt: at, expiresAt: at, capped: false, ...saved, files: [] };
      const target = ctx.node(nodeId) ?? node;
      const attributes = { 'aiware.pause.mode': 'platform', 'aiware.wait.id': waitId, 'aiware.wait.outcome': outcome };
      inSpanNow(task.traceContext, 'aiware wake-up', attributes, () => {
        if (outcome === 'resumed') target.resume(wait, task, callback);
        else ctx.failThrough(target, wait, task, { kind: 'failed', message: failureText(callback), body: callback });
      });
    },
  };
}
