// The node types a Node-RED module provides, read without loading it (nothing of it runs): its
// package.json's `node-red.nodes` files, and the types each registers with a literal name. From an
// installed folder, or from a local tarball (an npm pack: gzip'd tar), read in memory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { REGISTER_TYPE } from './core-nodes';

export interface ModuleTypes {
  /** The package's name and version, as its package.json says. */
  name?: string;
  version?: string;
  /** Node types registered with a literal name. */
  types: string[];
  /** False when some node file registers a type whose name is not literal (or is missing): `types` may be short. */
  complete: boolean;
  /** Why the package provides no nodes, said of the package ("is not a Node-RED node module"); `name` unset when it could not be read at all. */
  problem?: string;
}

interface PackageJson {
  name?: string;
  version?: string;
  'node-red'?: { nodes?: Record<string, string> };
}

/** Reads files of one package: by path relative to its root, or undefined when absent. */
type Reader = (file: string) => string | undefined;

function typesOf(read: Reader): ModuleTypes {
  let pkg: PackageJson;
  try {
    const text = read('package.json');
    if (text === undefined) return { types: [], complete: false, problem: 'has no package.json' };
    pkg = JSON.parse(text) as PackageJson;
  } catch (err) {
    return { types: [], complete: false, problem: `has a package.json that is not JSON: ${(err as Error).message}` };
  }
  const nodes = pkg['node-red']?.nodes;
  const about = { name: pkg.name, version: pkg.version };
  if (!nodes || typeof nodes !== 'object' || Object.keys(nodes).length === 0) {
    return { ...about, types: [], complete: true, problem: 'is not a Node-RED node module (its package.json has no "node-red"."nodes")' };
  }
  const types = new Set<string>();
  let complete = true;
  for (const file of Object.values(nodes)) {
    const source = typeof file === 'string' ? read(path.posix.normalize(file.replace(/\\/g, '/'))) : undefined;
    const found = source === undefined ? [] : [...source.matchAll(REGISTER_TYPE)].map((m) => m[1]);
    if (found.length === 0) complete = false;
    for (const type of found) types.add(type);
  }
  return { ...about, types: [...types].sort(), complete };
}

/** The types of the package installed in `dir` (its folder, holding package.json). */
export function folderModuleTypes(dir: string): ModuleTypes {
  return typesOf((file) => {
    const full = path.resolve(dir, file);
    if (!full.startsWith(path.resolve(dir) + path.sep)) return undefined;
    try {
      return fs.readFileSync(full, 'utf8');
    } catch {
      return undefined;
    }
  });
}

// An npm tarball is small; a bigger one is not read into memory.
const MAX_TARBALL_BYTES = 64 * 1024 * 1024;

/** The types of the package in a local tarball (as `npm pack` makes it). */
export function tarballModuleTypes(file: string): ModuleTypes {
  let entries: Map<string, Buffer>;
  try {
    const stat = fs.statSync(file);
    if (stat.size > MAX_TARBALL_BYTES) return { types: [], complete: false, problem: `is over ${MAX_TARBALL_BYTES / 1024 / 1024} MiB: not read` };
    const raw = fs.readFileSync(file);
    entries = tarEntries(raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw);
  } catch (err) {
    return { types: [], complete: false, problem: `cannot be read as a tarball: ${(err as Error).message}` };
  }
  return typesOf((name) => entries.get(name)?.toString('utf8'));
}

/**
 * The regular files of a tar archive by path, without its first folder (`package/` in npm's
 * tarballs). Reads ustar headers and the pax `path` records npm writes for long names.
 */
export function tarEntries(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, length: number): string =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw new Error(`a bad entry size at byte ${offset}`);
    const kind = field(156, 1);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    const prefix = field(257, 6).startsWith('ustar') ? field(345, 155) : '';
    const name = paxPath ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    paxPath = undefined;
    if (kind === 'x') paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
    else if (kind === '0' || kind === '' || kind === '7') files.set(name.split('/').slice(1).join('/'), Buffer.from(body));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}
