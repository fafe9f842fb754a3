// The runner as the bench runs it: the real entry point (the runner package's main.js, started
// by the simulator's RunnerProcess as the CLI and the tests start it), configured only through
// its environment as in production, in its own process. It speaks no bench protocol, so its CPU
// and RSS are read from /proc (./procstat), and it is stopped with SIGTERM (a drain).
// `startRunner` is how every part of the bench starts one.
import { RunnerProcess, type RunnerProcessOptions } from '@aiware-nodered/aiware-sim';
import { track, untrack } from './lib';
import { untilOk } from './poll';
import { OutsideServer } from './procstat';

/**
 * runtimeFile: AIWARE_BUILD_RUNTIME; workDir: RUNNER_WORKDIR, a fresh folder per start; port: 0
 * (default) lets the runner pick a free one; execArgv: Node options before main.js (default
 * RUNNER_NODE_FLAGS; --cpu-prof is not allowed in NODE_OPTIONS); logFile: everything it prints is
 * also appended there (its lines stay readable after `countOnly()`).
 */
export type RunnerOptions = Pick<RunnerProcessOptions, 'runtimeFile' | 'workDir' | 'port' | 'execArgv' | 'env' | 'logFile'> & { workDir: string };

/** The runner with the environment ET and the image give it, killed by the bench's cleanup if left running. */
export function startRunner(options: RunnerOptions): RunnerProcess {
  const runner = RunnerProcess.start({ ...options, ENGINE_ID: 'bench-engine', BUILD_ID: 'bench-build' });
  track(runner.child);
  return runner;
}

/** The runner as a bench server: ready once /readyz answers 200. */
export class RunnerChild extends OutsideServer {
  private constructor(
    name: string,
    readonly runner: RunnerProcess,
    url: string,
  ) {
    super(name, runner.child, url, () => runner.count);
  }

  static async start(name: string, options: RunnerOptions, timeoutMs = 60_000): Promise<RunnerChild> {
    const runner = startRunner(options);
    const output = (): string => runner.tail().join('\n');
    try {
      // With a port of its own choosing, the runner reports it to RunnerProcess, whatever RUNNER_LOG_LEVEL.
      const url = options.port ? `http://127.0.0.1:${options.port}` : await runner.url(timeoutMs);
      await untilOk(`${url}/readyz`, runner.child, output, timeoutMs, 50);
      runner.countOnly();
      return new RunnerChild(name, runner, url);
    } catch (err) {
      await runner.kill();
      untrack(runner.child);
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
}
