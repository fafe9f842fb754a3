// One JSON line per event (pino), each with the engine and build ids; Node-RED's own log goes
// through the same logger with the node's id and type. Tokens and credentials never appear:
// known fields are redacted by path, and the tokens of open tasks are scrubbed from free text.
import pino, { type Logger } from 'pino';
import { SECRET_FIELDS } from '@aiware-nodered/node-red-aiware';

export type { Logger };

export function createLogger(options: { engineId: string; buildId: string; level: string; destination?: pino.DestinationStream }): Logger {
  const paths = [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), 'credentials', '*.credentials', 'credentialSecret', 'password', '*.password'];
  return pino(
    {
      level: options.level,
      base: { engineId: options.engineId, buildId: options.buildId },
      redact: { paths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous and buffered: lines are written 4 KiB at a time, or at the latest 100 ms after
    // they were logged, so a busy engine does not pay a write per task on the /process path (it
    // did: a tenth of the runner's CPU at 64 KiB chunks went to its "task ended" lines) and an idle
    // one still shows each line within 100 ms. `flushLogs` empties the buffer before the process exits.
    options.destination ?? stdout,
  );
}

const stdout = pino.destination({ fd: 1, sync: false, minLength: 4096, periodicFlush: 100 });

/** Set once the process reading the log is known to be gone: nothing can be written out any more. */
let readerGone = false;

/**
 * The process reading the log has gone (the runner's IPC parent died, and it read stdout): flushing
 * at exit is skipped, since sonic-boom's flushSync retries a write nobody can read without end.
 */
export function logReaderGone(): void {
  readerGone = true;
}

/** Writes out whatever the logger still holds: call before the process exits. */
export function flushLogs(): void {
  if (readerGone) return;
  try {
    stdout.flushSync();
  } catch {
    // Nothing buffered, or stdout already closed: nothing more can be said.
  }
}

/**
 * Writes out what the logger holds now, without waiting for the buffer to fill, then calls `done`
 * (also when the write failed). A broken pipe found this way turns the log off (pino's rule for
 * EPIPE); found first by `flushLogs` at exit it would be retried for ever (sonic-boom's flushSync
 * retries every error), and the process would never end.
 */
export function flushLogsNow(done: () => void): void {
  stdout.flush(() => done());
}

/** Node-RED log levels (its `log.*` numbers) as pino's. */
const LEVELS: Record<number, pino.Level> = { 10: 'fatal', 20: 'error', 30: 'warn', 40: 'info', 50: 'debug', 60: 'trace' };

interface NodeRedLogEntry {
  level: number;
  msg?: unknown;
  type?: string;
  id?: string;
  name?: string;
  z?: string;
}

/**
 * A Node-RED `logging` handler writing to `log`. `scrub(text)` takes the tokens of the tasks open
 * now out of a message (in one pass, see SecretIndex): a debug node printing msg.aiware must not leak them.
 * `taskFields(text)` gives the ids of the task a line is about, when it is about one (task-lines.ts).
 */
export function nodeRedLogging(log: Logger, scrub: (text: string) => string, taskFields: (text: string) => Record<string, unknown> | undefined = () => undefined): Record<string, unknown> {
  return {
    console: { level: 'off' },
    runner: {
      level: 'trace',
      metrics: false,
      audit: false,
      handler: () => (entry: NodeRedLogEntry) => {
        const level = LEVELS[entry.level];
        if (!level || !log.isLevelEnabled(level)) return;
        const raw = typeof entry.msg === 'string' ? entry.msg : entry.msg instanceof Error ? entry.msg.message : JSON.stringify(entry.msg);
        const task = taskFields(raw);
        const text = scrub(raw);
        log[level]({ source: 'node-red', nodeId: entry.id, nodeType: entry.type, nodeName: entry.name || undefined, flowId: entry.z, ...task }, text);
      },
    },
  };
}
