// `aiware-sim`: Engine Toolkit on a laptop. `aiware-sim run` starts an engine (the runner on a
// build runtime file) or finds one running, waits for its readiness as ET does, posts a work item
// per input file, hosts the heartbeat and result webhooks, and reports how every task ended.
// Exit codes: 0 every task ok, 1 a task failed or broke the protocol (or the engine never got
// ready), 2 a bad command line, 130 interrupted.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
import { ToolkitEmulator } from './emulator';
import { CallbackWatch } from './cli/callbacks';
import { waitForReady } from './cli/engine';
import { RunnerProcess, defaultRunnerScript, describeExit, freePort } from './runner-process';
import { listInputs } from './cli/inputs';
import { UsageError, parseRunOptions, type RawRunOptions, type RunOptions } from './cli/options';
import { OutFolder, Progress, formatMs, formatSummary, plural, shown, totalsOf } from './cli/report';
import { isOk, runTasks, type AbortReason, type TaskOutcome, type TaskPlan } from './cli/tasks';
import { formatExtras, runExtras, writeExtras, type RunExtras } from './cli/extras';
import { CheckUsageError, checkCommand } from './cli/check';

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The simulator's own version: its package.json is beside dist/, in the repository and installed alike. */
function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

const EXAMPLES = `
Examples:
  $ aiware-sim run --runtime examples/chunk-text-to-transcript.json samples/chunk-text-to-transcript
  $ aiware-sim run --engine-url http://127.0.0.1:8888/process --chunk-ms 10000 clip1.mp4 clip2.mp4
  $ aiware-sim run --runtime examples/stream-lines-from-cache.json --cache lines.txt
  $ aiware-sim run --runtime examples/batch-progress-and-failure.json --payload '{"steps": 5}'
  $ aiware-sim run --runtime review.json --service-delay 2 --service-answer '{"approved": true}' photo.jpg

Exit codes: 0 every task ended ok (answered, ignored, complete) with no protocol violation;
1 a task failed or broke the protocol, or the engine never got ready; 2 a bad command line;
130 interrupted.`;

function program(onRun: (options: RunOptions) => Promise<void>, onCode: (code: number) => void = () => undefined): Command {
  const cli = new Command('aiware-sim')
    .description('Engine Toolkit on your machine: feeds an aiWARE engine work items and checks what it sends back.')
    .version(packageVersion())
    .exitOverride()
    .showSuggestionAfterError();
  cli
    .command('run')
    .description('Run an engine on input files: one work item per file (chunk), or one without a chunk when no input is given (stream, batch).')
    .argument('[inputs...]', 'files, or folders (their files, sorted by name), posted as chunks in order')
    .addOption(new Option('--runtime <file>', 'build runtime file (a Node-RED flow export, or {flows, ...}): start the runner on it').conflicts('engineUrl'))
    .option('--engine-url <url>', "a running engine's /process URL")
    .option('--ready-url <url>', 'its readiness URL (default: same origin + /readyz)')
    .option('--engine-id <id>', 'ENGINE_ID for the runner', 'local-engine')
    .option('--build-id <id>', 'BUILD_ID for the runner', 'local-build')
    .option('--share-folder <dir>', 'AIWARE_AUTOMATE_SHARE_FOLDER for the runner (default: a temp folder)')
    .option('--runner <file>', "runner script to start (default: this package's runner/main.js)")
    .option('--out <dir>', 'where task files and summary.json go (default: ./aiware-sim-out/<timestamp>)')
    .option('--mime <type>', 'chunk MIME type for every input (default: from the extension)')
    .option('--chunk-ms <ms>', 'length of each chunk on the timeline (startOffsetMS/endOffsetMS)', '5000')
    .option('--cache <file>', 'what cacheURI serves (stream engines read their input there)')
    .option('--payload <json>', 'task payload, JSON or @file.json (merged over jobId, taskId, organizationId)')
    .option('--max-ttl <s>', 'maxTTL of each task; the task fails when it passes', '3600')
    .option('--chunk-context <text>', 'chunkContext of each task (default: a fresh one per task)')
    .option('--field <name=value>', 'any /process field, added or replaced (repeatable)', collect)
    .option('--concurrency <n>', 'tasks in flight at once', '1')
    .option('--ready-timeout <s>', 'how long to wait for readiness', '60')
    .option('--heartbeat-timeout <s>', 'fail an asynchronous task silent this long (0: off)', '30')
    .option('--retries <n>', 'times a /process post is tried again after an error answer or no answer', '3')
    .option('--service-delay <s>', 'play the outside service of pause-for-callback: payload.callbackServiceUrl takes jobs {callbackUrl, failUrl?, progressUrl?} and calls back this many seconds later')
    .option('--service-answer <json>', 'what the service posts to each callbackUrl, JSON or @file.json (default {})')
    .option('--service-fail <message>', 'the service reports this failure instead: {"error": message} to failUrl (else callbackUrl)')
    .option('--service-progress <text>', 'the service first posts {"progress": text} to progressUrl (repeatable)', collect)
    .option('--chunk-metadata <name=value>', 'chunk metadata of every work item, sent as chunk-metadata-<name> (repeatable); x-aiware-* entries go on as headers of forwarded outputs', collect)
    .option('--send-output-to <uri>', "ET's sendOutputToUris: forward every output to this URI (repeatable)", collect)
    .option(
      '--library-model <file>',
      'run library-run tasks: payload.mode library-run, and this file served as their model at {veritoneApiBaseUrl}/models/{libraryId}/{libraryEngineModelId} (ids: --field libraryId=, libraryEngineModelId=; default sim-library, sim-model)',
    )
    .option('--library-dir <dir>', "the tasks' libraryModelDirectory, kept after the run (default: a temp folder)")
    .option('--verbose', "echo the runner's log lines")
    .addHelpText('after', EXAMPLES)
    .action(async (inputs: string[], raw: RawRunOptions) => onRun(parseRunOptions(inputs, raw)));
  cli.addCommand(checkCommand(onCode));
  return cli;
}

