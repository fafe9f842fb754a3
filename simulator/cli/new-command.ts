// `aiware-sim new <folder>`: a new engine's repository, ready for `npm install`, `npm test` and
// `npm run check` (the files: new-templates.ts). It writes only into a folder that is missing or
// empty, so that it never mixes its files with someone's work.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { ENGINE_TYPES, errorMessage, type EngineType } from '@aiware-nodered/node-red-aiware';
import { EXIT } from './exit';
import { newEngineFiles } from './new-templates';

const SIMULATOR_NAME = '@aiware-nodered/aiware-sim';

interface RawNewOptions {
  engineType: EngineType;
  name?: string;
  simulator?: string;
}

/** The simulator's own version, for the new engine's devDependency. */
function ownVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** An npm package name made from a folder's name: lower case, other characters as `-`. */
export function packageNameOf(folder: string): string {
  const name = path
    .basename(path.resolve(folder))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '');
  return name || 'my-engine';
}

/** Writes the repository; the exit code. */
export function newEngine(folder: string, raw: RawNewOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  const dir = path.resolve(folder);
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') {
      err.write(`aiware-sim new: ${folder} is a file, not a folder\n`);
      return EXIT.usage;
    }
    if (code !== 'ENOENT') {
      err.write(`aiware-sim new: cannot read ${folder}: ${errorMessage(e)}\n`);
      return EXIT.usage;
    }
  }
  if (entries.length > 0) {
    err.write(`aiware-sim new: ${folder} is not empty (${entries.length} entries): give a new or empty folder, nothing was written\n`);
    return EXIT.usage;
  }
  const simulatorSpec = raw.simulator === undefined ? `^${ownVersion()}` : `file:${path.resolve(raw.simulator)}`;
  if (raw.simulator !== undefined && !fs.existsSync(raw.simulator)) {
    err.write(`aiware-sim new: --simulator ${raw.simulator}: no such file\n`);
    return EXIT.usage;
  }
  const name = raw.name ?? packageNameOf(folder);
  const files = newEngineFiles({ name, engineType: raw.engineType, simulatorSpec });
  for (const file of files) {
    const target = path.join(dir, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, file.text);
  }
  out.write(
    `${folder}: a ${raw.engineType} engine, ${name}, in ${files.length} files (${SIMULATOR_NAME} ${simulatorSpec})\n` +
      files.map((f) => `  ${f.path}\n`).join('') +
      `next:\n  cd ${folder}\n  npm install\n  npm test\n  npm run check\n`,
  );
  return EXIT.ok;
}

/** The `new` command; `onCode` gets its exit code. */
export function newCommand(onCode: (code: number) => void): Command {
  return new Command('new')
    .description(
      "Write a new engine's repository into a new or empty folder: a working flow, samples, a test file with its expected outputs, package.json scripts, manifest.json, a build runtime script and a CI workflow.",
    )
    .argument('<folder>', 'where to write it (missing or empty)')
    .addOption(new Option('--engine-type <type>', 'the engine type').choices([...ENGINE_TYPES]).default('chunk'))
    .option('--name <name>', "the engine's package name (default: the folder's name)")
    .option('--simulator <tarball>', `a local tarball of ${SIMULATOR_NAME} to name in devDependencies (default: the published one, this version)`)
    .addHelpText('after', '\nExamples:\n  $ aiware-sim new my-engine\n  $ aiware-sim new my-stream-engine --engine-type stream\n')
    .action((folder: string, raw: RawNewOptions) => onCode(newEngine(folder, raw)));
}
