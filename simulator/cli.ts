// `aiware-sim`: Engine Toolkit on a laptop. `aiware-sim run` starts an engine (the runner on a
// build runtime file) or finds one running, waits for its readiness as ET does, posts a work item
// per input file, hosts the heartbeat and result webhooks, and reports how every task ended.
// Exit codes: cli/exit.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
import { CallbackWatch } from './cli/callbacks';
import { EngineSession } from './cli/session';
import { EXIT, EXIT_CODES_HELP, exitCodeOf } from './cli/exit';
import { listInputs } from './cli/inputs';
import { UsageError, parseRunOptions, type RawRunOptions, type RunOptions } from './cli/options';
import { OutFolder, Progress, formatMs, formatSummary, plural, short, shown, totalsOf } from './cli/report';
import { nodeTimesByTask } from './cli/node-times';
import { attachLines, attachNodeTimes, isFlowOrProtocolError, isOk, runTasks, type AbortReason, type TaskOutcome, type TaskPlan } from './cli/tasks';
import { formatExtras, runExtras, writeExtras, type RunExtras } from './cli/extras';
import { CheckUsageError, checkCommand } from './cli/check';
import { newCommand } from './cli/new-command';
import { describeLine, linesByTask, type TaskLogLine } from './cli/runner-lines';
import { test } from './cli/test-command';
import { parseTestOptions, type RawTestOptions } from './cli/test-options';

export { EXIT } from './cli/exit';

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

${EXIT_CODES_HELP}`;

const TEST_EXAMPLES = `
Examples:
  $ aiware-sim test samples/chunk-text-to-transcript
  $ aiware-sim test engine/aiware-test.yaml --junit reports/engine.xml
  $ aiware-sim test --update                 # accept the outputs of this run as the expected ones
  $ aiware-sim test --watch                  # run again on every change

