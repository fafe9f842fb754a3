// One case of a test file: its tasks sent through the emulator as `aiware-sim run` sends them, and
// what came back held against what the file expects: the outputs (normalised) against the expected
// file, the end (a failure with its reason, an ignored chunk), pauses, the last infoMsg, and never a
// flow error, a protocol violation or a task the toolkit had to time out.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorMessage, isFailureReason } from '@aiware-nodered/node-red-aiware';
import type { ToolkitEmulator } from '../emulator';
import { OutsideService } from '../outside-service';
import { SERVICE_URL_KEY } from './callbacks';
import { listInputs } from './inputs';
import { jsonDiff } from './json-diff';
import { normalise, normaliseText, sameJson, volatileValues, type Volatile } from './normalise';
import type { RunOptions } from './options';
import { otherLines, short } from './report';
import { describeLine, withoutTaskName } from './runner-lines';
import { runTasks, type TaskOutcome, type TaskPlan } from './tasks';
import { matches, type TestCase } from './test-file';

const CHUNK_MS = 5000;

/** What the tasks of a case did, with what is needed to judge it once the runner's lines are in. */
export interface CaseRun {
  testCase: TestCase;
  outcomes: TaskOutcome[];
  /** Each outcome's volatile values, by task id. */
  volatile: Map<string, Volatile[]>;
  ms: number;
  /** Why the case could not run at all (the outside service would not start). */
  error?: string;
}

export interface CaseContext {
  toolkit: ToolkitEmulator;
  processUrl: string;
  /** The run's options less what each case sets. */
  base: Omit<RunOptions, 'inputs' | 'payload' | 'fields' | 'mime' | 'cache' | 'maxTTL' | 'chunkMetadata'>;
  signal: AbortSignal;
  /** The runner's work folder, a volatile path. */
  runnerWorkDir?: string;
}

/** Runs one case's tasks, one after another, as chunks of one job. */
export async function runCase(testCase: TestCase, context: CaseContext): Promise<CaseRun> {
  const started = Date.now();
  const chunked = testCase.engineType === 'chunk';
  const options: RunOptions = {
    ...context.base,
    inputs: chunked ? testCase.inputs : [],
    payload: testCase.payload,
    fields: testCase.fields,
    mime: testCase.mime,
    // Stream and batch engines get no chunk: their input is what cacheURI serves.
    cache: chunked ? undefined : testCase.inputs[0],
    maxTTL: testCase.maxTTL,
    chunkMetadata: testCase.chunkMetadata,
    concurrency: 1,
  };
  const chunks = chunked ? listInputs(testCase.inputs, { chunkMs: CHUNK_MS, mime: testCase.mime }) : [];
  const plans: TaskPlan[] = chunks.length > 0 ? chunks.map((chunk, i) => ({ n: i + 1, chunk })) : [{ n: 1 }];
  let service: OutsideService | undefined;
  try {
    if (testCase.callback) service = await OutsideService.start(testCase.callback);
  } catch (err) {
    return { testCase, outcomes: [], volatile: new Map(), ms: Date.now() - started, error: `the outside service did not start: ${errorMessage(err)}` };
  }
  try {
    const jobId = testCase.fields.internalJobId ?? `job-test-${randomBytes(6).toString('hex')}`;
    const outcomes = await runTasks(plans, {
      toolkit: context.toolkit,
      processUrl: context.processUrl,
      options,
      jobId,
      signal: context.signal,
      itemPayload: (_plan, taskId) => {
        if (!service) return {};
        const url = new URL(service.url);
        url.searchParams.set('taskId', taskId);
        return { [SERVICE_URL_KEY]: url.href };
      },
    });
    const places = {
      toolkit: context.toolkit.url,
      engine: new URL(context.processUrl).origin,
      service: service && new URL(service.url).origin,
      runnerWorkDir: context.runnerWorkDir,
    };
    // The fields as sent, tokens included (the outcome's are redacted), from the emulator's record.
    const volatile = new Map(outcomes.map((o) => [o.taskId, volatileValues(context.toolkit.task(o.taskId).fields ?? {}, testCase.fields, places)]));
    return { testCase, outcomes, volatile, ms: Date.now() - started };
  } finally {
    await service?.stop();
  }
}

/** How a case went: `passed`, `updated` (its expected file written), or `failed` and why. */
export interface CaseVerdict {
  testCase: TestCase;
  status: 'passed' | 'updated' | 'failed';
  /** What failed it: the outputs or the end differ from the file (`differs`), or the flow or protocol broke (`flowError`), or the engine never ran it (`notRun`). */
  kind?: 'differs' | 'flowError' | 'notRun';
  /** Lines saying what went wrong, each on its own. */
  problems: string[];
  /** The diff of the outputs, when they differ. */
  diff?: string[];
  /** What the runner said about the case's tasks besides its flow errors. */
  runnerLines: string[];
  ms: number;
  /** The expected file written by --update. */
  wrote?: string;
}

const ENDED_WELL = new Set(['answered', 'complete', 'ignored']);

