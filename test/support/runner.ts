// The real runner as a child process for a test: a runtime file and environment of its own, on a
// port of its own choosing, through the simulator's RunnerProcess (the one the CLI and bench use).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunnerProcess, type RunnerProcessOptions } from '@aiware-nodered/aiware-sim';

export { RunnerProcess, type LogLine } from '@aiware-nodered/aiware-sim';

/**
 * Writes `runtime` (an object, or raw text; undefined writes nothing) to a fresh folder and starts
 * a runner on it, with `env` over the test defaults. The folder goes when the runner is killed.
 */
export function startRunner(runtime: unknown, env: Record<string, string> = {}, options: { dir?: string } & Partial<RunnerProcessOptions> = {}): RunnerProcess {
  const { dir: given, ...rest } = options;
  const dir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-runner-'));
  const runtimeFile = path.join(dir, 'runtime.json');
  if (runtime !== undefined) fs.writeFileSync(runtimeFile, typeof runtime === 'string' ? runtime : JSON.stringify(runtime));
  return RunnerProcess.start({
    runtimeFile,
    workDir: path.join(dir, 'work'),
    removeAtStop: [dir],
    ...rest,
    env: { RUNNER_FAIL_LINGER_SECONDS: '30', RUNNER_GRACE_SECONDS: '10', ...env },
  });
}

/** Polls a URL until `accept(status)` (ET polls /readyz every second; tests poll faster). */
export async function pollStatus(url: string, accept: (status: number) => boolean, timeoutMs = 20_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (accept(status)) return status;
    if (Date.now() > end) throw new Error(`${url} never answered as expected (last ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
