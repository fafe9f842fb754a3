// The child side of the bench protocol: answers the parent's start/stop with this process's own
// CPU time and RSS, so each server is measured alone even though the load comes from the parent.
import type { BenchCommand, BenchReport } from '../protocol';

/** How often RSS is sampled: a peak shorter than this can be missed, a faster sampler costs CPU. */
const SAMPLE_MS = 50;

function send(report: BenchReport): void {
  process.send?.(report);
}

/**
 * Reports `url` as ready and serves the parent's commands until told to exit. `stop` closes the
 * server before the process exits; it gets 5 s, then the process exits anyway.
 */
export function serveBench(url: string, stop: () => Promise<void>): void {
  let measuring = false;
  let cpu = process.cpuUsage();
  let rssBefore = 0;
  let rssPeak = 0;
  let samples = 0;

  // Always running, in and out of a window, so its own cost is the same in every measurement.
  const sampler = setInterval(() => {
    if (!measuring) return;
    const rss = process.memoryUsage.rss();
    if (rss > rssPeak) rssPeak = rss;
    samples++;
  }, SAMPLE_MS);
  sampler.unref();

  let exiting = false;
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    clearInterval(sampler);
    setTimeout(() => process.exit(code), 5000).unref();
    stop().then(
      () => process.exit(code),
      () => process.exit(1),
    );
  };

  process.on('message', (message: BenchCommand) => {
    switch (message.cmd) {
      case 'start':
        rssBefore = process.memoryUsage.rss();
        rssPeak = rssBefore;
        samples = 0;
        cpu = process.cpuUsage();
        measuring = true;
        send({ type: 'started', rss: rssBefore });
        break;
      case 'stop': {
        const used = process.cpuUsage(cpu);
        measuring = false;
        const rssAfter = process.memoryUsage.rss();
        send({
          type: 'measured',
          userUs: used.user,
          systemUs: used.system,
          rssBefore,
          rssPeak: Math.max(rssPeak, rssAfter),
          rssAfter,
          samples,
        });
        break;
      }
      case 'exit':
        exit(0);
        break;
    }
  });
  // The parent is gone (crashed, killed): nobody will ever tell this server to stop.
  process.on('disconnect', () => exit(0));
  send({ type: 'ready', url });
}

/** Reports a start-up failure to the parent and exits. */
export function failStart(err: unknown): void {
  send({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
}
