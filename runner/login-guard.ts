// Failed editor logins limited per client address. Node-RED counts login attempts per user name
// (more than 5 in 10 minutes and the name is locked for everyone), so anyone who can reach the
// editor could lock `admin` out. The runner checks the password itself first: a wrong one is
// answered as Node-RED answers it (403 invalid_grant) and counted against the address it came
// from, never reaching Node-RED's count; past the limit that address gets 429 until its oldest
// failure leaves the window. Only a right password goes on to Node-RED, which clears its count.
import type * as http from 'node:http';
import bcrypt from 'bcryptjs';
import { mediaType, readBounded, sendJson } from '@aiware-nodered/node-red-aiware';
import type { Logger } from './log';

/** A login body is a few fields. */
const MAX_LOGIN_BYTES = 16 * 1024;
/** Addresses remembered at once; the oldest go first. */
const MAX_ADDRESSES = 10_000;

export interface LoginLimits {
  /** Failed logins one address may make in the window; one more is answered 429. */
  attempts: number;
  windowMs: number;
}

export class LoginGuard {
  /** Failure times by address, oldest first; a Map keeps the addresses in the order they first failed. */
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly passwordHash: string,
    private readonly limits: LoginLimits,
    private readonly log: Logger,
  ) {}

  /** Handles POST /editor/auth/token: answers a refused one, or passes the request (its body parsed) to `next`. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, next: () => void): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    const recent = this.recent(address, now);
    if (recent.length >= this.limits.attempts) {
      req.resume();
      const waitSeconds = Math.max(1, Math.ceil((recent[0] + this.limits.windowMs - now) / 1000));
      res.setHeader('Retry-After', String(waitSeconds));
      sendJson(res, 429, {
        error: `Too many failed logins from this address: wait ${waitSeconds} s and try again (RUNNER_EDITOR_LOGIN_ATTEMPTS ${this.limits.attempts} in ${this.limits.windowMs / 1000} s)`,
      });
      return;
    }
    let fields: Record<string, unknown>;
    try {
      fields = parseBody(req.headers['content-type'], await readBounded(req, MAX_LOGIN_BYTES));
    } catch (err) {
      sendJson(res, 400, { error: 'invalid_request', error_description: (err as Error).message }, { close: !req.complete });
      return;
    }
    // Node-RED's body parsers take this as read, and its token endpoint reads req.body.
    Object.assign(req, { body: fields, _body: true });
    if (fields.grant_type !== 'password') return next();
    const right = fields.username === 'admin' && typeof fields.password === 'string' && (await bcrypt.compare(fields.password, this.passwordHash));
    if (right) {
      this.failures.delete(address);
      return next();
    }
    recent.push(now);
    this.remember(address, recent);
    if (recent.length === this.limits.attempts) {
      this.log.warn(
        { remoteAddress: address, attempts: recent.length, limit: 'RUNNER_EDITOR_LOGIN_ATTEMPTS' },
        'editor login: too many failed logins from one address, refused until the window passes',
      );
    }
    sendJson(res, 403, { error: 'invalid_grant', error_description: 'Invalid resource owner credentials' });
  }

  /** The address's failures still in the window. */
  private recent(address: string, now: number): number[] {
    const times = (this.failures.get(address) ?? []).filter((time) => time + this.limits.windowMs > now);
    if (times.length === 0) this.failures.delete(address);
    return times;
  }

  private remember(address: string, times: number[]): void {
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }
}

/** A login body as Node-RED's editor (urlencoded) or the admin CLI (JSON) sends it. */
function parseBody(contentType: string | undefined, raw: Buffer): Record<string, unknown> {
  const type = mediaType(contentType);
  const text = raw.toString('utf8');
  if (type === 'application/json') {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the login body must be a JSON object');
    return value as Record<string, unknown>;
  }
  return Object.fromEntries(new URLSearchParams(text));
}
