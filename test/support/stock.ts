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

/**
 * Starts red.js on `flows` with Node-RED's own defaults (test/compat's StockNodeRed), the pack
 * linked into its user directory as `npm install <folder>` there links it; `settings` is the text
 * of a settings file when the test needs one.
 */
export async function startStockNodeRed(
  flows: FlowConfig,
  settings?: string,
  readyHeaders?: Record<string, string>,
  host?: string,
  more: { files?: Record<string, string>; nodeArgs?: string[]; env?: Record<string, string> } = {},
): Promise<{ red: StockNodeRed; url: string; stop(): Promise<void> }> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-stock-nr-'));
  fs.mkdirSync(path.join(userDir, 'node_modules', '@aiware-nodered'), { recursive: true });
  fs.symlinkSync(PACK_DIR, path.join(userDir, 'node_modules', PACK_NAME), 'dir');
  // Files a user keeps beside their Node-RED (a tracing.js its start script requires), in the user directory.
  for (const [name, text] of Object.entries(more.files ?? {})) fs.writeFileSync(path.join(userDir, name), text);
  const nodeArgs = more.nodeArgs?.map((arg) => arg.replace('{userDir}', userDir));
  const { red } = await StockNodeRed.start({
    node: process.execPath,
    redJs: NODE_RED_MAIN,
    userDir,
    flows,
    settings,
    readyHeaders,
    host,
    nodeArgs,
    env: more.env,
    logFile: path.join(userDir, 'node-red.log'),
  });
  const stop = async () => {
    await red.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  return { red, url: red.url, stop };
}