/** Holds a case's tasks against its expectation; with `update`, writes the outputs as its expected file when that is all that differs. */
export function judgeCase(run: CaseRun, options: { update: boolean; colour: boolean; dir: string }): CaseVerdict {
  const { testCase, outcomes } = run;
  const expect = testCase.expect;
  const verdict: CaseVerdict = { testCase, status: 'passed', problems: [], runnerLines: [], ms: run.ms };
  const broken: string[] = [];
  const differs: string[] = [];
  if (run.error) return { ...verdict, status: 'failed', kind: 'notRun', problems: [run.error] };
  const many = outcomes.length > 1;
  for (const o of outcomes) {
    const volatile = run.volatile.get(o.taskId) ?? [];
    const which = many ? `task ${o.n} (${path.basename(o.input)}): ` : '';
    for (const error of o.flowErrors) broken.push(`${which}flow error: ${normaliseText(withoutTaskName(error), volatile)}`);
    for (const violation of o.violations) broken.push(`${which}protocol violation: ${violation}`);
    if (o.record?.timedOut) broken.push(`${which}the toolkit timed the task out (${o.record.timeout ?? 'maxTTL'}): ${o.failureMsg ?? ''}`);
    for (const line of otherLines(o.log)) verdict.runnerLines.push(`${which}${short(normaliseText(describeLine(line), volatile), 400)}`);

    const failure = failureOf(o);
    const failureMsg = normaliseText(failure.message, volatile);
    const ended = o.status === 'failed' ? `failed: ${failure.reason}: ${failureMsg}` : o.status;
    if (expect.failure) {
      if (o.status !== 'failed' || failure.reason !== expect.failure.reason) differs.push(`${which}expected ${expect.failure.said}, but the task ${o.status === 'failed' ? ended : `ended ${ended}`}`);
      else if (expect.failure.message && !matches(expect.failure.message, failureMsg)) differs.push(`${which}expected ${expect.failure.said}, but its message is ${JSON.stringify(failureMsg)}`);
    } else if (expect.ignored) {
      if (o.status !== 'ignored') differs.push(`${which}expected an ignored chunk (204), but the task ${o.status === 'failed' ? ended : `ended ${ended}`}`);
    } else if (!ENDED_WELL.has(o.status)) {
      differs.push(`${which}expected the task to end well, but it ${ended}`);
    }
    if (testCase.engineType !== 'chunk' && o.record?.status === 'answered') {
      differs.push(`${which}a ${testCase.engineType} engine answers /process at once with an estimate, but this one answered with its output (is it a synchronous chunk engine?)`);
    }
  }
  if (expect.paused !== undefined) {
    const paused = outcomes.reduce((sum, o) => sum + (o.record?.paused ?? 0), 0);
    if (paused !== expect.paused) differs.push(`expected ${expect.paused} pause(s) for a callback, but the tasks paused ${paused} time(s)`);
  }
  if (expect.infoMsg !== undefined) {
    const last = outcomes.at(-1);
    const infos = (last?.record?.heartbeats ?? []).map((h) => h.infoMsg).filter((i): i is string => typeof i === 'string' && i !== '');
    const info = normaliseText(infos.at(-1) ?? '', (last && run.volatile.get(last.taskId)) ?? []);
    if (!matches(expect.infoMsg, info))
      differs.push(`expected a last infoMsg with ${'part' in expect.infoMsg ? JSON.stringify(expect.infoMsg.part) : String(expect.infoMsg.pattern)}, but it was ${JSON.stringify(info)}`);
  }

  if (expect.output) {
    const actual = outcomes.flatMap((o) => o.outputs.map((out) => normalise(out.output, run.volatile.get(o.taskId) ?? [], testCase.ignore)));
    const file = expect.output;
    const shownFile = path.relative(options.dir, file);
    const expected = readExpected(file, shownFile, testCase.ignore);
    // --update takes the outputs of a case that did everything else as expected.
    const updatable = options.update && broken.length === 0 && differs.length === 0;
    if (updatable && (!('value' in expected) || !sameJson(expected.value, actual))) {
      writeExpected(file, actual);
      verdict.wrote = file;
    } else if (!('value' in expected)) {
      differs.push(`${expected.problem} (aiware-sim test --update writes the outputs of this run there)`);
    } else if (!sameJson(expected.value, actual)) {
      differs.push(`the outputs differ from ${shownFile}`);
      verdict.diff = jsonDiff(expected.value, actual, { colour: options.colour, expectedName: shownFile });
    }
  }
  verdict.problems = [...broken, ...differs];
  if (broken.length > 0) verdict.kind = 'flowError';
  else if (differs.length > 0) verdict.kind = 'differs';
  verdict.status = verdict.kind ? 'failed' : verdict.wrote ? 'updated' : 'passed';
  return verdict;
}

/** The expected outputs, as compared: a JSON array, each item with the ignored paths dropped. */
function readExpected(file: string, shown: string, ignore: readonly string[]): { value: unknown[] } | { problem: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { problem: `there is no expected output yet: ${shown} does not exist` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    return { problem: `${shown} is not JSON: ${errorMessage(err)}` };
  }
  if (!Array.isArray(value)) return { problem: `${shown} must hold a JSON array: the outputs of the case's tasks, in order` };
  return { value: value.map((item) => normalise(item, [], ignore)) };
}

/**
 * How a task failed, in the engine's words: a synchronous engine's error answer names its reason
 * and message (`{"error", "failureReason"}`), where the toolkit only records the status.
 */
function failureOf(o: TaskOutcome): { reason: string; message: string } {
  const answer = o.process.at(-1)?.body as { error?: unknown; failureReason?: unknown } | undefined;
  if (o.record?.status === 'failed' && o.record.processAnswers.length > 0 && typeof answer?.failureReason === 'string' && isFailureReason(answer.failureReason)) {
    return { reason: answer.failureReason, message: typeof answer.error === 'string' ? answer.error : (o.failureMsg ?? '') };
  }
  return { reason: o.failureReason ?? 'unknown', message: o.failureMsg ?? '' };
}

/** Temp file and rename: a reader (an editor, a watch) never sees half of it. */
function writeExpected(file: string, outputs: unknown[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(outputs, null, 2)}\n`);
  fs.renameSync(temp, file);
}

/** A case that never ran: the engine did not start, or the run was stopped first. */
export function notRun(testCase: TestCase, why: string): CaseVerdict {
  return { testCase, status: 'failed', kind: 'notRun', problems: [why], runnerLines: [], ms: 0 };
}
