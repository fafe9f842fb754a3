// `aiware-sim test`: the cases of each test file against one engine start (the runner on the file's
// runtime, or --runtime, or an engine at --engine-url), a line per case, what went wrong for each
// failing one (its flow errors naming the node, a diff of its outputs, the runner's lines), a
// closing `N passed, N failed`, JUnit XML with --junit, expected files written with --update, and
// with --watch a new run whenever the runtime, a test file, an input or an expected file changes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
import { EXIT, exitCodeOf } from './exit';
import { junitXml, type JUnitCase, type JUnitSuite } from './junit';
import { type EngineTarget } from './options';
import { OutFolder, formatMs, plural, shown } from './report';
import { linesByTask } from './runner-lines';
import { EngineSession } from './session';
import { attachLines, type AbortReason } from './tasks';
import { judgeCase, notRun, runCase, type CaseRun, type CaseVerdict } from './test-case';
import { readTestFile, type TestFile } from './test-file';
import type { TestOptions } from './test-options';

const READY_POLL_MS = 100;

/** One test file's run. */
export interface FileResult {
  file: TestFile;
  verdicts: CaseVerdict[];
  /** Cases left out by --grep. */
  skipped: number;
  startedAt: Date;
  ms: number;
  /** Why no case ran: the engine did not start. */
  notStarted?: string;
  /** The runner's last lines, when it is why. */
  tail: string[];
}

interface Console {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  colour: boolean;
}

const paint = (io: Console, code: number, text: string) => (io.colour ? `\u001b[${code}m${text}\u001b[0m` : text);

