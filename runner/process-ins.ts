// Which aiware-process-in of a build will serve Engine Toolkit's /process, read from the flows
// alone: the rule the runner applies once they run (runner.ts chooseProcessRoute, with the routes
// the nodes claim), so `aiware-sim check` can say beforehand what the runner would refuse.
import { DEFAULT_PROCESS_PATH, DEFAULT_READY_PATH, ENGINE_TYPES, RESPOND_MODES, routePath, type EngineType, type RespondMode } from '@aiware-nodered/node-red-aiware';
import type { FlowConfig } from './embedded';

export const PROCESS_IN = 'aiware-process-in';

type FlowNode = FlowConfig[number];

/** One aiware-process-in that will run (a node in a subflow runs once per instance). */
export interface ProcessIn {
  node: FlowNode;
  path: string;
  readyPath: string;
  engineType: EngineType;
  respond: RespondMode;
  /** How many copies run: 1, or the instances of the subflow it is in. */
  copies: number;
}

export interface ProcessInFinding {
  code: 'bad-config' | 'duplicate' | 'none' | 'ambiguous' | 'extra';
  node?: FlowNode;
  message: string;
}

export interface ProcessRoute {
  /** The one that gets ET's /process, when there is one. */
  chosen?: ProcessIn;
  findings: ProcessInFinding[];
}

/**
 * How many copies of the nodes with `z` run: a tab's one unless disabled, a subflow's once per
 * enabled instance (of enabled instances' own containers), a node on no tab once (the runner puts
 * it on one).
 */
function copiesIn(flows: FlowConfig, z: unknown, seen = new Set<unknown>()): number {
  if (z === undefined) return 1;
  const container = flows.find((n) => n.id === z);
  if (!container) return 1;
  if (container.type === 'tab') return container.disabled === true ? 0 : 1;
  if (container.type !== 'subflow' || seen.has(z)) return 0;
  seen.add(z);
  const instances = flows.filter((n) => n.type === `subflow:${z as string}` && n.d !== true);
  const copies = instances.reduce((sum, instance) => sum + copiesIn(flows, instance.z, seen), 0);
  seen.delete(z);
  return copies;
}

/** The aiware-process-in nodes that run, with how each serves; nodes whose settings it would refuse are findings. */
export function processIns(flows: FlowConfig): { running: ProcessIn[]; findings: ProcessInFinding[] } {
  const running: ProcessIn[] = [];
  const findings: ProcessInFinding[] = [];
  for (const node of flows) {
    if (node.type !== PROCESS_IN || node.d === true) continue;
    const copies = copiesIn(flows, node.z);
    if (copies === 0) continue;
    // As the node itself: a value it does not know makes it refuse to serve at all.
    const bad = (['engineType', 'respond'] as const).find((key) => {
      const value = node[key];
      const allowed: readonly string[] = key === 'engineType' ? ENGINE_TYPES : RESPOND_MODES;
      return value !== undefined && value !== '' && !allowed.includes(value as string);
    });
    if (bad) {
      const allowed = bad === 'engineType' ? ENGINE_TYPES : RESPOND_MODES;
      findings.push({ code: 'bad-config', node, message: `its ${bad} ${JSON.stringify(node[bad])} is not one of ${allowed.join(', ')}: the node refuses to serve` });
      continue;
    }
    running.push({
      node,
      path: routePath(node.url as string | undefined, DEFAULT_PROCESS_PATH),
      readyPath: routePath(node.readyUrl as string | undefined, DEFAULT_READY_PATH),
      engineType: (node.engineType as EngineType | undefined) || 'chunk',
      respond: (node.respond as RespondMode | undefined) || 'sync',
      copies,
    });
  }
  return { running, findings };
}

/**
 * The runner's rule: ET's path goes to the process-in on that path, else to the build's only one
 * whatever its path. Two on one path: one of them claims it and the other refuses to start (which
 * is which depends on load order). None, or several and none on ET's path: the runner refuses the
 * build. A process-in beside the chosen one gets no work from ET.
 */
export function processRoute(flows: FlowConfig, wanted = DEFAULT_PROCESS_PATH): ProcessRoute {
  const { running, findings } = processIns(flows);
  const byPath = new Map<string, ProcessIn[]>();
  for (const p of running) byPath.set(p.path, [...(byPath.get(p.path) ?? []), p]);
  for (const [path, serving] of byPath) {
    const copies = serving.reduce((sum, p) => sum + p.copies, 0);
    if (copies < 2) continue;
    for (const p of serving) {
      const others = serving.filter((o) => o !== p).map((o) => o.node.id as string);
      const what =
        p.copies > 1 ? `runs ${p.copies} times (once per instance of its subflow), each on POST ${path}` : `serves POST ${path}, as ${others.length === 1 ? 'does' : 'do'} ${others.join(', ')}`;
      findings.push({ code: 'duplicate', node: p.node, message: `${what}: only one can, the other refuses to start (which one depends on load order)` });
    }
  }
  const paths = [...byPath.keys()].sort();
  const chosenPath = byPath.has(wanted) ? wanted : paths.length === 1 ? paths[0] : undefined;
  if (paths.length === 0) {
    const refused = findings.some((f) => f.code === 'bad-config');
    findings.push({
      code: 'none',
      message: `no aiware-process-in ${refused ? 'that can start ' : ''}serves POST ${wanted}: Engine Toolkit's work would reach nothing (the runner refuses such a build)`,
    });
  } else if (chosenPath === undefined) {
    for (const p of running) {
      findings.push({
        code: 'ambiguous',
        node: p.node,
        message: `serves POST ${p.path}; the build has ${paths.length} aiware-process-in paths (${paths.join(', ')}) and none is ${wanted}: give the engine's one the path ${wanted}, or keep only one (the runner refuses the build)`,
      });
    }
  }
  const chosen = chosenPath === undefined ? undefined : byPath.get(chosenPath)?.[0];
  if (chosen) {
    for (const p of running.filter((o) => o.path !== chosenPath)) {
      findings.push({ code: 'extra', node: p.node, message: `serves POST ${p.path}, which Engine Toolkit never calls: its work goes to ${chosen.node.id as string} on ${chosen.path}` });
    }
  }
  return { chosen, findings };
}
