// A build runtime checked before it is deployed (`aiware-sim check`), with the runner's own code
// and without starting Node-RED or touching the network: the file read by the runner's loader, its
// settings, its node types (the pack's, Node-RED's core ones, its modules'), its modules as the
// runner resolves them, the aiware-process-in that will serve /process, the manifest beside it, and
// no secret in clear. Every problem is a value that names the node (id, name, type) or the place.
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { NODE_TYPES } from '@aiware-nodered/node-red-aiware/dist/nodes/shared/types';
import { DEFAULT_PROCESS_PATH, DEFAULT_READY_PATH } from '@aiware-nodered/node-red-aiware';
import { readRuntimeFile, RuntimeFileError, typesUsed, type BuildRuntime } from './runtime-file';
import { STRUCTURAL_TYPES, type FlowConfig } from './embedded';
import { editDistance, settingsProblems } from './build-settings';
import { coreNodeFiles } from './core-nodes';
import { installedModuleSet, resolveModule } from './modules';
import { folderModuleTypes, tarballModuleTypes, type ModuleTypes } from './module-types';
import { processRoute } from './process-ins';
import { readManifest } from './manifest';
import { secretsInClear } from './secrets';

export type CheckKind = 'file' | 'settings' | 'type' | 'module' | 'process-in' | 'readiness' | 'manifest' | 'credentials';

export interface CheckedNode {
  id: string;
  name?: string;
  type?: string;
}

export interface CheckProblem {
  /** An error fails the check; a warning is what the check could not make sure of, or work that goes nowhere. */
  severity: 'error' | 'warning';
  kind: CheckKind;
  /** Which rule, within the kind (stable, for scripts): e.g. `unknown-type`, `duplicate`, `in-clear`. */
  code: string;
  /** The node it is about. */
  node?: CheckedNode;
  /** The place in the file (or the manifest) when no node is: `settings.userDir`, `modules.x`, `manifest.runtime`. */
  where?: string;
  message: string;
}

export interface CheckOptions {
  /** The manifest: a file, `false` for none; by default manifest.json beside the runtime file, when there. */
  manifest?: string | false;
  /** The path of VERITONE_WEBHOOK_PROCESS and VERITONE_WEBHOOK_READY the runner will be given. */
  processPath?: string;
  readyPath?: string;
  /** AIWARE_AUTOMATE_SHARE_FOLDER: where an installed module set is looked for (to read its node types). */
  shareFolder?: string;
}

export interface CheckReport {
  file: string;
  /** The manifest read, if any. */
  manifest?: string;
  problems: CheckProblem[];
  /** False when the file itself could not be read as a build runtime (the one problem says why). */
  read: boolean;
  /** Nodes in the flows, the node types they use, the modules named. */
  nodes: number;
  types: string[];
  modules: string[];
}