${EXIT_CODES_HELP}`;

function program(onRun: (command: () => Promise<number>) => Promise<void>, onCode: (code: number) => void = () => undefined): Command {
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
    .action(async (inputs: string[], raw: RawRunOptions) => onRun(() => run(parseRunOptions(inputs, raw))));
  cli
    .command('test')
    .description(
      "Run the cases of test files against an engine (one start per file) and compare what it answers with what they expect; a failing case shows why, its outputs' diff and the runner's lines about it.",
    )
    .argument('[files...]', 'test files (YAML or JSON), or folders with an aiware-test.yaml (default: the current folder)')
    .addOption(new Option('--runtime <file>', "build runtime file to start the runner on, in place of each test file's runtime").conflicts('engineUrl'))
    .option('--engine-url <url>', "a running engine's /process URL, in place of each test file's runtime")
    .option('--ready-url <url>', 'its readiness URL (default: same origin + /readyz)')
    .option('--runner <file>', "runner script to start (default: this package's runner/main.js)")
    .option('--engine-id <id>', 'ENGINE_ID for the runner', 'local-engine')
    .option('--build-id <id>', 'BUILD_ID for the runner', 'local-build')
    .option('--share-folder <dir>', 'AIWARE_AUTOMATE_SHARE_FOLDER for the runner (default: a temp folder)')
    .option('--concurrency <n>', "cases in flight at once (default: the test file's concurrency, else 1)")
    .option('--grep <pattern>', 'only the cases whose name matches this regular expression')
    .option('--update', 'write the outputs of each case that did all else as expected as its expected file')
    .option('--watch', 'run again when a test file, its runtime file, an input or an expected file changes (Ctrl-C to stop)')
    .option('--junit <file>', 'write a JUnit XML report there')
    .option('--out <dir>', "keep every task's file and the runner's log there")
    .option('--ready-timeout <s>', 'how long to wait for readiness', '60')
    .option('--heartbeat-timeout <s>', 'fail an asynchronous task silent this long (0: off)', '30')
    .option('--retries <n>', "times a /process post is tried again after an error answer or no answer (a test wants the engine's first answer)", '0')
    .option('--verbose', "echo the runner's log lines")
    .addHelpText('after', TEST_EXAMPLES)
    .action(async (files: string[], raw: RawTestOptions) => onRun(() => test(parseTestOptions(files, raw))));
  cli.addCommand(checkCommand(onCode));
  cli.addCommand(newCommand(onCode));
  return cli;
}

/** Parses argv (as `process.argv`) and runs; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await program(
      async (command) => {
        code = await command();
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
  const session = new EngineSession(abort);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      // The second Ctrl-C: no more draining.
      void session.runner?.kill().finally(() => process.exit(EXIT.interrupted));
      return;
    }
    interrupted = true;
    progress.note(`aiware-sim: ${signal}: stopping (again to stop at once)`);
    abort({ failureReason: 'other', message: `interrupted by ${signal}` });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let callbacks: CallbackWatch | undefined;
  let stopped: string | undefined;
  let notStarted = false;
  let outcomes: TaskOutcome[] = [];
  let extras: RunExtras | undefined;
  // One run is one job: its chunks share an internalJobId, so job keys span them (as ET's chunks of a job do).
  const jobId = options.fields.internalJobId ?? `job-sim-${started.toString(36)}`;
  // The runner's warnings and errors about a task of this run are shown as they come.
  const labels = new Map<string, string>();
  try {
    const toolkit = await session.startToolkit({
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      sendOutputToUris: options.sendOutputToUris,
      libraryModelDirectory: options.libraryDir,
    });
    if (options.libraryModel) toolkit.serveModel(options.libraryModel.libraryId, options.libraryModel.libraryEngineModelId, { path: options.libraryModel.file });
    callbacks = await CallbackWatch.start(toolkit, progress, options.service);
    if (callbacks.serviceUrl) say(`outside service: ${callbacks.serviceUrl} (payload.callbackServiceUrl), calls back after ${formatMs(options.service?.delayMs ?? 0)}`);
    const readiness = await session.startEngine(
      options.engine,
      {
        runnerLog: out.runnerLog,
        readyTimeoutMs: options.readyTimeoutMs,
        signal: controller.signal,
        onLine: (line) => {
          if (options.verbose) return progress.note(`runner: ${readableLogLine(line)}`);
          const about = taskLineOf(line);
          const label = about && labels.get(about.internalTaskId);
          // A task's failure has its own line when the task ends; the rest is news.
          if (label && about.line.msg !== 'task failed') progress.note(`runner, ${label}: ${short(describeLine(about.line), 300)}`);
        },
      },
      say,
    );
    if (!readiness.ready) {
      notStarted = true;
      stopped = readiness.why === 'aborted' ? `${abortMessage()} before the engine was ready` : readiness.message;
    } else {
      say(`engine ready after ${formatMs(readiness.afterMs)}; ${plans[0].chunk ? plural(plans.length, 'chunk') : 'one task without a chunk'}`);
      progress.start(plans.length);
      outcomes = await runTasks(plans, {
        toolkit,
        processUrl: session.processUrl,
        options,
        jobId,
        signal: controller.signal,
        itemPayload: (plan, taskId) => {
          labels.set(taskId, `task ${plan.n} (${plan.chunk?.label ?? 'no chunk'})`);
          return callbacks?.itemPayload(plan, taskId) ?? {};
        },
        onDone: (outcome) => {
          out.writeTask(outcome);
          progress.taskDone(outcome, plans.length);
        },
      });
      if (controller.signal.aborted) stopped = abortMessage();
    }
  } finally {
    progress.stop();
    // The service first, so no call it still had due reaches a runner on its way down.
    await callbacks?.stop();
    await session.stopEngine();
    if (session.toolkit) {
      await session.toolkit.forwardsSettled();
      extras = runExtras(session.toolkit, options);
    }
    await session.stopToolkit();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  // The runner has written out every line now: each task gets those about it, and is written again with them.
  attachLines(outcomes, linesByTask(session.lines));
  attachNodeTimes(outcomes, nodeTimesByTask(session.lines));
  for (const outcome of outcomes) if (outcome.log.length > 0 || outcome.nodeTimes) out.writeTask(outcome);
  // ET stops an engine with SIGTERM: one that does not leave cleanly would lose work there.
  stopped ??= session.uncleanExit();

  const totals = totalsOf(outcomes, plans.length);
  const code = exitCodeOf({
    interrupted,
    notStarted,
    flowError: (stopped !== undefined && !notStarted) || outcomes.some(isFlowOrProtocolError),
    failed: outcomes.length < plans.length || !outcomes.every(isOk),
  });
  const wallMs = Date.now() - started;
  const exit = session.runnerExit;
  out.writeSummary({
    engine: exit ? { ...session.engine, runnerExit: exit } : session.engine,
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
  const lines = interrupted ? [] : (session.tail?.() ?? []);
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

/** A runner line about a task (one with its internalTaskId), warning or worse; undefined for any other. */
function taskLineOf(text: string): { internalTaskId: string; line: TaskLogLine } | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(text) as { level?: unknown; msg?: unknown; internalTaskId?: unknown };
    const [about] = linesByTask([{ ...entry, level: String(entry.level), msg: String(entry.msg) }]);
    return about && { internalTaskId: about[0], line: about[1][0] };
  } catch {
    return undefined;
  }
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
