// What a run leaves behind and shows: the out folder (one file per task, summary.json), the
// progress bar or one line per finished task, and the summary table with each task's results.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MultiBar, type SingleBar } from 'cli-progress';
import { isOk, type TaskOutcome, type TaskOutput } from './tasks';
import { describeLine, withoutTaskName, type TaskLogLine } from './runner-lines';
import { nodeRows, type TaskNodeTimes } from './node-times';

// ---- the out folder ----

export interface RunSummary {
  engine: Record<string, unknown>;
  out: string;
  startedAt: string;
  wallMs: number;
  exitCode: number;
  /** Why the run stopped before every task was sent, when it did. */
  stopped?: string;
  totals: Totals;
  tasks: SummaryRow[];
  /** Keys set through the key proxy, by job (see cli/extras). */
  keys?: Record<string, unknown>;
  /** Outputs forwarded to sendOutputToUris. */
  forwarded?: unknown[];
}

/** One task in summary.json; the rest is in its task file. */
export interface SummaryRow {
  task: number;
  input: string;
  taskId: string;
  status: string;
  failureReason?: string;
  failureMsg?: string;
  results: number;
  timeMs: number;
  violations: string[];
  /** The flow's mistakes (each names the node), from the runner's lines. */
  flowErrors: string[];
  /** The runner's warnings and errors about the task, when it logged any. */
  log?: TaskLogLine[];
  file: string;
  /** Pause-for-callback: how often the engine paused the task, and how often /callback woke it. */
  paused?: number;
  wakeUps?: number;
  /** The node that held the task's messages longest (its task file has every node's time). */
  slowestNode?: string;
}

export interface Totals {
  planned: number;
  tasks: number;
  ok: number;
  failed: number;
  failedByReason: Record<string, number>;
  violations: number;
  flowErrors: number;
}

export function totalsOf(outcomes: TaskOutcome[], planned: number): Totals {
  const failedByReason: Record<string, number> = {};
  let ok = 0;
  for (const outcome of outcomes) {
    if (isOk(outcome)) {
      ok++;
      continue;
    }
    const reason = outcome.status === 'failed' ? (outcome.failureReason ?? 'unknown') : outcome.violations.length > 0 ? 'protocol_violation' : 'flow_error';
    failedByReason[reason] = (failedByReason[reason] ?? 0) + 1;
  }
  return {
    planned,
    tasks: outcomes.length,
    ok,
    failed: outcomes.length - ok,
    failedByReason,
    violations: outcomes.reduce((sum, o) => sum + o.violations.length, 0),
    flowErrors: outcomes.reduce((sum, o) => sum + o.flowErrors.length, 0),
  };
}

/** `<out>/task-<n>.json` per task (n padded so they sort), `summary.json`, and `runner.log`. */
export class OutFolder {
  private readonly width: number;

  constructor(
    readonly dir: string,
    taskCount: number,
  ) {
    this.width = String(Math.max(taskCount, 1)).length;
    fs.mkdirSync(dir, { recursive: true });
  }

  get runnerLog(): string {
    return path.join(this.dir, 'runner.log');
  }

  taskFile(n: number): string {
    return `task-${String(n).padStart(this.width, '0')}.json`;
  }

  /** The work item (tokens redacted), every /process answer, heartbeat and result, and how it ended. */
  writeTask(outcome: TaskOutcome): void {
    const record = outcome.record;
    const iso = (at: number) => new Date(at).toISOString();
    const body = {
      ...whichAndHow(outcome),
      timeMs: outcome.ms,
      violations: outcome.violations,
      flowErrors: outcome.flowErrors,
      log: outcome.log,
      nodeTimes: outcome.nodeTimes,
      workItem: outcome.workItem,
      process: outcome.process,
      estimatedProcessingTimeInSeconds: record?.estimatedProcessingTimeInSeconds,
      heartbeats: (record?.heartbeats ?? []).map((h) => ({ ...h, at: iso(h.at) })),
      results: (record?.results ?? []).map((r) => ({ ...r, at: iso(r.at) })),
      refused: record?.refused,
      timedOut: record?.timeout,
      paused: record && record.paused > 0 ? record.paused : undefined,
      statusUpdates: record?.statusUpdates.length ? record.statusUpdates.map((u) => ({ ...u, at: iso(u.at) })) : undefined,
      wakeUps: record?.wakeUps.length ? record.wakeUps.map((w) => ({ ...w, at: iso(w.at) })) : undefined,
    };
    writeJson(path.join(this.dir, this.taskFile(outcome.n)), body);
  }