/** Checks a build runtime file; resolves with its problems (none: the runner will take it as it is). */
export async function checkRuntime(file: string, options: CheckOptions = {}): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  const manifestFile = options.manifest === false ? undefined : (options.manifest ?? besideManifest(file));
  const report = (runtime?: BuildRuntime): CheckReport => ({
    file,
    manifest: manifestFile,
    problems,
    read: runtime !== undefined,
    nodes: runtime?.flows.length ?? 0,
    types: runtime ? typesUsed(runtime.flows) : [],
    modules: Object.keys(runtime?.modules ?? {}),
  });
  const manifest = manifestFile === undefined ? undefined : readManifest(manifestFile);
  const manifestProblems = (): void => {
    for (const p of manifest?.problems ?? []) problems.push({ severity: 'error', kind: 'manifest', code: p.where === 'manifest' ? 'file' : 'field', where: p.where, message: p.message });
  };

  let runtime: BuildRuntime;
  try {
    runtime = readRuntimeFile(file);
  } catch (err) {
    if (!(err instanceof RuntimeFileError)) throw err;
    problems.push({ severity: 'error', kind: 'file', code: err.code, message: err.problem });
    manifestProblems();
    return report();
  }
  const nodes = new Map(runtime.flows.map((n) => [n.id as string, n]));
  const named = (id: string): CheckedNode => {
    const node = nodes.get(id);
    return node ? describe(node) : { id };
  };

  for (const p of settingsProblems(runtime.settings, typesUsed(runtime.flows))) problems.push({ severity: 'error', kind: 'settings', code: p.code, where: p.where, message: p.message });

  const modules = await checkModules(runtime, file, options.shareFolder, problems);
  checkTypes(runtime, modules, problems);
  functionModules(runtime, problems);

  const route = processRoute(runtime.flows, options.processPath ?? DEFAULT_PROCESS_PATH);
  for (const f of route.findings) {
    problems.push({ severity: f.code === 'extra' ? 'warning' : 'error', kind: 'process-in', code: f.code, node: f.node && describe(f.node), message: f.message });
  }
  const chosen = route.chosen;
  const readyPath = options.readyPath ?? DEFAULT_READY_PATH;
  if (chosen && chosen.readyPath !== readyPath) {
    problems.push({
      severity: 'warning',
      kind: 'readiness',
      code: 'ready-path',
      node: describe(chosen.node),
      message: `answers readiness on GET ${chosen.readyPath}, but Engine Toolkit polls ${readyPath} (VERITONE_WEBHOOK_READY): the runner answers that itself, a plain Node-RED would not`,
    });
  }

  manifestProblems();
  const m = manifest?.manifest;
  if (m && chosen) {
    if (m.engineType !== undefined && m.engineType !== chosen.engineType) {
      problems.push({
        severity: 'error',
        kind: 'manifest',
        code: 'engine-type',
        node: describe(chosen.node),
        message: `is a ${chosen.engineType} engine (engineType) but the manifest's ${m.engineTypeField} is ${m.engineType}: aiWARE would send it ${m.engineType} work`,
      });
    }
    if (m.respond !== undefined && chosen.engineType === 'chunk' && m.respond !== chosen.respond) {
      problems.push({ severity: 'error', kind: 'manifest', code: 'respond', node: describe(chosen.node), message: `answers ${chosen.respond} (respond) but the manifest's respond is ${m.respond}` });
    }
  }

  for (const s of secretsInClear(runtime)) {
    const node = s.nodeId === undefined ? undefined : named(s.nodeId);
    const unknownNode = s.nodeId !== undefined && !nodes.has(s.nodeId) ? ' (no node of the flows has this id)' : '';
    const { code, message } = {
      module: { code: 'module-login', message: 'the spec carries a login (user:password@ or a token): give npm its credentials in its own configuration, not in the build' },
      'encrypted-form': { code: 'encrypted-form', message: "is not Node-RED's encrypted form (32 hex digits, then base64): the runner could not decrypt it" },
      credentials: {
        code: 'plain-credentials',
        message: `credentials in clear: ${s.keys.join(', ')}${unknownNode}: give them encrypted, as Node-RED writes them with a credentialSecret ({"$": "..."}), which the runner decrypts with RUNNER_CREDENTIAL_SECRET`,
      },
      property: {
        code: 'secret-property',
        message: `${s.keys.length === 1 ? 'a secret' : 'secrets'} in clear: ${s.keys.join(', ')}: ${
          node ? 'use a credential property, an env entry of type credential, or an environment variable (${NAME})' : 'keep it out of the file: an environment variable the flow reads (env.get)'
        }`,
      },
    }[s.code];
    problems.push({ severity: 'error', kind: 'credentials', code, node, where: node ? undefined : s.where, message });
  }
  return report(runtime);
}

/** The node as problems name it. */
export function describe(node: FlowConfig[number]): CheckedNode {
  const name = typeof node.name === 'string' && node.name !== '' ? node.name : typeof node.label === 'string' && node.label !== '' ? node.label : undefined;
  return { id: node.id as string, ...(name === undefined ? {} : { name }), type: node.type as string };
}

function besideManifest(file: string): string | undefined {
  const candidate = path.join(path.dirname(path.resolve(file)), 'manifest.json');
  return fs.existsSync(candidate) ? candidate : undefined;
}

interface ModuleCheck {
  name: string;
  /** A local tarball's (read already), or the registry's. */
  local: boolean;
  /** What it provides, when the check could read it. */
  types?: ModuleTypes;
  /** Where the types were read, or why they could not be. */
  seen: string;
}

