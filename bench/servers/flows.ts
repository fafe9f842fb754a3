// The bench's two Node-RED flows, shared by the stock Node-RED servers (../stock-nodered: each
// its flows.json), servers/embedded.ts and the runner (its AIWARE_BUILD_RUNTIME file), and the
// nodes they are made of (../soak builds its flow from them too):
//   httpin  - core `http in` (POST, upload on: multer) -> function -> `http response`
//   aiware  - aiware-process-in (chunk, sync) -> function -> aiware-result-out
// Both serve POST /process with the same function-node work (./work). The aiware flow also has
// POST /ignore, whose function sets msg.ignoreChunk (204), for the big-chunk memory run.
import type { FlowConfig } from '@aiware-nodered/node-red-runner';
import { AIWARE_FUNCTION, HTTPIN_FUNCTION, IGNORE_FUNCTION } from './work';

export type Kind = 'httpin' | 'aiware';

export function fn(id: string, func: string, next: string): Record<string, unknown> {
  return { id, z: 'tab', type: 'function', name: id, func, outputs: 1, noerr: 0, initialize: '', finalize: '', libs: [], wires: [[next]] };
}

function processIn(id: string, url: string, readyUrl: string, next: string): Record<string, unknown> {
  return { id, z: 'tab', type: 'aiware-process-in', url, readyUrl, engineType: 'chunk', respond: 'sync', wires: [[next]] };
}

export function resultOut(id: string): Record<string, unknown> {
  // validate on: checking every output against the VTN schemas is part of what the node costs.
  return { id, z: 'tab', type: 'aiware-result-out', property: 'payload', completes: 'default', validate: true, wires: [] };
}

// Node-RED tells flow nodes from config nodes by their x/y: without them every node here would
// be taken for a config node and the flow would not start.
export function placed(nodes: FlowConfig): FlowConfig {
  return nodes.map((node, i) => (node.type === 'tab' ? node : { x: 150 * i, y: 100, ...node }));
}

export function flowsFor(kind: Kind): FlowConfig {
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
