// The bench's one poller: asks again every few ms until something holds, for at most a set time.
// Node built-ins only, so a server child (servers/embedded.ts) can use it without loading what
// the parent loads (autocannon, the simulator).
import type { ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Calls `attempt` until it gives something other than undefined, `everyMs` after each answer;
 * rejects with `failure()` (said once time is up) after `timeoutMs`, or with what `attempt` throws.
 */
export async function pollUntil<T>(attempt: () => T | undefined | Promise<T | undefined>, everyMs: number, timeoutMs: number, failure: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(failure());
    await delay(everyMs);
  }
}

/** One GET on a fresh connection: the status, or 0 when nothing answered (refused, reset, timeout). */
export function getStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise<number>((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Polls `url` every `everyMs` until it answers 200; rejects when `child` exits first or time runs out. */
export async function untilOk(url: string, child: ChildProcess, output: () => string, timeoutMs: number, everyMs: number, onAnswer?: (status: number) => void): Promise<void> {
  let status = 0;
  await pollUntil(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`exited (${child.exitCode ?? child.signalCode}) before ${url} answered 200; output:\n${output()}`);
      }
      status = await getStatus(url);
      if (status !== 0) onAnswer?.(status);
      return status === 200 ? true : undefined;
    },
    everyMs,
    timeoutMs,
    () => `${url} did not answer 200 within ${timeoutMs / 1000} s (last ${status}); output:\n${output()}`,
  );
}
