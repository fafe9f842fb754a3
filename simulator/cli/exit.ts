// The exit codes of `aiware-sim`, one meaning each, so that CI can tell what went wrong:
//   0  every task (run) or case (test) as expected
//   1  a task failed (run), or a case's result differs from what its test file expects (test)
//   2  a bad command line or test file: nothing was run
//   3  a flow or protocol error: a result or heartbeat after the task's end, a task the flow
//      forgot, a protocol violation, a task the toolkit had to time out, the runner dying or not
//      leaving cleanly on SIGTERM
//   4  the engine failed to start: its readiness answered 500, never came, or the runner exited first
//   130 interrupted (Ctrl-C)
// When several apply, the first in this order wins: 130, 4, 3, 1.
export const EXIT = { ok: 0, failed: 1, usage: 2, flowError: 3, notStarted: 4, interrupted: 130 } as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What went wrong in a run, each counted once: the code that says the worst. */
export interface RunVerdict {
  interrupted?: boolean;
  notStarted?: boolean;
  flowError?: boolean;
  failed?: boolean;
}

export function exitCodeOf(verdict: RunVerdict): ExitCode {
  if (verdict.interrupted) return EXIT.interrupted;
  if (verdict.notStarted) return EXIT.notStarted;
  if (verdict.flowError) return EXIT.flowError;
  if (verdict.failed) return EXIT.failed;
  return EXIT.ok;
}

/** The codes for --help and docs/simulator.md. */
export const EXIT_CODES_HELP = `Exit codes: 0 every task (run) or case (test) as expected; 1 a task failed (run) or a case's
result differs from its test file (test); 2 a bad command line or test file; 3 a flow or protocol
error (a result or heartbeat after the task's end, a task the flow forgot, a protocol violation, a
task the toolkit timed out, the runner dying); 4 the engine failed to start; 130 interrupted.`;
