// /metrics in Prometheus format: tasks open, tasks ended by state and reason, task durations by
// engine type and outcome, each node's time per task (the pack's per-node timing), /process
// latency, webhook calls and retries, pauses and wake-ups, and the process's own default metrics.
import * as client from 'prom-client';
import { CheapHistogram, type HistogramSeries } from './histogram';
import { MAX_TIMED_NODES, type CallEvent, type NodeTime, type NodeTiming, type PackRuntime, type RetryEvent, type TaskEnd, type TaskRegistry, type TaskTimes } from '@aiware-nodered/node-red-aiware';

/** Seconds: from a fast function node to a long model call. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Heartbeat deviations: fine where the aim is (tens of ms), coarse past a second. */
const DEVIATION_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2];

type NodeTotal = ReturnType<NodeTiming['totals']>[number];

export class RunnerMetrics {
  readonly registry = new client.Registry();
  private readonly ended: client.Counter<'state' | 'reason'>;
  private readonly retries: client.Counter<'kind'>;
  readonly processLatency: client.Histogram<'status'>;
  private readonly taskDuration: CheapHistogram;
  private readonly heartbeatDeviation: HistogramSeries;
  private readonly nodeDuration: CheapHistogram;
  private readonly calls: client.Histogram<'kind' | 'method' | 'status'>;
  private readonly paused: client.Counter<'mode'>;
  private readonly woken: client.Counter<'mode' | 'outcome'>;
  /** Each node's series by its id: bounded by the flows' nodes, cleared past MAX_TIMED_NODES (a long life of redeploys). */
  private readonly nodeSeries = new Map<string, HistogramSeries>();
  private readonly taskSeries = new Map<string, HistogramSeries>();
  private tasks?: TaskRegistry;
  private pack?: PackRuntime;