interface Semver {
  validRange(range: string): string | null;
  satisfies(version: string, range: string): boolean;
}

/** Node-RED's own semver (the runner depends on node-red, not on semver). */
function nodeRedSemver(): Semver | undefined {
  try {
    const nodeRed = path.dirname(require.resolve('node-red/package.json'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(require.resolve('semver', { paths: [nodeRed] })) as Semver;
  } catch {
    return undefined;
  }
}

// A spec npm takes from elsewhere than the registry's versions: a URL, a git host, an alias, `user/repo`.
const ELSEWHERE = /^(?:[a-z][a-z0-9+.-]*:|[^@\s/]+\/[^@\s/]+$)/i;

/**
 * Each module as the runner resolves it (the same function), with no npm and no network: the name,
 * the spec (a version or range, or a local tarball that exists), and where the check can see its
 * node types: the tarball, the installed set in the share folder, or node_modules beside the file.
 */
async function checkModules(runtime: BuildRuntime, file: string, shareFolder: string | undefined, problems: CheckProblem[]): Promise<ModuleCheck[]> {
  const modules = runtime.modules ?? {};
  const baseDir = path.dirname(path.resolve(file));
  const semver = nodeRedSemver();
  const checks: ModuleCheck[] = [];
  let resolvable = true;
  const problem = (severity: CheckProblem['severity'], code: string, name: string, message: string): void => {
    problems.push({ severity, kind: 'module', code, where: `modules.${name}`, message });
  };
  for (const [name, spec] of Object.entries(modules)) {
    const resolution = await resolveModule(name, spec, baseDir);
    if (resolution.refused) {
      resolvable = false;
      const why = resolution.refused.why;
      problem('error', resolution.refused.reason, name, why.startsWith(`${name}: `) ? why.slice(name.length + 2) : why);
      continue;
    }
    const module = resolution.module;
    if (module.tarball) {
      const types = tarballModuleTypes(module.tarball);
      const readable = types.name !== undefined || types.problem === undefined;
      if (!readable) problem('error', 'tarball', name, `the tarball ${module.tarball} ${types.problem}`);
      else if (types.problem) problem('warning', 'not-node-module', name, `the tarball ${module.tarball} ${types.problem}: Node-RED loads nothing from it`);
      checks.push({ name, local: true, types: readable ? types : undefined, seen: `the tarball ${module.tarball}` });
      continue;
    }
    if (semver?.validRange(module.install) === null) {
      if (ELSEWHERE.test(module.install))
        problem('warning', 'unchecked', name, `${module.shown} is not a version or range: npm fetches it at the first start, and the check cannot look at it without the network`);
      else
        problem(
          'error',
          'spec',
          name,
          `"${module.install}" is not a version, a range or a tarball path: pin a version (e.g. 1.2.3 or ^1.2.0); a tag like "latest" stays whatever the first engine installed`,
        );
    }
    checks.push({ name, local: false, seen: 'not installed where the check looks' });
  }
  if (checks.length === 0) return checks;

  // Registry modules: the installed set in the share folder, else node_modules beside the file.
  const setDir = resolvable && shareFolder ? await installedModuleSet(modules, shareFolder, baseDir) : undefined;
  for (const check of checks.filter((c) => !c.local)) {
    const dir = setDir ? path.join(setDir, 'node_modules', check.name) : nodeModulesFolder(check.name, baseDir);
    if (!dir) continue;
    const types = folderModuleTypes(dir);
    const range = modules[check.name];
    if (!setDir && types.version !== undefined && semver?.validRange(range) && !semver.satisfies(types.version, range)) {
      check.seen = `${dir} holds ${types.version}, not ${range}`;
      continue;
    }
    if (types.problem) problem('warning', 'not-node-module', check.name, `${dir} ${types.problem}: Node-RED loads nothing from it`);
    check.types = types;
    check.seen = dir;
  }
  return checks;
}

/** `<dir>/node_modules/<name>` in `from` or a folder above it, as Node's resolution would find it. */
function nodeModulesFolder(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Every node's type is Node-RED's (core), the pack's, a subflow of the file, or a named module's. */
function checkTypes(runtime: BuildRuntime, modules: ModuleCheck[], problems: CheckProblem[]): void {
  const flows = runtime.flows;
  // Core node files the build's own nodesExcludes leaves out are not loaded, nor their types.
  const excluded = new Set(Array.isArray(runtime.settings?.nodesExcludes) ? (runtime.settings.nodesExcludes as unknown[]) : []);
  const core = [...coreNodeFiles()].filter(([file]) => !excluded.has(file)).flatMap(([, types]) => types);
  const available = new Set<string>([...core, ...Object.values(NODE_TYPES), ...flows.filter((n) => n.type === 'subflow').map((n) => `subflow:${n.id as string}`)]);
  for (const m of modules) for (const type of m.types?.types ?? []) available.add(type);
  const unseen = modules.filter((m) => !m.types?.complete);
  for (const node of flows) {
    const type = node.type as string;
    if (STRUCTURAL_TYPES.has(type) || available.has(type)) continue;
    if (type.startsWith('subflow:')) {
      problems.push({
        severity: 'error',
        kind: 'type',
        code: 'unknown-subflow',
        node: describe(node),
        message: `is an instance of subflow ${type.slice('subflow:'.length)}, which the file does not define`,
      });
    } else if (unseen.length > 0) {
      problems.push({
        severity: 'warning',
        kind: 'type',
        code: 'unverified-type',
        node: describe(node),
        message: `node type "${type}" is not the pack's or Node-RED's; the check cannot tell whether ${unseen.map((m) => `${m.name} (${m.seen})`).join(', ')} provides it: give --share-folder, or install the modules beside the file`,
      });
    } else {
      const near = nearType(type, available);
      const from = modules.length > 0 ? `, nor registered by ${modules.map((m) => m.name).join(', ')}` : '';
      problems.push({
        severity: 'error',
        kind: 'type',
        code: 'unknown-type',
        node: describe(node),
        message: `node type "${type}" is not available: not the pack's, not Node-RED's core${from}${near ? ` (did you mean "${near}"?)` : ''}: name the module that provides it in "modules"`,
      });
    }
  }
}

/** A known type within two edits, or one that differs only in case and separators. */
function nearType(type: string, available: Set<string>): string | undefined {
  const plain = (t: string) => t.toLowerCase().replace(/[\s_-]+/g, '');
  let best: { type: string; distance: number } | undefined;
  for (const candidate of available) {
    if (candidate.startsWith('subflow:')) continue;
    const distance = plain(candidate) === plain(type) ? 0 : editDistance(type.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { type: candidate, distance };
  }
  return best?.type;
}

/**
 * A function node's npm modules (its Setup tab, `libs`) are not the build's `modules`: Node-RED
 * installs them with npm into the engine's work folder when the flows start, on every start and
 * host, with the network; a build that turns functionExternalModules off stops the node.
 */
function functionModules(runtime: BuildRuntime, problems: CheckProblem[]): void {
  const allowed = runtime.settings?.functionExternalModules !== false;
  for (const node of runtime.flows) {
    if (node.type !== 'function' || !Array.isArray(node.libs)) continue;
    const libs = (node.libs as { module?: unknown }[]).map((l) => l?.module).filter((m): m is string => typeof m === 'string' && m !== '' && !m.startsWith('node:') && !BUILTINS.has(m));
    if (libs.length === 0) continue;
    if (!allowed) {
      problems.push({
        severity: 'error',
        kind: 'module',
        code: 'function-modules-off',
        node: describe(node),
        message: `requires ${libs.join(', ')} (its Setup tab) but settings.functionExternalModules is false: the node will not start`,
      });
    } else {
      problems.push({
        severity: 'warning',
        kind: 'module',
        code: 'function-module',
        node: describe(node),
        message: `requires ${libs.join(', ')} (its Setup tab): Node-RED installs ${libs.length === 1 ? 'it' : 'them'} with npm into the engine's work folder at every start, which needs the network there`,
      });
    }
  }
}

const BUILTINS = new Set<string>(builtinModules);
