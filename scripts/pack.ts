// Packs the packages as they are published and as the image installs them:
//   node dist/scripts/pack.js <destination> [pack] [runner] [simulator]
// Each is packed from a copy of the files it publishes, with its manifest made for the registry:
// - no `scripts`: each of them builds, tests or runs from the repository (`prepare` would even
//   build on an install from a folder or git); a published tarball runs nothing. No `workspaces`
//   either: the folders the pack names are packages of their own;
// - the pack named by version: in the repository the runner and the simulator name it `file:..`,
//   the only way npm links the workspace root;
// - the simulator bundles the pack and the runner, as packed here, so that its tarball installs
//   on its own, in an engine author's repository as in CI (neither is on the registry, and once
//   they are, the simulator still runs the ones it was tested with). npm installs no dependency
//   of a bundled package, so theirs are named as the simulator's own: npm puts them at the top of
//   node_modules, where Node finds them from the bundled folders.
// Prints a JSON array: for each package, its name, tarball path, packed files and bundled packages.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const FOLDERS = { pack: '.', runner: 'runner', simulator: 'simulator' } as const;
type PackageKey = keyof typeof FOLDERS;

/** What a package's tarball carries of the others. */
const BUNDLES: Partial<Record<PackageKey, PackageKey[]>> = { simulator: ['pack', 'runner'] };

interface Manifest {
  name: string;
  version: string;
  scripts?: Record<string, string>;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  bundleDependencies?: string[];
}

export interface PackedPackage {
  key: PackageKey;
  name: string;
  tarball: string;
  /** Its own files, as npm lists them. */
  files: string[];
  /** The packages its tarball carries in its node_modules. */
  bundled: string[];
}

interface NpmPackResult {
  filename: string;
  files: { path: string }[];
  bundled: string[];
}

const readManifest = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;

function npmPack(dir: string, destination: string | undefined): NpmPackResult {
  const where = destination === undefined ? ['--dry-run'] : ['--pack-destination', destination];
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', ...where], { cwd: dir, encoding: 'utf8' });
  return (JSON.parse(out) as NpmPackResult[])[0];
}

/** The manifest as published: no scripts, the pack by version, the bundled packages' dependencies its own. */
function publishedManifest(manifest: Manifest, bundled: Manifest[]): Manifest {
  const pack = readManifest(ROOT);
  const published = { ...manifest };
  delete published.scripts;
  delete published.workspaces;
  const dependencies = { ...manifest.dependencies };
  for (const [name, spec] of Object.entries(dependencies)) {
    if (!spec.startsWith('file:')) continue;
    if (name !== pack.name) throw new Error(`${manifest.name}: ${name}@${spec} is not the pack; only the pack may be named by path`);
    dependencies[name] = `^${pack.version}`;
  }
  const names = new Set(bundled.map((b) => b.name));
  for (const inner of bundled) {
    dependencies[inner.name] = inner.version;
    for (const [name, spec] of Object.entries(inner.dependencies ?? {})) {
      if (names.has(name)) continue;
      const own = manifest.dependencies?.[name];
      if (own !== undefined && own !== spec) throw new Error(`${manifest.name} needs ${name}@${own} and bundles ${inner.name}, which needs ${name}@${spec}: make them agree`);
      dependencies[name] = spec;
    }
  }
  return { ...published, dependencies, ...(bundled.length > 0 ? { bundleDependencies: [...names] } : {}) };
}

export function packPackage(key: PackageKey, destination: string): PackedPackage {
  const dir = path.join(ROOT, FOLDERS[key]);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), `aiware-pack-${key}-`));
  try {
    // Exactly the files npm would pack from the folder ("files", README, LICENSE)…
    for (const { path: file } of npmPack(dir, undefined).files) {
      fs.mkdirSync(path.dirname(path.join(staging, file)), { recursive: true });
      fs.copyFileSync(path.join(dir, file), path.join(staging, file));
    }
    if (!fs.existsSync(path.join(staging, 'LICENSE'))) fs.copyFileSync(path.join(ROOT, 'LICENSE'), path.join(staging, 'LICENSE'));
    // …the bundled packages as their own tarballs hold them…
    const bundled = (BUNDLES[key] ?? []).map((inner) => {
      const packed = packPackage(inner, staging);
      const into = path.join(staging, 'node_modules', packed.name);
      fs.mkdirSync(into, { recursive: true });
      execFileSync('tar', ['-xzf', packed.tarball, '-C', into, '--strip-components=1']);
      fs.rmSync(packed.tarball);
      return readManifest(into);
    });
    // …and the manifest for the registry.
    const manifest = publishedManifest(readManifest(dir), bundled);
    fs.writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const result = npmPack(staging, destination);
    return { key, name: manifest.name, tarball: path.join(destination, path.basename(result.filename)), files: result.files.map((f) => f.path), bundled: result.bundled };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [destination, ...keys] = process.argv.slice(2);
  const chosen = (keys.length > 0 ? keys : Object.keys(FOLDERS)) as PackageKey[];
  if (!destination || chosen.some((k) => !(k in FOLDERS))) {
    console.error('usage: node dist/scripts/pack.js <destination> [pack] [runner] [simulator]');
    process.exit(2);
  }
  fs.mkdirSync(destination, { recursive: true });
  console.log(JSON.stringify(chosen.map((key) => packPackage(key, path.resolve(destination)))));
}
