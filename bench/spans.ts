// What the OpenTelemetry SDK alone costs a task: the spans one of the bench's traced tasks makes
// (process-in → function → result-out, synchronous: the task's span and one for each node that gets
// its message), made as the pack makes them (core/task/tracing.ts, with its tracer from
// core/util/trace.ts) and sent by the SDK as the runner starts it (runner/tracing.ts:
// OTLP/HTTP protobuf, batched) to the bench's loopback collector (bench/otlp-sink.ts). Each sampler
// runs in a child process that does nothing else: no Node-RED, no HTTP request, no pack bookkeeping.
// Its CPU a task, by thread, is the floor under the traced runner's rows: what tracing costs a task
// however lean the pack's side of it is.
// `npm run bench` adds this as its "spans" part; `node dist/bench/spans.js` runs it alone and prints it.
//
// Env: BENCH_SPAN_TASKS (measured tasks of each sampler, default 60000).
import { fork } from 'node:child_process';
import { startTracing } from '@aiware-nodered/node-red-runner';
import { ROOT_CONTEXT, SpanKind, context, trace } from '@opentelemetry/api';
import { tracer } from '../core';
import { envNumber, fixed, installCleanup, outputTail, runMain, table, track, untrack } from './lib';
import { otlpSink } from './otlp-sink';
import { cpuByThread, cpuByThreadSince } from './procstat';

export interface SpanCostRow {
  /** Which tasks the SDK records (the sampler, as OTEL_TRACES_SAMPLER names it). */
  label: string;
  tasks: number;
  /** Spans the SDK recorded (and sent) a task, on average. */
  spansPerTask: number;
  /** CPU a task, in µs: the event loop's thread, V8's helper threads (the garbage collector), all threads. */
  mainUs: number;
  v8Us: number;
  allUs: number;
}

