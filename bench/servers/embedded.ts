// The pack in the runner's embedded Node-RED (runner/embedded.ts, this pack loaded through
// nodesDir), serving the aiware flow (./flows): aiware-process-in (chunk, sync) -> function ->
// aiware-result-out. Its server hands the pack's routes over (handle.dispatch) before express:
// the path the runner and the tests take, not a palette install's (../stock-nodered).
// Usage: node embedded.js <userDir>
import { EmbeddedNodeRed } from '@aiware-nodered/node-red-runner';
import { flowsFor } from './flows';
import { serveBench, failStart } from './probe';

async function main(): Promise<void> {
  const userDir = process.argv[2];
  if (!userDir) throw new Error('usage: embedded.js <userDir>');
  // Default aiware settings on purpose: the bench measures what a user gets out of the box
  // (memoryChunkBytes 8 MiB, maxBodyBytes 4 GiB, so a 1 GiB chunk is accepted and spills to disk).
  const red = await EmbeddedNodeRed.start({ userDir, flows: flowsFor('aiware'), logLevel: 'error' });
  await waitReady(`${red.url}/readyz`);
  serveBench(red.url, () => red.stop());
}

/** /readyz answers 200 once the flows run and process-in listens (the readiness contract in docs/protocol.md); 10 s at most. */
async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(url).catch(() => undefined);
    if (res?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within 10 s`);
}

main().catch(failStart);
