// Runs the work items of one `aiware-sim run` through the emulator, as Engine Toolkit would:
// post to /process (retrying an error answer or a lost connection), then wait for the task to
// end by its heartbeats, the emulator's maxTTL / heartbeat clocks, or an abort (Ctrl-C, the
// runner gone). Every wait here ends: the emulator's clocks bound each task.
import { redactFields } from '@aiware-nodered/node-red-aiware';
import { errorMessage } from '@aiware-nodered/node-red-aiware';
import type { FailureReason } from '@aiware-nodered/node-red-aiware';
import type { ToolkitEmulator } from '../emulator';
import type { ChunkInput, ProcessAnswer } from '../process-post';
import type { TaskNodeTimes } from './node-times';
import { FINAL_STATUSES, type TaskRecord, type TaskStatus } from '../task-book';
import { sleep } from '@aiware-nodered/node-red-aiware';
import { mimeTypeOf, type InputChunk } from './inputs';
import type { RunOptions } from './options';
import { flowErrorsOf, type TaskLogLine } from './runner-lines';

/** One work item to send: with a chunk from the inputs, or none (stream and batch engines). */
export interface TaskPlan {
  n: number;
  chunk?: InputChunk;
}

/** Why the run stopped early; in-flight tasks fail with it. */
export interface AbortReason {
  failureReason: FailureReason;
  message: string;
}

export interface ProcessAttempt {
  attempt: number;
  at: string;
  status?: number;
  body?: unknown;
  error?: string;
}

export interface TaskOutput {
  index?: number;
  startOffsetMs?: number;
  endOffsetMs?: number;
  output: unknown;
}

/** How a task ended, with everything the out folder keeps about it. */
export interface TaskOutcome {
  n: number;
  /** The chunk's file as given, or `(no chunk)`. */
  input: string;
  taskId: string;
  status: TaskStatus;
  failureReason?: string;
  failureMsg?: string;
  /** The /process answer itself (synchronous chunk), or each posted result's output. */
  outputs: TaskOutput[];
  violations: string[];
  ms: number;
  /** The work item's fields, tokens redacted. */
  workItem: Record<string, string>;
  process: ProcessAttempt[];
  record?: TaskRecord;
  /** The runner's warnings and errors about the task (see `attachLines`). */
  log: TaskLogLine[];
  /** The flow errors among them: a result or heartbeat after the task's end, a task the flow forgot. */
  flowErrors: string[];
  /** Where its time went, node by node (the runner's last line of the task; see `attachNodeTimes`). */
  nodeTimes?: TaskNodeTimes;
}

/** answered, ignored and complete are the ends ET counts as success, provided nothing broke the protocol and the flow made no mistake. */
export function isOk(outcome: Pick<TaskOutcome, 'status' | 'violations' | 'flowErrors'>): boolean {
  return (outcome.status === 'answered' || outcome.status === 'ignored' || outcome.status === 'complete') && outcome.violations.length === 0 && outcome.flowErrors.length === 0;
}

/** A flow or protocol error: the flow's mistake, a protocol violation, or a task the toolkit had to time out (exit code 3). */
export function isFlowOrProtocolError(outcome: Pick<TaskOutcome, 'violations' | 'flowErrors' | 'record'>): boolean {
  return outcome.violations.length > 0 || outcome.flowErrors.length > 0 || outcome.record?.timedOut === true;
}

/** Gives each outcome its per-node times (by internalTaskId, the emulator's task id). */
export function attachNodeTimes(outcomes: TaskOutcome[], byTask: Map<string, TaskNodeTimes>): void {
  for (const outcome of outcomes) outcome.nodeTimes = byTask.get(outcome.taskId);
}

/** Gives each outcome the runner's lines about its task (by internalTaskId, the emulator's task id). */
export function attachLines(outcomes: TaskOutcome[], byTask: Map<string, TaskLogLine[]>): void {
  for (const outcome of outcomes) {
    outcome.log = byTask.get(outcome.taskId) ?? [];
    outcome.flowErrors = flowErrorsOf(outcome.log);
  }
}

const RETRY_DELAY_MS = 250;

export interface TaskRunContext {
  toolkit: ToolkitEmulator;
  processUrl: string;
  options: RunOptions;
  signal: AbortSignal;
  onStart?: (plan: TaskPlan) => void;
  /** The run's job: every work item carries this internalJobId, so job keys span the run's chunks. */
  jobId?: string;
  onDone?: (outcome: TaskOutcome) => void;
  /** More payload for a plan's work item, merged over `--payload` (the outside service's URL). */
  itemPayload?: (plan: TaskPlan, taskId: string) => Record<string, unknown>;
}

