// The child side of the bench protocol: answers the parent's start/stop with this process's own
// CPU time and RSS, so each server is measured alone even though the load comes from the parent.
// With BENCH_CPU_PROFILE=<file> set, a V8 CPU profile of exactly the window is written there
// (bench/profile.ts uses it; `--cpu-prof` would also record start-up).
import * as fs from 'node:fs';
import type { Session } from 'node:inspector';
import { PROFILE_INTERVAL_US, RSS_SAMPLE_MS, type BenchCommand, type BenchReport } from '../protocol';

function send(report: BenchReport): void {
  process.send?.(report);
}

function post<T = unknown>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

/** Starts the CPU profiler when BENCH_CPU_PROFILE asks for it; returns what stops it and writes the file. */
async function startProfile(): Promise<(() => Promise<void>) | undefined> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (!file) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const inspector = require('node:inspector') as typeof import('node:inspector');
  const session = new inspector.Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
  await post(session, 'Profiler.start');
  return async () => {
    const { profile } = await post<{ profile: unknown }>(session, 'Profiler.stop');
    fs.writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
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
  let stopProfile: (() => Promise<void>) | undefined;

  // Always running, in and out of a window, so its own cost is the same in every measurement.
  const sampler = setInterval(() => {
    if (!measuring) return;
    const rss = process.memoryUsage.rss();
    if (rss > rssPeak) rssPeak = rss;
    samples++;
  }, RSS_SAMPLE_MS);
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

  const onCommand = async (message: BenchCommand): Promise<void> => {
    switch (message.cmd) {
      case 'start':
        stopProfile = await startProfile();
        // Garbage left from start-up or the last window would otherwise be freed inside this one
        // and hide growth (the bench forks children with --expose-gc).
        if (message.gc !== false) (globalThis as { gc?: () => void }).gc?.();
        rssBefore = process.memoryUsage.rss();
        rssPeak = rssBefore;
        samples = 0;
        cpu = process.cpuUsage();
        measuring = true;
        send({ type: 'started', rss: rssBefore });
        break;
      case 'stop': {
        // Read before the profile is written: serialising it is not the server's work.
        const used = process.cpuUsage(cpu);
        measuring = false;
        const rssAfter = process.memoryUsage.rss();
        await stopProfile?.();
        stopProfile = undefined;
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
      case 'peek':
        rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
        send({ type: 'peeked', rssBefore, rssPeak });
        break;
      case 'exit':
        exit(0);
        break;
    }
  };
  process.on('message', (message: BenchCommand) => {
    onCommand(message).catch((err: unknown) => send({ type: 'failed', error: String(err) }));
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
