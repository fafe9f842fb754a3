// Node-RED's core node files a build's flows do not use, for its `nodesExcludes` setting. Node-RED
// loads every core node at start (the JSON node compiles an ajv schema, http request loads got,
// html loads cheerio, mqtt its client...); a runner serving one fixed build with the editor off
// needs only the types its flows name, and starts that much sooner.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Always loaded, whatever the flows: Node-RED's own stand-ins and helpers, and cheap. */
const KEEP = new Set(['05-junction.js', '91-global-config.js', '98-unknown.js']);

/** A node type registered with a literal name, as a node file's source says it. */
export const REGISTER_TYPE = /registerType\(\s*["'`]([^"'`]+)["'`]/g;

/** The folder of @node-red/nodes' core nodes, found from node-red's own package. */
function coreNodesDir(): string | undefined {
  try {
    const nodeRed = path.dirname(require.resolve('node-red/package.json'));
    return path.join(path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [nodeRed] })), 'core');
  } catch {
    return undefined;
  }
}

/** Each core node file (`10-function.js`) with the types it registers, as its source names them. */
export function coreNodeFiles(dir = coreNodesDir()): Map<string, string[]> {
  const files = new Map<string, string[]>();
  if (dir === undefined) return files;
  for (const category of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!category.isDirectory()) continue;
    for (const entry of fs.readdirSync(path.join(dir, category.name), { withFileTypes: true })) {
      if (!entry.isFile() || !/\.c?js$/.test(entry.name)) continue;
      const source = fs.readFileSync(path.join(dir, category.name, entry.name), 'utf8');
      files.set(
        entry.name,
        [...source.matchAll(REGISTER_TYPE)].map((m) => m[1]),
      );
    }
  }
  return files;
}

/**
 * The core node files to leave out: those whose every type is known (named literally in the
 * source) and unused by `types`. A file whose types cannot be read from its source stays.
 */
export function unusedCoreNodeFiles(types: Iterable<string>, files = coreNodeFiles()): string[] {
  const used = new Set(types);
  const unused: string[] = [];
  for (const [file, registered] of files) {
    if (KEEP.has(file) || registered.length === 0 || registered.some((type) => used.has(type))) continue;
    unused.push(file);
  }
  return unused.sort();
}
