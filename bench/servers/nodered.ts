// A real Node-RED (runner/embedded.ts, this pack loaded) serving one of two flows:
//   httpin  - core `http in` (POST, upload on: multer) -> function -> `http response`
//   aiware  - aiware-process-in (chunk, sync) -> function -> aiware-result-out
// Both serve POST /process with the same function-node work (./work). The aiware flow also has
// POST /ignore, whose function sets msg.ignoreChunk (204), for the big-chunk memory run.
// Usage: node nodered.js <httpin|aiware> <userDir>
import { EmbeddedNodeRed, type FlowConfig } from '../../runner/embedded';
import { serveBench, failStart } from './probe';
import { AIWARE_FUNCTION, HTTPIN_FUNCTION, IGNORE_FUNCTION } from './work';

type Kind = 'httpin' | 'aiware';

function fn(id: string, func: string, next: string): Record<string, unknown> {
  return { id, z: 'tab', type: 'function', name: id, func, outputs: 1, noerr: 0, initialize: '', finalize: '', libs: [], wires: [[next]] };
}

function processIn(id: string, url: string, readyUrl: string, next: string): Record<string, unknown> {
  return { id, z: 'tab', type: 'aiware-process-in', url, readyUrl, engineType: 'chunk', respond: 'sync', wires: [[next]] };
}

function resultOut(id: string): Record<string, unknown> {
  // validate on: checking every output against the VTN schemas is part of what the node costs.
  return { id, z: 'tab', type: 'aiware-result-out', property: 'payload', completes: 'default', validate: true, wires: [] };
}

// Node-RED tells flow nodes from config nodes by their x/y: without them every node here would
// be taken for a config node and the flow would not start.
function placed(nodes: FlowConfig): FlowConfig {
  return nodes.map((node, i) => (node.type === 'tab' ? node : { x: 150 * i, y: 100, ...node }));
}

function flowsFor(kind: Kind): FlowConfig {
  const tab = { id: 'tab', type: 'tab', label: `bench ${kind}` };
  if (kind === 'httpin') {
    return placed([
      tab,
      { id: 'in', z: 'tab', type: 'http in', url: '/process', method: 'post', upload: true, swaggerDoc: '', wires: [['work']] },
      fn('work', HTTPIN_FUNCTION, 'out'),
      { id: 'out', z: 'tab', type: 'http response', statusCode: '', headers: {}, wires: [] },
    ]);
  }
  return placed([
    tab,
    processIn('in', '/process', '/readyz', 'work'),
    fn('work', AIWARE_FUNCTION, 'out'),
    resultOut('out'),
    // Its own readiness path: two process-in nodes cannot share one.
    processIn('in-ignore', '/ignore', '/readyz-ignore', 'ignore'),
    fn('ignore', IGNORE_FUNCTION, 'out-ignore'),
    resultOut('out-ignore'),
  ]);
}

async function main(): Promise<void> {
  const kind = process.argv[2];
  const userDir = process.argv[3];
  if ((kind !== 'httpin' && kind !== 'aiware') || !userDir) throw new Error('usage: nodered.js <httpin|aiware> <userDir>');
  // Default aiware settings on purpose: the bench measures what a user gets out of the box
  // (memoryChunkBytes 8 MiB, maxBodyBytes 4 GiB, so a 1 GiB chunk is accepted and spills to disk).
  const red = await EmbeddedNodeRed.start({ userDir, flows: flowsFor(kind), logLevel: 'error' });
  if (kind === 'aiware') await waitReady(`${red.url}/readyz`);
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
