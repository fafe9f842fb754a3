// A real Node-RED (runner/embedded.ts, this pack loaded) serving one of two flows:
//   httpin  - core `http in` (POST, upload on: multer) -> function -> `http response`
//   aiware  - aiware-process-in (chunk, sync) -> function -> aiware-result-out
//   aiware-recycle - the same, with the `recycleChunks` setting on
// Both serve POST /process with the same function-node work (./work); the flows are in ./flows.
// Usage: node nodered.js <httpin|aiware|aiware-recycle> <userDir>
import { EmbeddedNodeRed } from '@aiware-nodered/node-red-runner';
import { flowsFor } from './flows';
import { serveBench, failStart } from './probe';

async function main(): Promise<void> {
  const kind = process.argv[2];
  const userDir = process.argv[3];
  if ((kind !== 'httpin' && kind !== 'aiware' && kind !== 'aiware-recycle') || !userDir) throw new Error('usage: nodered.js <httpin|aiware|aiware-recycle> <userDir>');
  // Default aiware settings on purpose (but recycleChunks for aiware-recycle): the bench measures
  // what a user gets out of the box (memoryChunkBytes 8 MiB, maxBodyBytes 4 GiB, so a 1 GiB chunk
  // is accepted and spills to disk).
  const recycle = kind === 'aiware-recycle';
  const red = await EmbeddedNodeRed.start({ userDir, flows: flowsFor(recycle ? 'aiware' : kind), logLevel: 'error', ...(recycle ? { aiware: { recycleChunks: true } } : {}) });
  if (kind !== 'httpin') await waitReady(`${red.url}/readyz`);
  serveBench(red.url, () => red.stop());
}

/** /readyz answers 200 once the flows run and process-in listens (SPEC §3); 10 s at most. */
async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(url).catch(() => undefined);
    if (res?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within 10 s`);
}

main().catch(failStart);
