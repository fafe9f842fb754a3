// /metrics in Prometheus format: tasks open, tasks ended by state and reason, /process latency,
// webhook retries, and the process's own default metrics.
import * as client from 'prom-client';
import type { TaskEnd, TaskRegistry } from '@aiware-nodered/node-red-aiware';

export class RunnerMetrics {
  readonly registry = new client.Registry();
  private readonly ended: client.Counter<'state' | 'reason'>;
  private readonly retries: client.Counter;
  readonly processLatency: client.Histogram<'status'>;
  private tasks?: TaskRegistry;

  constructor(labels: Record<string, string>) {
    this.registry.setDefaultLabels(labels);
    client.collectDefaultMetrics({ register: this.registry });
    const openTasks = (): number => this.tasks?.size ?? 0;
    new client.Gauge({
      name: 'aiware_tasks_open',
      help: 'Tasks open now',
      registers: [this.registry],
      collect() {
        this.set(openTasks());
      },
    });
    this.ended = new client.Counter({
      name: 'aiware_tasks_total',
      help: 'Tasks ended, by state (complete, failed, ignored) and failure reason',
      labelNames: ['state', 'reason'],
      registers: [this.registry],
    });
    this.retries = new client.Counter({ name: 'aiware_webhook_retries_total', help: 'Heartbeat and result posts retried', registers: [this.registry] });
    this.processLatency = new client.Histogram({
      name: 'aiware_process_duration_seconds',
      help: '/process calls, from the request to the end of the answer, by status',
      labelNames: ['status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
  }

  /** Counts the tasks of `tasks` (once the pack has loaded). */
  watch(tasks: TaskRegistry): void {
    if (this.tasks === tasks) return;
    this.tasks = tasks;
    tasks.on('end', (end: TaskEnd) => this.ended.inc({ state: end.state, reason: end.reason ?? '' }));
    tasks.on('retry', () => this.retries.inc());
  }
}
