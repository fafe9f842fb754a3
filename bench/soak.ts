// `npm run bench:soak`: the runner (runner/main.js, in its own process, as the bench starts it)
// under many concurrent asynchronous tasks from the toolkit simulator's ToolkitEmulator (in this
// process: it posts the work items and records every heartbeat and result with its arrival time).
// Each task is a stream task that stays open for T seconds (a function node's setTimeout) while
// the pack sends its `running` heartbeats every second on its own, then posts one result that
// completes it. Reports the heartbeat period per task (as the emulator received them, and as the runner
// sent them: its /metrics), results lost or doubled, failed tasks, and
// the runner's RSS, open file descriptors and CPU time; prints a markdown table and writes it to
// bench/SOAK.md, with what scrubbing a log line of the open tasks' tokens costs (./scrub).
//
// Env: SOAK_TASKS (N, default 1000), SOAK_HOLD_SECONDS (T, default 10), SOAK_CONCURRENCY (how many
// /process posts at once, default 32), SOAK_LIMIT_SECONDS (the whole run, default 300: then
// everything is stopped and the run fails). For a closer look: SOAK_DUMP=<file.json> writes each
// measured task's times (the /process answer, every heartbeat, the result, the close) there;
// SOAK_CPU_PROF=<dir> runs the runner under `node --cpu-prof` (written there when it exits; the
// profiler's own cost moves the numbers). Exits 1 when a task is lost, doubled, failed or never
// ends; a missed heartbeat aim is only reported.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ToolkitEmulator, within, type TaskRecord, type WorkItem } from '@aiware-nodered/aiware-sim';
import { RUNNER_NODE_FLAGS, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { sleep } from '@aiware-nodered/node-red-aiware';
import { LOAD_AT_START, RUNNER_COMMAND, commandLine, cpuProfFlags, envNumber, fixed, installCleanup, mib, percentile, reportHead, runMain, table, tempDir } from './lib';
import { OutsideWindow, cpuTimes, rss } from './procstat';
import type { WindowStats } from './protocol';
import { RunnerChild } from './runner-child';
import { scrubCost, scrubSection, type ScrubRow } from './scrub';
import { fn, placed, resultOut } from './servers/flows';

const TASKS = Math.round(envNumber('SOAK_TASKS', 1000, 'tasks'));
const HOLD_MS = Math.round(envNumber('SOAK_HOLD_SECONDS', 10, 'seconds') * 1000);
const CONCURRENCY = Math.round(envNumber('SOAK_CONCURRENCY', 32, 'posts'));
const LIMIT_MS = envNumber('SOAK_LIMIT_SECONDS', 300, 'seconds') * 1000;
/** The pack's default (settings aiware.heartbeatIntervalMs): the runner sets no other. */
const HEARTBEAT_MS = 1000;
/** Tasks run before the measured ones, so "before" is a runner that has loaded axios and warmed up. */
const WARMUP_TASKS = 20;
const WARMUP_HOLD_MS = 1500;
/** Once every task is posted, how long past T the bench waits for them to end. */
const END_MARGIN_MS = 60_000;
/** Kept at the end of the time limit for the report and the stops (the runner's SIGTERM drain). */
const STOP_RESERVE_MS = 30_000;
/** One /process post: the async answer comes at once. */
const POST_TIMEOUT_MS = 30_000;
/** Time for the runner to close the connections the emulator closed, before its fds are counted. */
const SETTLE_MS = 1000;
/**
 * How long the runner then stays idle before its RSS is read again: V8 shrinks an idle heap after
 * some seconds (its memory reducer), so what remains then is closer to what the tasks left behind.
 */
const REST_MS = 10_000;
const DUMP_FILE = process.env.SOAK_DUMP || undefined;
const CPU_PROF_DIR = process.env.SOAK_CPU_PROF || undefined;

// The aim.
const TARGET_P99_DEVIATION_MS = 50;

// ---------------------------------------------------------------------------------------------
// the engine

/**
 * Holds each task for `payload.soakHoldMs` (the work item's payload; default T), then sends one
 * transcript that completes it. Node-RED's function sandbox clears its timers when the flow stops.
 */
function holdFunction(defaultHoldMs: number): string {
  return `const hold = typeof msg.payload.soakHoldMs === 'number' ? msg.payload.soakHoldMs : ${defaultHoldMs};
setTimeout(() => {
    msg.payload = { validationContracts: ['transcript'], series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word: 'soak', confidence: 1 }] }] };
    msg.completeTask = true;
    node.send(msg);
    node.done();
}, hold);
return null;`;
}

/** aiware-process-in (stream: asynchronous, no chunk) → hold → aiware-result-out (VTN validation on). */
function soakFlows(holdMs: number): FlowConfig {
  return placed([
    { id: 'tab', type: 'tab', label: 'soak' },
    { id: 'in', z: 'tab', type: 'aiware-process-in', url: '/process', readyUrl: '/readyz', engineType: 'stream', respond: 'async', estimate: '', chunkFile: 'large', wires: [['hold']] },
    { ...fn('hold', holdFunction(holdMs), 'out'), timeout: 0 },
    resultOut('out'),
  ]);
}

// ---------------------------------------------------------------------------------------------
// the runner from outside: /proc

interface FdCount {
  total: number;
  sockets: number;
  pipes: number;
  files: number;
  other: number;
}

function openFds(pid: number): FdCount {
  const count: FdCount = { total: 0, sockets: 0, pipes: 0, files: 0, other: 0 };
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the look
    }
    count.total++;
    if (target.startsWith('socket:')) count.sockets++;
    else if (target.startsWith('pipe:')) count.pipes++;
    else if (target.startsWith('/')) count.files++;
    else count.other++;
  }
  return count;
}

