// The build runtime file named by AIWARE_BUILD_RUNTIME: a Node-RED flow export (an array of
// nodes), or an object {flows, credentials?, modules?, settings?}. Read and checked by shape
// before anything starts; every problem is one error naming the file.
import * as fs from 'node:fs';
import { STRUCTURAL_TYPES, type FlowConfig } from './embedded';

export interface BuildRuntime {
  flows: FlowConfig;
  /** Plain `{nodeId: {...}}`, or encrypted as Node-RED writes them: `{"$": "..."}`. */
  credentials?: Record<string, unknown>;
  /** Extra node packages: name → version, or a path to a local tarball. */
  modules?: Record<string, string>;
  /** Node-RED settings merged under the runner's own. */
  settings?: Record<string, unknown>;
}

/**
 * Which part of the build was found wrong: `missing` or `unreadable` file, `json` syntax, `shape`
 * (not a flow export or {flows, ...}; a node id used twice), `start` (found once Node-RED ran it).
 */
export type RuntimeFileCode = 'missing' | 'unreadable' | 'json' | 'shape' | 'start';

export class RuntimeFileError extends Error {
  readonly missingTypes?: string[];
  readonly code: RuntimeFileCode;

  constructor(
    readonly file: string,
    readonly problem: string,
    details: { missingTypes?: string[]; code?: RuntimeFileCode } = {},
  ) {
    super(`build runtime ${file}: ${problem}`);
    this.name = 'RuntimeFileError';
    this.missingTypes = details.missingTypes;
    this.code = details.code ?? 'start';
  }
}

export function readRuntimeFile(file: string): BuildRuntime {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RuntimeFileError(file, 'the file does not exist', { code: 'missing' });
    throw new RuntimeFileError(file, `cannot be read: ${(err as Error).message}`, { code: 'unreadable' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RuntimeFileError(file, `is not JSON: ${(err as Error).message}`, { code: 'json' });
  }
  const problem = shapeProblem(json);
  if (problem !== undefined) throw new RuntimeFileError(file, problem, { code: 'shape' });
  const runtime: BuildRuntime = Array.isArray(json) ? { flows: json as FlowConfig } : (json as BuildRuntime);
  const ids = new Set<string>();
  for (const node of runtime.flows) {
    if (ids.has(node.id as string)) throw new RuntimeFileError(file, `node id ${JSON.stringify(node.id)} is used twice`, { code: 'shape' });
    ids.add(node.id as string);
  }
  return runtime;
}

/**
 * What is wrong with the file's shape, said as an engine developer needs it, or undefined when it
 * is a flow export (an array of nodes, each with an `id` and a `type` string) or an object
 * {flows, credentials?, modules?, settings?}. A typed guard, not a JSON schema: compiling one
 * with ajv cost the runner's start-up about 50 ms.
 */
function shapeProblem(json: unknown): string | undefined {
  const shape = 'must be a Node-RED flow export (an array of nodes) or an object {flows, credentials?, modules?, settings?}';
  if (json === null || typeof json !== 'object') return shape;
  if (Array.isArray(json)) return badFlows(json, 'the flow export');
  const object = json as Record<string, unknown>;
  const unknown = Object.keys(object).filter((k) => !['flows', 'credentials', 'modules', 'settings'].includes(k));
  if (unknown.length) return `unknown top-level ${unknown.length > 1 ? 'properties' : 'property'} ${unknown.join(', ')}: ${shape}`;
  if (!Array.isArray(object.flows)) return '"flows" must be an array of nodes';
  const flows = badFlows(object.flows, '"flows"');
  if (flows) return flows;
  for (const name of ['credentials', 'settings'] as const) {
    if (object[name] !== undefined && (object[name] === null || typeof object[name] !== 'object' || Array.isArray(object[name]))) return `"${name}" must be an object`;
  }
  const modules = object.modules;
  if (modules !== undefined) {
    if (modules === null || typeof modules !== 'object' || Array.isArray(modules)) return '"modules" must be an object of package name → version';
    for (const [name, spec] of Object.entries(modules)) if (typeof spec !== 'string' || spec === '') return `"modules"."${name}" must be a version or a tarball path`;
  }
  return undefined;
}

function badFlows(flows: unknown[], where: string): string | undefined {
  for (let i = 0; i < flows.length; i++) {
    const node = flows[i] as Record<string, unknown> | null;
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return `${where}[${i}] is not a node object`;
    for (const key of ['id', 'type']) {
      if (typeof node[key] !== 'string' || node[key] === '') return `${where}[${i}] has no "${key}" string`;
    }
  }
  return undefined;
}

/** Node types the flows use (a subflow instance's type is `subflow:<id>`, defined in the flows). */
export function typesUsed(flows: FlowConfig): string[] {
  const subflows = new Set(flows.filter((n) => n.type === 'subflow').map((n) => `subflow:${n.id as string}`));
  return [...new Set(flows.map((n) => n.type as string))].filter((t) => !STRUCTURAL_TYPES.has(t) && !subflows.has(t)).sort();
}
