// The pack in a stock Node-RED for a test of the main suite: red.js on its own with Node-RED's
// defaults (test/compat's StockNodeRed), the pack linked into its user directory as
// `npm install <folder>` there links it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACK_DIR, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { StockNodeRed } from '../compat/stock-node-red';

const NODE_RED_MAIN = require.resolve('node-red/red.js');
const PACK_NAME = '@aiware-nodered/node-red-aiware';

/** What a test adds to a stock Node-RED: what a user would put in its settings file, user directory and start command. */
export interface StockStart {
  /** The text of a settings file, when the test needs one. */
  settings?: string;
  /** Headers the readiness check sends (credentials such settings ask for). */
  readyHeaders?: Record<string, string>;
  /** The loopback address it listens on (its `uiHost`). */
  host?: string;
  /** Files a user keeps beside their Node-RED (a tracing.js its start script requires), written to the user directory. */
  files?: Record<string, string>;
  /** Node options before red.js; `{userDir}` stands for the user directory. */
  nodeArgs?: string[];
  /** More environment. */
  env?: Record<string, string>;
}

/**
 * Starts red.js on `flows` with Node-RED's own defaults (test/compat's StockNodeRed), the pack
 * linked into its user directory as `npm install <folder>` there links it, with what `start` adds.
 */
export async function startStockNodeRed(flows: FlowConfig, start: StockStart = {}): Promise<{ red: StockNodeRed; url: string; stop(): Promise<void> }> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-stock-nr-'));
  fs.mkdirSync(path.join(userDir, 'node_modules', '@aiware-nodered'), { recursive: true });
  fs.symlinkSync(PACK_DIR, path.join(userDir, 'node_modules', PACK_NAME), 'dir');
  for (const [name, text] of Object.entries(start.files ?? {})) fs.writeFileSync(path.join(userDir, name), text);
  const { red } = await StockNodeRed.start({
    node: process.execPath,
    redJs: NODE_RED_MAIN,
    userDir,
    flows,
    settings: start.settings,
    readyHeaders: start.readyHeaders,
    host: start.host,
    nodeArgs: start.nodeArgs?.map((arg) => arg.replace('{userDir}', userDir)),
    env: start.env,
    logFile: path.join(userDir, 'node-red.log'),
  });
  const stop = async () => {
    await red.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  return { red, url: red.url, stop };
}
