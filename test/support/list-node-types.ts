// Run as a child process: starts a plain Node-RED on a user directory (as `node-red -u dir`
// would, without the editor) and prints the node sets it registered as JSON, then stops.
import * as http from 'node:http';

interface NodeSet {
  module: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

/** What this script uses of the node-red module. */
interface NodeRed {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  runtime: { nodes: { getNodeList(opts: object): Promise<NodeSet[]> } };
}

async function main(userDir: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RED = require('node-red') as NodeRed;
  const server = http.createServer();
  RED.init(server, { userDir, httpAdminRoot: false, httpNodeRoot: false, logging: { console: { level: 'off' } } });
  await RED.start();
  const sets = await RED.runtime.nodes.getNodeList({});
  process.stdout.write(JSON.stringify(sets.map((s) => ({ module: s.module, types: s.types, enabled: s.enabled, err: s.err }))));
  await RED.stop();
  server.close();
}

main(process.argv[2]).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
