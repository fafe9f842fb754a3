// A minimum request-body data rate (Kestrel's MinRequestBodyDataRate): after a grace period, a body
// must have come at least this fast on average, or the request is answered 408 and its connection
// closed. A total time limit cannot tell a slow attacker from a big honest upload; a rate can: a
// 1 GiB chunk at 20 MB/s and a 64 KiB body over a 2 KiB/s link pass, a sender of 1 byte a second
// is cut after the grace. Time the engine itself does not read (its own backpressure while a chunk
// spills to disk, a body not read yet) does not count against the sender.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProtocolError } from '../protocol/errors';
import { sendJsonError } from './answer';

export interface BodyRate {
  /** Bytes a second, averaged from the request's start; 0 turns the check off. */
  minBytesPerSecond: number;
  /** How long a body may be slower than that at its start. */
  graceMs: number;
}

export const DEFAULT_BODY_RATE: Readonly<BodyRate> = Object.freeze({ minBytesPerSecond: 240, graceMs: 5000 });

/** How often the watched requests are checked. */
const CHECK_MS = 1000;

/** What was cut, for the one log line about it. */
export interface SlowBody {
  remoteAddress?: string;
  path: string;
  bytes: number;
  seconds: number;
}

interface Watch {
  res: ServerResponse;
  path: string;
  /** The socket's bytesRead when the request started (a keep-alive socket counts every request). */
  base: number;
  start: number;
  /** Time the engine was not reading the body, not counted against the sender. */
  idleMs: number;
  last: number;
}

/** Watches request bodies on one shared timer; cuts those below the rate. */
export class BodyRateGuard {
  private readonly watched = new Map<IncomingMessage, Watch>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly rate: BodyRate,
    /** Called once for each request cut (after it was answered 408). */
    private readonly onSlow: (slow: SlowBody) => void,
  ) {}

  /** Watches `req`'s body until it has all come (or the request ends another way). */
  watch(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (this.rate.minBytesPerSecond <= 0 || req.complete || this.watched.has(req)) return;
    const now = Date.now();
    this.watched.set(req, { res, path, base: req.socket.bytesRead, start: now, idleMs: 0, last: now });
    const stop = (): void => this.unwatch(req);
    req.once('end', stop);
    req.once('close', stop);
    res.once('close', stop);
    this.timer ??= setInterval(() => this.check(), CHECK_MS).unref();
  }

  /** Requests being watched now (for tests and metrics). */
  get size(): number {
    return this.watched.size;
  }

  private unwatch(req: IncomingMessage): void {
    if (!this.watched.delete(req) || this.watched.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = Date.now();
    for (const [req, watch] of this.watched) {
      if (req.complete) {
        this.unwatch(req);
        continue;
      }
      // Only while the engine reads: a body it has paused, or not started reading, waits on it.
      if (req.readableFlowing !== true) watch.idleMs += now - watch.last;
      watch.last = now;
      const activeMs = now - watch.start - watch.idleMs;
      if (activeMs <= this.rate.graceMs) continue;
      const bytes = req.socket.bytesRead - watch.base;
      if (bytes * 1000 >= this.rate.minBytesPerSecond * activeMs) continue;
      this.unwatch(req);
      this.cut(req, watch, bytes, activeMs);
    }
  }

  private cut(req: IncomingMessage, watch: Watch, bytes: number, activeMs: number): void {
    const seconds = Math.round(activeMs / 100) / 10;
    const error = new ProtocolError(
      408,
      `the request body came at ${Math.round(bytes / (activeMs / 1000))} bytes/s, below the minimum of ${this.rate.minBytesPerSecond} bytes/s (minBodyRate): ${bytes} bytes in ${seconds} s`,
    );
    // The body is unread: the answer closes the connection (and destroys it, should it linger).
    sendJsonError(watch.res, error);
    req.socket.destroySoon();
    this.onSlow({ remoteAddress: req.socket.remoteAddress, path: watch.path, bytes, seconds });
  }
}