/** The samplers measured: what an operator chooses between (docs/runner.md, Traces). */
const SAMPLERS: { label: string; env: Record<string, string> }[] = [
  { label: 'every task (the default sampler)', env: {} },
  { label: 'one task in ten (parentbased_traceidratio, 0.1)', env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' } },
  { label: 'none (always_off)', env: { OTEL_TRACES_SAMPLER: 'always_off' } },
];

const WARMUP_TASKS = 20_000;
/** Tasks made between two turns of the event loop (the batch processor's timer and its exports run then). */
const TASKS_A_TURN = 50;
/** The child's answer on stdout starts with this. */
const ANSWER = 'spans-cost ';

/**
 * The spans the pack makes for one bench task, in the same order, with the same names, kinds and
 * attributes: the task's; the function node's; result-out's, inside which its work runs (a sync task
 * answers the request: no webhook post). Returns how many were recorded.
 */
async function oneTask(i: number): Promise<number> {
  const taskSpan = tracer().startSpan(
    'aiware task',
    { kind: SpanKind.SERVER, attributes: { 'aiware.engine.type': 'chunk', 'aiware.task.internal_id': `bench-task-${i}`, 'aiware.job.internal_id': 'bench-job', 'aiware.chunk.index': i } },
    ROOT_CONTEXT,
  );
  if (!taskSpan.isRecording()) {
    taskSpan.end();
    return 0;
  }
  const task = trace.setSpan(ROOT_CONTEXT, taskSpan);
  const fn = tracer().startSpan('node function', { kind: SpanKind.INTERNAL, attributes: { 'node_red.node.id': 'a1b2c3d4e5f60718' } }, task);
  fn.end();
  const out = tracer().startSpan('node aiware-result-out', { kind: SpanKind.INTERNAL, attributes: { 'node_red.node.id': '8192a3b4c5d6e7f8' } }, task);
  // The pack runs its node's work in the node's span (TaskTracing.within): the answer's work is a turn away.
  await context.with(trace.setSpan(task, out), () => Promise.resolve());
  out.end();
  taskSpan.setAttribute('aiware.task.outcome', 'complete');
  taskSpan.end();
  return 3;
}

/** `count` tasks, a few between turns of the event loop; the spans recorded. */
async function tasks(count: number, from: number): Promise<number> {
  let spans = 0;
  for (let i = 0; i < count; i++) {
    spans += await oneTask(from + i);
    if (i % TASKS_A_TURN === TASKS_A_TURN - 1) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return spans;
}

/** The child: the SDK started as the runner starts it (its environment names the collector and the sampler), then the tasks. */
async function child(label: string, count: number): Promise<void> {
  const log = { warn: (_: unknown, message: string) => console.error(message) } as unknown as Parameters<typeof startTracing>[2];
  const tracing = startTracing(process.env, { engineId: 'bench-engine', buildId: 'bench-build' }, log);
  if (!tracing) throw new Error('the SDK did not start: no OTEL_EXPORTER_OTLP_ENDPOINT');
  await tasks(WARMUP_TASKS, 0);
  const before = cpuByThread(process.pid);
  const spans = await tasks(count, WARMUP_TASKS);
  const used = cpuByThreadSince(process.pid, before);
  await tracing.shutdown();
  const perTask = (us = 0) => us / count;
  const row: SpanCostRow = { label, tasks: count, spansPerTask: spans / count, mainUs: perTask(used.byKind.get('main')), v8Us: perTask(used.byKind.get('V8')), allUs: perTask(used.totalUs) };
  console.log(ANSWER + JSON.stringify(row));
}

/** Each sampler in a child of its own, one after the other, sending to the bench's collector. */
export async function spanCost(count = Math.round(envNumber('BENCH_SPAN_TASKS', 60_000, 'tasks'))): Promise<SpanCostRow[]> {
  const sink = await otlpSink();
  const rows: SpanCostRow[] = [];
  for (const sampler of SAMPLERS) {
    const proc = fork(__filename, ['--child', sampler.label, String(count)], { env: { ...process.env, ...sink.env, ...sampler.env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    track(proc);
    const tail = outputTail(proc);
    let answer = '';
    proc.stdout!.on('data', (part: Buffer) => (answer += part.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    untrack(proc);
    const line = answer.split('\n').find((text) => text.startsWith(ANSWER));
    if (code !== 0 || !line) throw new Error(`bench spans: the ${sampler.label} child exited ${code}:\n${tail()}`);
    rows.push(JSON.parse(line.slice(ANSWER.length)) as SpanCostRow);
  }
  return rows;
}

/**
 * The report's section. `baselineUs`: the CPU a 1 KiB request of the runner with neither timing nor
 * traces in the same run (when the throughput part ran), against which tracing's target (`target`:
 * traced req/s ÷ its req/s) is set.
 */
export function spanSection(rows: SpanCostRow[], baselineUs?: number, target = 0.85): string[] {
  return [
    '## What the OpenTelemetry SDK alone costs a task',
    '',
    'The spans of one traced bench task (its own and one for each node that gets its message: three), made as the pack makes them ' +
      '(core/task/tracing.ts) and sent by the SDK as the runner starts it (runner/tracing.ts: OTLP/HTTP protobuf, batched) to the collector on loopback in the bench process, ' +
      `in a child process that does nothing else (bench/spans.ts; ${WARMUP_TASKS} tasks of warm-up, then the measured ones). CPU from /proc/<pid>/task: the floor under the traced runner's rows, whatever the pack does around its spans.`,
    '',
    table(
      ['sampled', 'tasks', 'spans a task', 'main thread µs/task', "V8's helpers µs/task", 'all threads µs/task', ...(baselineUs ? ['all threads ÷ the budget'] : [])],
      rows.map((row) => [
        row.label,
        String(row.tasks),
        fixed(row.spansPerTask, 1),
        fixed(row.mainUs, 1),
        fixed(row.v8Us, 1),
        fixed(row.allUs, 1),
        ...(baselineUs ? [`${fixed((100 * row.allUs) / (baselineUs * (1 / target - 1)), 0)} %`] : []),
      ]),
    ),
    ...(baselineUs
      ? [
          '',
          `The budget: the runner with neither timing nor traces took ${fixed(baselineUs, 0)} µs of CPU a 1 KiB request in this run's throughput part. ` +
            `Tracing every task within its target (req/s at least ${target}× of that runner's) leaves a task at most ${fixed(100 * (1 / target - 1), 1)} % more CPU, about ${fixed(baselineUs * (1 / target - 1), 0)} µs, for the SDK and everything the pack does around it.`,
        ]
      : []),
  ];
}

if (require.main === module) {
  if (process.argv[2] === '--child') runMain('bench spans (child)', () => child(process.argv[3], Number(process.argv[4])));
  else {
    installCleanup(300_000);
    runMain('bench spans', async () => console.log(spanSection(await spanCost()).join('\n')));
  }
}
