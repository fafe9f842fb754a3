// Packs the packages as they are published and as the image installs them:
//   node dist/scripts/pack.js <destination> [pack] [runner] [simulator]
// In the repository the runner and the simulator name the pack `file:..` (the only way npm links
// the workspace root); their tarballs name its version, as an install from the registry needs.
// Prints a JSON array: for each package, its name, tarball path and packed files.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const FOLDERS = { pack: '.', runner: 'runner', simulator: 'simulator' } as const;
type PackageKey = keyof typeof FOLDERS;

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

export interface PackedPackage {
  key: PackageKey;
  name: string;
  tarball: string;
  files: string[];
}

const readManifest = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;

function npmPack(dir: string, destination: string): { filename: string; files: { path: string }[] } {
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', destination], { cwd: dir, encoding: 'utf8' });
  return (JSON.parse(out) as { filename: string; files: { path: string }[] }[])[0];
}

export function packPackage(key: PackageKey, destination: string): PackedPackage {
  const pack = readManifest(ROOT);
  const dir = path.join(ROOT, FOLDERS[key]);
  let staging: string | undefined;
  let from = dir;
  const manifest = readManifest(dir);
  const local = Object.entries(manifest.dependencies ?? {}).filter(([, spec]) => spec.startsWith('file:'));
  if (local.length > 0) {
    // A copy of the package with the pack named by version (npm applies "files" when packing it).
    staging = fs.mkdtempSync(path.join(os.tmpdir(), `aiware-pack-${key}-`));
    fs.cpSync(dir, staging, { recursive: true, filter: (src) => path.basename(src) !== 'node_modules' });
    for (const [name, spec] of local) {
      if (name !== pack.name) throw new Error(`${manifest.name}: ${name}@${spec} is not the pack; only the pack may be named by path`);
      manifest.dependencies![name] = `^${pack.version}`;
    }
    fs.writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    fs.copyFileSync(path.join(ROOT, 'LICENSE'), path.join(staging, 'LICENSE'));
    from = staging;
  }
  try {
    const result = npmPack(from, destination);
    return { key, name: manifest.name, tarball: path.join(destination, path.basename(result.filename)), files: result.files.map((f) => f.path) };
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
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