  constructor(labels: Record<string, string>) {
    this.registry.setDefaultLabels(labels);
    client.collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const openTasks = (): number => this.tasks?.size ?? 0;
    new client.Gauge({
      name: 'aiware_tasks_open',
      help: 'Tasks open now',
      registers,
      collect() {
        this.set(openTasks());
      },
    });
    this.ended = new client.Counter({
      name: 'aiware_tasks_total',
      help: 'Tasks ended, by state (complete, failed, ignored, paused) and failure reason',
      labelNames: ['state', 'reason'],
      registers,
    });
    // Observed per task and per node of each task: made with their series once (./histogram).
    this.taskDuration = new CheapHistogram(
      'aiware_task_duration_seconds',
      'Tasks, from their opening in this process to their end, by engine type (chunk, stream, batch) and state',
      DURATION_BUCKETS,
      this.registry,
    );
    this.nodeDuration = new CheapHistogram(
      'aiware_node_duration_seconds',
      "How long a node held one task's messages (from each delivery to its completion or next send), one observation per task and node",
      DURATION_BUCKETS,
      this.registry,
    );
    const nodeLabels = ['node_id', 'node_type', 'node_name'] as const;
    // Read from the pack's per-node totals when scraped, not counted per task: they cost the hot path nothing.
    const totals = (): NodeTotal[] => this.pack?.timing?.totals() ?? [];
    const labelsOf = (node: NodeTotal) => ({ node_id: node.id, node_type: node.type, node_name: node.name ?? '' });
    new client.Counter({
      name: 'aiware_node_queue_seconds_total',
      help: "How long tasks' messages waited in Node-RED's queue for a node (sent to delivered), since the flows started",
      labelNames: nodeLabels,
      registers,
      collect() {
        this.reset();
        for (const node of totals()) this.inc(labelsOf(node), node.queueMs / 1000);
      },
    });
    new client.Counter({
      name: 'aiware_node_messages_total',
      help: "Tasks' messages a node got, since the flows started",
      labelNames: nodeLabels,
      registers,
      collect() {
        this.reset();
        for (const node of totals()) this.inc(labelsOf(node), node.count);
      },
    });
    this.retries = new client.Counter({ name: 'aiware_webhook_retries_total', help: 'Calls to the toolkit retried, by kind (heartbeat, result, keys, other)', labelNames: ['kind'], registers });
    this.calls = new client.Histogram({
      name: 'aiware_webhook_duration_seconds',
      help: 'Each attempt of a call to the toolkit (heartbeat and result posts, key calls), by kind, method and status (error: no answer)',
      labelNames: ['kind', 'method', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const deviation = new CheapHistogram(
      'aiware_heartbeat_period_deviation_seconds',
      "How far each automatic running heartbeat of a task was sent from one heartbeat interval after the task's previous one (either way): the wheel's timeliness, as the engine sent them",
      DEVIATION_BUCKETS,
      this.registry,
    );
    this.heartbeatDeviation = deviation.series({});
    this.paused = new client.Counter({
      name: 'aiware_pauses_total',
      help: 'Tasks that started waiting for a callback (pause-for-callback), by mode (local, platform)',
      labelNames: ['mode'],
      registers,
    });
    this.woken = new client.Counter({
      name: 'aiware_wakeups_total',
      help: 'Waits for a callback that ended here, by mode and outcome (resumed, failed, timed out)',
      labelNames: ['mode', 'outcome'],
      registers,
    });
    const waiting = (): number => this.pack?.pauses.waiting() ?? 0;
    new client.Gauge({
      name: 'aiware_pauses_waiting',
      help: 'Tasks waiting for a callback in this process now (local mode)',
      registers,
      collect() {
        this.set(waiting());
      },
    });
    this.processLatency = new client.Histogram({
      name: 'aiware_process_duration_seconds',
      help: '/process calls, from the request to the end of the answer, by status',
      labelNames: ['status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
  }

  /** Counts the tasks, node times, calls and pauses of `pack` (once the pack has loaded). */
  watch(pack: PackRuntime): void {
    if (this.pack === pack) return;
    this.pack = pack;
    const tasks = pack.registry;
    this.tasks = tasks;
    tasks.on('end', (end: TaskEnd) => this.ended.inc({ state: end.state, reason: end.reason ?? '' }));
    tasks.on('retry', (event: RetryEvent) => this.retries.inc({ kind: event.kind }));
    const intervalMs = tasks.settings.heartbeatIntervalMs;
    tasks.on('heartbeatPeriod', (ms: number) => this.heartbeatDeviation.observe(Math.abs(ms - intervalMs) / 1000));
    tasks.on('call', (event: CallEvent) => this.calls.observe({ kind: event.kind, method: event.method, status: event.status === undefined ? 'error' : String(event.status) }, event.ms / 1000));
    pack.pauses.on('paused', (mode: string) => this.paused.inc({ mode }));
    pack.pauses.on('woken', (mode: string, outcome: string) => this.woken.inc({ mode, outcome }));
    pack.timing?.on('times', (end: TaskEnd, times: TaskTimes) => this.timed(end, times));
  }

  private timed(end: TaskEnd, times: TaskTimes): void {
    const taskKey = `${end.task.engineType} ${end.state}`;
    let task = this.taskSeries.get(taskKey);
    if (!task) this.taskSeries.set(taskKey, (task = this.taskDuration.series({ engine_type: end.task.engineType, state: end.state })));
    task.observe(times.totalMs / 1000);
    for (const node of times.nodes) {
      (this.nodeSeries.get(node.id) ?? this.nodeSeriesFor(node)).observe(node.ms / 1000);
    }
  }

  /** A node's series, made once: the label lookups are not paid per task. A node renamed by a redeploy keeps its first name's series. */
  private nodeSeriesFor(node: NodeTime): HistogramSeries {
    if (this.nodeSeries.size >= MAX_TIMED_NODES) {
      this.nodeSeries.clear();
      this.nodeDuration.reset();
    }
    const series = this.nodeDuration.series({ node_id: node.id, node_type: node.type, node_name: node.name ?? '' });
    this.nodeSeries.set(node.id, series);
    return series;
  }
}
