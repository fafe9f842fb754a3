// The engine side of a run: the readiness wait ET does before the first work item. (The runner
// itself is started by ../runner-process, which the tests and the bench use too.)
import * as http from 'node:http';
import * as https from 'node:https';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
import { sleep } from '@aiware-nodered/node-red-aiware';

export type Readiness =
  { ready: true; afterMs: number } | { ready: false; why: 'failed'; message: string } | { ready: false; why: 'timeout'; message: string } | { ready: false; why: 'aborted'; message: string };

const POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;

/**
 * ET's readiness wait: GET the URL every second (`pollMs`) until it answers 200 (ready), 500 (failed
 * for good: its body says why), or `timeoutMs` passes. Any other answer, or none, means not yet.
 * `signal` ends the wait early (the runner exited, Ctrl-C).
 */
export async function waitForReady(url: string, timeoutMs: number, signal: AbortSignal, pollMs = POLL_MS): Promise<Readiness> {
  const started = Date.now();
  let last = 'no answer yet';
  for (;;) {
    if (signal.aborted) return { ready: false, why: 'aborted', message: String(signal.reason ?? 'aborted') };
    const answer = await get(url, signal);
    if (answer.status === 200) return { ready: true, afterMs: Date.now() - started };
    if (answer.status === 500) return { ready: false, why: 'failed', message: `${url} answered 500: ${bodyText(answer.body)}` };
    last = answer.status === undefined ? answer.error : `${answer.status} ${bodyText(answer.body)}`;
    const left = timeoutMs - (Date.now() - started);
    if (left <= 0) return { ready: false, why: 'timeout', message: `the engine was not ready within ${Math.round(timeoutMs / 1000)} s (last answer from ${url}: ${last})` };
    await sleep(Math.min(pollMs, left), signal);
  }
}

// The message in an error body ({"error": "..."}), else the text, short.
function bodyText(body: string): string {
  let text = body.trim();
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const { error, message } = parsed as Record<string, unknown>;
      if (typeof error === 'string') text = error;
      else if (typeof message === 'string') text = message;
    }
  } catch {
    // not JSON: the text as it is
  }
  if (text === '') return '(empty body)';
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

function get(url: string, signal: AbortSignal): Promise<{ status: number; body: string } | { status: undefined; error: string }> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? https : http).get(target, { agent: false, timeout: REQUEST_TIMEOUT_MS, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        if (body.length < 4096) body += text;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ status: undefined, error: errorMessage(err) }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve({ status: undefined, error: errorMessage(err) }));
  });
}
