// Readiness as Engine Toolkit reads it, for process-in and the runner alike: /readyz answers 200
// only when work can be taken, 500 when start-up failed for good (ET then shuts the engine down),
// else 503 (ET keeps polling); /process while not ready is never a 4xx, which ET reads as "this
// work item can never work".
import type * as http from 'node:http';
import { sendJson } from '../http/answer';

export type EngineState = 'starting' | 'ready' | 'failed' | 'draining' | 'stopped';

/** Answers GET /readyz for an engine in `state`; `failure` says why start-up failed. */
export function answerReady(res: http.ServerResponse, state: EngineState, failure?: string): void {
  if (state === 'ready') sendJson(res, 200, { ready: true });
  else if (state === 'failed') sendJson(res, 500, { ready: false, error: failure ?? 'start-up failed' });
  else sendJson(res, 503, { ready: false, state, error: NOT_READY[state] });
}

/**
 * Answers POST /process for an engine that is not ready and returns true; returns false (and
 * answers nothing) when it is ready. The body is left unread, so the connection is closed.
 */
export function refuseWork(res: http.ServerResponse, state: EngineState, failure?: string): boolean {
  if (state === 'ready') return false;
  if (state === 'failed') sendJson(res, 500, { error: `the engine failed to start: ${failure ?? 'unknown'}` }, { close: true });
  else sendJson(res, 503, { error: NOT_READY[state] }, { close: true });
  return true;
}

const NOT_READY: Record<'starting' | 'draining' | 'stopped', string> = {
  starting: 'the engine is starting: its flows are not running yet',
  draining: 'the engine is shutting down: send this work item to another instance',
  stopped: 'the engine is shutting down: send this work item to another instance',
};
