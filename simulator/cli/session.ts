// The engine and the toolkit of one `aiware-sim run` or `aiware-sim test`: the emulator started,
// the runner started on a build (or a running engine found), the readiness wait ET does, and
// everything stopped again, the runner as ET stops it (SIGTERM).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ToolkitEmulator, type EmulatorOptions } from '../emulator';
import { RunnerProcess, defaultRunnerScript, describeExit, freePort, type LogLine, type RunnerExit } from '../runner-process';
import { waitForReady, type Readiness } from './engine';
import type { EngineTarget } from './options';
import { shown } from './report';
import type { AbortReason } from './tasks';

export interface EngineStart {
  /** Where the runner's output goes (the out folder's runner.log), when anywhere. */
  runnerLog?: string;
  /** Each line the runner prints, as it prints it. */
  onLine?: (text: string) => void;
  readyTimeoutMs: number;
  /** Ends the readiness wait early (Ctrl-C). */
  signal: AbortSignal;
  /** How often readiness is asked: ET's second by default; a test asks sooner. */
  pollMs?: number;
}

export class EngineSession {
  toolkit?: ToolkitEmulator;
  runner?: RunnerProcess;
  processUrl = '';
  readyUrl = '';
  /** What summary.json says of the engine. */
  engine: Record<string, unknown> = {};
  /** The runner's last lines, when it is why the run stopped; read once it is gone. */
  tail?: () => string[];
  private stopping = false;

  /** `abort` is called when the runner exits on its own: whatever the run does then has no engine. */
  constructor(private readonly abort: (reason: AbortReason) => void) {}

  async startToolkit(options: EmulatorOptions): Promise<ToolkitEmulator> {
    this.toolkit = await ToolkitEmulator.start(options);
    return this.toolkit;
  }

  /** Starts the runner on a build (or finds the engine at its URL) and waits until it is ready, as ET does. */
  async startEngine(target: EngineTarget, start: EngineStart, say: (text: string) => void): Promise<Readiness> {
    if (target.kind === 'runtime') {
      const script = target.runnerScript ?? defaultRunnerScript();
      const shareFolder = target.shareFolder ?? fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-sim-share-'));
      // A port fixed here, not the runner's own pick: a --runner script need not log the port it got.
      const port = await freePort();
      const child = RunnerProcess.start({
        script,
        port,
        runtimeFile: target.runtimeFile,
        ENGINE_ID: target.engineId,
        BUILD_ID: target.buildId,
        // The production defaults under /cache are not writable on a laptop: temp folders, removed at stop.
        shareFolder,
        removeAtStop: target.shareFolder === undefined ? [shareFolder] : [],
        inheritEnv: true,
        // Every node's part in each task's last line: the summary's "where the time went" and the task files.
        env: { RUNNER_LOG_NODE_TIMES: '1' },
        logFile: start.runnerLog,
        onLine: start.onLine,
      });
      this.runner = child;
      void child.exited.then((exit) => {
        if (this.stopping) return;
        this.abort({ failureReason: 'system_error', message: `the runner exited (${describeExit(exit)})` });
        this.tail = () => child.tail();
      });
      this.processUrl = `http://127.0.0.1:${port}/process`;
      this.readyUrl = `http://127.0.0.1:${port}/readyz`;
      this.engine = { runtime: target.runtimeFile, runner: script, pid: child.pid, processUrl: this.processUrl, readyUrl: this.readyUrl };
      say(`engine: runner on ${shown(target.runtimeFile)} (pid ${child.pid}), ${this.processUrl}`);
    } else {
      ({ processUrl: this.processUrl, readyUrl: this.readyUrl } = target);
      this.engine = { processUrl: this.processUrl, readyUrl: this.readyUrl };
      say(`engine: ${this.processUrl}`);
    }
    const readiness = await waitForReady(this.readyUrl, start.readyTimeoutMs, start.signal, start.pollMs);
    if (!readiness.ready && readiness.why === 'failed' && this.runner) {
      // What it said up to its 500: the lines of its SIGTERM would only bury them.
      const lines = this.runner.tail();
      this.tail = () => lines;
    }
    return readiness;
  }

  /** The runner's JSON log lines so far (none for an engine at a URL). */
  get lines(): LogLine[] {
    return this.runner?.lines ?? [];
  }

  /** SIGTERM as ET sends it, and the wait for the runner to drain and exit. */
  async stopEngine(): Promise<void> {
    this.stopping = true;
    await this.runner?.stop();
  }

  async stopToolkit(): Promise<void> {
    await this.toolkit?.stop();
  }

  /** How the runner exited, once it has. */
  get runnerExit(): RunnerExit | undefined {
    return this.runner?.exitStatus;
  }

  /** Why the run went wrong on the engine's side after the fact: a runner that did not leave cleanly on SIGTERM would lose work under ET. */
  uncleanExit(): string | undefined {
    const exit = this.runnerExit;
    return exit && exit.code !== 0 ? `the runner did not exit cleanly on SIGTERM (${describeExit(exit)})` : undefined;
  }
}
