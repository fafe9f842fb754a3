// What ET makes of an engine's /process answer (docs/protocol.md): a synchronous output, an estimate
// that opens an asynchronous task, 204 for nothing to do, or a failed task.
import type { Deadlines } from './deadlines';
import type { ProcessAnswer } from './process-post';
import type { TaskBook, TaskState } from './task-book';

/** Records the answer on the task and moves its status. */
export function recordProcessAnswer(book: TaskBook, deadlines: Deadlines, state: TaskState, answer: ProcessAnswer): void {
  const rec = state.record;
  rec.processAnswers.push({ status: answer.status, at: Date.now() });
  // An engine's heartbeat or the emulator's timeout already settled the task.
  if (state.closedBy === 'engine' || state.closedBy === 'timeout') {
    book.changed(state);
    return;
  }
  const { status, body } = answer;
  // A task the engine paused (updateTask) stays paused until woken, whatever 2xx the /process got.
  if (rec.status === 'paused' && status >= 200 && status < 300) {
    book.changed(state);
    return;
  }
  if (status === 204) {
    book.close(state, 'ignored', 'process');
  } else if (status >= 200 && status < 300) {
    if (isObject(body) && 'estimatedProcessingTimeInSeconds' in body) {
      const estimate = body.estimatedProcessingTimeInSeconds;
      if (typeof estimate === 'number' && Number.isSafeInteger(estimate) && estimate >= 0) rec.estimatedProcessingTimeInSeconds = estimate;
      else book.violation(state, `/process answer: estimatedProcessingTimeInSeconds must be a non-negative integer, got ${JSON.stringify(estimate)}`);
      if (rec.status === 'pending') book.setStatus(state, 'running');
      if (!state.heartbeatTimer) deadlines.armHeartbeat(state);
    } else {
      if (!isObject(body)) {
        book.violation(state, `/process answered ${status} with ${describeValue(body)}, not a VTN-standard JSON object or {estimatedProcessingTimeInSeconds}`);
      }
      rec.syncAnswer = body;
      book.close(state, 'answered', 'process');
    }
  } else {
    const detail = body === null ? '' : `: ${typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body).slice(0, 200)}`;
    book.close(state, 'failed', 'process', {
      reason: status >= 500 ? 'internal_error' : 'invalid_data',
      message: `/process answered ${status}${detail}`,
    });
  }
  book.changed(state);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// An answer's body may be text that is not JSON at all.
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value === '' ? 'an empty body' : `text ${JSON.stringify(value.slice(0, 80))}`;
  return `a ${typeof value}`;
}