/** Runs the plans, `options.concurrency` at a time; an abort stops new ones from starting. */
export async function runTasks(plans: TaskPlan[], context: TaskRunContext): Promise<TaskOutcome[]> {
  const outcomes: TaskOutcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plans.length && !context.signal.aborted) {
      const plan = plans[next++];
      context.onStart?.(plan);
      const outcome = await runTask(plan, context);
      outcomes.push(outcome);
      context.onDone?.(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.min(context.options.concurrency, plans.length) }, worker));
  return outcomes.sort((a, b) => a.n - b.n);
}

function overrides(plan: TaskPlan, options: RunOptions, jobId: string | undefined): Record<string, string> {
  const fields: Record<string, string> = { maxTTL: String(options.maxTTL), chunkIndex: String(plan.chunk?.chunkIndex ?? 0) };
  if (jobId !== undefined) fields.internalJobId = jobId;
  for (const [name, value] of Object.entries(options.chunkMetadata)) fields[`chunk-metadata-${name}`] = value;
  if (options.libraryModel) {
    fields.libraryId = options.libraryModel.libraryId;
    fields.libraryEngineModelId = options.libraryModel.libraryEngineModelId;
  }
  if (plan.chunk) {
    fields.chunkMimeType = plan.chunk.mimeType;
    fields.startOffsetMS = String(plan.chunk.startOffsetMS);
    fields.endOffsetMS = String(plan.chunk.endOffsetMS);
  } else if (options.cache) {
    fields.chunkMimeType = options.mime ?? mimeTypeOf(options.cache);
  }
  if (options.chunkContext !== undefined) fields.chunkContext = options.chunkContext;
  return fields;
}

async function runTask(plan: TaskPlan, context: TaskRunContext): Promise<TaskOutcome> {
  const { toolkit, options } = context;
  // Every field the emulator checks against (chunkContext, maxTTL) goes in through workItem().
  const item = toolkit.workItem({ ...overrides(plan, options, context.jobId), ...options.fields });
  const { taskId } = item;
  // The payload merges over the one workItem() made (its jobId, taskId); the emulator never reads it.
  const library = options.libraryModel && { mode: 'library-run', libraryId: options.libraryModel.libraryId, libraryEngineModelId: options.libraryModel.libraryEngineModelId };
  const payload = { ...library, ...options.payload, ...context.itemPayload?.(plan, taskId) };
  if (Object.keys(payload).length > 0 && options.fields.payload === undefined) {
    item.fields.payload = JSON.stringify({ ...(JSON.parse(item.fields.payload) as object), ...payload });
  }
  if (options.cache) toolkit.setCache(taskId, { path: options.cache, mimeType: options.mime ?? mimeTypeOf(options.cache) });
  const chunk: ChunkInput | undefined = plan.chunk && { path: plan.chunk.path, mimeType: plan.chunk.mimeType };

  const started = Date.now();
  const attempts: ProcessAttempt[] = [];
  const watch = new TaskWatch(toolkit, taskId);
  const { signal, release } = taskSignal(context.signal, item.fields.maxTTL, options.maxTTL);
  let failure: AbortReason | undefined;
  try {
    // ET's /process: a 2xx ends the loop; anything else is tried again, `retries` times.
    for (let attempt = 1; ; attempt++) {
      const at = new Date().toISOString();
      const posted = toolkit.process(context.processUrl, item, chunk);
      posted.catch(() => undefined); // when the race below is lost, its rejection is of no interest
      const first = await Promise.race([
        posted.then(
          (answer): { answer: ProcessAnswer } => ({ answer }),
          (err: unknown): { error: unknown } => ({ error: err }),
        ),
        watch.until((rec) => rec.timedOut === true, signal).then(() => ({ ended: true as const })),
      ]);
      if ('ended' in first) break; // the emulator's maxTTL clock, or an abort
      if ('answer' in first) {
        attempts.push({ attempt, at, status: first.answer.status, body: first.answer.body });
        if (first.answer.status >= 200 && first.answer.status < 300) break;
        if (attempt > options.retries) break; // the emulator has failed the task with the answer
      } else {
        const message = errorMessage(first.error);
        attempts.push({ attempt, at, error: message });
        if (attempt > options.retries) {
          failure = { failureReason: networkReason(first.error), message: `POST ${context.processUrl} failed ${attempt} time(s): ${message}` };
          break;
        }
      }
      await sleep(RETRY_DELAY_MS * 2 ** (attempt - 1), signal);
      if (signal.aborted) break;
    }
    if (!failure && !signal.aborted) await watch.until((rec) => FINAL_STATUSES.includes(rec.status), signal);
  } finally {
    watch.dispose();
    release();
  }

  const record = toolkit.task(taskId);
  const outcome: TaskOutcome = {
    n: plan.n,
    input: plan.chunk?.label ?? '(no chunk)',
    taskId,
    status: record.status,
    failureReason: record.failureReason,
    failureMsg: record.failureMsg,
    outputs:
      record.status === 'answered'
        ? [{ startOffsetMs: plan.chunk?.startOffsetMS, endOffsetMs: plan.chunk?.endOffsetMS, output: record.syncAnswer }]
        : record.results.map((r) => ({ index: r.index, startOffsetMs: r.startOffsetMs, endOffsetMs: r.endOffsetMs, output: r.output })),
    violations: record.violations,
    ms: (record.closedAt ?? Date.now()) - started,
    workItem: redactFields(item.fields),
    process: attempts,
    record: { ...record, fields: record.fields && redactFields(record.fields) },
    log: [],
    flowErrors: [],
  };
  // The emulator never heard the end of it: the post got no answer, or the run was stopped.
  if (failure || !FINAL_STATUSES.includes(record.status)) {
    const why: AbortReason = failure ?? (signal.aborted ? (signal.reason as AbortReason) : { failureReason: 'unknown', message: `the task was still ${record.status}` });
    outcome.status = 'failed';
    outcome.failureReason = why.failureReason;
    outcome.failureMsg = why.message;
  }
  return outcome;
}

