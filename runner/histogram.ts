// A Prometheus histogram whose series are made once and observed with a few number stores:
// prom-client's own hashes the labels of every observation (~1.5 µs each in the runner's
// profile), which per task and node adds up on the /process path. Served through prom-client's
// registry (it asks a metric only for `get()`).
import type * as client from 'prom-client';

/** One series: its labels, and counts per bucket (not cumulative), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Record<string, string>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

interface Value {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class CheapHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private made: HistogramSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: client.Registry,
  ) {
    registry.registerMetric(this as unknown as client.Metric);
  }

  /** A new series with these labels (the caller keeps it and observes on it). */
  series(labels: Record<string, string>): HistogramSeries {
    const made = new HistogramSeries(this.bounds, labels);
    this.made.push(made);
    return made;
  }

  /** Forgets every series. */
  reset(): void {
    this.made = [];
  }

  /** prom-client's form of the metric: `_bucket` (cumulative, with `le`), `_sum` and `_count` per series. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    for (const series of this.made) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += series.counts[i];
        values.push({ metricName: `${this.name}_bucket`, labels: { ...series.labels, le: i < this.bounds.length ? this.bounds[i] : '+Inf' }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
