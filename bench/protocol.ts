// The IPC messages between the bench (parent) and a server child, and the sampling rates both
// sides share. Types and numbers only, so a child can import them without loading autocannon or
// anything else the parent uses.

/** How often RSS is sampled, in a child and from /proc: a shorter peak can be missed, a faster sampler costs CPU. */
export const RSS_SAMPLE_MS = 50;

/** Sampling interval of the CPU profiler, µs: finer than V8's 1 ms default for short requests. */
export const PROFILE_INTERVAL_US = 250;

/** Parent -> child. */
export type BenchCommand =
  /**
   * Open a measurement window: note CPU time and start tracking peak RSS. `gc` (default true)
   * collects garbage first, so "RSS before" is a settled heap; the throughput runs turn it off:
   * after a forced full collection, a Node-RED child under load went on to run a major GC every
   * few hundred ms for the whole window (measured at 64 KiB: 7-19 in 5 s instead of 0-2, and
   * twice the CPU per request), which the runner, measured from outside, never gets.
   */
  | { cmd: 'start'; gc?: boolean }
  /** Close the window and report a `BenchReport` of type `measured`. */
  | { cmd: 'stop' }
  /** Report the window's peak so far without closing it (growth part-way through an upload). */
  | { cmd: 'peek' }
  /** Stop the server cleanly and exit (so `--cpu-prof` gets to write its profile). */
  | { cmd: 'exit' };

export interface WindowStats {
  /** CPU time the child spent inside the window, in microseconds. */
  userUs: number;
  systemUs: number;
  /** RSS at the start of the window, the highest 50 ms sample inside it, and at its end (bytes). */
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
  samples: number;
}

/** Child -> parent. */
export type BenchReport =
  { type: 'ready'; url: string } | { type: 'started'; rss: number } | ({ type: 'measured' } & WindowStats) | { type: 'peeked'; rssBefore: number; rssPeak: number } | { type: 'failed'; error: string };