const SAFETY_GRACE_MS = 5000;

/**
 * The run's signal, plus a clock of the CLI's own for a task whose maxTTL the emulator cannot
 * enforce (a `--field maxTTL=` that is not a positive whole number): `--max-ttl` then bounds it.
 */
function taskSignal(run: AbortSignal, fieldTTL: string | undefined, maxTTL: number): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const follow = (): void => controller.abort(run.reason);
  if (run.aborted) follow();
  else run.addEventListener('abort', follow, { once: true });
  const enforced = fieldTTL !== undefined && /^\s*\d+\s*$/.test(fieldTTL) && Number(fieldTTL) > 0;
  const timer = enforced
    ? undefined
    : setTimeout(
        () => {
          const reason: AbortReason = {
            failureReason: 'heartbeat_timeout',
            message: `the task did not end within --max-ttl (${maxTTL} s); its maxTTL field ${JSON.stringify(fieldTTL)} is not one the toolkit can enforce`,
          };
          controller.abort(reason);
        },
        maxTTL * 1000 + SAFETY_GRACE_MS,
      );
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      run.removeEventListener('abort', follow);
    },
  };
}

// ET's words for a /process post that got no answer.
function networkReason(err: unknown): FailureReason {
  const code = (err as { code?: string } | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'url_connection_refused';
  if (code === 'ETIMEDOUT') return 'url_timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') return 'url_error';
  return 'other';
}

/**
 * Waits on one task's changes through the emulator's `status` events. Unlike `waitForTask`, it
 * has no clock of its own (the emulator's maxTTL and heartbeat clocks bound it) and an abort
 * ends it, so nothing is left pending when the run stops.
 */
class TaskWatch {
  // Each open wait, by the function that ends it.
  private readonly waits = new Map<() => void, () => void>();
  private readonly onStatus = (taskId: string): void => {
    if (taskId === this.taskId) for (const check of [...this.waits.values()]) check();
  };

  constructor(
    private readonly toolkit: ToolkitEmulator,
    private readonly taskId: string,
  ) {
    toolkit.on('status', this.onStatus);
  }

  /** Resolves once `predicate` holds for the task, or the signal aborts, or `dispose()`. */
  until(predicate: (rec: TaskRecord) => boolean, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        this.waits.delete(finish);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      const check = (): void => {
        if (predicate(this.toolkit.task(this.taskId))) finish();
      };
      if (signal.aborted) return finish();
      signal.addEventListener('abort', finish, { once: true });
      this.waits.set(finish, check);
      check();
    });
  }

  /** Ends every wait still open and stops listening. */
  dispose(): void {
    this.toolkit.off('status', this.onStatus);
    for (const finish of [...this.waits.keys()]) finish();
  }
}