/** Parses argv (as `process.argv`) and runs; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await program(
      async (options) => {
        code = await run(options);
      },
      (checked) => (code = checked),
    ).parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CheckUsageError) return err.exitCode;
    // Commander has printed its own one-line error (or the help) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`aiware-sim: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
}

/** One run: engine up, tasks through, everything stopped; the exit code. */
export async function run(options: RunOptions): Promise<number> {
  const started = Date.now();
  const chunks = listInputs(options.inputs, { chunkMs: options.chunkMs, mime: options.mime });
  const plans: TaskPlan[] = chunks.length > 0 ? chunks.map((chunk, i) => ({ n: i + 1, chunk })) : [{ n: 1 }];
  let out: OutFolder;
  try {
    out = new OutFolder(options.out, plans.length);
  } catch (err) {
    throw new UsageError(`--out: cannot write ${options.out}: ${errorMessage(err)}`);
  }

  const progress = new Progress(process.stdout, process.stderr);
  const controller = new AbortController();
  const abort = (reason: AbortReason): void => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const abortMessage = (): string => (controller.signal.reason as AbortReason).message;
  let interrupted = false;
  let runner: RunnerProcess | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      // The second Ctrl-C: no more draining.
      void runner?.kill().finally(() => process.exit(EXIT.interrupted));
      return;
    }
    interrupted = true;
    progress.note(`aiware-sim: ${signal}: stopping (again to stop at once)`);
    abort({ failureReason: 'other', message: `interrupted by ${signal}` });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let toolkit: ToolkitEmulator | undefined;
  let callbacks: CallbackWatch | undefined;
  let engine: Record<string, unknown> = {};
  let stopped: string | undefined;
  // The runner's last lines, when it is why the run stopped; read once it is gone.
  let tail: (() => string[]) | undefined;
  let outcomes: TaskOutcome[] = [];
  let extras: RunExtras | undefined;
  // One run is one job: its chunks share an internalJobId, so job keys span them (as ET's chunks of a job do).
  const jobId = options.fields.internalJobId ?? `job-sim-${started.toString(36)}`;
  let runnerStopping = false;
  try {
    toolkit = await ToolkitEmulator.start({
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      sendOutputToUris: options.sendOutputToUris,
      libraryModelDirectory: options.libraryDir,
    });
    if (options.libraryModel) toolkit.serveModel(options.libraryModel.libraryId, options.libraryModel.libraryEngineModelId, { path: options.libraryModel.file });
    callbacks = await CallbackWatch.start(toolkit, progress, options.service);
    if (callbacks.serviceUrl) say(`outside service: ${callbacks.serviceUrl} (payload.callbackServiceUrl), calls back after ${formatMs(options.service?.delayMs ?? 0)}`);
    let processUrl: string;
    let readyUrl: string;
    if (options.engine.kind === 'runtime') {
      const script = options.engine.runnerScript ?? defaultRunnerScript();
      const shareFolder = options.engine.shareFolder ?? fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-sim-share-'));
      // A port fixed here, not the runner's own pick: a --runner script need not log the port it got.
      const port = await freePort();
      const child = RunnerProcess.start({
        script,
        port,
        runtimeFile: options.engine.runtimeFile,
        ENGINE_ID: options.engine.engineId,
        BUILD_ID: options.engine.buildId,
        // The production defaults under /cache are not writable on a laptop: temp folders, removed at stop.
        shareFolder,
        removeAtStop: options.engine.shareFolder === undefined ? [shareFolder] : [],
        inheritEnv: true,
        logFile: out.runnerLog,
        onLine: options.verbose ? (line) => progress.note(`runner: ${readableLogLine(line)}`) : undefined,
      });
      runner = child;
      void child.exited.then((exit) => {
        if (runnerStopping) return;
        abort({ failureReason: 'system_error', message: `the runner exited (${describeExit(exit)})` });
        tail = () => child.tail();
      });
      processUrl = `http://127.0.0.1:${port}/process`;
      readyUrl = `http://127.0.0.1:${port}/readyz`;
      engine = { runtime: options.engine.runtimeFile, runner: script, pid: child.pid, processUrl, readyUrl };
      say(`engine: runner on ${shown(options.engine.runtimeFile)} (pid ${child.pid}), ${processUrl}`);
    } else {
      ({ processUrl, readyUrl } = options.engine);
      engine = { processUrl, readyUrl };
      say(`engine: ${processUrl}`);
    }

    const readiness = await waitForReady(readyUrl, options.readyTimeoutMs, controller.signal);
    if (!readiness.ready) {
      stopped = readiness.why === 'aborted' ? `${abortMessage()} before the engine was ready` : readiness.message;
      if (readiness.why === 'failed' && runner) {
        // What it said up to its 500: the lines of its SIGTERM would only bury them.
        const lines = runner.tail();
        tail = () => lines;
      }
    } else {
      say(`engine ready after ${formatMs(readiness.afterMs)}; ${plans[0].chunk ? plural(plans.length, 'chunk') : 'one task without a chunk'}`);
      progress.start(plans.length);
      outcomes = await runTasks(plans, {
        toolkit,
        processUrl,
        options,
        jobId,
        signal: controller.signal,
        itemPayload: (plan, taskId) => callbacks?.itemPayload(plan, taskId) ?? {},
        onDone: (outcome) => {
          out.writeTask(outcome);
          progress.taskDone(outcome, plans.length);
        },
      });
      if (controller.signal.aborted) stopped = abortMessage();
    }
  } finally {
    progress.stop();
    runnerStopping = true;
    // The service first, so no call it still had due reaches a runner on its way down.
    await callbacks?.stop();
    await runner?.stop();
    if (toolkit) {
      await toolkit.forwardsSettled();
      extras = runExtras(toolkit, options);
    }
    await toolkit?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  // ET stops an engine with SIGTERM: one that does not leave cleanly would lose work there.
  const exit = runner?.exitStatus;
  if (exit && stopped === undefined && exit.code !== 0) stopped = `the runner did not exit cleanly on SIGTERM (${describeExit(exit)})`;

  const totals = totalsOf(outcomes, plans.length);
  const allOk = stopped === undefined && outcomes.length === plans.length && outcomes.every(isOk);
  const code = interrupted ? EXIT.interrupted : allOk ? EXIT.ok : EXIT.failed;
  const wallMs = Date.now() - started;
  out.writeSummary({
    engine: exit ? { ...engine, runnerExit: exit } : engine,
    out: out.dir,
    startedAt: new Date(started).toISOString(),
    wallMs,
    exitCode: code,
    ...(stopped === undefined ? {} : { stopped }),
    totals,
    tasks: outcomes.map((o) => out.summaryRow(o)),
    ...(extras ? { keys: extras.keys, forwarded: extras.forwarded } : {}),
  });
  const serviceReport = callbacks?.serviceReport();
  if (serviceReport !== undefined) out.writeService(serviceReport);
  if (extras) writeExtras(out.dir, extras);

  if (stopped !== undefined) process.stderr.write(`aiware-sim: ${stopped}\n`);
  const lines = interrupted ? [] : (tail?.() ?? []);
  if (lines.length > 0) {
    process.stderr.write(`the runner's last lines (all of them in ${shown(out.runnerLog)}):\n${lines.map((l) => `  ${readableLogLine(l)}\n`).join('')}`);
  }
  if (extras) {
    const lines = formatExtras(extras);
    if (lines.length > 0) say(lines.join('\n'));
  }
  say(formatSummary(outcomes, totals, wallMs, out.dir, callbacks?.summaryLines(outcomes)));
  return code;
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** The runner logs JSON lines (pino): shown as `level message`; anything else as it is. */
export function readableLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
    if (typeof entry.msg !== 'string') return line;
    const message = entry.msg.replace(/\s+/g, ' ').trim();
    return typeof entry.level === 'string' ? `${entry.level} ${message}` : message;
  } catch {
    return line;
  }
}

/** The program: `bin/aiware-sim` calls this. */
export function cli(argv: string[] = process.argv): void {
  void main(argv).then((code) => {
    process.exitCode = code;
    // Everything is stopped by now; should some handle still be open, it must not hang the CLI.
    setTimeout(() => process.exit(code), 5000).unref();
  });
}