  summaryRow(outcome: TaskOutcome): SummaryRow {
    return {
      ...whichAndHow(outcome),
      results: outcome.outputs.length,
      timeMs: outcome.ms,
      violations: outcome.violations,
      flowErrors: outcome.flowErrors,
      log: outcome.log.length > 0 ? outcome.log : undefined,
      file: this.taskFile(outcome.n),
      paused: countOrNone(outcome.record?.paused),
      wakeUps: countOrNone(outcome.record?.wakeUps.length),
      slowestNode: outcome.nodeTimes?.slowest,
    };
  }

  /** `service.json`: what the outside service received and how each of its calls was answered. */
  writeService(report: unknown): void {
    writeJson(path.join(this.dir, 'service.json'), report);
  }

  writeSummary(summary: RunSummary): void {
    writeJson(path.join(this.dir, 'summary.json'), summary);
  }
}

// Pause-for-callback counts are left out of a task that never paused.
function countOrNone(count: number | undefined): number | undefined {
  return count === undefined || count === 0 ? undefined : count;
}

// Temp file and rename: a reader never sees half a file, even after Ctrl-C.
function writeJson(file: string, value: unknown): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(temp, file);
}

// ---- progress ----

/**
 * A bar on a terminal; elsewhere (CI logs, pipes) one line per finished task. `note()` prints
 * above the bar while it is shown.
 */
