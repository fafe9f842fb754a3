// The pack in the runner's embedded Node-RED (runner/embedded.ts, this pack loaded through
// nodesDir), serving the aiware flow (./flows): aiware-process-in (chunk, sync) -> function ->
// aiware-result-out. Its server hands the pack's routes over (handle.dispatch) before express:
// the path the runner and the tests take, not a palette install's (../stock-nodered).
// Usage: node embedded.js <userDir>
import { EmbeddedNodeRed } from '@aiware-nodered/node-red-runner';
import { pollUntil } from '../poll';
import { flowsFor } from './flows';
import { serveBench, failStart } from './probe';

async function main(): Promise<void> {
  const userDir = process.argv[2];
  if (!userDir) throw new Error('usage: embedded.js <userDir>');
  // Default aiware settings on purpose: the bench measures what a user gets out of the box
  // (memoryChunkBytes 8 MiB, maxBodyBytes 4 GiB, so a 1 GiB chunk is accepted and spills to disk).
  const red = await EmbeddedNodeRed.start({ userDir, flows: flowsFor('aiware'), logLevel: 'error' });
  // /readyz answers 200 once the flows run and process-in listens (the readiness contract in docs/protocol.md).
  const readyz = `${red.url}/readyz`;
  await pollUntil(
    async () => ((await fetch(readyz).catch(() => undefined))?.status === 200 ? true : undefined),
    100,
    10_000,
    () => `${readyz} did not answer 200 within 10 s`,
  );
  serveBench(red.url, () => red.stop());
}

main().catch(failStart);
