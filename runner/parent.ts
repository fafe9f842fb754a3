// The process that started the runner, when it gave it an IPC channel: the simulator's
// RunnerProcess does (the CLI, an engine author's tests, the bench); Engine Toolkit and the image
// do not, so none of this happens there. On that channel the runner tells its port and its state,
// whatever RUNNER_LOG_LEVEL lets the log say, and it stops when the channel closes: the process
// that started it has died (a crashed or SIGKILLed test included), and nothing else would stop it.
import type { EngineState } from '@aiware-nodered/node-red-aiware';

/** What the runner sends its parent at each step of its start-up: listening (`starting`), `ready`, `failed`. */
export interface RunnerReport {
  /** `port` is the one it listens on (unset when it failed to listen). */
  aiwareRunner: { state: EngineState; port?: number; failure?: string };
}

export function isRunnerReport(message: unknown): message is RunnerReport {
  const report = (message as Partial<RunnerReport> | null)?.aiwareRunner;
  return typeof report === 'object' && report !== null && typeof report.state === 'string';
}

export class ParentChannel {
  /** The channel to the parent, or undefined when the runner was started without one (by ET, in the image). */
  static open(): ParentChannel | undefined {
    return process.send && process.connected ? new ParentChannel() : undefined;
  }

  report(report: RunnerReport['aiwareRunner']): void {
    // With a callback a failed send is not an 'error' event: a parent already gone has nobody to tell.
    if (process.connected) process.send!({ aiwareRunner: report } satisfies RunnerReport, undefined, {}, () => undefined);
  }

  /** Calls `stop` once the parent has gone. */
  onGone(stop: () => void): void {
    process.once('disconnect', stop);
    // Watching the channel must not keep the runner alive once it has stopped of its own accord.
    process.channel?.unref();
  }
}
