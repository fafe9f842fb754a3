// A stock Node-RED as a palette user runs it: the pack's tarball installed into a fresh user
// directory as the palette manager installs it, the flows in `flows.json`, and `red.js` started by
// the Node under test with Node-RED's own default settings (it writes settings.js itself: editor
// and admin API at `/`, its own credential secret). The only thing given on the command line
// besides the user directory and port is `uiHost`, so that it listens on loopback alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, within } from '@aiware-nodered/aiware-sim';
import { npm } from './cache';

/** From spawn to the flows started and /readyz answering 200. */
const START_TIMEOUT_MS = 60_000;
/** SIGTERM, then this long for Node-RED to stop its flows, then SIGKILL. */
const STOP_WAIT_MS = 10_000;
const KEPT_TAIL = 40;

/** What the palette manager writes before its first install (@node-red/registry's installer). */
const USER_PACKAGE = { name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true };

/** Makes `userDir` a fresh Node-RED user directory with the pack installed from its tarball, `--omit=dev`, by npm on the Node under test. */
export async function installPack(userDir: string, tarball: string, node: string): Promise<void> {
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(path.join(userDir, 'package.json'), `${JSON.stringify(USER_PACKAGE, null, 4)}\n`);
  await npm(userDir, ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], path.dirname(node));
}

export interface StockOptions {
  /** The Node binary to run it on. */
  node: string;
  /** `red.js` of the Node-RED to run. */
  redJs: string;
  userDir: string;
  /** Node-RED's flows; written to `<userDir>/flows.json`, the default flow file. */
  flows: Record<string, unknown>[];
  /** Everything it prints is written here too. */
  logFile: string;
  /** A settings file's text (`module.exports = {…}`), for a test of settings a user adds; none by default, as a fresh Node-RED has. */
  settings?: string;
  /** The loopback address it listens on (its `uiHost`); 127.0.0.1 by default. */
  host?: string;
  /** Headers the readiness check sends (credentials such settings ask for). */
  readyHeaders?: Record<string, string>;
  /** Node options before red.js (`--require ./tracing.js`), and more environment, as a user's start script would give. */
  nodeArgs?: string[];
  env?: Record<string, string>;
}

/** What the running Node-RED said about itself in its start-up lines. */
export interface Reported {
  nodeRed: string;
  node: string;
}

export class StockNodeRed {
  private readonly tail: string[] = [];
  private readonly exited: Promise<void>;
  private exit?: string;
  private stopping?: Promise<void>;
  /** Called with each line printed, and with undefined once it exits. */
  private readonly listeners = new Set<(line?: string) => void>();
  private readonly killAtExit = (): void => void this.child.kill('SIGKILL');

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    logFile: string,
  ) {
    const log = fs.createWriteStream(logFile, { flags: 'a' });
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = '';
      stream.on('data', (data: Buffer) => {
        log.write(data);
        const lines = (partial + data.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          this.tail.push(line);
          for (const listener of this.listeners) listener(line);
        }
        this.tail.splice(0, Math.max(0, this.tail.length - KEPT_TAIL));
      });
    }
    this.exited = new Promise((resolve) => {
      const end = (how: string): void => {
        if (this.exit) return;
        this.exit = how;
        process.off('exit', this.killAtExit);
        for (const listener of this.listeners) listener();
        // Its pipes may still hold the last lines.
        void within(Promise.all([once(child.stdout!, 'close'), once(child.stderr!, 'close')]), 1000).then(() => log.end(() => resolve()));
      };
      child.once('exit', (code, signal) => end(signal ? `signal ${signal}` : `code ${code}`));
      // A Node that cannot be spawned at all never exits.
      child.on('error', (err) => {
        if (child.pid === undefined) end(`it could not be started: ${err.message}`);
      });
    });
    // A test run that ends abruptly takes its Node-RED with it.
    process.on('exit', this.killAtExit);
  }

  /** Starts `red.js` on a free loopback port and resolves once its flows run and /readyz answers 200. */
  static async start(options: StockOptions): Promise<{ red: StockNodeRed; reported: Reported }> {
    fs.writeFileSync(path.join(options.userDir, 'flows.json'), `${JSON.stringify(options.flows, null, 4)}\n`);
    const port = await freePort();
    const args = [...(options.nodeArgs ?? []), options.redJs, '--userDir', options.userDir, '--port', String(port), '-D', `uiHost=${options.host ?? '127.0.0.1'}`];
    if (options.settings !== undefined) {
      fs.writeFileSync(path.join(options.userDir, 'settings.js'), options.settings);
      args.push('--settings', path.join(options.userDir, 'settings.js'));
    }
    const child = spawn(options.node, args, {
      cwd: options.userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      // The Node under test first on PATH, as in an image that has only that Node; nothing of this run's npm or Node options.
      env: { PATH: `${path.dirname(options.node)}${path.delimiter}${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? options.userDir, ...options.env },
    });
    const red = new StockNodeRed(child, `http://${options.host ?? '127.0.0.1'}:${port}`, options.logFile);
    try {
      const [nodeRed, node] = await red.linesMatching([/Node-RED version: v(\S+)/, /Node\.js\s+version: v(\S+)/, /Server now running at /, /Started flows/], START_TIMEOUT_MS);
      const ready = await fetch(`${red.url}/readyz`, { headers: options.readyHeaders, signal: AbortSignal.timeout(5000) });
      if (ready.status !== 200) throw new Error(`/readyz answered ${ready.status} after the flows started`);
      return { red, reported: { nodeRed: nodeRed[1], node: node[1] } };
    } catch (err) {
      await red.stop();
      throw new Error(`${(err as Error).message}; Node-RED's last lines:\n${red.lastLines()}`);
    }
  }

  lastLines(): string {
    return this.tail.join('\n');
  }

  /** SIGTERM, a bounded wait, then SIGKILL. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.exit) {
        this.child.kill('SIGTERM');
        if (!(await within(this.exited, STOP_WAIT_MS))) this.child.kill('SIGKILL');
      }
      await within(this.exited, 5000);
    })();
    return this.stopping;
  }

  /** The first line matching each pattern (in any order), once all have been printed; rejects on exit or timeout. */
  private linesMatching(patterns: RegExp[], timeoutMs: number): Promise<RegExpMatchArray[]> {
    const found: (RegExpMatchArray | undefined)[] = patterns.map(() => undefined);
    return new Promise((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(listen);
        if (err) reject(err);
        else resolve(found as RegExpMatchArray[]);
      };
      const timer = setTimeout(() => finish(new Error(`Node-RED did not start its flows within ${timeoutMs / 1000} s`)), timeoutMs);
      const listen = (line?: string): void => {
        if (line === undefined) return finish(new Error(`Node-RED exited (${this.exit}) before its flows started`));
        patterns.forEach((pattern, i) => (found[i] ??= pattern.exec(line) ?? undefined));
        if (found.every(Boolean)) finish();
      };
      this.listeners.add(listen);
      for (const line of this.tail) listen(line);
      if (this.exit) listen();
    });
  }
}
