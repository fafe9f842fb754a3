// A stock Node-RED as a palette user has it: the pack packed (scripts/pack.ts) and installed from
// its tarball with `npm install --omit=dev` into a fresh user directory, the flows written as that
// directory's flows.json, and Node-RED started by its own CLI,
//   node node_modules/node-red/red.js --userDir <dir> --port <p> -D uiHost=127.0.0.1
// On its first start Node-RED copies its default settings.js into the user directory, so the
// editor and admin API are at `/`, the root the flows' routes share. The one `-D` keeps it on
// loopback (its default is every interface); a server may add others a user would give, such as
// `aiware.recycleChunks=true`. It speaks no bench protocol: its CPU and RSS are read from /proc.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { FlowConfig } from '@aiware-nodered/node-red-runner';
import { freePort } from '@aiware-nodered/aiware-sim';
import { packPackage } from '../scripts/pack';
import { MiB, kill, outputTail, tempDir, track } from './lib';
import { untilOk } from './poll';
import { OutsideServer } from './procstat';

const run = promisify(execFile);
export const NODE_RED_MAIN = require.resolve('node-red/red.js');

/** The command line, for the reports (the settings a server adds go after it as `-D`). */
export const STOCK_COMMAND = 'node node_modules/node-red/red.js --userDir <fresh> --port <p> -D uiHost=127.0.0.1';

/** Node-RED logs this (info, its default level) once every node of the flows has started. */
const STARTED = /\[info\] Started flows/;

let packed: string | undefined;

/** The pack's tarball, packed once per bench process (from the dist/ the bench was built with). */
function tarball(): string {
  packed ??= packPackage('pack', tempDir('aiware-bench-pack-')).tarball;
  return packed;
}

/**
 * A fresh user directory under `parent` with the pack installed from its tarball as a palette
 * install does (`npm install --omit=dev`, into the package.json Node-RED would create) and
 * `flows` as its flows.json. Not timed: the cold start runs from spawn().
 */
export async function stockUserDir(parent: string, prefix: string, flows: FlowConfig): Promise<string> {
  const userDir = fs.mkdtempSync(path.join(parent, prefix));
  fs.writeFileSync(path.join(userDir, 'package.json'), `${JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }, null, 2)}\n`);
  await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball()], { cwd: userDir, maxBuffer: 16 * MiB });
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
  return userDir;
}

export interface StockOptions {
  /** Node options before red.js (BENCH_CHILD_FLAGS, --cpu-prof). */
  execArgv?: readonly string[];
  /** Settings given as `-D key=value`, after uiHost. */
  define?: Record<string, string>;
}

/** Starts the `node-red` command on `userDir`; the bench's cleanup kills it if it is left running. */
export function spawnStock(userDir: string, port: number, options: StockOptions = {}): ChildProcess {
  const defines = Object.entries({ uiHost: '127.0.0.1', ...options.define }).flatMap(([key, value]) => ['-D', `${key}=${value}`]);
  const child = spawn(process.execPath, [...(options.execArgv ?? []), NODE_RED_MAIN, '--userDir', userDir, '--port', String(port), ...defines], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? userDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  return child;
}

/** Resolves once `child` has printed a line matching `pattern`; rejects when it exits or time runs out. */
function untilPrinted(child: ChildProcess, pattern: RegExp, output: () => string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = '';
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = (data: Buffer): void => {
      // Only the tail of what came before: a line may arrive in two pieces.
      seen = (seen + data.toString()).slice(-4096);
      if (pattern.test(seen)) finish();
    };
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`exited (${code ?? signal}) before printing ${pattern}; output:\n${output()}`));
    const timer = setTimeout(() => finish(new Error(`did not print ${pattern} within ${timeoutMs / 1000} s; output:\n${output()}`)), timeoutMs);
    child.stdout?.on('data', onData);
    child.on('exit', onExit);
  });
}

/** A stock Node-RED as a bench server: ready once its flows have started (and `readyPath`, if any, answers 200). */
export class StockNodeRed extends OutsideServer {
  private constructor(name: string, child: ChildProcess, url: string) {
    let lines = 0;
    // Node-RED logs nothing per request at info: lines inside a window would be a cost of their own.
    const count = (data: Buffer): void => {
      for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) lines++;
    };
    child.stdout?.on('data', count);
    child.stderr?.on('data', count);
    super(name, child, url, () => lines);
  }

  static async start(name: string, root: string, flows: FlowConfig, options: StockOptions & { readyPath?: string } = {}, timeoutMs = 60_000): Promise<StockNodeRed> {
    const userDir = await stockUserDir(root, `stock-${name}-`, flows);
    const port = await freePort();
    const child = spawnStock(userDir, port, options);
    const output = outputTail(child);
    const url = `http://127.0.0.1:${port}`;
    try {
      await untilPrinted(child, STARTED, output, timeoutMs);
      if (options.readyPath) await untilOk(`${url}${options.readyPath}`, child, output, timeoutMs, 50);
      return new StockNodeRed(name, child, url);
    } catch (err) {
      kill(child);
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
}