export class Progress {
  private multi?: MultiBar;
  private bar?: SingleBar;
  private ok = 0;
  private failed = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly err: NodeJS.WriteStream,
  ) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  start(total: number): void {
    if (!this.tty || total === 0) return;
    this.multi = new MultiBar({
      stream: this.out,
      format: ' {bar} {value}/{total} tasks | {ok} ok, {failed} failed | {duration_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    });
    this.bar = this.multi.create(total, 0, { ok: 0, failed: 0 });
  }

  taskDone(outcome: TaskOutcome, total: number): void {
    if (isOk(outcome)) this.ok++;
    else this.failed++;
    const line = `${isOk(outcome) ? '✓' : '✗'} ${String(outcome.n).padStart(String(total).length)}/${total} ${outcome.input}: ${describeEnd(outcome)}`;
    if (!this.multi) {
      this.out.write(`${line}\n`);
      return;
    }
    // On a terminal the bar counts; a failure is worth a line above it at once.
    if (!isOk(outcome)) this.multi.log(`${line}\n`);
    this.bar?.increment(1, { ok: this.ok, failed: this.failed });
  }

  /** A line for the user while the run goes on (on stderr, or above the bar). */
  note(line: string): void {
    if (this.multi) this.multi.log(`${line}\n`);
    else this.err.write(`${line}\n`);
  }

  stop(): void {
    this.multi?.stop();
    this.multi = undefined;
    this.bar = undefined;
  }
}

// ---- the summary ----

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A path as short as it can be shown: relative to the working folder when inside it. */
export function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function describeEnd(outcome: TaskOutcome): string {
  const failure = outcome.failureReason ? ` (${outcome.failureReason}${outcome.failureMsg ? `: ${short(outcome.failureMsg, 100)}` : ''})` : '';
  const parts = [`${outcome.status}${failure}`, plural(outcome.outputs.length, 'result'), formatMs(outcome.ms)];
  const rec = outcome.record;
  if (rec && (rec.paused > 0 || rec.wakeUps.length > 0)) parts.push(`paused ${rec.paused}×, woken ${rec.wakeUps.length}×`);
  if (outcome.violations.length > 0) parts.push(plural(outcome.violations.length, 'protocol violation'));
  if (outcome.flowErrors.length > 0) parts.push(plural(outcome.flowErrors.length, 'flow error'));
  return parts.join(', ');
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** One line of at most `max` characters, control characters shown as `\xNN`: an engine's text must not drive the terminal. */
export function short(text: string, max: number): string {
  const line = text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  return rows
    .map((row) =>
      row
        .map((cell, col) => cell.padEnd(widths[col]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const MAX_RESULTS_SHOWN = 5;
const MAX_VIOLATIONS_SHOWN = 5;
const MAX_LINES_SHOWN = 5;

/** The table, each task's results in brief, failures and violations, `extra` sections, and the totals. */
export function formatSummary(outcomes: TaskOutcome[], totals: Totals, wallMs: number, outDir: string, extra: string[] = []): string {
  const lines: string[] = [];
  if (outcomes.length > 0) {
    const rows = [['task', 'input', 'status', 'failureReason', 'results', 'time']];
    for (const o of outcomes) rows.push([String(o.n), o.input, o.status, o.failureReason ?? '-', String(o.outputs.length), formatMs(o.ms)]);
    lines.push('', table(rows));
    lines.push(...whereTheTimeWent(outcomes.map((o) => o.nodeTimes).filter((t): t is TaskNodeTimes => t !== undefined)));

    // A task without outputs (batch) shows its last progress message instead.
    const said = outcomes.filter((o) => o.outputs.length > 0 || lastInfo(o) !== undefined);
    if (said.length > 0) {
      lines.push('', 'results');
      for (const o of said) {
        if (o.outputs.length === 0) {
          lines.push(`  ${o.n} ${o.input}: no results; last infoMsg ${JSON.stringify(lastInfo(o))}`);
        } else if (o.outputs.length === 1) {
          lines.push(`  ${o.n} ${o.input}: ${describeOutput(o.outputs[0].output)}`);
        } else {
          lines.push(`  ${o.n} ${o.input}: ${plural(o.outputs.length, 'result')}`);
          for (const output of o.outputs.slice(0, MAX_RESULTS_SHOWN)) lines.push(`    ${describePlace(output)}${describeOutput(output.output)}`);
          if (o.outputs.length > MAX_RESULTS_SHOWN) lines.push(`    … ${o.outputs.length - MAX_RESULTS_SHOWN} more in its task file`);
        }
      }
    }

    const failed = outcomes.filter((o) => o.status === 'failed');
    if (failed.length > 0) {
      lines.push('', 'failures');
      for (const o of failed) lines.push(`  ${o.n} ${o.input}: ${o.failureReason ?? 'unknown'}: ${short(o.failureMsg ?? '(no message)', 300)}`);
    }
    const broken = outcomes.filter((o) => o.violations.length > 0);
    if (broken.length > 0) {
      lines.push('', 'protocol violations');
      for (const o of broken) {
        for (const violation of o.violations.slice(0, MAX_VIOLATIONS_SHOWN)) lines.push(`  ${o.n} ${o.input}: ${short(violation, 300)}`);
        if (o.violations.length > MAX_VIOLATIONS_SHOWN) lines.push(`  ${o.n} ${o.input}: … ${o.violations.length - MAX_VIOLATIONS_SHOWN} more`);
      }
    }
    const mistaken = outcomes.filter((o) => o.flowErrors.length > 0);
    if (mistaken.length > 0) {
      lines.push('', 'flow errors');
      for (const o of mistaken) for (const error of o.flowErrors) lines.push(`  ${o.n} ${o.input}: ${short(withoutTaskName(error), 600)}`);
    }
    // The rest of what the runner said about each task: the failures and flow errors above are not repeated.
    const logged = outcomes.map((o) => ({ o, rest: otherLines(o.log) })).filter(({ rest }) => rest.length > 0);
    if (logged.length > 0) {
      lines.push('', "the runner's warnings and errors");
      for (const { o, rest } of logged) {
        for (const line of rest.slice(0, MAX_LINES_SHOWN)) lines.push(`  ${o.n} ${o.input}: ${short(describeLine(line), 300)}`);
        if (rest.length > MAX_LINES_SHOWN) lines.push(`  ${o.n} ${o.input}: … ${rest.length - MAX_LINES_SHOWN} more in its task file`);
      }
    }
  }
  lines.push(...extra, '', totalsLine(totals, wallMs), `out: ${shown(outDir)}`);
  return lines.join('\n');
}

const MAX_NODES_SHOWN = 15;

/** A node's time in a table: tenths of a ms below 10 ms. */
function nodeMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : formatMs(Math.round(ms));
}

/** Each node's time over the tasks, the one with the most time first: count, p50, p95, max, share of the task time. */
function whereTheTimeWent(tasks: TaskNodeTimes[]): string[] {
  const nodes = nodeRows(tasks);
  if (nodes.length === 0) return [];
  const rows = [['node', 'tasks', 'messages', 'p50', 'p95', 'max', 'share']];
  for (const node of nodes.slice(0, MAX_NODES_SHOWN)) {
    rows.push([short(node.node, 60), String(node.tasks), String(node.count), nodeMs(node.p50Ms), nodeMs(node.p95Ms), nodeMs(node.maxMs), `${Math.round(node.share * 100)} %`]);
  }
  const more = nodes.length > MAX_NODES_SHOWN ? [`  … ${nodes.length - MAX_NODES_SHOWN} more nodes in the task files`] : [];
  return ['', 'where the time went (per task: how long each node held its messages)', table(rows), ...more];
}

/** A task's lines less its flow errors and its `task failed` line, which the summary shows on their own. */
export function otherLines(log: readonly TaskLogLine[]): TaskLogLine[] {
  return log.filter((line) => line.flowError === undefined && line.msg !== 'task failed');
}

function totalsLine(totals: Totals, wallMs: number): string {
  if (totals.tasks === 0) return `no task sent (${totals.planned} planned), wall ${formatMs(wallMs)}`;
  const parts = [`${plural(totals.tasks, 'task')}${totals.tasks < totals.planned ? ` (of ${totals.planned})` : ''}`, `${totals.ok} ok`];
  const reasons = Object.entries(totals.failedByReason).map(([reason, count]) => `${reason} ${count}`);
  parts.push(`${totals.failed} failed${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`);
  if (totals.violations > 0) parts.push(plural(totals.violations, 'protocol violation'));
  if (totals.flowErrors > 0) parts.push(plural(totals.flowErrors, 'flow error'));
  parts.push(`wall ${formatMs(wallMs)}`);
  return parts.join(', ');
}

function lastInfo(outcome: TaskOutcome): string | undefined {
  const infos = (outcome.record?.heartbeats ?? []).map((h) => h.infoMsg).filter((info) => typeof info === 'string' && info !== '');
  return infos[infos.length - 1];
}

// `#2 1000–2000 ms: ` before a result's description.
function describePlace(output: TaskOutput): string {
  const parts: string[] = [];
  if (output.index !== undefined) parts.push(`#${output.index}`);
  if (output.startOffsetMs !== undefined) parts.push(`${output.startOffsetMs}–${output.endOffsetMs ?? '?'} ms`);
  return parts.length > 0 ? `${parts.join(' ')}: ` : '';
}

type Json = Record<string, unknown>;
const isJson = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

// The word a series item says: the best path's when a lattice gives several.
function wordOf(item: Json): string | undefined {
  const words = Array.isArray(item.words) ? item.words.filter(isJson) : [];
  const best = words.find((w) => w.bestPath === true) ?? words[0];
  return typeof best?.word === 'string' ? best.word : undefined;
}

function labelOf(item: Json): string | undefined {
  const object = isJson(item.object) ? item.object : item;
  for (const key of ['label', 'text', 'entityId'] as const) if (typeof object[key] === 'string') return object[key];
  return undefined;
}

const EXCERPT = 120;

/**
 * One line for a VTN-standard output: the words of a transcript, the labels of objects, else a
 * JSON excerpt.
 */
export function describeOutput(output: unknown): string {
  if (isJson(output)) {
    const series = Array.isArray(output.series) ? output.series.filter(isJson) : [];
    const words = series.map(wordOf).filter((w): w is string => w !== undefined);
    if (words.length > 0) return `${short(words.join(' '), EXCERPT)} (${plural(words.length, 'word')})`;
    const objects = [...series, ...(Array.isArray(output.object) ? output.object.filter(isJson) : [])];
    const labels = objects.map(labelOf).filter((l): l is string => l !== undefined);
    if (labels.length > 0) return `${short(labels.join(', '), EXCERPT)} (${plural(labels.length, 'label')})`;
  }
  if (output === null || output === undefined) return '(empty)';
  return short(JSON.stringify(output), EXCERPT);
}

/** Which task it was and how it ended: what its task file and its summary row both begin with. */
function whichAndHow(outcome: TaskOutcome): Pick<SummaryRow, 'task' | 'input' | 'taskId' | 'status' | 'failureReason' | 'failureMsg'> {
  return { task: outcome.n, input: outcome.input, taskId: outcome.taskId, status: outcome.status, failureReason: outcome.failureReason, failureMsg: outcome.failureMsg };
}
