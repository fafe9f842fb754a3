// Node binaries and Node-RED versions from the npm registry, each installed once into a folder of
// its own named by the requested range, and reused by every later run: `node@22` is Node's own
// build published as the package `node`, `node-red@5` a stock Node-RED. An install goes to a
// staging folder that is renamed into place only once it is whole, so an interrupted run leaves
// nothing that looks installed.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository (this file is dist/test/compat/cache.js). */
export const REPO_DIR = path.resolve(__dirname, '..', '..', '..');

/** Longest a registry install may take before the run gives up on it. */
const INSTALL_TIMEOUT_MS = 10 * 60_000;

export type CachedName = 'node' | 'node-red';

export interface CachedPackage {
  name: CachedName;
  range: string;
  /** The version npm installed for the range. */
  version: string;
  dir: string;
  /** Installed by this run (false: found in the cache). */
  installed: boolean;
  /** How long finding or installing it took. */
  ms: number;
}

interface Marker {
  name: CachedName;
  range: string;
  version: string;
  at: string;
}

/** Where installs are kept: AIWARE_COMPAT_CACHE, else node_modules/.cache/aiware-compat (which `npm ci` empties). */
export function cacheRoot(): string {
  return process.env.AIWARE_COMPAT_CACHE || path.join(REPO_DIR, 'node_modules', '.cache', 'aiware-compat');
}

/** The `node` binary of a cached `node@range`. */
export const nodeBinary = (node: CachedPackage): string => path.join(node.dir, 'node_modules', '.bin', 'node');

/** `red.js`, the `node-red` command, of a cached `node-red@range`. */
export const nodeRedMain = (nodeRed: CachedPackage): string => path.join(nodeRed.dir, 'node_modules', 'node-red', 'red.js');

const pending = new Map<string, Promise<CachedPackage>>();

/** `name@range` from the cache, installed first when it is not there; one install per folder at a time in this process. */
export function cached(name: CachedName, range: string): Promise<CachedPackage> {
  const dir = path.join(cacheRoot(), `${name}-${range}`);
  let install = pending.get(dir);
  if (!install) {
    install = fromCacheOrRegistry(name, range, dir);
    pending.set(dir, install);
  }
  return install;
}

async function fromCacheOrRegistry(name: CachedName, range: string, dir: string): Promise<CachedPackage> {
  const started = Date.now();
  const found = readMarker(dir);
  if (found) return { name, range, version: found.version, dir, installed: false, ms: Date.now() - started };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const staging = fs.mkdtempSync(`${dir}.staging-`);
  try {
    const manifest = {
      name: `aiware-compat-${name}-${range}`,
      private: true,
      dependencies: { [name]: range },
      // The `node` package puts its binary in place from a preinstall script.
      allowScripts: { node: true },
    };
    fs.writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await npm(staging, ['install', '--omit=dev', '--no-audit', '--no-fund']);
    const version = (JSON.parse(fs.readFileSync(path.join(staging, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    if (name === 'node') {
      // The package is only a wrapper: the binary it fetched must run and be the version it names.
      const { stdout } = await run(path.join(staging, 'node_modules', '.bin', 'node'), ['--version']);
      if (stdout.trim() !== `v${version}`) throw new Error(`node@${range}: the installed binary says ${stdout.trim()}, the package ${version}`);
    }
    const marker: Marker = { name, range, version, at: new Date().toISOString() };
    fs.writeFileSync(path.join(staging, 'installed.json'), `${JSON.stringify(marker, null, 2)}\n`);
    try {
      fs.renameSync(staging, dir);
    } catch (err) {
      // Another run put a whole install there first: use that one.
      if (!readMarker(dir)) throw err;
    }
    return { name, range, version: readMarker(dir)!.version, dir, installed: true, ms: Date.now() - started };
  } catch (err) {
    throw new Error(`could not install ${name}@${range} into ${dir}: ${(err as Error).message}`);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function readMarker(dir: string): Marker | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'installed.json'), 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

/** The system's npm in `cwd`; `pathFirst` puts a folder (a cached Node's) first on PATH, so npm runs on that Node. */
export async function npm(cwd: string, args: string[], pathFirst?: string): Promise<void> {
  const env = { ...process.env, PATH: pathFirst ? `${pathFirst}${path.delimiter}${process.env.PATH ?? ''}` : process.env.PATH };
  try {
    await run('npm', args, { cwd, env, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const { stderr, message } = err as { stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} in ${cwd} failed: ${stderr?.trim().split('\n').slice(-15).join('\n') || message}`);
  }
}