const fdText = (c: FdCount): string => `${c.total} (${c.sockets} sockets, ${c.pipes} pipes, ${c.files} files, ${c.other} other)`;

/** The machine's CPU time so far, busy and in all, in clock ticks (the first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const total = fields.slice(0, 8).reduce((n, v) => n + v, 0);
  return { busy: total - fields[3] - fields[4], total };
}

interface Snapshot {
  rss: number;
  fds: FdCount;
  cpuUs: number;
}

function snapshot(pid: number): Snapshot {
  const cpu = cpuTimes(pid);
  return { rss: rss(pid), fds: openFds(pid), cpuUs: cpu.userUs + cpu.systemUs };
}

/** The runner's warning and error lines in `logFile` from byte `offset` on, counted by their message with ids taken out. */
function runnerWarnings(logFile: string, offset: number): Map<string, number> {
  const counts = new Map<string, number>();
  let text = '';
  try {
    const data = fs.readFileSync(logFile);
    text = data.subarray(offset).toString('utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    let entry: { level?: unknown; msg?: unknown; failureMsg?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.level !== 'warn' && entry.level !== 'error' && entry.level !== 'fatal') continue;
    const message = [entry.msg, entry.failureMsg]
      .filter((part) => typeof part === 'string')
      .join(': ')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
      .replace(/task-\d+-[0-9a-f]+/g, '<task>')
      .replace(/http:\/\/127\.0\.0\.1:\d+/g, '<emulator>');
    counts.set(`${String(entry.level)}: ${message}`, (counts.get(`${String(entry.level)}: ${message}`) ?? 0) + 1);
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// tasks

interface Posted {
  item: WorkItem;
  status: number;
  error?: string;
}

/** Posts the items, at most `concurrency` at once; stops starting new posts past `deadline`. */
async function postAll(emulator: ToolkitEmulator, url: string, items: WorkItem[], concurrency: number, deadline: number): Promise<Posted[]> {
  const posted: Posted[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    // Bounded by the item count and by the deadline.
    while (next < items.length && Date.now() < deadline) {
      const item = items[next++];
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${POST_TIMEOUT_MS} ms`)), POST_TIMEOUT_MS);
      });
      try {
        const answer = await Promise.race([emulator.process(`${url}/process`, item), timeout]);
        posted.push({ item, status: answer.status, error: answer.status === 200 ? undefined : JSON.stringify(answer.body).slice(0, 200) });
      } catch (err) {
        posted.push({ item, status: 0, error: (err as Error).message });
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return posted;
}

function workItems(emulator: ToolkitEmulator, count: number, holdMs?: number): WorkItem[] {
  return Array.from({ length: count }, () => {
    const item = emulator.workItem();
    if (holdMs !== undefined) {
      const payload = JSON.parse(item.fields.payload) as Record<string, unknown>;
      item.fields.payload = JSON.stringify({ ...payload, soakHoldMs: holdMs });
    }
    return item;
  });
}

/** Waits for every posted task to end, until `deadline`; the ones still open are only counted. */
async function waitAll(emulator: ToolkitEmulator, taskIds: string[], deadline: number): Promise<number> {
  const waits = await Promise.allSettled(taskIds.map((id) => emulator.waitForTask(id, { timeoutMs: Math.max(1, deadline - Date.now()) })));
  return waits.filter((w) => w.status === 'rejected').length;
}

// ---------------------------------------------------------------------------------------------
// numbers

interface Findings {
  tasks: number;
  complete: number;
  failed: number;
  notEnded: number;
  failures: string[];
  lost: number;
  doubled: number;
  /** How many violations the emulator recorded, and the first few. */
  violationCount: number;
  violations: string[];
  periods: Float64Array;
  deviations: Float64Array;
  /** Periods of 1.5 intervals or more: about 2 when a tick was skipped (the previous heartbeat still on its way) or its heartbeat lost. */
  skipped: number;
  runningPerTask: Float64Array;
  /** First /process answer → the task's result recorded. */
  resultTimes: Float64Array;
  /** First /process answer → the task closed (its complete heartbeat recorded). */
  durations: Float64Array;
  /** Deviations of the periods lying wholly in the steady state: every task answered and open, none ended its work yet. */
  steadyDeviations: Float64Array;
  /** Deviations of the periods that began within one interval of the last /process answer: each task's first, begun while work items were posted or their first heartbeats went out (the start burst). */
  startDeviations: Float64Array;
  /** Deviations of the periods that ended once the first task had sent its result (the end burst). */
  endDeviations: Float64Array;
  /** Epoch ms: the last /process answer (all N open) and the first result recorded (the first ending). */
  steadyFrom: number;
  steadyTo: number;
}

function analyse(records: TaskRecord[]): Findings {
  const periods: number[] = [];
  const runningPerTask: number[] = [];
  const durations: number[] = [];
  const resultTimes: number[] = [];
  const failures: string[] = [];
  const violations: string[] = [];
  let complete = 0;
  let failed = 0;
  let notEnded = 0;
  let lost = 0;
  let doubled = 0;
  let violationCount = 0;
  // The steady state: from the last /process answer (all N tasks open) to the first result (the first ending).
  const steadyFrom = Math.max(...records.map((r) => r.processAnswers[0]?.at ?? Infinity));
  const steadyTo = Math.min(...records.map((r) => r.results[0]?.at ?? Infinity));
  const steady: number[] = [];
  const start: number[] = [];
  const end: number[] = [];
  for (const rec of records) {
    if (rec.status === 'complete') complete++;
    else if (rec.status === 'failed') {
      failed++;
      if (failures.length < 5) failures.push(`${rec.taskId}: ${rec.failureReason ?? '?'} ${rec.failureMsg ?? ''}`.trim());
    } else notEnded++;
    // Exactly one result, index 1: none is lost, a second of one index is doubled.
    const seen = new Map<number, number>();
    for (const result of rec.results) seen.set(result.index, (seen.get(result.index) ?? 0) + 1);
    if (!seen.has(1)) lost++;
    for (const n of seen.values()) doubled += n - 1;
    violationCount += rec.violations.length;
    for (const v of rec.violations) if (violations.length < 5) violations.push(`${rec.taskId}: ${v}`);
    const running = rec.heartbeats.filter((hb) => hb.status === 'running').map((hb) => hb.at);
    runningPerTask.push(running.length);
    for (let i = 1; i < running.length; i++) {
      periods.push(running[i] - running[i - 1]);
      const deviation = Math.abs(running[i] - running[i - 1] - HEARTBEAT_MS);
      if (running[i - 1] >= steadyFrom && running[i] <= steadyTo) steady.push(deviation);
      if (running[i - 1] < steadyFrom + HEARTBEAT_MS) start.push(deviation);
      if (running[i] > steadyTo) end.push(deviation);
    }
    const answered = rec.processAnswers[0]?.at;
    if (answered !== undefined && rec.closedAt !== undefined) durations.push(rec.closedAt - answered);
    if (answered !== undefined && rec.results.length > 0) resultTimes.push(rec.results[0].at - answered);
  }
  const sorted = (values: number[]): Float64Array => Float64Array.from(values).sort();
  return {
    tasks: records.length,
    complete,
    failed,
    notEnded,
    failures,
    lost,
    doubled,
    violationCount,
    violations,
    periods: sorted(periods),
    deviations: sorted(periods.map((p) => Math.abs(p - HEARTBEAT_MS))),
    skipped: periods.filter((p) => p >= 1.5 * HEARTBEAT_MS).length,
    runningPerTask: sorted(runningPerTask),
    resultTimes: sorted(resultTimes),
    durations: sorted(durations),
    steadyDeviations: sorted(steady),
    startDeviations: sorted(start),
    endDeviations: sorted(end),
    steadyFrom,
    steadyTo,
  };
}

/** The runner's histogram of its running heartbeats' deviations (ms bounds → cumulative counts), and what it says. */
class SentDeviations {
  constructor(readonly cumulative: Map<number, number>) {}

  get count(): number {
    return this.cumulative.get(Infinity) ?? 0;
  }

  /** The counts since `earlier` (the warm-up's periods left out). */
  since(earlier: SentDeviations): SentDeviations {
    return new SentDeviations(new Map([...this.cumulative].map(([bound, n]) => [bound, n - (earlier.cumulative.get(bound) ?? 0)])));
  }

  /** The smallest bucket bound (ms) at or under which a share `p` of the periods fell: a bound, not an exact percentile. */
  percentile(p: number): number {
    const total = this.count;
    if (total === 0) return NaN;
    for (const [bound, n] of [...this.cumulative].sort((a, b) => a[0] - b[0])) if (n >= p * total) return bound;
    return Infinity;
  }
}

/** Reads the runner's aiware_heartbeat_period_deviation_seconds buckets from its /metrics. */
async function sentDeviations(url: string): Promise<SentDeviations> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const cumulative = new Map<number, number>();
  for (const match of text.matchAll(/^aiware_heartbeat_period_deviation_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)$/gm)) {
    cumulative.set(match[1] === '+Inf' ? Infinity : Math.round(Number(match[1]) * 1e6) / 1e3, Number(match[2]));
  }
  return new SentDeviations(cumulative);
}

/** Each task's times, epoch ms, for a look beyond the table. */
function dump(file: string, records: TaskRecord[]): void {
  const tasks = records.map((rec) => ({
    taskId: rec.taskId,
    status: rec.status,
    answered: rec.processAnswers[0]?.at,
    heartbeats: rec.heartbeats.map((hb) => [hb.status, hb.at]),
    results: rec.results.map((r) => [r.index, r.at]),
    closedAt: rec.closedAt,
  }));
  fs.writeFileSync(file, JSON.stringify({ heartbeatMs: HEARTBEAT_MS, holdMs: HOLD_MS, tasks }));
  console.error(`soak: task times written to ${file}`);
}

/**
 * This process's event-loop lag over time (a 10 ms timer's lateness, with when it fired): the
 * emulator records each heartbeat's arrival when this loop gets to it, so its lag during a burst
 * is part of the periods measured then.
 */
class LoopLag {
  private readonly samples: { at: number; lagMs: number }[] = [];
  private timer?: NodeJS.Timeout;

  start(): void {
    let due = performance.now() + 10;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.samples.push({ at: Date.now(), lagMs: Math.max(0, now - due) });
      due = now + 10;
    }, 10);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** p99 and largest lag from `from` to `to` (epoch ms). */
  within(from: number, to: number): { p99: number; max: number } {
    const lags = Float64Array.from(this.samples.filter((s) => s.at >= from && s.at < to).map((s) => s.lagMs)).sort();
    return { p99: percentile(lags, 0.99), max: lags[lags.length - 1] ?? NaN };
  }
}

// ---------------------------------------------------------------------------------------------
// report

interface Run {
  findings: Findings;
  /** The runner's own measure of its automatic running heartbeats, as it sent them (/metrics). */
  sent: SentDeviations;
  posted: Posted[];
  postSeconds: number;
  ready: Snapshot;
  before: Snapshot;
  window: WindowStats;
  idle: Snapshot;
  /** After REST_MS more without work. */
  rested: Snapshot;
  closed: Snapshot;
  exit: number | string | null | undefined;
  logLines: number;
  /** The runner's warning and error lines during the soak, by message. */
  warnings: Map<string, number>;
  /** The whole machine's busy CPU time over the soak, µs (every process: the runner and this one too). */
  machineBusyUs: number;
  /** This process (emulator and poster): its event-loop delay while the tasks ran, and its CPU. */
  benchLoopP99Ms: number;
  benchLoopMaxMs: number;
  benchLag: LoopLag;
  /** Epoch ms: the first /process answer and the last close. */
  firstAnswer: number;
  lastClose: number;
  benchCpuUs: number;
  /** How long the measured window lasted (posting → every task ended + settle), s. */
  windowSeconds: number;
  elapsed: number;
  scrub: ScrubRow[];
}

function report(run: Run): { text: string; ok: boolean } {
  const f = run.findings;
  const cpus = os.cpus();
  // The aim is judged over all periods, the start and end bursts included: the first
  // and last periods also carry the posting of N work items and N tasks ending at once.
  const p99Overall = percentile(f.deviations, 0.99);
  const p99Steady = percentile(f.steadyDeviations, 0.99);
  const aimMet = Number.isFinite(p99Overall) && p99Overall <= TARGET_P99_DEVIATION_MS;
  const postFailures = run.posted.filter((p) => p.status !== 200);
  const ok = f.lost === 0 && f.doubled === 0 && f.failed === 0 && f.notEnded === 0 && postFailures.length === 0 && f.violationCount === 0 && run.exit === 0;
  const growth = run.rested.rss - run.before.rss;
  const cpuUs = run.window.userUs + run.window.systemUs;
  const verdict = (good: boolean): string => (good ? 'ok' : '**not ok**');
  const ms = (v: number): string => fixed(v, 0);

  const rows: string[][] = [
    ['tasks posted → answered 200', `${run.posted.length} → ${run.posted.length - postFailures.length}`, `${TASKS}`, verdict(postFailures.length === 0 && run.posted.length === TASKS)],
    ['posting time (all tasks)', `${fixed(run.postSeconds, 1)} s`, '', ''],
    ['tasks complete / failed / not ended', `${f.complete} / ${f.failed} / ${f.notEnded}`, `${TASKS} / 0 / 0`, verdict(f.complete === TASKS && f.failed === 0 && f.notEnded === 0)],
    ['results lost (no index 1)', String(f.lost), '0', verdict(f.lost === 0)],
    ['results doubled (an index recorded twice)', String(f.doubled), '0', verdict(f.doubled === 0)],
    ['protocol violations recorded by the emulator', String(f.violationCount), '0', verdict(f.violationCount === 0)],
    ['task time: /process answer → result recorded, p50 / max', `${ms(percentile(f.resultTimes, 0.5))} / ${ms(f.resultTimes[f.resultTimes.length - 1] ?? NaN)} ms`, `≈ T = ${HOLD_MS} ms`, ''],
    ['task time: /process answer → complete heartbeat recorded, p50 / max', `${ms(percentile(f.durations, 0.5))} / ${ms(f.durations[f.durations.length - 1] ?? NaN)} ms`, `≈ T = ${HOLD_MS} ms`, ''],
    [
      'running heartbeats per task, min / p50 / max',
      `${f.runningPerTask[0] ?? 'n/a'} / ${percentile(f.runningPerTask, 0.5)} / ${f.runningPerTask[f.runningPerTask.length - 1] ?? 'n/a'}`,
      `≈ T / ${HEARTBEAT_MS} ms`,
      '',
    ],
    ['heartbeat periods measured', String(f.periods.length), '', ''],
    [
      'heartbeat period p50 / p99 / min / max',
      `${ms(percentile(f.periods, 0.5))} / ${ms(percentile(f.periods, 0.99))} / ${ms(f.periods[0] ?? NaN)} / ${ms(f.periods[f.periods.length - 1] ?? NaN)} ms`,
      `${HEARTBEAT_MS} ms`,
      '',
    ],
    ['heartbeat deviation from 1000 ms, p50', `${ms(percentile(f.deviations, 0.5))} ms`, '', ''],
    [
      `**heartbeat deviation from 1000 ms, p99, all periods** (posting and ending included: ${f.deviations.length} periods)`,
      `**${ms(p99Overall)} ms**`,
      `≤ ${TARGET_P99_DEVIATION_MS} ms`,
      aimMet ? 'met' : '**not met**',
    ],
    [`heartbeat deviation from 1000 ms, p99, steady state (all ${f.tasks} open: ${f.steadyDeviations.length} periods)`, `${ms(p99Steady)} ms`, '', ''],
    [
      `heartbeat deviation from 1000 ms, p99, start burst (begun within ${HEARTBEAT_MS} ms of the last /process answer: ${f.startDeviations.length} periods)`,
      `${ms(percentile(f.startDeviations, 0.99))} ms`,
      '',
      '',
    ],
    [`heartbeat deviation from 1000 ms, p99, end burst (ended after the first result: ${f.endDeviations.length} periods)`, `${ms(percentile(f.endDeviations, 0.99))} ms`, '', ''],
    ['heartbeat deviation from 1000 ms, max', `${ms(f.deviations[f.deviations.length - 1] ?? NaN)} ms`, '', ''],
    [
      `heartbeat deviation as the runner sent them, p99 / p50, all periods (its /metrics, aiware_heartbeat_period_deviation_seconds: the bucket's bound; ${run.sent.count} periods)`,
      `≤ ${ms(run.sent.percentile(0.99))} / ≤ ${ms(run.sent.percentile(0.5))} ms`,
      `≤ ${TARGET_P99_DEVIATION_MS} ms`,
      run.sent.percentile(0.99) <= TARGET_P99_DEVIATION_MS ? 'met' : '**not met**',
    ],
    ['periods ≥ 1.5 s (≈ 2 s: a tick skipped, its heartbeat still on its way or lost)', String(f.skipped), '0', ''],
    [
      `runner RSS: ready / before / peak / after / after ${REST_MS / 1000} s idle`,
      `${mib(run.ready.rss)} / ${mib(run.before.rss)} / ${mib(run.window.rssPeak)} / ${mib(run.idle.rss)} / ${mib(run.rested.rss)} MiB`,
      '',
      '',
    ],
    [`runner RSS growth, before → after ${REST_MS / 1000} s idle, per 1000 tasks`, `${growth >= 0 ? '+' : ''}${mib((growth * 1000) / TASKS)} MiB`, '', ''],
    ['runner open fds: ready (no connection yet)', fdText(run.ready.fds), '', ''],
    ['runner open fds: before (after the warm-up)', fdText(run.before.fds), '', ''],
    ['runner open fds: after, emulator connections still open', fdText(run.idle.fds), '', ''],
    ['runner open fds: after the emulator closed its connections', fdText(run.closed.fds), `≤ ${run.ready.fds.total} (ready)`, verdict(run.closed.fds.total <= run.ready.fds.total)],
    [
      'runner CPU during the soak (user + system)',
      `${fixed(cpuUs / 1e6, 2)} s (user ${fixed(run.window.userUs / 1e6, 2)}, system ${fixed(run.window.systemUs / 1e6, 2)}); ${fixed(cpuUs / 1000 / TASKS, 2)} ms per task`,
      '',
      '',
    ],
    ['runner CPU in all, start-up included', `${fixed(run.closed.cpuUs / 1e6, 2)} s`, '', ''],
    ['runner log lines during the soak', String(run.logLines), `${TASKS} (a \`task ended\` line each)`, ''],
    ['runner warnings and errors logged during the soak', String([...run.warnings.values()].reduce((n, v) => n + v, 0)), '0', ''],
    ['runner exit after SIGTERM', String(run.exit), '0', verdict(run.exit === 0)],
    ['bench process (emulator + poster): event-loop delay p99 / max, CPU', `${fixed(run.benchLoopP99Ms, 1)} / ${fixed(run.benchLoopMaxMs, 1)} ms, ${fixed(run.benchCpuUs / 1e6, 2)} s`, '', ''],
    [
      "bench process's event-loop lag p99 / max (10 ms timer): start burst / steady state / end burst (the emulator records arrivals when its loop gets to them)",
      [run.benchLag.within(run.firstAnswer, f.steadyFrom + HEARTBEAT_MS), run.benchLag.within(f.steadyFrom + HEARTBEAT_MS, f.steadyTo), run.benchLag.within(f.steadyTo, run.lastClose + 1)]
        .map((lag) => `${fixed(lag.p99, 0)} / ${fixed(lag.max, 0)}`)
        .join(' · ') + ' ms',
      '',
      '',
    ],
    [
      'other processes on the machine: CPU during the soak',
      `${fixed(Math.max(0, run.machineBusyUs - cpuUs - run.benchCpuUs) / 1e6, 1)} s of ${fixed(run.windowSeconds * cpus.length, 1)} core-seconds`,
      '0 on a quiet machine',
      '',
    ],
  ];

  const command = commandLine(['SOAK_TASKS', 'SOAK_HOLD_SECONDS', 'SOAK_CONCURRENCY', 'SOAK_LIMIT_SECONDS'], 'bench:soak');
  const notes: string[] = [];
  for (const p of postFailures.slice(0, 5)) notes.push(`/process for ${p.item.taskId} answered ${p.status}: ${p.error ?? ''}`);
  for (const failure of f.failures) notes.push(`failed: ${failure}`);
  for (const v of f.violations) notes.push(`violation: ${v}`);
  for (const [message, count] of [...run.warnings.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8)) notes.push(`runner logged ${count} × ${message.slice(0, 300)}`);

  const lines = [
    '# Soak: concurrent asynchronous tasks against the runner',
    '',
    ...reportHead(),
    `- Machine: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} cores; memory ${mib(os.totalmem())} MiB; load average ${LOAD_AT_START} when the soak started, ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' / ')} when it ended`,
    `- Command: \`${command}\` (took ${fixed(run.elapsed, 0)} s)`,
    `- **N = ${TASKS}** tasks, each held open **T = ${HOLD_MS / 1000} s**; posted ${CONCURRENCY} at a time; running heartbeats every ${HEARTBEAT_MS} ms (the pack's default)`,
    `- Runner: \`${RUNNER_COMMAND}\` (as the image starts it) in its own process (bench/runner-child.ts), log level info (its default), on the flow \`aiware-process-in\` (engineType stream: answers`,
    '  `{estimatedProcessingTimeInSeconds}` at once) → function (setTimeout T, then one transcript with `msg.completeTask`) → `aiware-result-out` (VTN validation on).',
    "- Toolkit: the simulator's `ToolkitEmulator` in the bench process on 127.0.0.1 (heartbeat timeout off, maxTTL not enforced: they would only end tasks the soak",
    `  measures; the tasks' maxTTL is 3600 s). It posts the work items (no chunk) and records each heartbeat and result with its arrival time \`at\` (Date.now(), ms).`,
    `  ${WARMUP_TASKS} warm-up tasks of ${WARMUP_HOLD_MS} ms run first (the runner loads axios at its first post); "before" is read after them.`,
    '- Heartbeat period: the difference between consecutive `running` heartbeats of one task, as the emulator received them; deviation = |period − 1000 ms|.',
    '  RSS: VmRSS of /proc/<pid>/status (peak: sampled every 50 ms); fds: the entries of /proc/<pid>/fd; CPU: utime + stime of /proc/<pid>/stat.',
    `  "After" is read once every task has ended (+${SETTLE_MS} ms); then again after ${REST_MS / 1000} s without work (growth is`,
    '  measured to that one). The runner cannot be made to collect garbage: what remains includes heap V8 has not given back yet.',
    '',
    table(['measure', 'value', 'expected', ''], rows),
    '',
    `Aim: heartbeat period p99 deviation ≤ ${TARGET_P99_DEVIATION_MS} ms at 1000 tasks over all periods, the start and end bursts included (391 ms measured before the webhook client, socket and wheel changes): **${aimMet ? 'met' : 'not met'}** (${ms(p99Overall)} ms over all periods at ${TASKS} tasks; ${ms(p99Steady)} ms in the steady state). The machine is shared: see the load and "other processes" above. As the runner sent them (its own /metrics, the time between a task's automatic running heartbeats when each was made): p99 ≤ ${ms(run.sent.percentile(0.99))} ms; the difference is the way to the emulator, whose process shares the machine's two cores with the runner.`,
    '',
    ...scrubSection(run.scrub),
    '## Notes',
    '',
    ...(notes.length === 0 ? ['- No task lost, doubled or failed; no protocol violation; the runner logged no warning.'] : notes.map((note) => `- ${note}`)),
    '',
  ];
  return { text: lines.join('\n'), ok };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<boolean> {
  const started = Date.now();
  installCleanup(LIMIT_MS);
  if (LIMIT_MS < HOLD_MS + 2 * STOP_RESERVE_MS) throw new Error(`SOAK_LIMIT_SECONDS must be at least T + ${(2 * STOP_RESERVE_MS) / 1000} s`);
  // Posting may take half of what is left once the tasks' own time is set aside.
  const postDeadline = started + (LIMIT_MS - HOLD_MS - STOP_RESERVE_MS) / 2;
  const root = tempDir('aiware-soak-');
  let emulator: ToolkitEmulator | undefined;
  let runner: RunnerChild | undefined;
  // The emulator's own temp folder, removed on any exit (the watchdog's too).
  const removeEmulatorRoot = (): void => {
    if (emulator) fs.rmSync(path.dirname(emulator.engineDir), { recursive: true, force: true });
  };
  process.on('exit', removeEmulatorRoot);
  try {
    emulator = await ToolkitEmulator.start({ host: '127.0.0.1', heartbeatTimeoutMs: 0, enforceMaxTTL: false });
    const runtimeFile = path.join(root, 'soak-runtime.json');
    fs.writeFileSync(runtimeFile, JSON.stringify(soakFlows(HOLD_MS)));
    console.error(`soak: starting the runner`);
    const logFile = path.join(root, 'runner.log');
    runner = await RunnerChild.start('runner', {
      runtimeFile,
      workDir: fs.mkdtempSync(path.join(root, 'runner-work-')),
      env: { RUNNER_GRACE_SECONDS: '5' },
      logFile,
      execArgv: CPU_PROF_DIR ? [...RUNNER_NODE_FLAGS, ...cpuProfFlags(path.resolve(CPU_PROF_DIR))] : RUNNER_NODE_FLAGS,
    });
    const pid = runner.pid;
    const ready = snapshot(pid);

    console.error(`soak: ${WARMUP_TASKS} warm-up tasks of ${WARMUP_HOLD_MS} ms`);
    const warm = await postAll(emulator, runner.url, workItems(emulator, WARMUP_TASKS, WARMUP_HOLD_MS), CONCURRENCY, postDeadline);
    if (warm.some((p) => p.status !== 200)) throw new Error(`a warm-up task was refused: ${warm.find((p) => p.status !== 200)?.error}`);
    const warmOpen = await waitAll(
      emulator,
      warm.map((p) => p.item.taskId),
      Date.now() + WARMUP_HOLD_MS + 30_000,
    );
    if (warmOpen > 0) throw new Error(`${warmOpen} warm-up task(s) did not end`);
    await sleep(SETTLE_MS);

    const items = workItems(emulator, TASKS);
    const sentBefore = await sentDeviations(runner.url);
    const before = snapshot(pid);
    const window = new OutsideWindow(pid);
    const lines = runner.runner.count;
    const logOffset = fs.statSync(logFile).size;
    const benchCpu = process.cpuUsage();
    const machineBefore = machineTicks();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const benchLag = new LoopLag();
    benchLag.start();
    console.error(`soak: posting ${TASKS} tasks, ${CONCURRENCY} at a time; each stays open ${HOLD_MS / 1000} s`);
    const postStart = Date.now();
    try {
      const posted = await postAll(emulator, runner.url, items, CONCURRENCY, postDeadline);
      const postSeconds = (Date.now() - postStart) / 1000;
      console.error(`soak: posted in ${fixed(postSeconds, 1)} s; waiting for the tasks to end`);
      const open = await waitAll(
        emulator,
        posted.filter((p) => p.status === 200).map((p) => p.item.taskId),
        Math.min(Date.now() + HOLD_MS + END_MARGIN_MS, started + LIMIT_MS - STOP_RESERVE_MS),
      );
      if (open > 0) console.error(`soak: ${open} task(s) did not end in time`);
      await sleep(SETTLE_MS);
      const sent = (await sentDeviations(runner.url)).since(sentBefore);
      const stats = window.stop();
      loop.disable();
      benchLag.stop();
      const benchUsage = process.cpuUsage(benchCpu);
      const machineAfter = machineTicks();
      const windowSeconds = (Date.now() - postStart) / 1000;
      const machineBusyUs = ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * windowSeconds * os.cpus().length * 1e6;
      const idle = snapshot(pid);
      console.error(`soak: every task ended; the runner rests ${REST_MS / 1000} s before its RSS is read again`);
      await sleep(REST_MS);
      const rested = snapshot(pid);
      const logLines = runner.runner.count - lines;
      const measured = new Set(items.map((item) => item.taskId));
      const records = emulator.allTasks().filter((rec) => measured.has(rec.taskId));
      const findings = analyse(records);
      if (DUMP_FILE) dump(DUMP_FILE, records);

      console.error('soak: stopping the emulator, then the runner');
      await emulator.stop();
      await sleep(SETTLE_MS);
      const closed = snapshot(pid);
      await runner.stop();
      // Closes the log file once the runner's last lines are in it.
      await runner.runner.stop(0);
      const warnings = runnerWarnings(logFile, logOffset);
      console.error('soak: what scrubbing a log line costs at 1, 1000 and 10 000 open tasks');
      const scrub = scrubCost();

      const { text, ok } = report({
        findings,
        sent,
        posted,
        postSeconds,
        ready,
        before,
        window: stats,
        idle,
        rested,
        closed,
        exit: runner.exitCode,
        logLines,
        warnings,
        benchLoopP99Ms: loop.percentile(99) / 1e6,
        benchLoopMaxMs: loop.max / 1e6,
        benchLag,
        firstAnswer: Math.min(...records.map((r) => r.processAnswers[0]?.at ?? Infinity)),
        lastClose: Math.max(...records.map((r) => r.closedAt ?? -Infinity)),
        benchCpuUs: benchUsage.user + benchUsage.system,
        machineBusyUs,
        windowSeconds,
        elapsed: (Date.now() - started) / 1000,
        scrub,
      });
      console.log(text);
      const out = path.resolve(__dirname, '..', '..', 'bench', 'SOAK.md');
      fs.writeFileSync(out, text);
      console.error(`soak: written to ${path.relative(process.cwd(), out)}`);
      return ok;
    } finally {
      window.dispose();
      loop.disable();
      benchLag.stop();
    }
  } finally {
    // On failure: bounded stops (the runner drains for at most RUNNER_GRACE_SECONDS, then SIGKILL).
    if (emulator) await within(emulator.stop(), 10_000);
    if (runner) {
      await within(runner.stop(), 30_000);
      // SIGKILL if it still runs; closes its log file.
      await within(runner.runner.stop(0), 10_000);
    }
  }
}

runMain('soak', async () => {
  if (!(await main())) {
    console.error('soak: a task was lost, doubled, failed or never ended, or the runner did not exit 0 (see the table)');
    process.exitCode = 1;
  }
});