/** Runs every file once, prints the report and writes the JUnit file; resolves with the exit code. */
async function runOnce(
  files: TestFile[],
  options: TestOptions,
  io: Console,
  signal: AbortSignal,
  onSession: (session: EngineSession | undefined) => void,
): Promise<{ code: number; watched: string[] }> {
  const started = Date.now();
  const results: FileResult[] = [];
  for (const file of files) {
    if (signal.aborted) break;
    results.push(await runFile(file, options, io, signal, onSession));
  }
  const verdicts = results.flatMap((r) => r.verdicts);
  const failed = verdicts.filter((v) => v.status === 'failed');
  if (failed.length > 0) {
    io.out.write('\nfailures\n');
    failed.forEach((v, i) =>
      io.out.write(
        describeFailure(
          v,
          i + 1,
          results.find((r) => r.verdicts.includes(v))!,
          io,
        ),
      ),
    );
  }
  const updated = verdicts.filter((v) => v.wrote);
  if (updated.length > 0) io.out.write(`\n${plural(updated.length, 'expected file')} written (--update): ${updated.map((v) => shown(v.wrote!)).join(', ')}\n`);
  const skipped = results.reduce((sum, r) => sum + r.skipped, 0);
  // The closing line alone, as test runners print it.
  io.out.write(`\n${verdicts.length - failed.length} passed, ${failed.length} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  io.out.write(`wall ${formatMs(Date.now() - started)}\n`);
  if (options.junit) {
    fs.mkdirSync(path.dirname(options.junit), { recursive: true });
    fs.writeFileSync(options.junit, junitXml(results.map(junitSuite)));
    io.out.write(`junit: ${shown(options.junit)}\n`);
  }
  const code = exitCodeOf({
    interrupted: signal.aborted,
    notStarted: results.some((r) => r.notStarted !== undefined),
    flowError: failed.some((v) => v.kind === 'flowError'),
    failed: failed.length > 0,
  });
  return { code, watched: watchedFiles(files, options) };
}

/** One file: the engine started, its cases run (`concurrency` at a time), the engine stopped, each case judged. */
async function runFile(file: TestFile, options: TestOptions, io: Console, runSignal: AbortSignal, onSession: (session: EngineSession | undefined) => void): Promise<FileResult> {
  const startedAt = new Date();
  const cases = file.cases.filter((c) => !options.grep || options.grep.test(c.name));
  const result: FileResult = { file, verdicts: [], skipped: file.cases.length - cases.length, startedAt, ms: 0, tail: [] };
  const name = shown(file.file);
  const target: EngineTarget = options.engine ?? { kind: 'runtime', runtimeFile: file.runtime!, ...options.runner };
  // The runner exiting under the cases stops them, as Ctrl-C does.
  const controller = new AbortController();
  const abort = (reason: AbortReason): void => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const follow = (): void => abort(runSignal.reason as AbortReason);
  runSignal.addEventListener('abort', follow, { once: true });
  const session = new EngineSession(abort);
  onSession(session);
  const out = options.out && path.join(options.out, path.basename(file.dir), path.basename(file.file).replace(/\.\w+$/, ''));
  if (out) fs.mkdirSync(out, { recursive: true });
  const runs: CaseRun[] = [];
  io.out.write(`\n${name}\n`);
  try {
    const toolkit = await session.startToolkit({ heartbeatTimeoutMs: options.heartbeatTimeoutMs });
    const readiness = await session.startEngine(
      target,
      {
        readyTimeoutMs: options.readyTimeoutMs,
        signal: controller.signal,
        // Not ET's second: a test run waits for nothing it need not.
        pollMs: READY_POLL_MS,
        runnerLog: out && path.join(out, 'runner.log'),
        onLine: options.verbose ? (line) => io.err.write(`runner: ${line}\n`) : undefined,
      },
      (text) => io.out.write(`  ${text}\n`),
    );
    if (!readiness.ready) {
      result.notStarted = readiness.why === 'aborted' ? `${(controller.signal.reason as AbortReason).message} before the engine was ready` : readiness.message;
    } else {
      io.out.write(`  engine ready after ${formatMs(readiness.afterMs)}\n`);
      const base = {
        engine: target,
        out: out ?? '',
        chunkMs: 5000,
        concurrency: 1,
        readyTimeoutMs: options.readyTimeoutMs,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs,
        retries: options.retries,
        verbose: options.verbose,
        sendOutputToUris: [],
      };
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < cases.length && !controller.signal.aborted) {
          const testCase = cases[next++];
          const run = await runCase(testCase, { toolkit, processUrl: session.processUrl, base, signal: controller.signal, runnerWorkDir: session.runner?.workDir });
          runs.push(run);
        }
      };
      const concurrency = options.concurrency ?? file.concurrency;
      await Promise.all(Array.from({ length: Math.min(concurrency, cases.length) }, worker));
    }
  } finally {
    await session.stopEngine();
    await session.stopToolkit();
    runSignal.removeEventListener('abort', follow);
    onSession(undefined);
  }
  // Every line the runner wrote is in now: each task gets those about it.
  const lines = linesByTask(session.lines);
  for (const run of runs) attachLines(run.outcomes, lines);
  const stoppedWhy = controller.signal.aborted ? (controller.signal.reason as AbortReason).message : undefined;
  const unclean = session.uncleanExit();
  for (const testCase of cases) {
    const run = runs.find((r) => r.testCase === testCase);
    let verdict: CaseVerdict;
    if (!run) verdict = notRun(testCase, result.notStarted ? `the engine did not start: ${result.notStarted}` : `not run: ${stoppedWhy ?? 'the run stopped'}`);
    else {
      verdict = judgeCase(run, { update: options.update, colour: io.colour, dir: file.dir });
      if (out) {
        const folder = new OutFolder(path.join(out, testCase.name.replace(/[^\w.-]+/g, '-')), run.outcomes.length);
        for (const outcome of run.outcomes) folder.writeTask(outcome);
      }
    }
    result.verdicts.push(verdict);
  }
  // The runner dying under the cases, or not leaving cleanly, is the engine's failure: said on each case it touched.
  const engineWhy = stoppedWhy?.startsWith('the runner exited') ? stoppedWhy : unclean;
  if (engineWhy) {
    for (const v of result.verdicts) {
      if (v.kind === 'notRun' && !stoppedWhy?.startsWith('the runner exited')) continue;
      v.problems.push(engineWhy);
      v.status = 'failed';
      v.kind = 'flowError';
    }
    result.tail = session.runner?.tail() ?? [];
  }
  if (result.notStarted) result.tail = session.tail?.() ?? [];
  for (const v of result.verdicts) io.out.write(`  ${mark(v, io)} ${v.testCase.name}${v.ms > 0 ? ` (${formatMs(v.ms)})` : ''}${v.wrote ? ` — ${shown(v.wrote)} written` : ''}\n`);
  if (result.notStarted) {
    io.out.write(`  the engine did not start: ${result.notStarted}\n`);
    for (const line of result.tail) io.out.write(`    ${line}\n`);
  }
  result.ms = Date.now() - startedAt.getTime();
  return result;
}

function mark(v: CaseVerdict, io: Console): string {
  if (v.status === 'failed') return paint(io, 31, '✗');
  return paint(io, 32, v.status === 'updated' ? '↻' : '✓');
}

function describeFailure(v: CaseVerdict, n: number, result: FileResult, io: Console): string {
  const lines = [`\n  ${n}) ${shown(result.file.file)} › ${v.testCase.name}`, `     expected: ${v.testCase.expect.said}`];
  for (const problem of v.problems) lines.push(`     ${paint(io, 31, problem)}`);
  if (v.diff) for (const line of v.diff) lines.push(`       ${line}`);
  if (v.runnerLines.length > 0) {
    lines.push("     the runner's warnings and errors:");
    for (const line of v.runnerLines.slice(0, 10)) lines.push(`       ${line}`);
    if (v.runnerLines.length > 10) lines.push(`       … ${v.runnerLines.length - 10} more`);
  }
  return `${lines.join('\n')}\n`;
}

function junitSuite(result: FileResult): JUnitSuite {
  const name = shown(result.file.file);
  const cases: JUnitCase[] = result.verdicts.map((v) => {
    const entry: JUnitCase = { name: v.testCase.name, classname: name, seconds: v.ms / 1000 };
    if (v.status !== 'failed') return entry;
    const text = [`expected: ${v.testCase.expect.said}`, ...v.problems, ...(v.diff ?? []), ...v.runnerLines].join('\n');
    const problem = { message: v.problems[0] ?? 'failed', type: v.kind === 'flowError' ? 'flow or protocol error' : v.kind === 'notRun' ? 'not run' : 'differs', text };
    if (v.kind === 'notRun') entry.error = problem;
    else entry.failure = problem;
    return entry;
  });
  return { name, timestamp: result.startedAt.toISOString().replace(/\.\d+Z$/, ''), seconds: result.ms / 1000, cases };
}

/** What a watch looks at: each test file, its runtime, its cases' inputs and expected files. */
function watchedFiles(files: TestFile[], options: TestOptions): string[] {
  const all = new Set<string>();
  for (const file of files) {
    all.add(file.file);
    const runtime = options.engine?.kind === 'runtime' ? options.engine.runtimeFile : options.engine ? undefined : file.runtime;
    if (runtime) all.add(runtime);
    for (const c of file.cases) {
      for (const input of c.inputs) all.add(input);
      if (c.expect.output) all.add(c.expect.output);
    }
  }
  return [...all];
}

const WATCH_DEBOUNCE_MS = 200;

/**
 * Resolves with the paths that changed, once a change has been quiet for the debounce, or with
 * undefined when `stop` fires first. Folders are watched, not files: an editor that saves by
 * renaming a new file over the old one would end a file's watch.
 */
function nextChange(files: string[], stop: AbortSignal): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    const wanted = new Set(files);
    const changed = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    const watchers: fs.FSWatcher[] = [];
    const finish = (value: string[] | undefined): void => {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
      stop.removeEventListener('abort', onStop);
      resolve(value);
    };
    const onStop = (): void => finish(undefined);
    for (const dir of new Set(files.map((f) => path.dirname(f)))) {
      try {
        const watcher = fs.watch(dir, (_event, name) => {
          const file = name === null ? undefined : path.join(dir, name.toString());
          // An expected file not written yet has its folder watched, and shows as it appears.
          if (file === undefined || !wanted.has(file)) return;
          changed.add(file);
          clearTimeout(timer);
          timer = setTimeout(() => finish([...changed]), WATCH_DEBOUNCE_MS);
        });
        watchers.push(watcher);
      } catch {
        // A folder that does not exist (an expected/ folder not made yet): its files cannot change.
      }
    }
    if (stop.aborted) return finish(undefined);
    stop.addEventListener('abort', onStop, { once: true });
  });
}

/** `aiware-sim test`: the exit code. */
export async function test(options: TestOptions): Promise<number> {
  const io: Console = { out: process.stdout, err: process.stderr, colour: process.stdout.isTTY === true && process.stdout.hasColors() };
  let session: EngineSession | undefined;
  let run: AbortController | undefined;
  const idle = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (run && !run.signal.aborted) {
      if (signals > 1) {
        void session?.runner?.kill().finally(() => process.exit(EXIT.interrupted));
        return;
      }
      io.err.write(`aiware-sim: ${signal}: stopping (again to stop at once)\n`);
      run.abort({ failureReason: 'other', message: `interrupted by ${signal}` } satisfies AbortReason);
    }
    idle.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let files = options.files;
    for (;;) {
      run = new AbortController();
      const { code, watched } = await runOnce(files, options, io, run.signal, (s) => (session = s));
      run = undefined;
      if (!options.watch || code === EXIT.interrupted || idle.signal.aborted) return code;
      io.out.write(`\nwatching ${plural(watched.length, 'file')} for changes (Ctrl-C to stop)\n`);
      const changed = await nextChange(watched, idle.signal);
      if (!changed) return code;
      io.out.write(`\n${changed.map((f) => shown(f)).join(', ')} changed: running again\n`);
      try {
        files = files.map((f) => readTestFile(f.file));
      } catch (err) {
        // A test file broken while editing: said, and the last good one used until it is fixed.
        io.err.write(`aiware-sim: ${errorMessage(err)}\n`);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
