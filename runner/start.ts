// The runner's entry (`node main.js`): configuration from the environment, one Runner, the
// signals, and the parent's IPC channel when it was started with one (parent.ts). Exit codes: 0
// after a drain, 1 when start-up failed for good (after /readyz has answered 500 for
// RUNNER_FAIL_LINGER_SECONDS), 130/143 on a second signal.
import { loadConfig, ConfigError, type RunnerConfig } from './config';
import { createLogger, flushLogs, flushLogsNow, logReaderGone, type Logger } from './log';
import { ParentChannel, type RunnerReport } from './parent';
import { Runner } from './runner';
import { RuntimeFileError } from './runtime-file';
import { startTracing, type Tracing } from './tracing';
import { errorMessage } from '@aiware-nodered/node-red-aiware';

/** How long a second signal waits for the failed heartbeats of open tasks before the exit. */
const ABORT_BOUND_MS = 1000;

/** How long the exit waits for the last spans to be sent (the exporter's own timeout may be longer). */
const TRACES_BOUND_MS = 5000;

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    const log = createLogger({ engineId: env.ENGINE_ID ?? 'engine', buildId: env.BUILD_ID ?? 'build', level: 'info' });
    log.fatal({ variable: err instanceof ConfigError ? err.variable : undefined }, errorMessage(err));
    return 1;
  }
  const log = createLogger({ engineId: config.engineId, buildId: config.buildId, level: config.logLevel });
  // Before Node-RED loads: the pack's first task already has a tracer to report to.
  let tracing: Tracing | undefined;
  try {
    tracing = startTracing(env, config, log);
    if (tracing) log.info({ exporter: tracing.exporter }, 'traces on');
  } catch (err) {
    log.fatal({}, `OpenTelemetry could not start: ${errorMessage(err)}`);
    return 1;
  }
  const code = await run(config, log, tracing);
  if (tracing) await sendLastSpans(tracing, log);
  return code;
}

async function run(config: RunnerConfig, log: Logger, tracing: Tracing | undefined): Promise<number> {
  const runner = new Runner(config, log);
  const parent = ParentChannel.open();
  runner.server.once('listening', () => parent?.report({ state: runner.state, port: runner.port }));
  /** Tells the parent once every line logged so far is written: who hears `ready` finds the start-up's lines. */
  const tellParent = (report: RunnerReport['aiwareRunner']): void => {
    if (parent) flushLogsNow(() => parent.report(report));
  };

  let signals = 0;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal, boundMs: ABORT_BOUND_MS }, 'second signal: exiting now');
        const code = signal === 'SIGINT' ? 130 : 143;
        const exit = (): never => {
          flushLogs();
          process.exit(code);
        };
        // Open tasks still get their failed heartbeat if it can leave within the bound, and the
        // spans still buffered (those tasks' too) what is left of it; then out, whatever happens.
        setTimeout(exit, ABORT_BOUND_MS + 200).unref();
        void runner
          .abort(signal, ABORT_BOUND_MS)
          .then(() => tracing?.shutdown())
          .catch((err: unknown) => log.warn({}, `the last spans were not sent: ${errorMessage(err)}`))
          .finally(exit);
        return;
      }
      log.info({ signal }, 'signal: draining');
      runner.stop(signal).then(
        () => resolve(runner.state === 'failed' ? 1 : 0),
        (err: unknown) => {
          log.error({ err: errorMessage(err) }, 'drain failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Its parent died: nobody is left to send the SIGTERM, so the runner stops as if it had. The
    // parent read its stdout too: whether that pipe died with it is learnt before anything else.
    parent?.onGone(() => {
      log.warn({}, 'the process that started the runner is gone (its IPC channel closed): stopping as on SIGTERM');
      // It read the runner's stdout: the log has no reader now, and must not hold the exit.
      logReaderGone();
      flushLogsNow(() => onSignal('SIGTERM'));
    });
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err: errorMessage(err), stack: err.stack }, 'uncaught exception: exiting');
    flushLogs();
    process.exit(1);
  });

  try {
    await runner.start();
    tellParent({ state: runner.state, port: runner.port });
  } catch (err) {
    if (runner.state !== 'failed') runner.state = 'failed';
    const fields = err instanceof RuntimeFileError ? { file: err.file, missingTypes: err.missingTypes } : {};
    log.fatal({ ...fields, lingerMs: config.failLingerMs }, errorMessage(err));
    tellParent({ state: 'failed', port: runner.server.listening ? runner.port : undefined, failure: runner.failure ?? errorMessage(err) });
    // ET polls readiness: a 500 for a while tells it this engine will not come up.
    const linger = new Promise<void>((resolve) => setTimeout(resolve, config.failLingerMs).unref());
    await Promise.race([linger, stopped]);
    await runner.stop('start-up failed');
    return 1;
  }
  return stopped;
}

/** The spans still buffered go out before the exit, within TRACES_BOUND_MS. */
async function sendLastSpans(tracing: Tracing, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), TRACES_BOUND_MS)));
  try {
    const outcome = await Promise.race([tracing.shutdown().then(() => 'sent' as const), bound]);
    if (outcome === 'late') log.warn({ boundMs: TRACES_BOUND_MS }, 'the last spans were not sent in time');
  } catch (err) {
    log.warn({}, `the last spans were not sent: ${errorMessage(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

// Every way out of the process passes here, normal exits included.
process.on('exit', flushLogs);
