// The local mode's callback URLs, `…/aiware/callback/<token>[/progress|/fail]`: POST resumes, reports
// progress or fails the wait, GET only shows it. A body is read (and refused, leaving the wait open)
// before the wait is claimed; a claimed wait answers 409 to every later call.
import type * as http from 'node:http';
import { ProtocolError, errorMessage, jsonProblem } from '../protocol/errors';
import { sendJson } from '../http/answer';
import { mediaType } from '../http/headers';
import { readBounded } from '../http/read-bounded';
import type { CallbackSigner } from './callback-tokens';
import { CALLBACK_PATH, type LiveWait, type LocalClaims } from './types';
import { iso, progressText } from './wait-helpers';
import type { WaitOutcome, WaitStore } from './wait-store';

/** What the callback URLs need of the pause service. */
export interface CallbackDeps {
  readonly store: WaitStore;
  readonly maxBodyBytes: number;
  signer(): Promise<CallbackSigner>;
  /** The live wait of that id in this process, once it is back when it is still being restored. */
  live(waitId: string): Promise<LiveWait | undefined>;
  /** Claims it, with the callback's body, on disk (false: something else did first). */
  claim(live: LiveWait, outcome: WaitOutcome, body: unknown): Promise<boolean>;
  /** Ends it: the node sends the message on, or the task fails. */
  finish(live: LiveWait, outcome: WaitOutcome, body: unknown): void;
  warn(text: string): void;
}

export class CallbackRoutes {
  constructor(private readonly deps: CallbackDeps) {}

  /** Serves `…/aiware/callback/<token>[/progress|/fail]`: POST acts, GET only shows the wait. */
  async serve(method: string, path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      await this.handle(method.toUpperCase(), path.slice(path.indexOf(CALLBACK_PATH) + CALLBACK_PATH.length), req, res);
    } catch (err) {
      req.resume();
      const failure = err instanceof ProtocolError ? err : new ProtocolError(500, errorMessage(err));
      if (failure.status >= 500) this.deps.warn(`callback: ${failure.message}`);
      sendJson(res, failure.status, failure.toJSON(), { close: !req.complete });
    }
  }

  private async handle(method: string, rest: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const slash = rest.indexOf('/');
    const token = slash < 0 ? rest : rest.slice(0, slash);
    const action = slash < 0 ? '' : rest.slice(slash + 1);
    if (!['', 'progress', 'fail'].includes(action)) throw new ProtocolError(404, `no callback action "${action}": POST the URL itself, …/progress or …/fail`);
    if (method !== 'GET' && method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      throw new ProtocolError(405, 'a callback URL takes POST (GET only shows the wait)');
    }
    const check = (await this.deps.signer()).verify<LocalClaims>(decodeURIComponent(token));
    if ('problem' in check) throw new ProtocolError(check.problem === 'expired' ? 410 : 401, `callback refused: ${check.message}`);
    const waitId = check.claims.w;
    const live = await this.deps.live(waitId);
    if (method === 'GET') return void sendJson(res, 200, await this.describe(waitId, live));
    if (!live) {
      const problem = await this.notWaiting(waitId);
      if (problem.status === 503) res.setHeader('Retry-After', '5');
      throw problem;
    }
    if (live.claimed) throw this.late(waitId, 'it has already ended');
    // Read before claiming: a body that is refused (400, 413) leaves the wait open.
    const body = await this.readBody(req);
    if (action === 'progress') {
      if (live.claimed || !live.task.isOpen) throw this.late(waitId, 'it has already ended');
      live.task.update({ infoMsg: progressText(body) });
      return void sendJson(res, 200, { wait: waitId, state: 'waiting', infoMsg: live.task.infoMsg });
    }
    const outcome: WaitOutcome = action === 'fail' ? 'failed' : 'resumed';
    if (!(await this.deps.claim(live, outcome, body))) throw this.late(waitId, 'another call got there first');
    sendJson(res, 200, { wait: waitId, state: outcome });
    this.deps.finish(live, outcome, body);
  }

  private late(waitId: string, why: string): ProtocolError {
    this.deps.warn(`wait ${waitId}: a late or duplicate callback was refused (409): ${why}`);
    return new ProtocolError(409, `wait ${waitId} is no longer waiting: ${why}`);
  }

  /**
   * Why a wait is not waiting here: 409 when it was claimed; 503 when it is saved but its node is
   * not running (the flows are starting, or it was removed); else 404, without saying whether it
   * ever existed.
   */
  async notWaiting(waitId: string): Promise<ProtocolError> {
    const claim = await this.deps.store.claimOf(waitId);
    if (claim) return this.late(waitId, `it was ${claim.outcome}`);
    if (await this.deps.store.load(waitId)) {
      return new ProtocolError(503, `wait ${waitId} is not running in this engine now (is its aiware-pause-for-callback node deployed?): call again`);
    }
    return new ProtocolError(404, 'no such wait');
  }

  private async describe(waitId: string, live: LiveWait | undefined): Promise<Record<string, unknown>> {
    if (live && !live.claimed) {
      return { wait: waitId, state: 'waiting', createdAt: iso(live.wait.createdAt), expiresAt: iso(live.wait.expiresAt), infoMsg: live.task.infoMsg };
    }
    const claim = await this.deps.store.claimOf(waitId);
    if (claim) return { wait: waitId, state: claim.outcome, at: iso(claim.at) };
    const saved = await this.deps.store.load(waitId);
    if (saved) return { wait: waitId, state: 'saved (its node is not running)', createdAt: iso(saved.createdAt), expiresAt: iso(saved.expiresAt) };
    throw new ProtocolError(404, 'no such wait');
  }

  private async readBody(req: http.IncomingMessage): Promise<unknown> {
    const raw = await readBounded(req, this.deps.maxBodyBytes, {
      drain: true,
      tooLarge: () => new ProtocolError(413, `a callback body may be at most ${this.deps.maxBodyBytes} bytes: the wait stays open`),
    });
    if (raw.length === 0) return undefined;
    const type = mediaType(req.headers['content-type']);
    if (type === 'application/json' || type.endsWith('+json')) {
      try {
        return JSON.parse(raw.toString('utf8')) as unknown;
      } catch (err) {
        throw new ProtocolError(400, `the callback body is declared JSON and is not: ${jsonProblem(err)}; the wait stays open`);
      }
    }
    if (type === '' || type.startsWith('text/') || type === 'application/x-www-form-urlencoded') return raw.toString('utf8');
    return raw;
  }
}
